package build

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
