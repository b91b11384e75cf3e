package cli

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pycontainer/pycontainer/oci"
)

// TestSave: one platform of a multi-platform layout becomes an archive an engine loads,
// named as asked; wrong platforms, bad flags and damaged layouts are one-line errors.
func TestSave(t *testing.T) {
	t.Parallel()
	w := newSeedWorld(t)
	w.MustBuild(t, "build --tag myapp:latest --platform linux/amd64,linux/arm64")
	host := oci.PlatformString(oci.HostPlatform())
	hostBuilt := host == "linux/amd64" || host == "linux/arm64"

	type saveCase struct {
		name     string
		args     string
		code     int
		platform string // of the saved image; "" when nothing is saved
		image    string // its io.containerd.image.name
		message  string // in stdout or stderr
	}
	tests := []saveCase{
		{"a platform", "save --platform linux/arm64 -o out.tar", 0, "linux/arm64", "docker.io/library/myapp:latest", "Saved docker.io/library/myapp:latest linux/arm64"},
		{"arm64/v8 is arm64", "save --platform linux/arm64/v8 -o out.tar", 0, "linux/arm64", "docker.io/library/myapp:latest", "to out.tar; load it with docker load -i out.tar"},
		{"renamed", "save --platform linux/amd64 --tag myapp:amd64 -o out.tar", 0, "linux/amd64", "docker.io/library/myapp:amd64", "Saved docker.io/library/myapp:amd64"},
		{"to standard output", "save --platform linux/arm64", 0, "linux/arm64", "docker.io/library/myapp:latest", "Saved docker.io/library/myapp:latest linux/arm64"},
		{"a platform not built", "save --platform linux/riscv64 -o out.tar", 1, "", "",
			"dist/image has no linux/riscv64 image; it has linux/amd64, linux/arm64: pass one of them to --platform, or build linux/riscv64"},
		{"platform format", "save --platform arm64 -o out.tar", 2, "", "", "Platform format invalid"},
		{"bad tag", "save --tag MyApp:x nowhere", 2, "", "", "--tag: "},
		{"a digest for a tag", "save --tag myapp@sha256:" + strings.Repeat("a", 64) + " -o out.tar", 2, "", "", "a digest is not a name"},
		{"not a layout", "save nowhere -o out.tar", 1, "", "", "nowhere does not exist: build an image with `pycontainer build`"},
		{"two arguments", "save a b", 2, "", "", "name one layout directory"},
	}
	if hostBuilt {
		tests = append(tests, saveCase{"this machine's platform by default", "save -o out.tar", 0, host, "docker.io/library/myapp:latest", "(this machine's platform, of linux/amd64, linux/arm64; --platform picks another)"})
	}
	// In turn: every case writes out.tar in the one world.
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			os.Remove(w.Path("out.tar"))
			code, stdout, stderr := w.Run(t, tt.args)
			output := stdout
			if !strings.Contains(tt.args, "-o ") {
				output = "" // the archive is stdout
			}
			if code != tt.code || !strings.Contains(output+stderr, tt.message) {
				t.Fatalf("%s: exit %d, want %d and %q:\n%s%s", tt.args, code, tt.code, tt.message, output, stderr)
			}
			if code != 0 {
				if strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
					t.Errorf("error is not one line:\n%s", stderr)
				}
				if _, err := os.Stat(w.Path("out.tar")); err == nil {
					t.Error("a failed save wrote out.tar")
				}
				return
			}
			archive := []byte(stdout)
			if strings.Contains(tt.args, "-o ") {
				var err error
				if archive, err = os.ReadFile(w.Path("out.tar")); err != nil {
					t.Fatal(err)
				}
			}
			img := loadArchive(t, archive)
			if got := oci.PlatformString(img.Platform()); got != tt.platform || img.Name != tt.image {
				t.Errorf("archive holds %s %s, want %s %s", img.Name, got, tt.image, tt.platform)
			}
		})
	}

	// inspect reads an archive in place, checks included.
	w.MustBuild(t, "save --platform linux/arm64 -o arm64.tar")
	code, stdout, stderr := w.Run(t, "inspect --verify --json arm64.tar")
	var doc struct {
		Dir    string
		Images []struct{ Platform string }
	}
	if err := json.Unmarshal([]byte(stdout), &doc); code != 0 || err != nil || doc.Dir != w.Path("arm64.tar") || len(doc.Images) != 1 || doc.Images[0].Platform != "linux/arm64" {
		t.Errorf("inspect arm64.tar: exit %d, %v\n%s%s", code, err, stdout, stderr)
	}
}

