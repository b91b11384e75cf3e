package build

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pycontainer/pycontainer/internal/cmdenv"
	"github.com/pycontainer/pycontainer/internal/testbase"
	"github.com/pycontainer/pycontainer/oci"
)

// benchContext writes n files of size bytes of Python-like text under a few packages.
func benchContext(b *testing.B, n, size int) string {
	b.Helper()
	dir := b.TempDir()
	line := "def handler(event, context):\n    return {'status': 200, 'body': event.get('body')}\n"
	body := strings.Repeat(line, size/len(line)+1)[:size]
	for i := range n {
		p := filepath.Join(dir, fmt.Sprintf("pkg%02d", i%20), fmt.Sprintf("mod%04d.py", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(dir, ".dockerignore"), []byte("**/*.log\ndocs/\n!docs/keep.md\ntests/\n"), 0o644)
	return dir
}

// BenchmarkWriteLayer measures the app layer: tar, gzip and digests of 2,000 files, 20 MB.
func BenchmarkWriteLayer(b *testing.B) {
	dir := benchContext(b, 2000, 10_000)
	sel, err := SelectFiles(dir)
	if err != nil {
		b.Fatal(err)
	}
	entries := appEntries(sel, "/app")
	epoch := time.Unix(0, 0)
	b.SetBytes(2000 * 10_000)
	for b.Loop() {
		if _, err := writeLayer(io.Discard, entries, &epoch); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSelectFiles measures walking a context of 5,000 files against ignore patterns.
func BenchmarkSelectFiles(b *testing.B) {
	dir := benchContext(b, 5000, 100)
	for b.Loop() {
		if _, err := SelectFiles(dir); err != nil {
			b.Fatal(err)
		}
	}
}

// benchPlatforms are the first n platforms of the benchmarks' base, as requested.
func benchPlatforms(b *testing.B, n int) []RequestedPlatform {
	b.Helper()
	var platforms []RequestedPlatform
	for _, raw := range []string{"linux/amd64", "linux/arm64/v8", "linux/arm/v7"}[:n] {
		p, err := oci.ParsePlatform(raw)
		if err != nil {
			b.Fatal(err)
		}
		platforms = append(platforms, RequestedPlatform{Platform: p, Raw: raw, Source: "bench"})
	}
	return platforms
}

// benchApp is a context of 20 small modules and an app.py.
func benchApp(b *testing.B) string {
	b.Helper()
	ctx := benchContext(b, 20, 1000)
	if err := os.WriteFile(filepath.Join(ctx, "app.py"), []byte("print('hi')\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	return ctx
}

// BenchmarkWarmBuild measures a rebuild with nothing changed, from the Distribution
// registry on loopback (skipped when it is not installed): one HEAD, the rest from the
// cache and the layout.
func BenchmarkWarmBuild(b *testing.B) {
	host := testbase.StartDistribution(b)
	testbase.Connect(host).Push(b, testbase.Spec{Repo: "library/python", Tag: "3.11-slim", Platforms: testbase.PythonPlatforms, LayerSizes: []int{20 << 20}})
	work := b.TempDir()
	o := &Options{Context: benchApp(b), Output: filepath.Join(work, "image"), Tag: "demo:1", Workdir: "/app",
		BaseImage: host + "/library/python:3.11-slim", Platforms: benchPlatforms(b, 3), Reproducible: true,
		CacheDir: filepath.Join(work, "cache"), Project: Project{Name: "demo"},
		Process: cmdenv.Env{Environ: []string{"HOME=" + work}}}
	if err := Run(context.Background(), o, nil); err != nil {
		b.Fatal(err)
	}
	cpu := processCPU()
	for b.Loop() {
		if err := Run(context.Background(), o, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((processCPU()-cpu).Microseconds())/1000/float64(b.N), "cpu-ms/op")
}

// BenchmarkColdBuild measures whole builds with nothing cached, from the Distribution
// registry on loopback (skipped when it is not installed), on a base whose platforms
// each have a 20 MB layer: the round trips, hashing and copies of a first build.
func BenchmarkColdBuild(b *testing.B) {
	host := testbase.StartDistribution(b)
	testbase.Connect(host).Push(b, testbase.Spec{Repo: "library/python", Tag: "3.11-slim", Platforms: testbase.PythonPlatforms, LayerSizes: []int{20 << 20}})
	for _, n := range []int{1, 3} {
		b.Run(fmt.Sprintf("platforms=%d", n), func(b *testing.B) {
			ctx, platforms := benchApp(b), benchPlatforms(b, n)
			work := b.TempDir()
			b.SetBytes(int64(n) * 20 << 20)
			cpu := processCPU()
			for b.Loop() {
				o := &Options{Context: ctx, Output: filepath.Join(work, "image"), Tag: "demo:1", Workdir: "/app",
					BaseImage: host + "/library/python:3.11-slim", Platforms: platforms, Reproducible: true,
					CacheDir: filepath.Join(work, "cache"), Project: Project{Name: "demo"},
					Process: cmdenv.Env{Environ: []string{"HOME=" + work}}}
				if err := Run(context.Background(), o, nil); err != nil {
					b.Fatal(err)
				}
				if err := os.RemoveAll(work); err != nil {
					b.Fatal(err)
				}
			}
			// This process's CPU alone (the registry is another): on a busy machine it
			// varies less than the wall time.
			b.ReportMetric(float64((processCPU()-cpu).Microseconds())/1000/float64(b.N), "cpu-ms/op")
		})
	}
}
