package oci

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	digest "github.com/opencontainers/go-digest"
	"github.com/regclient/regclient/types/descriptor"
	"github.com/regclient/regclient/types/mediatype"
	v1 "github.com/regclient/regclient/types/oci/v1"
)

const (
	layoutFile    = "oci-layout"
	indexFile     = "index.json"
	tmpDirName    = ".pycontainer-tmp"
	layoutVersion = `{"imageLayoutVersion":"1.0.0"}`
	// Blobs are written readable by everyone: a layout is often built by one user and read
	// by another (a CI step, a container runtime running as a service account).
	blobMode = 0o644
)

// ErrLayoutBusy is returned when another process holds the layout's lock.
var ErrLayoutBusy = errors.New("another pycontainer build is writing this layout")

// Layout is an OCI image layout directory opened for writing. Blobs are only ever added
// while a build runs; index.json is replaced atomically at the end and only then are
// blobs that nothing references removed, so the previous image stays valid until the
// new one is complete.
type Layout struct {
	dir    string
	unlock func() error
}

// OpenLayout creates dir if needed, takes an exclusive lock on it and makes sure it has
// an oci-layout file. Leftovers of an interrupted build are removed.
func OpenLayout(dir string) (*Layout, error) {
	if err := os.MkdirAll(filepath.Join(dir, "blobs", "sha256"), 0o755); err != nil {
		return nil, fmt.Errorf("create image layout %s: %w", dir, err)
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	l := &Layout{dir: dir, unlock: unlock}
	if err := os.RemoveAll(l.tmpDir()); err != nil {
		l.Close()
		return nil, fmt.Errorf("remove leftovers of an interrupted build in %s: %w", dir, err)
	}
	if err := os.MkdirAll(l.tmpDir(), 0o755); err != nil {
		l.Close()
		return nil, fmt.Errorf("create %s: %w", l.tmpDir(), err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, layoutFile)); err != nil || !bytes.Equal(b, []byte(layoutVersion)) {
		if err := l.writeFileAtomic(layoutFile, []byte(layoutVersion)); err != nil {
			l.Close()
			return nil, err
		}
	}
	return l, nil
}

// Dir is the layout's directory.
func (l *Layout) Dir() string { return l.dir }

// Close removes temporary files and releases the lock.
func (l *Layout) Close() error {
	err := os.RemoveAll(l.tmpDir())
	if l.unlock != nil {
		err = errors.Join(err, l.unlock())
		l.unlock = nil
	}
	return err
}

func (l *Layout) tmpDir() string { return filepath.Join(l.dir, tmpDirName) }

// BlobPath is where the blob with digest d lives in the layout.
func (l *Layout) BlobPath(d digest.Digest) string {
	return BlobPath(l.dir, d)
}

// BlobPath is where the blob with digest d lives in the layout at dir.
func BlobPath(dir string, d digest.Digest) string {
	return filepath.Join(dir, "blobs", d.Algorithm().String(), d.Encoded())
}

// HasBlob reports whether the layout already holds the blob of desc, with its size.
// Blobs only reach their final name after their digest was verified, so a file there
// with the right size is the blob.
func (l *Layout) HasBlob(desc descriptor.Descriptor) bool {
	if desc.Digest.Validate() != nil {
		return false
	}
	fi, err := os.Stat(l.BlobPath(desc.Digest))
	return err == nil && fi.Mode().IsRegular() && fi.Size() == desc.Size
}

// BlobWriter receives a blob whose digest is computed while it is written; Commit moves
// it into the layout.
type BlobWriter struct {
	final func(digest.Digest) string // where a verified blob goes
	// verifiedBy is set when the source of the bytes checks their digest itself (a
	// registry download through regclient does), so hashing them again is waste.
	verifiedBy descriptor.Descriptor
	f          *os.File
	digester   digest.Digester
	size       int64
	w          io.Writer
	done       bool
}

// NewBlobWriter starts a blob in the layout's temporary directory.
func (l *Layout) NewBlobWriter() (*BlobWriter, error) {
	return newBlobWriter(l.tmpDir(), l.BlobPath)
}

func newBlobWriter(tmpDir string, final func(digest.Digest) string) (*BlobWriter, error) {
	f, err := os.CreateTemp(tmpDir, "blob-")
	if err != nil {
		return nil, fmt.Errorf("create temporary blob in %s: %w", tmpDir, err)
	}
	bw := &BlobWriter{final: final, f: f, digester: digest.Canonical.Digester()}
	bw.w = io.MultiWriter(f, bw.digester.Hash())
	return bw, nil
}

// Preverified makes the writer trust want's digest instead of hashing the bytes: for
// sources that verify the digest themselves before the caller commits. The size is
// still checked.
func (bw *BlobWriter) Preverified(want descriptor.Descriptor) *BlobWriter {
	if want.Digest.Validate() == nil && want.Size > 0 {
		bw.verifiedBy, bw.w = want, bw.f
	}
	return bw
}

func (bw *BlobWriter) Write(p []byte) (int, error) {
	n, err := bw.w.Write(p)
	bw.size += int64(n)
	return n, err
}

// Size is the number of bytes written so far.
func (bw *BlobWriter) Size() int64 { return bw.size }

// Digest is the digest of the bytes written so far.
func (bw *BlobWriter) Digest() digest.Digest { return bw.digester.Digest() }

// Commit verifies the blob against want (skipped when want.Digest is empty) and moves
// it to its content address. Bytes that fail verification are discarded.
func (bw *BlobWriter) Commit(want descriptor.Descriptor) (descriptor.Descriptor, error) {
	defer bw.Abort()
	got := bw.digester.Digest()
	if bw.verifiedBy.Digest != "" {
		got = bw.verifiedBy.Digest
	}
	if want.Digest != "" && want.Digest != got {
		return descriptor.Descriptor{}, fmt.Errorf("blob digest mismatch: expected %s, got %s (%d bytes); the bytes were discarded", want.Digest, got, bw.size)
	}
	if want.Size > 0 && want.Size != bw.size {
		return descriptor.Descriptor{}, fmt.Errorf("blob %s size mismatch: expected %d bytes, got %d; the bytes were discarded", got, want.Size, bw.size)
	}
	if err := bw.f.Chmod(blobMode); err != nil {
		return descriptor.Descriptor{}, fmt.Errorf("chmod blob: %w", err)
	}
	if err := bw.f.Sync(); err != nil {
		return descriptor.Descriptor{}, fmt.Errorf("sync blob %s: %w", got, err)
	}
	if err := bw.f.Close(); err != nil {
		return descriptor.Descriptor{}, fmt.Errorf("close blob %s: %w", got, err)
	}
	if err := os.Rename(bw.f.Name(), bw.final(got)); err != nil {
		return descriptor.Descriptor{}, fmt.Errorf("store blob %s: %w", got, err)
	}
	bw.done = true
	out := want
	out.Digest, out.Size = got, bw.size
	return out, nil
}

// Abort discards the blob unless it was committed. It is safe to call more than once.
func (bw *BlobWriter) Abort() {
	if bw.done {
		return
	}
	bw.done = true
	bw.f.Close()
	os.Remove(bw.f.Name())
}

// CopyBlob stores the blob read from r, verifying it against want.
func (l *Layout) CopyBlob(ctx context.Context, want descriptor.Descriptor, r io.Reader) (descriptor.Descriptor, error) {
	bw, err := l.NewBlobWriter()
	if err != nil {
		return descriptor.Descriptor{}, err
	}
	defer bw.Abort()
	if _, err := io.CopyBuffer(bw, ctxReader{ctx, r}, CopyBuffer(want.Size)); err != nil {
		return descriptor.Descriptor{}, fmt.Errorf("write blob %s: %w", want.Digest, err)
	}
	return bw.Commit(want)
}

// CopyBuffer is the buffer to copy a blob of size bytes through: up to 1 MiB, not
// io.Copy's 32 KiB, which costs a read and a write syscall per 32 KiB of a large layer;
// no larger than the blob (a size not known yet counts as large).
func CopyBuffer(size int64) []byte {
	if size <= 0 {
		size = 1 << 20
	}
	return make([]byte, min(max(size, 32<<10), 1<<20))
}

// PutJSON marshals v, stores it as a blob and returns its descriptor.
func (l *Layout) PutJSON(ctx context.Context, mediaType string, v any) (descriptor.Descriptor, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return descriptor.Descriptor{}, fmt.Errorf("encode %s: %w", mediaType, err)
	}
	d := descriptor.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(b), Size: int64(len(b))}
	if l.HasBlob(d) {
		return d, nil
	}
	return l.CopyBlob(ctx, d, bytes.NewReader(b))
}