// TestSaveRefusesTwoImagesOfAPlatform: a layout holding two images of one platform
// (a skopeo layout of two tags) is not guessed from.
func TestSaveRefusesTwoImagesOfAPlatform(t *testing.T) {
	t.Parallel()
	w := newSeedWorld(t)
	w.MustBuild(t, "build --tag myapp:1 --platform linux/amd64")
	w.WriteFile(t, "app.py", "print('another image')\n")
	w.MustBuild(t, "build --tag myapp:2 --platform linux/amd64 --output dist/other")
	blobs, err := filepath.Glob(w.Path("dist/other/blobs/sha256/*"))
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range blobs {
		w.WriteFile(t, filepath.Join("dist/image/blobs/sha256", filepath.Base(b)), string(mustRead(t, b)))
	}
	addIndexEntries(t, w.Path("dist/image"), readIndexEntries(t, w.Path("dist/other"))...)
	cases := []string{"save --platform linux/amd64 -o out.tar"}
	if oci.PlatformString(oci.HostPlatform()) == "linux/amd64" {
		cases = append(cases, "save -o out.tar") // this machine's platform, by default
	}
	for _, args := range cases {
		code, _, stderr := w.Run(t, args)
		if code != 1 || !strings.Contains(stderr, "dist/image holds 2 linux/amd64 images (docker.io/library/myapp:1, docker.io/library/myapp:2)") {
			t.Errorf("%s: exit %d\n%s", args, code, stderr)
		}
	}
}

// TestSaveOneImageOfTwoNames: a layout that names one image twice (two tags of it) holds
// one image, shown with both names and saved with both for docker load.
func TestSaveOneImageOfTwoNames(t *testing.T) {
	t.Parallel()
	w := newSeedWorld(t)
	w.MustBuild(t, "build --tag myapp:1 --platform linux/amd64")
	entries := readIndexEntries(t, w.Path("dist/image"))
	second := maps.Clone(entries[0])
	second["annotations"] = map[string]string{"org.opencontainers.image.ref.name": "2", "io.containerd.image.name": "docker.io/library/myapp:2"}
	addIndexEntries(t, w.Path("dist/image"), second)

	if _, stdout, _ := w.Run(t, "inspect"); !strings.Contains(stdout, "name:       docker.io/library/myapp:1 (also docker.io/library/myapp:2)") {
		t.Errorf("inspect:\n%s", stdout)
	}
	for args, want := range map[string][]string{
		"save --platform linux/amd64 -o out.tar":               {"docker.io/library/myapp:1", "docker.io/library/myapp:2"},
		"save --platform linux/amd64 --tag other:3 -o out.tar": {"docker.io/library/other:3"}, // --tag names it once
	} {
		w.MustBuild(t, args)
		var manifests []struct{ RepoTags []string }
		if err := json.Unmarshal(tarMember(t, w.Path("out.tar"), "manifest.json"), &manifests); err != nil {
			t.Fatal(err)
		}
		if len(manifests) != 1 || !slices.Equal(manifests[0].RepoTags, want) {
			t.Errorf("%s: manifest.json %+v, want one image tagged %q", args, manifests, want)
		}
	}
}

