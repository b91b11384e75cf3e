package oci

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

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

// ErrNotLayout is wrapped by OpenLayout's refusal of a directory that is neither empty
// nor an OCI image layout.
var ErrNotLayout = errors.New("not an OCI image layout")

// OpenLayout creates dir if needed, takes an exclusive lock on it and makes sure it has
// an oci-layout file. Leftovers of an interrupted build are removed. A directory that
// holds anything but an OCI image layout is refused: a build replaces its index.json
// and removes blobs the new image does not use. Symbolic links inside the layout are
// never followed: blobs/ or blobs/<algorithm> as one is refused.
func OpenLayout(dir string) (*Layout, error) {
	if err := checkOutputDir(dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create image layout %s: %w", dir, err)
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	l := &Layout{dir: dir, unlock: unlock}
	fail := func(err error) (*Layout, error) {
		l.Close()
		return nil, err
	}
	// Checked again under the lock: another process may have written there meanwhile.
	if err := checkOutputDir(dir); err != nil {
		return fail(err)
	}
	if err := os.RemoveAll(l.tmpDir()); err != nil {
		return fail(fmt.Errorf("remove leftovers of an interrupted build in %s: %w", dir, err))
	}
	if err := os.MkdirAll(l.tmpDir(), 0o755); err != nil {
		return fail(fmt.Errorf("create %s: %w", l.tmpDir(), err))
	}
	// oci-layout first: a directory holding it is a layout, even if the build stops here.
	if b, err := readSmallFile(filepath.Join(dir, layoutFile), len(layoutVersion)); err != nil || !bytes.Equal(b, []byte(layoutVersion)) {
		if err := l.writeFileAtomic(layoutFile, []byte(layoutVersion)); err != nil {
			return fail(err)
		}
	}
	if err := checkBlobDirs(dir); err != nil {
		return fail(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "blobs", "sha256"), 0o755); err != nil {
		return fail(fmt.Errorf("create image layout %s: %w", dir, err))
	}
	return l, nil
}

// CheckOutput says, before any work, whether OpenLayout would refuse dir (which it
// checks again under its lock): a dry run and a build that would fail late say it first.
func CheckOutput(dir string) error {
	if err := checkOutputDir(dir); err != nil {
		return err
	}
	return checkBlobDirs(dir)
}

// checkOutputDir refuses dir unless it is missing, empty, or an OCI image layout (it has
// an oci-layout file); a directory holding only what an interrupted first build of
// pycontainer left is taken as empty.
func checkOutputDir(dir string) error {
	fi, err := os.Stat(dir) // the output itself may be a link to where the user keeps it
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("image layout %s: %w", dir, err)
	case !fi.IsDir():
		return fmt.Errorf("%s is a %s, not a directory: choose another --output for the image layout, such as dist/image", dir, describeMode(fi.Mode()))
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("read image layout %s: %w", dir, err)
	}
	var others []string
	for _, e := range entries {
		switch {
		case e.Name() == layoutFile && e.Type().IsRegular():
			return nil
		case e.Name() == tmpDirName, e.Name() == ".DS_Store", // the Finder's, in any folder it opened
			e.Name() == "blobs" && emptyTree(filepath.Join(dir, "blobs")):
		default:
			others = append(others, e.Name())
		}
	}
	if len(others) == 0 {
		return nil
	}
	what := dir
	if abs, err := filepath.Abs(dir); err == nil && abs != filepath.Clean(dir) {
		what += " (" + abs + ")"
	}
	held := strings.Join(others[:min(len(others), 3)], ", ")
	if len(others) > 3 {
		held += fmt.Sprintf(" and %d more", len(others)-3)
	}
	return fmt.Errorf("%s is not empty and is %w (it holds %s, and no oci-layout file): a build replaces index.json there and deletes the blobs its image does not use, so pycontainer writes only into an empty directory or an earlier image layout; choose another --output, such as dist/image, or empty the directory first",
		what, ErrNotLayout, held)
}

// checkBlobDirs refuses blobs/, or a directory of it, that is a symbolic link or not a
// directory: blobs would be written, and collected, wherever it points.
func checkBlobDirs(dir string) error {
	blobs := filepath.Join(dir, "blobs")
	fi, err := os.Lstat(blobs)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("image layout %s: %w", dir, err)
	}
	refuse := func(path string, mode fs.FileMode) error {
		return fmt.Errorf("%s is a %s, not a directory: pycontainer never follows links inside an image layout, since the blobs it writes and removes would land wherever it points; remove it, or choose another --output", path, describeMode(mode))
	}
	if !fi.IsDir() {
		return refuse(blobs, fi.Mode())
	}
	entries, err := os.ReadDir(blobs)
	if err != nil {
		return fmt.Errorf("read %s: %w", blobs, err)
	}
	for _, e := range entries {
		if digest.Algorithm(e.Name()).Available() && !e.IsDir() {
			return refuse(filepath.Join(blobs, e.Name()), e.Type())
		}
	}
	return nil
}

func describeMode(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "symbolic link"
	case m.IsRegular():
		return "file"
	case m.IsDir():
		return "directory"
	}
	return "special file"
}

