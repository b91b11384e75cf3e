package cli

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pycontainer/pycontainer/internal/clitest"
	"github.com/pycontainer/pycontainer/internal/testbase"
)

// TestMain lets a test run this binary as the pycontainer command itself
// (clitest.World.Command), so a build can be killed like a real process.
func TestMain(m *testing.M) {
	clitest.AsMain(Run)
	os.Exit(m.Run())
}

// startDir is the package's directory; moduleDir is the repository's, with the docs
// and the examples. Tests never change the working directory: each runs its commands
// in a clitest.World.
var (
	startDir, _ = os.Getwd()
	moduleDir   = filepath.Join(startDir, "..", "..")
)

// newSeedWorld is the seed document's world (python:3.11-slim on a loopback Docker Hub,
// the demo app in the project directory) for this package's commands.
func newSeedWorld(t *testing.T) *clitest.World { return clitest.NewSeed(t, Run) }

// newSeedWorldWith is newSeedWorld with reg as Docker Hub.
func newSeedWorldWith(t *testing.T, reg *testbase.Registry) *clitest.World {
	return clitest.NewSeedWith(t, reg, Run)
}

// newWorld is an empty project with an environment of its own.
func newWorld(t *testing.T) *clitest.World { return clitest.New(t, Run) }

// TestSeedQuickStart runs the seed's Quick Start commands verbatim and checks what its
// jq lines say they print.
func TestSeedQuickStart(t *testing.T) {
	t.Parallel()
	w := newSeedWorld(t)
	tests := []struct {
		cmdline string
		want    string
	}{
		{"build --tag myapp:amd64 --platform linux/amd64 --base-image python:3.11-slim", `{"architecture":"amd64","os":"linux"}`},
		{"build --tag myapp:arm64 --platform linux/arm64 --base-image python:3.11-slim", `{"architecture":"arm64","os":"linux"}`},
	}
	for _, tt := range tests {
		w.MustBuild(t, tt.cmdline)
		idx := clitest.ReadIndex(t, w.Path("dist/image"))
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
	t.Parallel()
	w := newSeedWorld(t)
	for _, arch := range []string{"amd64", "arm64"} {
		out := w.MustBuild(t, "build --tag cross-platform-demo:"+arch+" --platform linux/"+arch+" --verbose")
		if !strings.Contains(out, "python:3.11-slim") {
			t.Errorf("verbose output does not name the default base python:3.11-slim:\n%s", out)
		}
		idx := clitest.ReadIndex(t, w.Path("dist/image"))
		cfg := clitest.ConfigOf(t, w.Path("dist/image"), idx.Manifests[0].Digest)
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
	t.Parallel()
	w := newSeedWorld(t)
	w.MustBuild(t, "build --tag cross-platform-demo:arm64 --platform linux/arm64")
	script := `MANIFEST_ARM64=$(jq -r '.manifests[0].digest' dist/image/index.json | cut -d: -f2)
CONFIG_ARM64=$(jq -r '.config.digest' dist/image/blobs/sha256/$MANIFEST_ARM64 | cut -d: -f2)
jq -c '{arch: .architecture, os: .os}' dist/image/blobs/sha256/$CONFIG_ARM64
jq -c '.manifests[0].platform' dist/image/index.json`
	cmd := exec.Command("bash", "-c", script)
	cmd.Dir = w.Dir
	out, err := cmd.CombinedOutput()
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
	t.Parallel()
	w := newSeedWorld(t)
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
	w.WriteFile(t, "pycontainer.toml", seedConfig)
	for _, tt := range []struct{ cmdline, arch string }{
		{"build --tag myapp:latest --config pycontainer.toml", "amd64"},
		{"build --tag myapp:arm64 --platform linux/arm64 --config pycontainer.toml", "arm64"},
	} {
		w.MustBuild(t, tt.cmdline)
		idx := clitest.ReadIndex(t, w.Path("dist/image"))
		cfg := clitest.ConfigOf(t, w.Path("dist/image"), idx.Manifests[0].Digest)
		if cfg["architecture"] != tt.arch {
			t.Errorf("%s: architecture %v, want %s", tt.cmdline, cfg["architecture"], tt.arch)
		}
		env, _ := json.Marshal(cfg["config"].(map[string]any)["Env"])
		if !strings.Contains(string(env), "PYTHONUNBUFFERED=1") || !strings.Contains(string(env), "PYTHON_VERSION=3.11.9") {
			t.Errorf("%s: env %s lacks the config's PYTHONUNBUFFERED or the base's PYTHON_VERSION", tt.cmdline, env)
		}
	}
}
