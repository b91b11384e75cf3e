package e2e

import (
	"archive/tar"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pycontainer/pycontainer/internal/testbase"
)

// TestPodmanLoadsTheLayout follows the seed's "Testing Your Cross-Platform Images":
// build one platform, load `tar -C dist/image -cf - .` into a container engine, and
// ask the engine what it got. Podman is the engine here (Docker cannot run in this
// sandbox); it reads the layout with containers/image, which skopeo shares.
func TestPodmanLoadsTheLayout(t *testing.T) {
	podman, err := exec.LookPath("podman")
	if err != nil {
		t.Skip("podman is not installed: apt-get install podman")
	}
	reg := testbase.Start(t)
	reg.Push(t, testbase.Spec{Repo: "library/python", Tag: "3.11-slim", Platforms: testbase.PythonPlatforms})
	bin := buildBinary(t)
	work := demoProject(t)
	// The engine's storage lives in the test's directories, not the machine's.
	store := t.TempDir()
	engine := func(args ...string) (string, error) {
		all := append([]string{"--root", filepath.Join(store, "root"), "--runroot", filepath.Join(store, "run"), "--storage-driver", "vfs"}, args...)
		out, err := exec.Command(podman, all...).CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	t.Cleanup(func() { engine("system", "reset", "--force") })

	for _, tt := range []struct{ tag, platform, want string }{
		{"myapp:arm64", "linux/arm64", "linux arm64"},
		{"myapp:amd64", "linux/amd64", "linux amd64"},
		{"myapp:armv7", "linux/arm/v7", "linux arm"},
	} {
		cmd := exec.Command(bin, "build", "--tag", tt.tag, "--platform", tt.platform, "--base-image", reg.Host+"/library/python:3.11-slim", "--progress", "plain")
		cmd.Dir = work
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", tt.platform, err, out)
		}
		archive := filepath.Join(t.TempDir(), "image.tar")
		tarDir(t, filepath.Join(work, "dist", "image"), archive)
		out, err := engine("load", "-i", archive)
		if err != nil {
			t.Fatalf("podman load of %s: %v\n%s", tt.platform, err, out)
		}
		if !strings.Contains(out, "Loaded image: docker.io/library/"+tt.tag) {
			t.Errorf("podman load named the image differently:\n%s", out)
		}
		raw, err := engine("image", "inspect", tt.tag)
		if err != nil {
			t.Fatalf("podman image inspect %s: %v\n%s", tt.tag, err, raw)
		}
		// Podman 4.3's inspect has no variant field (the config's "v7" is checked by the
		// other tests); os and architecture are what it decides a run by.
		var images []struct{ Os, Architecture string }
		if err := json.Unmarshal([]byte(raw), &images); err != nil || len(images) != 1 {
			t.Fatalf("podman image inspect %s: %v\n%s", tt.tag, err, raw)
		}
		if got := images[0].Os + " " + images[0].Architecture; got != tt.want {
			t.Errorf("podman sees %s as %q, want %q", tt.tag, got, tt.want)
		}
	}
}

// tarDir writes the files under dir to a tar archive, as `tar -C dir -cf - .` does.
func tarDir(t *testing.T, dir, archive string) {
	t.Helper()
	f, err := os.Create(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	err = filepath.WalkDir(dir, func(p string, de fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		info, err := de.Info()
		if err != nil {
			return err
		}
		h, err := tar.FileInfoHeader(info, "")
		if err != nil {
			return err
		}
		h.Name, _ = filepath.Rel(dir, p)
		if err := tw.WriteHeader(h); err != nil || de.IsDir() {
			return err
		}
		src, err := os.Open(p)
		if err != nil {
			return err
		}
		defer src.Close()
		_, err = io.Copy(tw, src)
		return err
	})
	if err == nil {
		err = tw.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
}
