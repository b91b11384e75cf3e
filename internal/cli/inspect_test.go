package cli

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/pycontainer/pycontainer/internal/clitest"
)

// machO is the start of a 64-bit Mach-O file, as a macOS build of a C extension has.
var machO = append([]byte{0xcf, 0xfa, 0xed, 0xfe, 0x0c, 0, 0, 0x01}, make([]byte, 56)...)

func TestInspectVerifyAndJSON(t *testing.T) {
	t.Parallel()
	w := newSeedWorld(t)
	w.MustBuild(t, "build --tag demo:1 --platform linux/amd64,linux/arm64")

	code, stdout, stderr := w.Run(t, "inspect --verify")
	if code != 0 || !strings.Contains(stdout, "verify: ok") {
		t.Fatalf("inspect --verify of a good build: exit %d\n%s%s", code, stdout, stderr)
	}

	code, stdout, _ = w.Run(t, "inspect --json")
	if code != 0 {
		t.Fatalf("inspect --json: exit %d", code)
	}
	var doc struct {
		Dir    string `json:"dir"`
		Images []struct {
			Platform, Digest, Name, Architecture, OS, Workdir string
			IndexPlatform                                     string `json:"index_platform"`
			RefName                                           string `json:"ref_name"`
			Entrypoint                                        []string
			Env                                               []string
			Layers                                            []struct {
				Digest    string
				Size      int64
				MediaType string `json:"media_type"`
			}
			History []struct {
				CreatedBy string `json:"created_by"`
			}
			Problems []string
		}
		Verified bool
		Findings []any
	}
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatalf("inspect --json is not JSON: %v\n%s", err, stdout)
	}
	// inspect names the layout as it opened it: dist/image read against the world's
	// directory, an absolute path.
	if doc.Dir != w.Path("dist/image") || len(doc.Images) != 2 || doc.Verified || doc.Findings == nil {
		t.Fatalf("document %+v", doc)
	}
	arm := doc.Images[1]
	if arm.Platform != "linux/arm64" || arm.IndexPlatform != "linux/arm64" || arm.Architecture != "arm64" || arm.OS != "linux" || arm.Workdir != "/app" ||
		arm.RefName != "1" || arm.Name != "docker.io/library/demo:1" || len(arm.Layers) != 3 || arm.Layers[2].MediaType != "application/vnd.oci.image.layer.v1.tar+gzip" ||
		len(arm.History) != 3 || arm.Problems == nil || len(arm.Problems) != 0 {
		t.Errorf("arm64 image %+v", arm)
	}

	// Break the layout: index.json lists the images itself, as other tools write it,
	// and the arm64 entry claims amd64.
	raw, err := json.Marshal(clitest.LayoutIndex{Manifests: clitest.ReadImages(t, w.Path("dist/image"))})
	if err != nil {
		t.Fatal(err)
	}
	broken := strings.Replace(string(raw), `"architecture":"arm64"`, `"architecture":"amd64"`, 1)
	w.WriteFile(t, "dist/image/index.json", broken)
	code, _, stderr = w.Run(t, "inspect --verify")
	if code != 1 || !strings.Contains(stderr, "the index says linux/amd64 but the config says linux/arm64") {
		t.Errorf("a platform mismatch passed verification: exit %d\n%s", code, stderr)
	}
}

func TestBuildWarnsAboutHostBinaries(t *testing.T) {
	t.Parallel()
	w := newSeedWorld(t)
	if err := os.WriteFile(w.Path("_speedups.so"), machO, 0o755); err != nil {
		t.Fatal(err)
	}
	stderr := w.MustBuild(t, "build --platform linux/arm64")
	if !strings.Contains(stderr, "warning: linux/arm64: /app/_speedups.so") || !strings.Contains(stderr, "Mach-O") {
		t.Errorf("no warning about the Mach-O file:\n%s", stderr)
	}
	before := w.ReadFile(t, "dist/image/index.json")
	w.WriteFile(t, "app.py", "print('changed')\n")
	code, _, stderr := w.Run(t, "build --platform linux/arm64 --strict")
	if code != 1 || !strings.Contains(stderr, "--strict: linux/arm64: /app/_speedups.so") {
		t.Errorf("--strict did not fail: exit %d\n%s", code, stderr)
	}
	after := w.ReadFile(t, "dist/image/index.json")
	if string(before) != string(after) {
		t.Error("a --strict failure replaced the previous image")
	}
}
