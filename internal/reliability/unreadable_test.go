//go:build linux

package reliability

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/pycontainer/pycontainer/internal/clitest"
)

// unreadableContext: a file or directory of the project that the user cannot read is
// a one-line error naming it and what to do, and the previous image stays. Permissions
// bind only a user who is not root, so as root the build runs as nobody.
func unreadableContext(t *testing.T) []reliabilityRow {
	w := newSeedWorld(t)
	w.MustBuild(t, "build --platform linux/amd64")
	before, err := os.ReadFile(w.Path("dist/image/index.json"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path string
		dir        bool
		want       string
	}{
		{"file", "private.py", false, "app/private.py cannot be read"},
		{"directory", "locked", true, "locked/ cannot be read"},
	}
	var rows []reliabilityRow
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := w.Path(tt.path)
			if tt.dir {
				if err := os.MkdirAll(filepath.Join(path, "sub"), 0o755); err != nil {
					t.Fatal(err)
				}
			} else if err := os.WriteFile(path, []byte("x = 1\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, 0); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.Chmod(path, 0o755); os.RemoveAll(path) })
			code, stderr := buildAsUnprivileged(t, w, "build", "--platform", "linux/amd64", "--progress", "plain")
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			last := lines[len(lines)-1]
			if code != 1 || !strings.HasPrefix(last, "Error: ") || !strings.Contains(last, tt.want) ||
				!strings.Contains(last, "permission denied") || !strings.Contains(last, ".dockerignore") {
				t.Fatalf("exit %d, last line %q; want exit 1 naming %q, the cause and the fix\n%s", code, last, tt.want, stderr)
			}
			if strings.Contains(stderr, "goroutine ") {
				t.Errorf("a stack trace:\n%s", stderr)
			}
			after, err := os.ReadFile(w.Path("dist/image/index.json"))
			if err != nil || !bytes.Equal(after, before) {
				t.Errorf("the previous image changed: %v", err)
			}
			validateLayout(t, w.Path("dist/image"))
		})
		rows = append(rows, reliabilityRow{What: "an unreadable " + tt.name + " in the project (the build runs as a user who cannot read it)", Mode: "hostile input", Trials: 1,
			Outcome: "one-line error naming it, the cause and the fix (.dockerignore); the previous image unchanged"})
	}
	return rows
}

// buildAsUnprivileged runs this test binary as pycontainer in w: as nobody when the test
// runs as root, else as the user running the test.
func buildAsUnprivileged(t *testing.T, w *clitest.World, args ...string) (int, string) {
	t.Helper()
	cmd := w.Command(t, args)
	if os.Geteuid() == 0 {
		// nobody needs to run the binary, write the project's dist/ and a cache.
		shared := t.TempDir()
		searchable(shared)
		bin := filepath.Join(shared, "pycontainer")
		b, err := os.ReadFile(cmd.Path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(bin, b, 0o755); err != nil {
			t.Fatal(err)
		}
		cache := filepath.Join(shared, "cache")
		os.Mkdir(cache, 0o777)
		os.Chmod(cache, 0o777)
		if err := chownTree(w.Dir, 65534); err != nil {
			t.Fatal(err)
		}
		searchable(w.Dir)
		cmd = w.Command(t, args, "PYCONTAINER_CACHE="+cache, "HOME="+shared)
		cmd.Path, cmd.Args[0] = bin, bin
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), stderr.String()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0, stderr.String()
}

// searchable lets every user reach dir: it opens dir and its parents below the
// system's temporary directory (t.TempDir makes them 0700), never that directory itself,
// which is shared (1777: an earlier version set it to 0755, and apt and tmux failed).
func searchable(dir string) {
	top := filepath.Clean(os.TempDir())
	for d := filepath.Clean(dir); strings.HasPrefix(d, top+string(filepath.Separator)); d = filepath.Dir(d) {
		os.Chmod(d, 0o755)
	}
}

// chownTree gives dir and what it holds to uid, except entries nobody may read.
func chownTree(dir string, uid int) error {
	return filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		switch {
		case err != nil:
			return err
		case info.Mode().Perm() != 0:
			return os.Lchown(p, uid, uid)
		case info.IsDir():
			return filepath.SkipDir // the unreadable entry stays root's
		}
		return nil
	})
}