// CommitIndex replaces index.json atomically, then removes blobs that no manifest in the
// new index refers to any more.
func (l *Layout) CommitIndex(idx v1.Index) error {
	b, err := json.Marshal(idx)
	if err != nil {
		return fmt.Errorf("encode index.json: %w", err)
	}
	// The blobs' new names reach the disk before an index that names them.
	if err := syncDir(filepath.Join(l.dir, "blobs", "sha256")); err != nil {
		return fmt.Errorf("sync blobs of %s: %w", l.dir, err)
	}
	if err := l.writeFileAtomic(indexFile, b); err != nil {
		return err
	}
	return l.collectGarbage(idx)
}

func (l *Layout) writeFileAtomic(name string, data []byte) error {
	return WriteFileAtomic(filepath.Join(l.dir, name), l.tmpDir(), blobMode, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// WriteFileAtomic writes path through a temporary file in tmpDir (on path's
// filesystem), synced and renamed into place only when write succeeds, then syncs
// path's directory: a failed or interrupted write leaves the previous file, or none.
func WriteFileAtomic(path, tmpDir string, mode fs.FileMode, write func(io.Writer) error) error {
	f, err := os.CreateTemp(tmpDir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(f.Name()) // nothing is left to remove after the rename
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	err = f.Chmod(mode)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return syncDir(filepath.Dir(path))
}

// collectGarbage removes every blob not reachable from idx.
func (l *Layout) collectGarbage(idx v1.Index) error {
	keep := map[digest.Digest]bool{}
	fsys := os.DirFS(l.dir)
	var walk func(descs []descriptor.Descriptor) error
	walk = func(descs []descriptor.Descriptor) error {
		for _, d := range descs {
			if keep[d.Digest] {
				continue
			}
			keep[d.Digest] = true
			switch d.MediaType {
			case mediatype.OCI1Manifest, mediatype.Docker2Manifest:
				var m v1.Manifest
				if err := readBlobJSON(fsys, d.Digest, &m); err != nil {
					return err
				}
				keep[m.Config.Digest] = true
				for _, layer := range m.Layers {
					keep[layer.Digest] = true
				}
			case mediatype.OCI1ManifestList, mediatype.Docker2ManifestList:
				var child v1.Index
				if err := readBlobJSON(fsys, d.Digest, &child); err != nil {
					return err
				}
				if err := walk(child.Manifests); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := walk(idx.Manifests); err != nil {
		return fmt.Errorf("collect unreferenced blobs: %w", err)
	}
	blobRoot := filepath.Join(l.dir, "blobs")
	return filepath.WalkDir(blobRoot, func(path string, de fs.DirEntry, err error) error {
		if err != nil || de.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(blobRoot, path)
		alg, enc, _ := strings.Cut(filepath.ToSlash(rel), "/")
		if !keep[digest.NewDigestFromEncoded(digest.Algorithm(alg), enc)] {
			if err := os.Remove(path); err != nil {
				return fmt.Errorf("remove unreferenced blob %s: %w", rel, err)
			}
		}
		return nil
	})
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	// Some filesystems refuse fsync on a directory; the rename itself already happened.
	_ = d.Sync()
	return nil
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
