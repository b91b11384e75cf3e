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

// TestPodmanLoads follows the seed's "Testing Your Cross-Platform Images": load an
// image into a container engine and ask the engine what it got. Podman is the engine
// here (Docker cannot run in this sandbox); it reads archives with containers/image,
// which skopeo shares. Two ways in: the seed's `tar -C dist/image -cf - .` of a
// one-platform build, and `pycontainer save` of each platform of a three-platform
// layout (which an engine cannot load as it is: it takes one image per platform).
func TestPodmanLoads(t *testing.T) {
	engine := podmanEngine(t)
	reg := testbase.Start(t)
	reg.Push(t, testbase.Spec{Repo: "library/python", Tag: "3.11-slim", Platforms: testbase.PythonPlatforms})
	bin := buildBinary(t)
	work := demoProject(t)
	run := func(args ...string) {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Dir = work
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("pycontainer %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	base := reg.Host + "/library/python:3.11-slim"
	platforms := []struct{ tag, platform, want string }{
		{"myapp:arm64", "linux/arm64", "linux arm64"},
		{"myapp:amd64", "linux/amd64", "linux amd64"},
		{"myapp:armv7", "linux/arm/v7", "linux arm"},
	}

	t.Run("tar of a one-platform layout", func(t *testing.T) {
		for _, tt := range platforms {
			run("build", "--tag", tt.tag, "--platform", tt.platform, "--base-image", base, "--progress", "plain")
			archive := filepath.Join(t.TempDir(), "image.tar")
			tarDir(t, filepath.Join(work, "dist", "image"), archive)
			loadAndCheck(t, engine, archive, tt.tag, tt.want)
		}
	})
	t.Run("save of each platform", func(t *testing.T) {
		run("build", "--tag", "myapp:latest", "--platform", "linux/amd64,linux/arm64,linux/arm/v7", "--base-image", base, "--progress", "plain")
		for _, tt := range platforms {
			archive := filepath.Join(t.TempDir(), "image.tar")
			tag := tt.tag + "-saved" // not a name the first subtest loaded
			run("save", "--platform", tt.platform, "--tag", tag, "-o", archive)
			loadAndCheck(t, engine, archive, tag, tt.want)
		}
	})
}

// podmanEngine runs podman with its storage in the test's directories, not the machine's.
func podmanEngine(t *testing.T) func(args ...string) (string, error) {
	t.Helper()
	podman, err := exec.LookPath("podman")
	if err != nil {
		t.Skip("podman is not installed: apt-get install podman")
	}
	// Not t.TempDir(): podman refuses a runroot path over 50 characters.
	store, err := os.MkdirTemp("", "podman-")
	if err != nil {
		t.Fatal(err)
	}
	engine := func(args ...string) (string, error) {
		all := append([]string{"--root", filepath.Join(store, "root"), "--runroot", filepath.Join(store, "run"), "--storage-driver", "vfs"}, args...)
		out, err := exec.Command(podman, all...).CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	t.Cleanup(func() {
		engine("system", "reset", "--force")
		os.RemoveAll(store)
	})
	return engine
}

// loadAndCheck loads archive into the engine and checks it arrived as tag, of os and
// architecture want.
func loadAndCheck(t *testing.T, engine func(...string) (string, error), archive, tag, want string) {
	t.Helper()
	out, err := engine("load", "-i", archive)
	if err != nil {
		t.Fatalf("podman load of %s: %v\n%s", tag, err, out)
	}
	if !strings.Contains(out, "Loaded image: docker.io/library/"+tag) {
		t.Errorf("podman load named the image differently:\n%s", out)
	}
	raw, err := engine("image", "inspect", tag)
	if err != nil {
		t.Fatalf("podman image inspect %s: %v\n%s", tag, err, raw)
	}
	// Podman 4.3's inspect has no variant field (the config's "v7" is checked by the
	// other tests); os and architecture are what it decides a run by.
	var images []struct{ Os, Architecture string }
	if err := json.Unmarshal([]byte(raw), &images); err != nil || len(images) != 1 {
		t.Fatalf("podman image inspect %s: %v\n%s", tag, err, raw)
	}
	if got := images[0].Os + " " + images[0].Architecture; got != want {
		t.Errorf("podman sees %s as %q, want %q", tag, got, want)
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
