package oci

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	digest "github.com/opencontainers/go-digest"
	"github.com/regclient/regclient/types/descriptor"
)

func openTestStore(t *testing.T) *Store {
	t.Helper()
	s, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func blobOf(b []byte) descriptor.Descriptor {
	return descriptor.Descriptor{Digest: digest.FromBytes(b), Size: int64(len(b))}
}

// resume starts an attempt on p and checks what it kept.
func resume(t *testing.T, p *Partial, want []byte) io.Writer {
	t.Helper()
	kept, r, w, err := p.Resume()
	if err != nil {
		t.Fatal(err)
	}
	if kept != int64(len(want)) {
		t.Fatalf("kept %d bytes, want %d", kept, len(want))
	}
	if kept > 0 {
		got, err := io.ReadAll(io.NewSectionReader(r, 0, kept))
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("kept bytes %q (%v), want %q", got, err, want)
		}
	}
	return w
}

func write(t *testing.T, w io.Writer, b []byte) {
	t.Helper()
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
}

func TestPartialKeepsAndResumes(t *testing.T) {
	s := openTestStore(t)
	blob := []byte("0123456789abcdef")
	want := blobOf(blob)

	p := s.Partial(want)
	write(t, resume(t, p, nil), blob[:6])
	p.Keep()
	// A later download of the same blob, as the next build makes.
	p = s.Partial(want)
	write(t, resume(t, p, blob[:6]), blob[6:10])
	p.Keep()
	w := resume(t, p, blob[:10])
	write(t, w, blob[10:])
	if err := p.Commit(); err != nil {
		t.Fatal(err)
	}
	if !s.Has(want) {
		t.Fatal("the committed blob is not in the store")
	}
	if got, _ := os.ReadFile(s.Path(want.Digest)); !bytes.Equal(got, blob) {
		t.Errorf("stored %q, want %q", got, blob)
	}
	if _, err := os.Stat(s.partialPath(want.Digest)); err == nil {
		t.Error("the partial file is still there after the commit")
	}
}

func TestPartialBeginAbortAndSize(t *testing.T) {
	s := openTestStore(t)
	blob := []byte("0123456789abcdef")
	want := blobOf(blob)

	p := s.Partial(want)
	write(t, resume(t, p, nil), blob[:8])
	p.Keep()
	// Begin starts over: the registry ignored the range.
	w, err := p.Begin()
	if err != nil {
		t.Fatal(err)
	}
	write(t, w, blob[:4])
	if err := p.Commit(); err == nil {
		t.Fatal("a blob of the wrong size was committed")
	}
	if s.Has(want) {
		t.Fatal("a short blob reached the store")
	}
	p = s.Partial(want)
	write(t, resume(t, p, nil), blob[:5])
	p.Abort()
	p = s.Partial(want)
	resume(t, p, nil) // Abort kept nothing
	p.Abort()

	// A complete file never committed is not resumed from: it failed its check.
	p = s.Partial(want)
	write(t, resume(t, p, nil), blob)
	p.Keep()
	p = s.Partial(want)
	resume(t, p, nil)
	p.Abort()

	bad := s.Partial(descriptor.Descriptor{Digest: "sha256:../../etc", Size: 3})
	if _, _, _, err := bad.Resume(); err == nil {
		t.Error("an invalid digest became a path")
	}
}

// TestPartialBusy: while one download holds a blob's partial file, another of the same
// blob (another build sharing the cache) writes a file of its own and keeps nothing.
func TestPartialBusy(t *testing.T) {
	needLocks(t)
	s := openTestStore(t)
	blob := []byte("0123456789abcdef")
	want := blobOf(blob)

	first := s.Partial(want)
	write(t, resume(t, first, nil), blob[:6])
	second := s.Partial(want)
	w := resume(t, second, nil)
	if !second.private {
		t.Fatal("two downloads share the partial file")
	}
	write(t, w, blob[:3])
	second.Keep() // discards its private file
	first.Keep()
	third := s.Partial(want)
	write(t, resume(t, third, blob[:6]), blob[6:])
	if err := third.Commit(); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(filepath.Join(s.Dir(), "tmp")); len(entries) != 0 {
		t.Errorf("temporary files left: %v", entries)
	}
}

// TestPrunePartials: partial downloads count in the cache's size and are pruned with the
// blobs, least recently used first, except one a download holds.
func TestPrunePartials(t *testing.T) {
	needLocks(t)
	s := openTestStore(t)
	blob := bytes.Repeat([]byte("x"), 100)
	if _, err := s.PutBytes(blob); err != nil {
		t.Fatal(err)
	}
	idle := s.Partial(blobOf([]byte("idle partial download")))
	write(t, resume(t, idle, nil), []byte("idle"))
	idle.Keep()
	held := s.Partial(blobOf([]byte("a download in progress")))
	write(t, resume(t, held, nil), []byte("held"))
	defer held.Abort()

	res, err := s.Prune(0)
	if err != nil {
		t.Fatal(err)
	}
	if res.Removed != 2 || res.RemovedBytes != 104 || res.Kept != 1 || res.KeptBytes != 4 {
		t.Errorf("prune %+v, want the blob and the idle partial removed, the held one kept", res)
	}
	if _, err := os.Stat(s.partialPath(held.want.Digest)); err != nil {
		t.Errorf("the partial a download holds was removed: %v", err)
	}
}
