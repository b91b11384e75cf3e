package oci

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	digest "github.com/opencontainers/go-digest"
	"github.com/regclient/regclient/types/descriptor"
	"github.com/regclient/regclient/types/mediatype"
	v1 "github.com/regclient/regclient/types/oci/v1"
)

// flipKeepingSize overwrites two bytes of the file at path in place, its size unchanged.
func flipKeepingSize(t *testing.T, path string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 2)
	if _, err := f.ReadAt(b, 0); err != nil {
		t.Fatal(err)
	}
	b[0], b[1] = ^b[0], ^b[1]
	if _, err := f.WriteAt(b, 0); err != nil {
		t.Fatal(err)
	}
}

// TestBlobsAreNotTrustedBySize: a blob of the store or of a layout whose bytes changed
// (its size kept) is not taken for its digest: the store drops it, the layout reports
// it absent (the build then fetches it again and renames it over), and linking refuses
// it. A blob that was verified and did not change is trusted by its seal, without
// being read again.
func TestBlobsAreNotTrustedBySize(t *testing.T) {
	data := bytes.Repeat([]byte("base layer bytes "), 1000)
	want := blobOf(data)
	tests := []struct {
		name string
		run  func(t *testing.T, s *Store, l *Layout)
	}{
		{"store blob flipped", func(t *testing.T, s *Store, l *Layout) {
			flipKeepingSize(t, s.Path(want.Digest))
			if s.Has(want) {
				t.Fatal("Store.Has trusted a blob whose bytes changed")
			}
			if _, err := os.Stat(s.Path(want.Digest)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the damaged cache entry was kept: %v", err)
			}
		}},
		{"layout blob flipped", func(t *testing.T, s *Store, l *Layout) {
			if err := s.LinkInto(l, want); err != nil {
				t.Fatal(err)
			}
			flipKeepingSize(t, l.BlobPath(want.Digest)) // a hard link: the cache's too
			if l.HasBlob(want) {
				t.Fatal("Layout.HasBlob trusted a blob whose bytes changed")
			}
			if err := s.LinkInto(l, want); err == nil || !strings.Contains(err.Error(), "does not match its digest") {
				t.Errorf("LinkInto of a damaged cache entry: %v", err)
			}
		}},
		{"unsealed blob hashed once, then sealed", func(t *testing.T, s *Store, l *Layout) {
			if err := removeSeal(s.Path(want.Digest)); err != nil {
				t.Skipf("no extended attributes here: %v", err)
			}
			if !s.Has(want) {
				t.Fatal("a good blob without a seal was refused")
			}
			if f, err := os.Open(s.Path(want.Digest)); err == nil {
				defer f.Close()
				if fi, _ := f.Stat(); !isSealed(f, fi, want.Digest) {
					t.Error("a blob hashed and found good was not sealed")
				}
			}
		}},
		{"sealed blob trusted by its seal", func(t *testing.T, s *Store, l *Layout) {
			p := s.Path(want.Digest)
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := sealValue(fi, want.Digest); !ok {
				t.Skip("no seals on this system")
			}
			// Bytes changed behind the seal's back, the time put back as it was: only a
			// hash would see it, and the seal is what spares the hash.
			flipKeepingSize(t, p)
			if err := os.Chtimes(p, fi.ModTime(), fi.ModTime()); err != nil {
				t.Fatal(err)
			}
			if !s.Has(want) {
				t.Error("a sealed blob was hashed again although nothing the seal records changed")
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openTestStore(t)
			p := s.Partial(want)
			write(t, resume(t, p, nil), data)
			if err := p.Commit(); err != nil {
				t.Fatal(err)
			}
			l, err := OpenLayout(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			tt.run(t, s, l)
		})
	}
}

// TestSealSurvivesUse: marking a cached blob as used (for pruning) keeps its seal.
func TestSealSurvivesUse(t *testing.T) {
	s := openTestStore(t)
	d, err := s.PutBytes([]byte(`{"config":"json"}`))
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(s.Path(d))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	if _, ok := sealValue(fi, d); !ok {
		t.Skip("no seals on this system")
	}
	for range 2 {
		if !s.Has(descriptor.Descriptor{Digest: d}) {
			t.Fatal("Has refused a good blob")
		}
		fi, _ := f.Stat()
		if !isSealed(f, fi, d) {
			t.Fatal("the seal did not survive Has marking the blob used")
		}
		if age := time.Since(fi.ModTime()); age < sealMargin || age > sealMargin+time.Minute {
			t.Errorf("a used blob is %s old, want about %s", age, sealMargin)
		}
	}
}

// TestSHA512Blobs: sha512 digests are valid OCI; their blobs go to blobs/sha512/, made
// when the first arrives, in the store and in a layout, and are verified with sha512.
func TestSHA512Blobs(t *testing.T) {
	data := []byte("a layer digested with sha512")
	want := descriptor.Descriptor{MediaType: mediatype.OCI1Layer, Digest: digest.SHA512.FromBytes(data), Size: int64(len(data))}
	s := openTestStore(t)
	p := s.Partial(want)
	write(t, resume(t, p, nil), data)
	if err := p.Commit(); err != nil {
		t.Fatalf("commit a sha512 blob to the store: %v", err)
	}
	if !s.Has(want) {
		t.Fatal("the store lost its sha512 blob")
	}
	for _, name := range []string{"linked", "copied"} {
		t.Run(name, func(t *testing.T) {
			l, err := OpenLayout(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			if name == "linked" {
				err = s.LinkInto(l, want)
			} else {
				_, err = l.CopyBlob(context.Background(), want, bytes.NewReader(data))
			}
			if err != nil {
				t.Fatal(err)
			}
			if !l.HasBlob(want) || !strings.Contains(l.BlobPath(want.Digest), filepath.Join("blobs", "sha512")) {
				t.Errorf("the layout does not hold the sha512 blob at %s", l.BlobPath(want.Digest))
			}
		})
	}
	l, err := OpenLayout(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := l.CopyBlob(context.Background(), want, strings.NewReader("other bytes, same length!!!!")); !errors.Is(err, ErrDigestMismatch) {
		t.Errorf("CopyBlob of wrong bytes under a sha512 digest: %v, want a digest mismatch", err)
	}
}

// TestOpenLayoutRefuses: a build writes only into an empty directory or an image
// layout, and never through a symbolic link inside it.
func TestOpenLayoutRefuses(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string)
		want  string // "" when the layout opens
	}{
		{"missing directory", func(t *testing.T, dir string) { os.Remove(dir) }, ""},
		{"empty directory", func(t *testing.T, dir string) {}, ""},
		{"an earlier layout", func(t *testing.T, dir string) {
			writeFileT(t, filepath.Join(dir, "oci-layout"), layoutVersion)
			writeFileT(t, filepath.Join(dir, "index.json"), `{"schemaVersion":2,"manifests":[]}`)
		}, ""},
		{"what an interrupted first build left", func(t *testing.T, dir string) {
			os.MkdirAll(filepath.Join(dir, tmpDirName), 0o755)
			os.MkdirAll(filepath.Join(dir, "blobs", "sha256"), 0o755)
		}, ""},
		{"a project", func(t *testing.T, dir string) {
			writeFileT(t, filepath.Join(dir, "app.py"), "print(1)\n")
			writeFileT(t, filepath.Join(dir, "index.json"), `{"the site's":"own"}`)
			os.MkdirAll(filepath.Join(dir, "blobs", "img"), 0o755)
			writeFileT(t, filepath.Join(dir, "blobs", "img", "logo.png"), "png")
		}, "is not empty and is not an OCI image layout (it holds app.py, blobs, index.json, and no oci-layout file)"},
		{"a file", func(t *testing.T, dir string) {
			os.Remove(dir)
			writeFileT(t, dir, "x")
		}, "is a file, not a directory"},
		{"blobs as a symbolic link", func(t *testing.T, dir string) {
			writeFileT(t, filepath.Join(dir, "oci-layout"), layoutVersion)
			if err := os.Symlink(t.TempDir(), filepath.Join(dir, "blobs")); err != nil {
				t.Fatal(err)
			}
		}, "blobs is a symbolic link, not a directory: pycontainer never follows links inside an image layout"},
		{"blobs/sha256 as a symbolic link", func(t *testing.T, dir string) {
			writeFileT(t, filepath.Join(dir, "oci-layout"), layoutVersion)
			os.MkdirAll(filepath.Join(dir, "blobs"), 0o755)
			if err := os.Symlink(t.TempDir(), filepath.Join(dir, "blobs", "sha256")); err != nil {
				t.Fatal(err)
			}
		}, "sha256 is a symbolic link, not a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "out")
			os.Mkdir(dir, 0o755)
			tt.setup(t, dir)
			before := treeOf(t, dir)
			l, err := OpenLayout(dir)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("OpenLayout: %v", err)
				}
				l.Close()
				return
			}
			if err == nil {
				l.Close()
				t.Fatalf("OpenLayout wrote into it; want %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "--output") {
				t.Errorf("error %q\nwant it to say %q and what to do (--output)", err, tt.want)
			}
			if after := treeOf(t, dir); after != before {
				t.Errorf("a refused directory was changed:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
	if _, err := OpenLayout("/"); err == nil || !errors.Is(err, ErrNotLayout) {
		t.Errorf("OpenLayout(/) = %v, want it refused", err)
	}
}

// treeOf lists the names under dir, without following links.
func treeOf(t *testing.T, dir string) string {
	t.Helper()
	var names []string
	filepath.WalkDir(dir, func(p string, de os.DirEntry, err error) error {
		if err == nil {
			names = append(names, strings.TrimPrefix(p, dir))
		}
		return nil
	})
	return strings.Join(names, " ")
}

// TestCollectGarbageKeepsWhatIsNotABlob: a build removes only blobs the new index does
// not name; other files under blobs/ stay.
func TestCollectGarbageKeepsWhatIsNotABlob(t *testing.T) {
	dir, l, image := oneImageLayout(t)
	keep := []string{"blobs/img/logo.png", "blobs/sha256/README", "blobs/sha256/" + strings.Repeat("z", 64), "blobs/notes.txt"}
	for _, name := range keep {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755)
		writeFileT(t, filepath.Join(dir, name), "not a blob")
	}
	orphan, err := l.CopyBlob(context.Background(), descriptor.Descriptor{}, strings.NewReader("orphan"))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.CommitIndex(v1.Index{Versioned: v1.IndexSchemaVersion, Manifests: []descriptor.Descriptor{image}}, nil); err != nil {
		t.Fatal(err)
	}
	for _, name := range keep {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("garbage collection removed %s: %v", name, err)
		}
	}
	if _, err := os.Stat(l.BlobPath(orphan.Digest)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("an unreferenced blob was kept: %v", err)
	}
}

// TestReadLockHoldsBlobs: while a reader holds the layout, a build's commit replaces
// index.json but removes no blob; the next commit after it let go does.
func TestReadLockHoldsBlobs(t *testing.T) {
	needLocks(t)
	dir, l, image := oneImageLayout(t)
	orphan, err := l.CopyBlob(context.Background(), descriptor.Descriptor{}, strings.NewReader("orphan"))
	if err != nil {
		t.Fatal(err)
	}
	release, err := ReadLock(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	idx := v1.Index{Versioned: v1.IndexSchemaVersion, Manifests: []descriptor.Descriptor{image}}
	if err := l.CommitIndex(idx, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(l.BlobPath(orphan.Digest)); err != nil {
		t.Errorf("a blob was removed while a reader held the layout: %v", err)
	}
	release()
	if err := l.CommitIndex(idx, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(l.BlobPath(orphan.Digest)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the blob outlived the reader's lock: %v", err)
	}
	// A reader waits for a collection in progress, until its context ends.
	unlock, ok, err := lockBlobs(dir, true)
	if err != nil || !ok {
		t.Fatalf("lockBlobs: %v %v", ok, err)
	}
	defer unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := ReadLock(ctx, dir); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("ReadLock during a collection: %v, want it to wait", err)
	}
}

// TestPruneRemovesStaleTemporaryFiles: what a killed build left in tmp/ and partial/ goes
// once nobody holds it and it is old enough; what a build holds stays.
func TestPruneRemovesStaleTemporaryFiles(t *testing.T) {
	needLocks(t)
	s := openTestStore(t)
	long := time.Now().Add(-time.Minute)
	ancient := time.Now().Add(-48 * time.Hour)
	// Held by a build in progress, and old: a download stalled for a minute.
	held, err := s.Writer()
	if err != nil {
		t.Fatal(err)
	}
	defer held.Abort()
	write(t, held, []byte("downloading"))
	os.Chtimes(held.f.Name(), long, long)
	killed := filepath.Join(s.Dir(), "tmp", "blob-123456")
	writeFileT(t, killed, "left by a killed build")
	os.Chtimes(killed, long, long)
	fresh := filepath.Join(s.Dir(), "tmp", "blob-654321")
	writeFileT(t, fresh, "just created, not locked yet")
	stale := s.Partial(blobOf([]byte("a partial nobody resumed for two days")))
	write(t, resume(t, stale, nil), []byte("a partial"))
	stale.Keep()
	os.Chtimes(s.partialPath(stale.want.Digest), ancient, ancient)
	recent := s.Partial(blobOf([]byte("a partial the next build resumes")))
	write(t, resume(t, recent, nil), []byte("recent"))
	recent.Keep()

	if _, err := s.Prune(1 << 30); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		path string
		kept bool
	}{
		{held.f.Name(), true}, {killed, false}, {fresh, true},
		{s.partialPath(stale.want.Digest), false}, {s.partialPath(recent.want.Digest), true},
	} {
		if _, err := os.Stat(tt.path); (err == nil) != tt.kept {
			t.Errorf("%s: kept %v, want %v", filepath.Base(tt.path), err == nil, tt.kept)
		}
	}
	if _, err := held.Commit(descriptor.Descriptor{}); err != nil {
		t.Errorf("a download in progress lost its file to Prune: %v", err)
	}
}

// TestInspectBoundsRepeatedIndexes: an index naming one nested index 40,000 times, each
// listing 9,999 images, is read in bounded time and memory: the nested index once, its
// manifest and config once. Named under a different tag each time, the walk stops at
// its bound.
func TestInspectBoundsRepeatedIndexes(t *testing.T) {
	cfg := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers"}}`)
	cd := digest.FromBytes(cfg)
	man, _ := json.Marshal(v1.Manifest{Versioned: v1.ManifestSchemaVersion, MediaType: mediatype.OCI1Manifest,
		Config: descriptor.Descriptor{MediaType: mediatype.OCI1ImageConfig, Digest: cd, Size: int64(len(cfg))}})
	md := descriptor.Descriptor{MediaType: mediatype.OCI1Manifest, Digest: digest.FromBytes(man), Size: int64(len(man))}
	inner := v1.Index{Versioned: v1.IndexSchemaVersion, MediaType: mediatype.OCI1ManifestList}
	for i := range 9999 {
		e := md
		e.Platform = &Platform{OS: "linux", Architecture: "amd64", Variant: fmt.Sprintf("v%d", i+2)}
		inner.Manifests = append(inner.Manifests, e)
	}
	innerRaw, _ := json.Marshal(inner)
	id := descriptor.Descriptor{MediaType: mediatype.OCI1ManifestList, Digest: digest.FromBytes(innerRaw), Size: int64(len(innerRaw))}
	fsys := fstest.MapFS{
		"blobs/sha256/" + cd.Encoded():        {Data: cfg},
		"blobs/sha256/" + md.Digest.Encoded(): {Data: man},
		"blobs/sha256/" + id.Digest.Encoded(): {Data: innerRaw},
	}
	for _, tt := range []struct {
		name     string
		entries  int
		tag      func(i int) string
		wantErr  string
		wantImgs int
	}{
		{"no name", 40000, func(int) string { return "" }, "", 9999},
		{"one name", 30000, func(int) string { return "latest" }, "", 9999},
		{"a name each", 30000, func(i int) string { return fmt.Sprint(i) }, "more than 100000 entries in all", 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			outer := v1.Index{Versioned: v1.IndexSchemaVersion, MediaType: mediatype.OCI1ManifestList}
			for i := range tt.entries {
				e := id
				if tag := tt.tag(i); tag != "" {
					e.Annotations = map[string]string{"org.opencontainers.image.ref.name": tag}
				}
				outer.Manifests = append(outer.Manifests, e)
			}
			raw, _ := json.Marshal(outer)
			fsys["index.json"] = &fstest.MapFile{Data: raw}
			start := time.Now()
			s, err := InspectFS(fsys, "hostile.tar")
			if took := time.Since(start); took > 10*time.Second {
				t.Errorf("took %s", took)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(s.Images) != tt.wantImgs {
				t.Errorf("%d images, want %d", len(s.Images), tt.wantImgs)
			}
		})
	}
}

// TestVerifyNamesTheBadBlob: a manifest, config or layer whose bytes do not match its
// digest is a finding that names it.
func TestVerifyNamesTheBadBlob(t *testing.T) {
	amd64 := Platform{OS: "linux", Architecture: "amd64"}
	for _, what := range []string{"layer", "config", "manifest"} {
		t.Run(what, func(t *testing.T) {
			dir := layoutWith(t, amd64, amd64, map[string][]byte{"app/main.py": []byte("print('hi')\n")})
			s, err := Inspect(dir)
			if err != nil {
				t.Fatal(err)
			}
			img := s.Images[0]
			bad := map[string]digest.Digest{"layer": img.Layers[0].Digest, "config": img.ConfigDigest, "manifest": img.Digest}[what]
			path := BlobPath(dir, bad)
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if what == "layer" {
				b[len(b)-1] ^= 0xff // in the gzip trailer: the files still read, the digest fails
			} else {
				b = append([]byte("{ "), b[1:]...) // still the same JSON
			}
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
			findings, err := Verify(dir)
			if err != nil {
				t.Fatal(err)
			}
			var found bool
			for _, f := range findings {
				found = found || strings.Contains(f.String(), what+" "+bad.String()+" does not match its digest")
			}
			if !found {
				t.Errorf("findings %v do not name the %s %s", findings, what, bad)
			}
		})
	}
}
