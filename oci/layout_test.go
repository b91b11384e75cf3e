package oci

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
	"github.com/regclient/regclient/types/descriptor"
	"github.com/regclient/regclient/types/mediatype"
	v1 "github.com/regclient/regclient/types/oci/v1"
)

func TestCopyBlobRejectsWrongBytes(t *testing.T) {
	l, err := OpenLayout(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	want := descriptor.Descriptor{Digest: digest.FromString("the real bytes"), Size: 14}
	_, err = l.CopyBlob(context.Background(), want, strings.NewReader("flipped bytes!"))
	if err == nil || !strings.Contains(err.Error(), "digest mismatch") {
		t.Fatalf("CopyBlob with wrong bytes: err = %v, want a digest mismatch", err)
	}
	if _, err := os.Stat(l.BlobPath(want.Digest)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a blob that failed its digest was stored (stat err %v)", err)
	}
	tmp, _ := os.ReadDir(l.tmpDir())
	if len(tmp) != 0 {
		t.Errorf("temporary files left behind: %d", len(tmp))
	}
	d, err := l.CopyBlob(context.Background(), want, strings.NewReader("the real bytes"))
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(l.BlobPath(d.Digest))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("blob mode %v, want readable by everyone (0644)", fi.Mode().Perm())
	}
	if !l.HasBlob(want) {
		t.Error("HasBlob is false after a successful copy")
	}
}

// newLayout opens a layout in a fresh directory. The caller closes it, some before they
// read the directory back: the layout holds a lock on it while open.
func newLayout(t testing.TB) (string, *Layout) {
	t.Helper()
	dir := t.TempDir()
	l, err := OpenLayout(dir)
	if err != nil {
		t.Fatal(err)
	}
	return dir, l
}

func TestCommitIndexCollectsGarbage(t *testing.T) {
	dir, l := newLayout(t)
	defer l.Close()
	ctx := context.Background()
	layer, err := l.CopyBlob(ctx, descriptor.Descriptor{MediaType: mediatype.OCI1Layer}, strings.NewReader("layer"))
	if err != nil {
		t.Fatal(err)
	}
	orphan, err := l.CopyBlob(ctx, descriptor.Descriptor{}, strings.NewReader("orphan"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := l.PutJSON(ctx, mediatype.OCI1ImageConfig, map[string]string{"architecture": "amd64", "os": "linux"})
	if err != nil {
		t.Fatal(err)
	}
	m, err := l.PutJSON(ctx, mediatype.OCI1Manifest, v1.Manifest{Versioned: v1.ManifestSchemaVersion, MediaType: mediatype.OCI1Manifest, Config: cfg, Layers: []descriptor.Descriptor{layer}})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.CommitIndex(v1.Index{Versioned: v1.IndexSchemaVersion, MediaType: mediatype.OCI1ManifestList, Manifests: []descriptor.Descriptor{m}}, nil); err != nil {
		t.Fatal(err)
	}
	for _, d := range []descriptor.Descriptor{layer, cfg, m} {
		if !l.HasBlob(d) {
			t.Errorf("referenced blob %s was removed", d.Digest)
		}
	}
	if _, err := os.Stat(l.BlobPath(orphan.Digest)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("unreferenced blob survived garbage collection")
	}
	for _, name := range []string{"oci-layout", "index.json"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("%s missing: %v", name, err)
		}
	}
}

func TestOpenLayoutIsExclusive(t *testing.T) {
	needLocks(t)
	dir := t.TempDir()
	l, err := OpenLayout(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = OpenLayout(dir)
	if !errors.Is(err, ErrLayoutBusy) {
		t.Fatalf("second OpenLayout: err = %v, want ErrLayoutBusy", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2, err := OpenLayout(dir)
	if err != nil {
		t.Fatalf("OpenLayout after Close: %v", err)
	}
	l2.Close()
}

func TestInspectFindsPlatformMismatch(t *testing.T) {
	dir, l := newLayout(t)
	defer l.Close()
	ctx := context.Background()
	layer, _ := l.CopyBlob(ctx, descriptor.Descriptor{MediaType: mediatype.OCI1LayerGzip}, strings.NewReader("layer"))
	cfg, err := l.PutJSON(ctx, mediatype.OCI1ImageConfig, map[string]any{"architecture": "amd64", "os": "linux", "rootfs": map[string]any{"type": "layers"}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := l.PutJSON(ctx, mediatype.OCI1Manifest, v1.Manifest{Versioned: v1.ManifestSchemaVersion, MediaType: mediatype.OCI1Manifest, Config: cfg, Layers: []descriptor.Descriptor{layer}})
	if err != nil {
		t.Fatal(err)
	}
	right, wrong := m, m
	right.Platform = &Platform{OS: "linux", Architecture: "amd64"}
	wrong.Platform = &Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}
	if err := l.CommitIndex(v1.Index{Versioned: v1.IndexSchemaVersion, Manifests: []descriptor.Descriptor{right, wrong}}, nil); err != nil {
		t.Fatal(err)
	}
	s, err := Inspect(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Images) != 2 || len(s.Images[0].Problems) != 0 {
		t.Fatalf("images %+v", s.Images)
	}
	if p := s.Images[1].Problems; len(p) != 1 || p[0] != "the index says linux/arm64 but the config says linux/amd64" {
		t.Errorf("problems %q", p)
	}
	if _, err := Inspect(t.TempDir()); err == nil || !strings.Contains(err.Error(), "not an OCI image layout") {
		t.Errorf("Inspect of an empty dir: %v", err)
	}
}

// TestStoreRefusesDigestsThatArePaths: a digest that names a path must neither read nor
// remove (Read drops a cache entry that fails its digest) nor link a file outside the store.
func TestStoreRefusesDigestsThatArePaths(t *testing.T) {
	root := t.TempDir()
	victim := filepath.Join(root, "victim")
	if err := os.WriteFile(victim, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := OpenStore(filepath.Join(root, "cache"))
	if err != nil {
		t.Fatal(err)
	}
	l, err := OpenLayout(filepath.Join(root, "image"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	evil := digest.Digest("sha256:../../../victim")
	if _, err := s.Read(evil, 1<<20); err == nil || !strings.Contains(err.Error(), "invalid digest") {
		t.Errorf("Read(%s) = %v, want an invalid digest error", evil, err)
	}
	if err := s.LinkInto(l, descriptor.Descriptor{Digest: evil, Size: 7}); err == nil || !strings.Contains(err.Error(), "invalid digest") {
		t.Errorf("LinkInto(%s) = %v, want an invalid digest error", evil, err)
	}
	if b, err := os.ReadFile(victim); err != nil || string(b) != "keep me" {
		t.Errorf("the file outside the store was touched: %q, %v", b, err)
	}
}

// TestPruneKeepsDownloadsInProgress: the cache is shared by concurrent builds, so Prune
// (which every build runs) removes only temporary files old enough to be leftovers.
func TestPruneKeepsDownloadsInProgress(t *testing.T) {
	s, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := s.Writer()
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Abort()
	fresh.Write([]byte("half a download"))
	old := filepath.Join(s.Dir(), "tmp", "blob-left-by-a-killed-build")
	if err := os.WriteFile(old, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	long := time.Now().Add(-48 * time.Hour)
	os.Chtimes(old, long, long)
	if _, err := s.Prune(1 << 30); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Errorf("a leftover temporary file was kept: %v", err)
	}
	if _, err := fresh.Commit(descriptor.Descriptor{}); err != nil {
		t.Errorf("a download in progress lost its file to Prune: %v", err)
	}
}
