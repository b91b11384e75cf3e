package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	digest "github.com/opencontainers/go-digest"
	"github.com/regclient/regclient/types/descriptor"

	"github.com/pycontainer/pycontainer/internal/clitest"
	"github.com/pycontainer/pycontainer/internal/testbase"
	"github.com/pycontainer/pycontainer/oci"
	"github.com/pycontainer/pycontainer/registry"
)

func TestMultiPlatformBuild(t *testing.T) {
	t.Parallel()
	w := newSeedWorld(t)
	code, stdout, stderr := w.Run(t, "build --tag demo:1.0 --platform linux/amd64,linux/arm64 --platform linux/arm/v7 --progress json")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	// One index.json entry for the tag: a nested index of the three platforms, which is
	// what a push gives the tag (registry.IndexFor makes the same bytes). Docker's
	// manifest.json beside it names this machine's image.
	layout := w.Path("dist/image")
	idx := clitest.ReadIndex(t, layout)
	if len(idx.Manifests) != 1 || idx.Manifests[0].MediaType != "application/vnd.oci.image.index.v1+json" || idx.Manifests[0].Platform != nil {
		t.Fatalf("index.json %+v, want one entry: a nested index, with no platform of its own", idx.Manifests)
	}
	images := clitest.ReadImages(t, layout)
	var descs []descriptor.Descriptor
	for _, m := range images {
		var p oci.Platform
		if err := json.Unmarshal(m.Platform, &p); err != nil {
			t.Fatal(err)
		}
		descs = append(descs, descriptor.Descriptor{MediaType: m.MediaType, Digest: digest.Digest(m.Digest), Size: m.Size, Platform: &p})
	}
	if _, d, err := registry.IndexFor(descs); err != nil || d.String() != idx.Manifests[0].Digest {
		t.Errorf("the nested index is %s, a push of the same images would be %s (%v)", idx.Manifests[0].Digest, d, err)
	}
	var dockerManifest []struct {
		Config   string
		RepoTags []string
	}
	if err := json.Unmarshal(mustRead(t, w.Path("dist/image/manifest.json")), &dockerManifest); err != nil {
		t.Fatal(err)
	}
	var amd64Manifest struct{ Config struct{ Digest string } }
	clitest.ReadBlobJSON(t, layout, images[0].Digest, &amd64Manifest)
	if len(dockerManifest) != 1 || dockerManifest[0].Config != "blobs/sha256/"+strings.TrimPrefix(amd64Manifest.Config.Digest, "sha256:") ||
		strings.Join(dockerManifest[0].RepoTags, " ") != "docker.io/library/demo:1.0" {
		t.Errorf("manifest.json %+v, want the amd64 image (config %s) as docker.io/library/demo:1.0", dockerManifest, amd64Manifest.Config.Digest)
	}
	var plats []string
	for _, m := range images {
		plats = append(plats, string(m.Platform))
		if m.Annotations["org.opencontainers.image.ref.name"] != "1.0" || m.Annotations["io.containerd.image.name"] != "docker.io/library/demo:1.0" {
			t.Errorf("annotations %v", m.Annotations)
		}
	}
	want := []string{`{"architecture":"amd64","os":"linux"}`, `{"architecture":"arm64","os":"linux"}`, `{"architecture":"arm","os":"linux","variant":"v7"}`}
	if strings.Join(plats, " ") != strings.Join(want, " ") {
		t.Errorf("platforms %v, want %v", plats, want)
	}

	// Every index entry's platform equals its config's.
	appLayers := map[string]bool{}
	for i, m := range images {
		cfg := clitest.ConfigOf(t, layout, m.Digest)
		var p map[string]string
		_ = json.Unmarshal(m.Platform, &p)
		if cfg["architecture"] != p["architecture"] || cfg["os"] != p["os"] || (cfg["variant"] != nil && cfg["variant"] != p["variant"]) {
			t.Errorf("manifest %d: config %v/%v/%v vs index %v", i, cfg["os"], cfg["architecture"], cfg["variant"], p)
		}
		var man struct {
			Layers []struct{ Digest string }
		}
		clitest.ReadBlobJSON(t, layout, m.Digest, &man)
		appLayers[man.Layers[len(man.Layers)-1].Digest] = true
	}
	if len(appLayers) != 1 {
		t.Errorf("the app layer should be built once and shared, got %d different ones", len(appLayers))
	}

	// The JSON event stream: the shared base layer is downloaded once.
	starts := map[string]int{}
	types := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("not a JSON line: %q", line)
		}
		types[ev["type"].(string)]++
		if d, _ := ev["digest"].(string); ev["type"] == "layer_started" && d != "" {
			starts[d]++
		}
	}
	for d, n := range starts {
		if n != 1 {
			t.Errorf("blob %s downloaded %d times", d, n)
		}
	}
	if len(starts) != 4 { // one shared layer + one per platform
		t.Errorf("%d distinct downloads, want 4", len(starts))
	}
	if types["plan"] != 1 || types["platform_done"] != 3 || types["finished"] != 1 || types["layer_done"] != 9 {
		t.Errorf("event counts %v", types)
	}
	if !strings.Contains(stdout, `"index":"`+idx.Manifests[0].Digest+`"`) || !strings.Contains(stdout, `"docker_load":"linux/amd64"`) {
		t.Errorf("the finished event does not name the index and what docker load gets:\n%s", stdout)
	}
}

