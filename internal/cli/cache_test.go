package cli

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

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