// emptyTree reports whether dir holds directories only (what an interrupted first build
// may leave in blobs/), without following links.
func emptyTree(dir string) bool {
	empty := true
	err := filepath.WalkDir(dir, func(_ string, de fs.DirEntry, err error) error {
		if err != nil || !de.IsDir() {
			empty = false
			return fs.SkipAll
		}
		return nil
	})
	return err == nil && empty
}

// readSmallFile reads at most limit bytes of the regular file at path, never through a
// link (a link to /dev/zero would never end).
func readSmallFile(path string, limit int) ([]byte, error) {
	f, err := openNoFollow(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	return io.ReadAll(io.LimitReader(f, int64(limit)+1))
}

// ReadLock holds the layout at dir still for a reader, such as inspect --verify: while
// it is held, a build may replace index.json (readers see the old one or the new one
// whole) but removes no blob, so none vanishes under the reader. It waits for a build
// that is removing blobs at that moment, until ctx ends. A dir that is not a layout
// directory (an archive) needs no lock.
func ReadLock(ctx context.Context, dir string) (release func() error, err error) {
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return func() error { return nil }, nil
	}
	for {
		unlock, ok, err := lockBlobs(dir, false)
		if err != nil || ok {
			return unlock, err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for the build writing %s: %w", dir, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
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

// HasBlob reports whether the layout already holds the blob of desc, with its size and
// digest: a blob kept from an earlier build is trusted by its seal (see checkBlob), or
// hashed again. A blob that fails is left for the build to replace (a rename over it).
func (l *Layout) HasBlob(desc descriptor.Descriptor) bool {
	return checkBlob(l.BlobPath(desc.Digest), desc, false) == blobGood
}

// ErrDigestMismatch is wrapped by errors about bytes that do not match their digest.
var ErrDigestMismatch = errors.New("blob digest mismatch")

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
	return newBlobWriter(l.tmpDir(), l.BlobPath, digest.Canonical)
}

// newBlobWriter starts a blob in tmpDir, hashed with alg, that final names once verified.
func newBlobWriter(tmpDir string, final func(digest.Digest) string, alg digest.Algorithm) (*BlobWriter, error) {
	if !alg.Available() {
		return nil, fmt.Errorf("digest algorithm %q is not supported", alg)
	}
	f, err := os.CreateTemp(tmpDir, "blob-")
	if err != nil {
		return nil, fmt.Errorf("create temporary blob in %s: %w", tmpDir, err)
	}
	// Held while the blob is written: Prune removes only temporary files nobody holds.
	if _, err := tryLockFile(f); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("lock temporary blob %s: %w", f.Name(), err)
	}
	bw := &BlobWriter{final: final, f: f, digester: alg.Digester()}
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
		return descriptor.Descriptor{}, fmt.Errorf("%w: expected %s, got %s (%d bytes); the bytes were discarded", ErrDigestMismatch, want.Digest, got, bw.size)
	}
	if want.Size > 0 && want.Size != bw.size {
		return descriptor.Descriptor{}, fmt.Errorf("blob %s size mismatch: expected %d bytes, got %d; the bytes were discarded", got, want.Size, bw.size)
	}
	if err := bw.f.Chmod(blobMode); err != nil {
		return descriptor.Descriptor{}, fmt.Errorf("chmod blob: %w", err)
	}
	seal(bw.f, got)
	if err := bw.f.Sync(); err != nil {
		return descriptor.Descriptor{}, fmt.Errorf("sync blob %s: %w", got, err)
	}
	if err := bw.f.Close(); err != nil {
		return descriptor.Descriptor{}, fmt.Errorf("close blob %s: %w", got, err)
	}
	if err := renameIntoBlobs(bw.f.Name(), bw.final(got)); err != nil {
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

// CopyBlob stores the blob read from r, verifying it against want (hashed with want's
// algorithm; sha256 when want names no digest).
func (l *Layout) CopyBlob(ctx context.Context, want descriptor.Descriptor, r io.Reader) (descriptor.Descriptor, error) {
	alg := digest.Canonical
	if want.Digest != "" {
		if err := want.Digest.Validate(); err != nil {
			return descriptor.Descriptor{}, fmt.Errorf("invalid digest %q: %w", want.Digest, err)
		}
		alg = want.Digest.Algorithm()
	}
	bw, err := newBlobWriter(l.tmpDir(), l.BlobPath, alg)
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

// CommitIndex replaces index.json atomically, then docker's manifest.json: naming
// load's image, which idx must hold, or removed when load is nil (a stale one would
// load the previous image). Only then are blobs neither names removed. index.json is
// the commit: until it is renamed into place the previous image is whole, and a stop
// between the two renames leaves a manifest.json that `inspect --verify` reports and the
// next build replaces.
func (l *Layout) CommitIndex(idx v1.Index, load *DockerLoad) error {
	b, err := json.Marshal(idx)
	if err != nil {
		return fmt.Errorf("encode index.json: %w", err)
	}
	keep, err := l.reachable(idx)
	if err != nil {
		return fmt.Errorf("collect unreferenced blobs: %w", err)
	}
	var dockerJSON []byte
	if load != nil {
		if !keep[load.Manifest] {
			return fmt.Errorf("%s: manifest %s is not in the new index", dockerManifestFile, load.Manifest)
		}
		if dockerJSON, err = dockerManifestFor(os.DirFS(l.dir), *load); err != nil {
			return err
		}
	}
	// The blobs' new names reach the disk before an index that names them.
	algs, _ := os.ReadDir(filepath.Join(l.dir, "blobs"))
	for _, a := range algs {
		if !a.IsDir() || !digest.Algorithm(a.Name()).Available() {
			continue
		}
		if err := syncDir(filepath.Join(l.dir, "blobs", a.Name())); err != nil {
			return fmt.Errorf("sync blobs of %s: %w", l.dir, err)
		}
	}
	if err := l.writeFileAtomic(indexFile, b); err != nil {
		return err
	}
	if dockerJSON != nil {
		err = l.writeFileAtomic(dockerManifestFile, dockerJSON)
	} else if err = os.Remove(filepath.Join(l.dir, dockerManifestFile)); errors.Is(err, fs.ErrNotExist) {
		err = nil
	}
	if err != nil {
		return fmt.Errorf("%s: %w", dockerManifestFile, err)
	}
	// A reader (inspect --verify) holds the layout: the blobs it may be reading stay
	// until the next build.
	unlock, ok, err := lockBlobs(l.dir, true)
	if err != nil || !ok {
		return err
	}
	defer unlock()
	return removeUnnamedBlobs(l.dir, keep)
}

func (l *Layout) writeFileAtomic(name string, data []byte) error {
	return writeFileAtomic(filepath.Join(l.dir, name), l.tmpDir(), blobMode, true, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// WriteFileAtomic writes path through a temporary file in tmpDir (on path's
// filesystem), synced and renamed into place only when write succeeds, then syncs
// path's directory: a failed or interrupted write leaves the previous file, or none.
// The file gets mode less the umask, as os.WriteFile gives it.
func WriteFileAtomic(path, tmpDir string, mode fs.FileMode, write func(io.Writer) error) error {
	return writeFileAtomic(path, tmpDir, mode, false, write)
}

// writeFileAtomic is WriteFileAtomic; exact gives the file mode whatever the umask.
func writeFileAtomic(path, tmpDir string, mode fs.FileMode, exact bool, write func(io.Writer) error) error {
	f, err := createTemp(tmpDir, "."+filepath.Base(path)+".tmp-", mode)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(f.Name()) // nothing is left to remove after the rename
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	if exact {
		err = f.Chmod(mode)
	}
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

// createTemp is os.CreateTemp with the mode (less the umask) the file is created with:
// os.CreateTemp's 0600 would take the umask's place.
func createTemp(dir, prefix string, mode fs.FileMode) (*os.File, error) {
	for range 100 {
		name := filepath.Join(dir, prefix+strconv.FormatUint(rand.Uint64(), 36))
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, mode)
		if !errors.Is(err, fs.ErrExist) {
			return f, err
		}
	}
	return nil, fmt.Errorf("create a temporary file in %s: too many exist", dir)
}

// renameIntoBlobs gives a verified blob its name, creating the directory of its digest
// algorithm (blobs/sha512/, say) the first time one arrives.
func renameIntoBlobs(src, dst string) error {
	err := os.Rename(src, dst)
	if errors.Is(err, fs.ErrNotExist) {
		if _, serr := os.Lstat(src); serr == nil {
			if err = os.MkdirAll(filepath.Dir(dst), 0o755); err == nil {
				err = os.Rename(src, dst)
			}
		}
	}
	return err
}

// reachable is every blob idx names: its manifests, their configs and layers, and
// nested indexes with theirs. manifest.json names a subset of them.
func (l *Layout) reachable(idx v1.Index) (map[digest.Digest]bool, error) {
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
	return keep, walk(idx.Manifests)
}

// removeUnnamedBlobs removes the files of dir's blobs/<algorithm>/ whose names are
// digests keep does not hold. Anything else there (a file by another name, a directory,
// what a link points at) is left alone.
func removeUnnamedBlobs(dir string, keep map[digest.Digest]bool) error {
	blobRoot := filepath.Join(dir, "blobs")
	algs, err := os.ReadDir(blobRoot)
	if err != nil {
		return fmt.Errorf("collect unreferenced blobs: %w", err)
	}
	for _, a := range algs {
		alg := digest.Algorithm(a.Name())
		if !a.IsDir() || !alg.Available() { // a link is not a directory here
			continue
		}
		entries, err := os.ReadDir(filepath.Join(blobRoot, a.Name()))
		if err != nil {
			return fmt.Errorf("collect unreferenced blobs: %w", err)
		}
		for _, e := range entries {
			d := digest.NewDigestFromEncoded(alg, e.Name())
			if e.IsDir() || d.Validate() != nil || keep[d] {
				continue
			}
			if err := os.Remove(filepath.Join(blobRoot, a.Name(), e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("remove unreferenced blob %s: %w", d, err)
			}
		}
	}
	return nil
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