// tarMember is the content of member name of the tar at path.
func tarMember(t *testing.T, path, name string) []byte {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(mustRead(t, path)))
	for {
		hdr, err := tr.Next()
		if err != nil {
			t.Fatalf("%s has no %s: %v", path, name, err)
		}
		if hdr.Name == name {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
}

// readIndexEntries is the manifests of a layout's index.json, as JSON objects.
func readIndexEntries(t *testing.T, dir string) []map[string]any {
	t.Helper()
	var idx struct{ Manifests []map[string]any }
	if err := json.Unmarshal(mustRead(t, filepath.Join(dir, "index.json")), &idx); err != nil {
		t.Fatal(err)
	}
	return idx.Manifests
}

// addIndexEntries appends entries to a layout's index.json, by hand as another tool would.
func addIndexEntries(t *testing.T, dir string, entries ...map[string]any) {
	t.Helper()
	var idx map[string]any
	if err := json.Unmarshal(mustRead(t, filepath.Join(dir, "index.json")), &idx); err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		idx["manifests"] = append(idx["manifests"].([]any), e)
	}
	raw, err := json.Marshal(idx)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "index.json"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestSaveKeepsThePreviousFile: a save that fails (a layer damaged in the layout)
// leaves the file it would have replaced as it was, and says what to do.
func TestSaveKeepsThePreviousFile(t *testing.T) {
	t.Parallel()
	w := newSeedWorld(t)
	w.MustBuild(t, "build --platform linux/amd64")
	w.WriteFile(t, "out.tar", "the previous archive")
	s, err := oci.Inspect(w.Path("dist/image"))
	if err != nil {
		t.Fatal(err)
	}
	layer := oci.BlobPath(w.Path("dist/image"), s.Images[0].Layers[len(s.Images[0].Layers)-1].Digest)
	data, err := os.ReadFile(layer)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0xff
	if err := os.WriteFile(layer, data, 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := w.Run(t, "save -o out.tar")
	if code != 1 || !strings.Contains(stderr, "does not match its digest: the layout is damaged; rebuild the image") {
		t.Errorf("save of a damaged layout: exit %d\n%s", code, stderr)
	}
	if b, _ := os.ReadFile(w.Path("out.tar")); string(b) != "the previous archive" {
		t.Errorf("out.tar was replaced by a failed save")
	}
	if leftovers, _ := filepath.Glob(w.Path(".out.tar.tmp-*")); len(leftovers) != 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
}

// TestSkopeoReadsSavedArchives: skopeo reads the archive both as docker load does
// (docker-archive:, manifest.json) and as an OCI archive (oci-archive:, index.json).
func TestSkopeoReadsSavedArchives(t *testing.T) {
	skopeo, err := exec.LookPath("skopeo")
	if err != nil {
		t.Skip("skopeo is not installed: apt-get install skopeo")
	}
	t.Parallel()
	w := newSeedWorld(t)
	w.MustBuild(t, "build --tag myapp:latest --platform linux/amd64,linux/arm/v7")
	w.MustBuild(t, "save --platform linux/arm/v7 --tag myapp:armv7 -o armv7.tar")
	for _, transport := range []string{"docker-archive:", "oci-archive:"} {
		cmd := exec.Command(skopeo, "inspect", "--config", transport+"armv7.tar")
		cmd.Dir = w.Dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("skopeo inspect %sarmv7.tar: %v\n%s", transport, err, out)
		}
		for _, want := range []string{`"architecture": "arm"`, `"variant": "v7"`, `"os": "linux"`} {
			if !bytes.Contains(out, []byte(want)) {
				t.Errorf("skopeo inspect %s: config lacks %s:\n%s", transport, want, out)
			}
		}
	}
}

// loadArchive unpacks an archive into a directory and reads it as a layout, which must
// hold exactly one image.
func loadArchive(t *testing.T, archive []byte) oci.ImageSummary {
	t.Helper()
	dir := t.TempDir()
	tr := tar.NewReader(bytes.NewReader(archive))
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("not a tar archive: %v", err)
		}
		path := filepath.Join(dir, filepath.FromSlash(hdr.Name))
		if hdr.Typeflag == tar.TypeDir {
			if err := os.MkdirAll(path, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s, err := oci.Inspect(dir)
	if err != nil {
		t.Fatalf("the archive is not an OCI layout: %v", err)
	}
	findings, err := s.Verify()
	if err != nil || len(s.Images) != 1 || len(findings) != 0 || len(s.Images[0].Problems) != 0 {
		t.Fatalf("archive: %d images, verify %v %v, problems %v", len(s.Images), err, findings, s.Images[0].Problems)
	}
	return s.Images[0]
}

// TestSaveBeside: the app's s writes dist/<name>-<platform>.tar beside the layout, and
// refuses to write over the archive it is showing.
func TestSaveBeside(t *testing.T) {
	t.Parallel()
	w := newSeedWorld(t)
	w.MustBuild(t, "build --tag myapp:1 --platform linux/arm/v7")
	s, err := oci.InspectPath(w.Path("dist/image"))
	if err != nil {
		t.Fatal(err)
	}
	path, err := saveBeside(context.Background(), s, s.Images[0])
	if err != nil || path != w.Path(filepath.Join("dist", "myapp-linux-arm-v7.tar")) {
		t.Fatalf("saveBeside: %q, %v", path, err)
	}
	if img := loadArchive(t, mustRead(t, path)); img.Name != "docker.io/library/myapp:1" {
		t.Errorf("saved %s", img.Name)
	}
	// The archive on screen, saved again: its own path.
	s, err = oci.InspectPath(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := saveBeside(context.Background(), s, s.Images[0]); err == nil || !strings.Contains(err.Error(), "is the archive on screen already") {
		t.Errorf("saving an archive over itself: %v", err)
	}
}

// TestBackgroundSavesStopAndWait: when the app ends, a save still running is cancelled
// and waited for (so it removes its temporary file), and no new one starts.
func TestBackgroundSavesStopAndWait(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	started, finished := make(chan struct{}), make(chan struct{})
	saves := &backgroundSaves{ctx: ctx, run: func(ctx context.Context, _ *oci.Summary, _ oci.ImageSummary) (string, error) {
		close(started)
		<-ctx.Done()
		time.Sleep(50 * time.Millisecond) // cleaning up
		close(finished)
		return "", ctx.Err()
	}}
	go saves.save(nil, oci.ImageSummary{})
	<-started
	saves.stopAndWait(cancel)
	select {
	case <-finished:
	default:
		t.Fatal("stopAndWait returned before the running save had finished")
	}
	if _, err := saves.save(nil, oci.ImageSummary{}); !errors.Is(err, context.Canceled) {
		t.Errorf("a save after the app ended: %v, want context.Canceled", err)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSaveTargetNotItsSource: the archive never goes where save reads from (the layout,
// anything in it, the archive itself), however the path reaches there.
func TestSaveTargetNotItsSource(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	dir := w.Dir
	for _, d := range []string{"dist/image/blobs/sha256", "elsewhere"} {
		if err := os.MkdirAll(w.Path(d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	w.WriteFile(t, "dist/image/index.json", "{}")
	w.WriteFile(t, "in.tar", "")
	for link, target := range map[string]string{"into-layout": "dist/image/blobs", "index-link.tar": "dist/image/index.json", "layout-link": "dist/image"} {
		if err := os.Symlink(target, w.Path(link)); err != nil {
			t.Fatal(err)
		}
	}
	// Each path both as save passes it (read against the world's directory, cleaned)
	// and joined to the directory as written, so checkSaveTarget itself meets the ".."
	// and the links, as it does for relative paths in a process's own directory.
	asWritten := func(p string) string {
		if filepath.IsAbs(p) {
			return p
		}
		return dir + string(filepath.Separator) + p
	}
	tests := []struct {
		src, dest string
		refused   bool
	}{
		{"dist/image", "dist/image/index.json", true},
		{"dist/image", "dist/image", true},
		{"dist/image", "dist/image/blobs/sha256/x.tar", true},
		{"dist/image", "dist/image/../image/oci-layout", true},
		{"dist/image", "into-layout/x.tar", true},
		{"layout-link", "dist/image/index.json", true},
		{"dist/image", "image.tar", false},
		{"dist/image", "dist/image.tar", false},
		{"dist/image", "elsewhere/image.tar", false},
		{"dist/image", "index-link.tar", false}, // the rename replaces the link, not index.json
		{"in.tar", "in.tar", true},
		{"in.tar", "./elsewhere/../in.tar", true},
		{"in.tar", "out.tar", false},
		{filepath.Join(dir, "dist/image"), "dist/image/index.json", true},
		{"dist/image", filepath.Join(dir, "layout-link", "index.json"), true},
	}
	for _, tt := range tests {
		for _, p := range [][2]string{{w.Path(tt.src), w.Path(tt.dest)}, {asWritten(tt.src), asWritten(tt.dest)}} {
			err := checkSaveTarget(p[0], p[1], w.Env().Rel)
			var usage usageError
			if tt.refused != (err != nil) || (err != nil && !errors.As(err, &usage)) {
				t.Errorf("save %s -o %s: %v, want refused %v (as a usage error)", p[0], p[1], err, tt.refused)
			}
		}
	}
}
