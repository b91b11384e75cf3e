// Package demotiming times builds against the demo registry; it holds tests only.
package demotiming

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pycontainer/pycontainer/build"
	"github.com/pycontainer/pycontainer/internal/cmdenv"
	"github.com/pycontainer/pycontainer/internal/demo"
	"github.com/pycontainer/pycontainer/oci"
)

// TestDemoBuildTiming measures what `pycontainer demo` shows: a cold-cache build of the
// example app against the throttled demo registry with demo.go's settings (Throttle(6<<20),
// Seed padding 3<<20), for one, three and all seven platforms of python:3.11-slim. It
// takes seconds, so it runs only when asked:
//
//	PYCONTAINER_DEMO_TIMING=1 go test -run TestDemoBuildTiming -v ./internal/demo/demotiming
//
// PYCONTAINER_DEMO_TIMING=2 also logs every progress event, to see layers stream.
func TestDemoBuildTiming(t *testing.T) {
	if os.Getenv("PYCONTAINER_DEMO_TIMING") == "" {
		t.Skip("set PYCONTAINER_DEMO_TIMING=1 to time demo builds")
	}
	ctx := context.Background()
	reg, err := demo.Serve(demo.Throttle(6 << 20))
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	seedStart := time.Now()
	if err := reg.Seed(ctx, 3<<20); err != nil {
		t.Fatal(err)
	}
	t.Logf("seed: %v", time.Since(seedStart).Round(time.Millisecond))
	for _, platforms := range [][]string{
		{"linux/amd64"},
		{"linux/amd64", "linux/arm64", "linux/arm/v7"},
		{"linux/amd64", "linux/arm64", "linux/arm/v7", "linux/arm/v5", "linux/386", "linux/ppc64le", "linux/s390x"},
	} {
		t.Run(fmt.Sprintf("%d platforms", len(platforms)), func(t *testing.T) {
			timeBuild(t, ctx, reg.Host, platforms)
		})
	}
}

// layerTiming is what the progress screen would show of one layer.
type layerTiming struct {
	platform, digest string
	size             int64
	start, end       time.Time
	progress         int
}

func timeBuild(t *testing.T, ctx context.Context, host string, platforms []string) {
	dir := t.TempDir()
	for _, name := range []string{"app.py", "pyproject.toml"} {
		data, err := os.ReadFile(filepath.Join("..", "..", "..", "examples", "cross-platform-demo", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cache := t.TempDir()
	output := filepath.Join(dir, "dist", "image")
	base := "python:3.11-slim"
	opts, err := build.Resolve(build.Inputs{
		Flags:   build.Settings{Context: &dir, Output: &output, BaseImage: &base, Platforms: platforms},
		Process: cmdenv.Env{Environ: []string{"PYCONTAINER_CACHE=" + cache}},
	})
	if err != nil {
		t.Fatal(err)
	}
	opts.Mirrors = map[string]string{"docker.io": host}
	var mu sync.Mutex
	layers := map[string]*layerTiming{}
	start := time.Now()
	err = build.Run(ctx, opts, func(e build.Event) {
		mu.Lock()
		defer mu.Unlock()
		now := time.Now()
		switch e := e.(type) {
		case build.LayerStarted:
			if e.Digest != "" {
				layers[e.Platform+e.Digest] = &layerTiming{platform: e.Platform, digest: e.Digest, size: e.Size, start: now}
			}
		case build.LayerProgressed:
			if l := layers[e.Platform+e.Digest]; l != nil {
				l.progress++
				if os.Getenv("PYCONTAINER_DEMO_TIMING") == "2" {
					t.Logf("%5.2fs %s %s %d/%d", now.Sub(start).Seconds(), e.Platform, e.Digest[7:13], e.Done, e.Total)
				}
			}
		case build.LayerDone:
			if l := layers[e.Platform+e.Digest]; l != nil {
				l.end = now
			}
		}
	})
	total := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	var rows []string
	for _, l := range layers {
		rows = append(rows, fmt.Sprintf("%-14s %s %8d B  %5.2fs..%5.2fs  %2d progress events",
			l.platform, oci.ShortHex(l.digest), l.size, l.start.Sub(start).Seconds(), l.end.Sub(start).Seconds(), l.progress))
	}
	sort.Strings(rows)
	t.Logf("%v, cold cache: %v\n%s", platforms, total.Round(10*time.Millisecond), strings.Join(rows, "\n"))
}
