package cli

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pycontainer/pycontainer/internal/testbase"
)

// requestLog counts the requests a registry receives, by kind.
type requestLog struct {
	mu       sync.Mutex
	counts   map[string]int
	disabled bool
}

func (l *requestLog) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.mu.Lock()
		kind := "other"
		switch {
		case strings.Contains(r.URL.Path, "/blobs/"):
			kind = r.Method + " blob"
		case strings.Contains(r.URL.Path, "/manifests/"):
			kind = r.Method + " manifest"
		}
		l.counts[kind]++
		down := l.disabled
		l.mu.Unlock()
		if down {
			http.Error(w, "registry is down", http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func (l *requestLog) reset() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.counts
	l.counts = map[string]int{}
	return c
}

func (l *requestLog) setDown(down bool) {
	l.mu.Lock()
	l.disabled = down
	l.mu.Unlock()
}

func TestSharedCache(t *testing.T) {
	t.Parallel()
	log := &requestLog{counts: map[string]int{}}
	reg := testbase.StartWith(t, log.wrap)
	reg.Push(t, testbase.Spec{Repo: "library/python", Tag: "3.11-slim", Platforms: testbase.PythonPlatforms, Attestation: true})
	w := newSeedWorldWith(t, reg)
	log.reset()

	w.MustBuild(t, "build --platform linux/amd64,linux/arm64")
	cold := log.reset()
	if cold["GET blob"] != 5 { // 2 configs, the shared layer, 2 platform layers
		t.Errorf("cold build: %d blob downloads, want 5 (%v)", cold["GET blob"], cold)
	}

	// Warm rebuild, nothing changed: one manifest request to see whether the tag moved.
	w.MustBuild(t, "build --platform linux/amd64,linux/arm64")
	warm := log.reset()
	if warm["GET blob"] != 0 || warm["GET manifest"]+warm["HEAD manifest"] != 1 {
		t.Errorf("warm rebuild: %v, want no blob and one manifest request", warm)
	}

	// A second project with the same base, into its own layout: no base blob.
	other := t.TempDir()
	if err := os.WriteFile(filepath.Join(other, "main.py"), []byte("print('other')\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	w.MustBuild(t, "build --platform linux/arm64 --context "+other+" --output "+filepath.Join(other, "dist", "image"))
	if second := log.reset(); second["GET blob"] != 0 {
		t.Errorf("second project: %v, want no blob download", second)
	}

	// Offline: --pull=never asks the registry nothing.
	log.setDown(true)
	w.WriteFile(t, "app.py", "print('offline edit')\n")
	w.MustBuild(t, "build --platform linux/amd64,linux/arm64 --pull never")
	if offline := log.reset(); len(offline) != 0 {
		t.Errorf("--pull=never made requests: %v", offline)
	}
	code, _, stderr := w.Run(t, "build --platform linux/amd64 --pull never --base-image python:3.12-slim")
	if code != 1 || !strings.Contains(stderr, "not in the cache (--pull=never)") {
		t.Errorf("--pull=never of an uncached tag: exit %d\n%s", code, stderr)
	}
	log.setDown(false)

	// --no-cache downloads again, into the layout only.
	w.MustBuild(t, "build --platform linux/amd64 --no-cache --output dist/nocache")
	if nc := log.reset(); nc["GET blob"] != 3 {
		t.Errorf("--no-cache: %v, want 3 blob downloads", nc)
	}

	// cache prune without --max-size keeps the bound builds keep: PYCONTAINER_CACHE_MAX_SIZE.
	for _, tt := range []struct {
		env, want string
		code      int
	}{
		{"", "removed 0 blobs", 0},
		{"1B", ", kept 0 (", 0},
		{"lots", `PYCONTAINER_CACHE_MAX_SIZE: "lots" is not a size such as 500MB or 10GB`, 2},
		{"inf", `PYCONTAINER_CACHE_MAX_SIZE: "inf" is not a size`, 2},
		{"1e30", `PYCONTAINER_CACHE_MAX_SIZE: "1e30" is not a size`, 2},
		{"0", "PYCONTAINER_CACHE_MAX_SIZE=0 sets no bound; nothing removed", 0}, // as builds read it
	} {
		w.Setenv("PYCONTAINER_CACHE_MAX_SIZE", tt.env)
		code, stdout, stderr := w.Run(t, "cache prune")
		if code != tt.code || !strings.Contains(stdout+stderr, tt.want) {
			t.Errorf("PYCONTAINER_CACHE_MAX_SIZE=%q cache prune: exit %d, want %d and %q:\n%s%s", tt.env, code, tt.code, tt.want, stdout, stderr)
		}
	}
	w.Setenv("PYCONTAINER_CACHE_MAX_SIZE", "")
	if code, _, stderr := w.Run(t, "cache prune --max-size 0"); code != 2 || !strings.Contains(stderr, "--all empties the cache") {
		t.Errorf("cache prune --max-size 0: exit %d\n%s", code, stderr)
	}

	code, stdout, _ := w.Run(t, "cache prune --all")
	if code != 0 || !strings.Contains(stdout, "removed") {
		t.Errorf("cache prune: exit %d %s", code, stdout)
	}
	w.MustBuild(t, "build --platform linux/amd64")
	// The layers are still in dist/image; only the base config is fetched again.
	if after := log.reset(); after["GET blob"] != 1 {
		t.Errorf("after prune --all: %v, want the base config downloaded again", after)
	}
}

// TestCachePruneBuilderEntries: cache prune counts and removes builders' root
// filesystems and built wheels with the blobs, a line for each kind and one in all.
func TestCachePruneBuilderEntries(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	cache := w.Env().Getenv("PYCONTAINER_CACHE")
	write := func(p string, size int, age time.Duration) {
		t.Helper()
		p = filepath.Join(cache, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(strings.Repeat("x", size)), 0o644); err != nil {
			t.Fatal(err)
		}
		at := time.Now().Add(-age)
		os.Chtimes(p, at, at)
	}
	hex := strings.Repeat("a", 64)
	write("blobs/sha256/"+hex, 100, 3*time.Hour) // not a valid blob: Prune weighs it all the same
	write("rootfs/"+hex+"/usr/bin/python3", 3000, 0)
	write("rootfs/"+hex+"/etc/os-release", 1000, 0)
	ro := filepath.Join(cache, "rootfs", hex, "etc")
	os.Chmod(ro, 0o555)
	t.Cleanup(func() { os.Chmod(ro, 0o755) })
	old := time.Now().Add(-2 * time.Hour)
	os.Chtimes(filepath.Join(cache, "rootfs", hex), old, old)
	write("built-wheels/"+hex+"/linux-amd64/"+hex+"/fast-1.0-cp311-cp311-linux_x86_64.whl", 500, time.Hour)

	for _, tt := range []struct {
		args string
		want []string
	}{
		{"cache prune --max-size 1kB", []string{
			": removed 1 blobs (100 B), kept 0 (0 B)\n",
			": removed 1 builder root filesystem (4.0 kB), kept 0 (0 B)\n",
			": removed 0 built wheels (0 B), kept 1 (500 B)\n",
			": removed 2 entries in all (4.1 kB), kept 1 (500 B)\n",
		}},
		{"cache prune --all", []string{
			": removed 0 blobs (0 B), kept 0 (0 B)\n",
			": removed 0 builder root filesystems (0 B), kept 0 (0 B)\n",
			": removed 1 built wheel (500 B), kept 0 (0 B)\n",
			": removed 1 entry in all (500 B), kept 0 (0 B)\n",
		}},
		{"cache prune --all", []string{": removed 0 blobs (0 B), kept 0 (0 B)\n"}},
	} {
		code, stdout, stderr := w.Run(t, tt.args)
		var want string
		for _, l := range tt.want {
			want += cache + l
		}
		if code != 0 || stdout != want {
			t.Errorf("%s: exit %d\n%s%swant\n%s", tt.args, code, stdout, stderr, want)
		}
	}
	for _, d := range []string{"rootfs", "built-wheels"} {
		if left, err := os.ReadDir(filepath.Join(cache, d)); err != nil || len(left) != 0 {
			t.Errorf("%s/ holds %v (%v), want it empty", d, left, err)
		}
	}
}