func TestReproducibleBuilds(t *testing.T) {
	t.Parallel()
	w := newSeedWorld(t)
	w.MustBuild(t, "build --platform linux/amd64,linux/arm64 --output dist/out1")
	// Touch every file: mtimes must not matter.
	for _, f := range []string{"app.py", "pyproject.toml"} {
		if err := os.Chtimes(w.Path(f), testbase.Created, testbase.Created); err != nil {
			t.Fatal(err)
		}
	}
	w.MustBuild(t, "build --platform linux/amd64,linux/arm64 --output dist/out2")
	a := w.ReadFile(t, "dist/out1/index.json")
	b := w.ReadFile(t, "dist/out2/index.json")
	if !bytes.Equal(a, b) {
		t.Errorf("index.json differs between two builds of the same inputs:\n%s\n%s", a, b)
	}
	// The same project in another directory gives the same image.
	other := t.TempDir()
	for _, f := range []string{"app.py", "pyproject.toml"} {
		if err := os.WriteFile(filepath.Join(other, f), w.ReadFile(t, f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	w.MustBuild(t, "build --platform linux/amd64,linux/arm64 --context "+other+" --output dist/out3")
	if c := w.ReadFile(t, "dist/out3/index.json"); !bytes.Equal(a, c) {
		t.Errorf("index.json differs when the project is in another directory")
	}

	w.Setenv("SOURCE_DATE_EPOCH", "1700000000")
	w.MustBuild(t, "build --platform linux/amd64 --output dist/out4")
	idx := clitest.ReadIndex(t, w.Path("dist/out4"))
	cfg := clitest.ConfigOf(t, w.Path("dist/out4"), idx.Manifests[0].Digest)
	if cfg["created"] != "2023-11-14T22:13:20Z" {
		t.Errorf("SOURCE_DATE_EPOCH not honoured: created %v", cfg["created"])
	}
}

func TestBaseImageKinds(t *testing.T) {
	t.Parallel()
	reg := newSeedWorld(t).Registry // Docker Hub for the rows' worlds, with two more bases
	reg.Push(t, testbase.Spec{Repo: "docker/python", Tag: "list", Platforms: testbase.PythonPlatforms, DockerMediaTypes: true})
	reg.Push(t, testbase.Spec{Repo: "single/python", Tag: "arm64", Platforms: []testbase.Platform{{OS: "linux", Architecture: "arm64", Variant: "v8"}}, Single: true})
	tests := []struct {
		name, cmdline string
		ok            bool
		want          string
	}{
		{"docker manifest list", "build --base-image " + reg.Host + "/docker/python:list --platform linux/arm64/v8", true, `{"architecture":"arm64","os":"linux"}`},
		{"single manifest of the right platform", "build --base-image " + reg.Host + "/single/python:arm64 --platform linux/arm64", true, `{"architecture":"arm64","os":"linux"}`},
		{"single manifest of another platform", "build --base-image " + reg.Host + "/single/python:arm64 --platform linux/amd64", false, "No matching manifest for platform linux/amd64"},
		{"attestations are never candidates", "build --platform unknown/unknown", false, "Platform format invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// A world of its own (the registry is only read from here on), so each row's
			// dist/image is its own build's.
			w := newSeedWorldWith(t, reg)
			code, _, stderr := w.Run(t, tt.cmdline)
			if tt.ok != (code == 0) {
				t.Fatalf("exit %d\n%s", code, stderr)
			}
			if !tt.ok {
				if !strings.Contains(stderr, tt.want) {
					t.Errorf("stderr lacks %q:\n%s", tt.want, stderr)
				}
				return
			}
			idx := clitest.ReadIndex(t, w.Path("dist/image"))
			if got := string(idx.Manifests[0].Platform); got != tt.want {
				t.Errorf("platform %s, want %s", got, tt.want)
			}
			var man struct {
				MediaType string
				Layers    []struct{ MediaType string }
			}
			clitest.ReadBlobJSON(t, w.Path("dist/image"), idx.Manifests[0].Digest, &man)
			for _, l := range man.Layers {
				if l.MediaType != "application/vnd.oci.image.layer.v1.tar+gzip" {
					t.Errorf("layer media type %s in an OCI manifest", l.MediaType)
				}
			}
		})
	}
}

func TestDryRunWritesNothing(t *testing.T) {
	t.Parallel()
	w := newSeedWorld(t)
	code, stdout, stderr := w.Run(t, "build --dry-run --platform linux/arm64,linux/amd64")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	for _, want := range []string{"docker.io/library/python:3.11-slim", "linux/arm64 (--platform flag)", "as linux/arm64/v8", "app: 2 files", "dry run"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("plan lacks %q:\n%s", want, stdout)
		}
	}
	if _, err := os.Stat(w.Path("dist")); !os.IsNotExist(err) {
		t.Errorf("dry run created dist/ (%v)", err)
	}
}

// TestReadersAcceptLayout has skopeo, regctl and umoci read what we write. The readers
// only read the one layout, so they run side by side.
func TestReadersAcceptLayout(t *testing.T) {
	t.Parallel()
	w := newSeedWorld(t)
	w.MustBuild(t, "build --tag demo:amd64 --platform linux/amd64")
	// inDir runs a reader in the world's directory, where the layout is dist/image.
	inDir := func(name string, args ...string) *exec.Cmd {
		cmd := exec.Command(name, args...)
		cmd.Dir = w.Dir
		return cmd
	}
	t.Run("skopeo", func(t *testing.T) {
		t.Parallel()
		if _, err := exec.LookPath("skopeo"); err != nil {
			t.Skip("skopeo not installed")
		}
		out, err := inDir("skopeo", "inspect", "oci:dist/image:amd64").CombinedOutput()
		if err != nil {
			t.Fatalf("skopeo inspect: %v\n%s", err, out)
		}
		var info struct{ Architecture, Os string }
		if err := json.Unmarshal(out, &info); err != nil || info.Architecture != "amd64" || info.Os != "linux" {
			t.Errorf("skopeo says %s (%v)", out, err)
		}
	})
	t.Run("regctl", func(t *testing.T) {
		t.Parallel()
		if _, err := exec.LookPath("go"); err != nil {
			t.Skip("go is not on PATH to run regctl (go tool regctl)")
		}
		// go tool runs in the module (-C); the layout is named absolutely.
		out, err := exec.Command("go", "-C", startDir, "tool", "regctl", "image", "config", "ocidir://"+w.Path("dist/image")+":amd64").CombinedOutput()
		if err != nil {
			t.Fatalf("regctl image config: %v\n%s", err, out)
		}
		var cfg struct{ Architecture, OS string }
		if err := json.Unmarshal(out, &cfg); err != nil || cfg.Architecture != "amd64" || cfg.OS != "linux" {
			t.Errorf("regctl says %s (%v)", out, err)
		}
	})
	t.Run("umoci", func(t *testing.T) {
		t.Parallel()
		if _, err := exec.LookPath("umoci"); err != nil {
			t.Skip("umoci not installed")
		}
		out, err := inDir("umoci", "stat", "--image", "dist/image:amd64", "--json").CombinedOutput()
		if err != nil {
			t.Fatalf("umoci stat: %v\n%s", err, out)
		}
		if !strings.Contains(string(out), "pycontainer build") {
			t.Errorf("umoci history lacks our layer:\n%s", out)
		}
		// unpack as a rootless user would; the app must be in the rootfs
		bundle := filepath.Join(t.TempDir(), "bundle")
		out, err = inDir("umoci", "unpack", "--rootless", "--image", "dist/image:amd64", bundle).CombinedOutput()
		if err != nil {
			t.Fatalf("umoci unpack: %v\n%s", err, out)
		}
		if _, err := os.Stat(filepath.Join(bundle, "rootfs", "app", "app.py")); err != nil {
			t.Errorf("app.py not in the unpacked rootfs: %v", err)
		}
	})
}
