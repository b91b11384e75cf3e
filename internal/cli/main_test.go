package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pycontainer/pycontainer/internal/testbase"
)

// seedWorld is what the seed document assumes: python:3.11-slim on Docker Hub (here a
// loopback registry that mirrors docker.io) and the demo app in the current directory.
type seedWorld struct {
	reg *testbase.Registry
	dir string
}

// TestMain lets a test run this binary as the pycontainer command itself, so a build
// can be killed like a real process.
func TestMain(m *testing.M) {
	if os.Getenv("PYCONTAINER_TEST_AS_MAIN") == "1" {
		os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// startDir is the package's directory, where tests start before they chdir into
// temporary projects; moduleDir is the repository's, with the docs and the examples.
var (
	startDir, _ = os.Getwd()
	moduleDir   = filepath.Join(startDir, "..", "..")
)

func newSeedWorld(t *testing.T) *seedWorld {
	t.Helper()
	reg := testbase.Start(t)
	reg.Push(t, testbase.Spec{Repo: "library/python", Tag: "3.11-slim", Platforms: testbase.PythonPlatforms, Attestation: true})
	return newSeedWorldWith(t, reg)
}

// newSeedWorldWith uses reg as Docker Hub and a copy of the demo app as the current directory.
func newSeedWorldWith(t *testing.T, reg *testbase.Registry) *seedWorld {
	t.Helper()
	t.Setenv("PYCONTAINER_REGISTRY_MIRROR", "docker.io="+reg.Host)
	t.Setenv("SOURCE_DATE_EPOCH", "")
	t.Setenv("PYCONTAINER_CACHE", t.TempDir()) // each test starts with an empty shared cache
	dir := t.TempDir()
	copyDemoApp(t, dir)
	t.Chdir(dir)
	return &seedWorld{reg: reg, dir: dir}
}

// copyDemoApp copies the example app's files into dir.
func copyDemoApp(tb testing.TB, dir string) {
	tb.Helper()
	for _, name := range []string{"app.py", "pyproject.toml"} {
		b, err := os.ReadFile(filepath.Join(moduleDir, "examples", "cross-platform-demo", name))
		if err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
}

// pycontainer runs a command line as the binary would and returns its exit code and output.
func pycontainer(t *testing.T, cmdline string) (int, string, string) {
	t.Helper()
	return pycontainerWithInput(t, cmdline, "")
}

// pycontainerWithInput is pycontainer reading stdin from a string.
func pycontainerWithInput(t *testing.T, cmdline, stdin string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(strings.Fields(cmdline), strings.NewReader(stdin), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func mustBuild(t *testing.T, cmdline string) string {
	t.Helper()
	code, stdout, stderr := pycontainer(t, cmdline)
	if code != 0 {
		t.Fatalf("%s: exit %d\nstdout:\n%s\nstderr:\n%s", cmdline, code, stdout, stderr)
	}
	return stderr
}

type layoutIndex struct {
	Manifests []indexEntry `json:"manifests"`
}

type indexEntry struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Platform    json.RawMessage   `json:"platform,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// readImages is the image entries of a layout as the engines read it: index.json's own,
// or, where an entry is a nested index (a multi-platform build), that index's, named by
// the entry's tag.
func readImages(t *testing.T, dir string) []indexEntry {
	t.Helper()
	var out []indexEntry
	for _, e := range readIndex(t, dir).Manifests {
		if e.MediaType != "application/vnd.oci.image.index.v1+json" {
			out = append(out, e)
			continue
		}
		var nested layoutIndex
		readBlobJSON(t, dir, e.Digest, &nested)
		for _, c := range nested.Manifests {
			if c.Annotations != nil {
				t.Errorf("nested index entry %s has annotations %v; the tag belongs to the index", c.Digest, c.Annotations)
			}
			c.Annotations = e.Annotations
			out = append(out, c)
		}
	}
	return out
}

func readIndex(t *testing.T, dir string) layoutIndex {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	var idx layoutIndex
	if err := json.Unmarshal(b, &idx); err != nil {
		t.Fatal(err)
	}
	return idx
}

// configOf follows the seed's own jq pipeline: index -> manifest -> config.
func configOf(t *testing.T, dir, manifestDigest string) map[string]any {
	t.Helper()
	var m struct {
		Config struct{ Digest string } `json:"config"`
	}
	readBlobJSON(t, dir, manifestDigest, &m)
	var cfg map[string]any
	readBlobJSON(t, dir, m.Config.Digest, &cfg)
	return cfg
}

func readBlobJSON(t *testing.T, dir, d string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "blobs", "sha256", strings.TrimPrefix(d, "sha256:")))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

// TestSeedQuickStart runs the seed's Quick Start commands verbatim and checks what its
// jq lines say they print.
func TestSeedQuickStart(t *testing.T) {
	newSeedWorld(t)
	tests := []struct {
		cmdline string
		want    string
	}{
		{"build --tag myapp:amd64 --platform linux/amd64 --base-image python:3.11-slim", `{"architecture":"amd64","os":"linux"}`},
		{"build --tag myapp:arm64 --platform linux/arm64 --base-image python:3.11-slim", `{"architecture":"arm64","os":"linux"}`},
	}
	for _, tt := range tests {
		mustBuild(t, tt.cmdline)
		idx := readIndex(t, "dist/image")
		if len(idx.Manifests) != 1 {
			t.Fatalf("%s: index has %d manifests, want 1", tt.cmdline, len(idx.Manifests))
		}
		if got := string(idx.Manifests[0].Platform); got != tt.want {
			t.Errorf("%s: .manifests[0].platform = %s, want %s", tt.cmdline, got, tt.want)
		}
	}
}

// TestSeedSimpleExample runs the Simple Example Application section: --verbose builds
// of the demo without a base image flag, then the config inspection by digest.
func TestSeedSimpleExample(t *testing.T) {
	newSeedWorld(t)
	for _, arch := range []string{"amd64", "arm64"} {
		out := mustBuild(t, "build --tag cross-platform-demo:"+arch+" --platform linux/"+arch+" --verbose")
		if !strings.Contains(out, "python:3.11-slim") {
			t.Errorf("verbose output does not name the default base python:3.11-slim:\n%s", out)
		}
		idx := readIndex(t, "dist/image")
		cfg := configOf(t, "dist/image", idx.Manifests[0].Digest)
		if cfg["architecture"] != arch || cfg["os"] != "linux" {
			t.Errorf("config of %s build: arch=%v os=%v", arch, cfg["architecture"], cfg["os"])
		}
		c := cfg["config"].(map[string]any)
		if c["Cmd"] != nil {
			t.Errorf("base Cmd leaked into the image: %v", c["Cmd"])
		}
		ep, _ := json.Marshal(c["Entrypoint"])
		if !strings.Contains(string(ep), "import app as _m") || !strings.Contains(string(ep), "_m.main()") {
			t.Errorf("entrypoint does not run [project.scripts] demo = app:main: %s", ep)
		}
		if c["WorkingDir"] != "/app" {
			t.Errorf("WorkingDir = %v", c["WorkingDir"])
		}
		if got := idx.Manifests[0].Annotations["org.opencontainers.image.ref.name"]; got != arch {
			t.Errorf("ref.name = %q, want %q", got, arch)
		}
	}
}

// TestSeedJQPipelines runs the seed's shell lines with the real jq.
func TestSeedJQPipelines(t *testing.T) {
	if _, err := exec.LookPath("jq"); err != nil {
		t.Skip("jq not installed")
	}
	newSeedWorld(t)
	mustBuild(t, "build --tag cross-platform-demo:arm64 --platform linux/arm64")
	script := `MANIFEST_ARM64=$(jq -r '.manifests[0].digest' dist/image/index.json | cut -d: -f2)
CONFIG_ARM64=$(jq -r '.config.digest' dist/image/blobs/sha256/$MANIFEST_ARM64 | cut -d: -f2)
jq -c '{arch: .architecture, os: .os}' dist/image/blobs/sha256/$CONFIG_ARM64
jq -c '.manifests[0].platform' dist/image/index.json`
	out, err := exec.Command("bash", "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("seed pipeline: %v\n%s", err, out)
	}
	want := `{"arch":"arm64","os":"linux"}` + "\n" + `{"architecture":"arm64","os":"linux"}` + "\n"
	if string(out) != want {
		t.Errorf("seed pipeline printed\n%s\nwant\n%s", out, want)
	}
}

// TestSeedConfigFile uses the seed's pycontainer.toml, then overrides its platform.
func TestSeedConfigFile(t *testing.T) {
	newSeedWorld(t)
	seedConfig := `[build]
base_image = "python:3.11-slim"
platform = "linux/amd64"  # Default platform
include_deps = true
reproducible = true

[build.env]
PYTHONUNBUFFERED = "1"

[registry]
url = "ghcr.io/myorg/myapp"
`
	if err := os.WriteFile("pycontainer.toml", []byte(seedConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ cmdline, arch string }{
		{"build --tag myapp:latest --config pycontainer.toml", "amd64"},
		{"build --tag myapp:arm64 --platform linux/arm64 --config pycontainer.toml", "arm64"},
	} {
		mustBuild(t, tt.cmdline)
		idx := readIndex(t, "dist/image")
		cfg := configOf(t, "dist/image", idx.Manifests[0].Digest)
		if cfg["architecture"] != tt.arch {
			t.Errorf("%s: architecture %v, want %s", tt.cmdline, cfg["architecture"], tt.arch)
		}
		env, _ := json.Marshal(cfg["config"].(map[string]any)["Env"])
		if !strings.Contains(string(env), "PYTHONUNBUFFERED=1") || !strings.Contains(string(env), "PYTHON_VERSION=3.11.9") {
			t.Errorf("%s: env %s lacks the config's PYTHONUNBUFFERED or the base's PYTHON_VERSION", tt.cmdline, env)
		}
	}
}

func writeFile(t *testing.T, name, content string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
