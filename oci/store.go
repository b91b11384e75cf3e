package oci

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	digest "github.com/opencontainers/go-digest"
	"github.com/regclient/regclient/types/descriptor"
)

// Store is a content-addressed blob store shared by every project on a machine: base
// image manifests, configs and layers are downloaded into it once, verified, and
// linked into each build's layout. It also remembers which digest a tag pointed at, so
// a build can run offline once its base is cached.
type Store struct {
	dir string
}

// DefaultStoreDir is PYCONTAINER_CACHE, else pycontainer/ under the user cache dir,
// both read from getenv (the command's environment).
func DefaultStoreDir(getenv func(string) string) (string, error) {
	return defaultStoreDir(runtime.GOOS, getenv)
}

// defaultStoreDir is DefaultStoreDir on a host of goos.
func defaultStoreDir(goos string, getenv func(string) string) (string, error) {
	if d := getenv("PYCONTAINER_CACHE"); d != "" {
		return d, nil
	}
	base, err := UserCacheDir(goos, getenv)
	if err != nil {
		return "", fmt.Errorf("find a cache directory (set PYCONTAINER_CACHE): %w", err)
	}
	return filepath.Join(base, "pycontainer"), nil
}

// OpenStore creates the store's directories if needed.
func OpenStore(dir string) (*Store, error) {
	for _, d := range []string{filepath.Join(dir, "blobs", "sha256"), filepath.Join(dir, "refs"), filepath.Join(dir, "tmp")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("create cache %s: %w", dir, err)
		}
	}
	return &Store{dir: dir}, nil
}

// Dir is the store's directory.
func (s *Store) Dir() string { return s.dir }

// Path is where blob d lives in the store.
func (s *Store) Path(d digest.Digest) string { return BlobPath(s.dir, d) }

// Has reports whether the store holds desc's blob with its size (a size of 0 matches
// any) and its digest: sealed when it was verified, else hashed now. A blob that fails
// its digest is removed, so that it is fetched again. Has marks the blob as used, so
// pruning keeps it.
func (s *Store) Has(desc descriptor.Descriptor) bool {
	if desc.Digest.Validate() != nil {
		return false
	}
	p := s.Path(desc.Digest)
	fi, err := os.Lstat(p)
	if err != nil {
		return false
	}
	switch checkBlob(p, desc, true) {
	case blobGood:
		return true
	case blobBad:
		removeIfSame(p, fi) // a damaged cache entry is dropped and fetched again
	}
	return false
}

// Read returns a small blob's bytes, verified against its digest.
func (s *Store) Read(d digest.Digest, limit int64) ([]byte, error) {
	if err := d.Validate(); err != nil {
		// Never a path: a digest from a hostile manifest could name one outside the store.
		return nil, fmt.Errorf("invalid digest %q: %w", d, err)
	}
	f, err := os.Open(s.Path(d))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("cached blob %s is larger than %d bytes", d, limit)
	}
	if digest.FromBytes(b) != d {
		_ = os.Remove(s.Path(d)) // a damaged cache entry is dropped and fetched again
		return nil, fmt.Errorf("cached blob %s failed its digest and was removed", d)
	}
	return b, nil
}

// Writer starts a blob in the store; Commit verifies it against the expected
// descriptor and gives it its name.
func (s *Store) Writer() (*BlobWriter, error) {
	return newBlobWriter(filepath.Join(s.dir, "tmp"), s.Path, digest.Canonical)
}

// PutBytes stores a small blob (a manifest or config) that was already verified.
func (s *Store) PutBytes(b []byte) (digest.Digest, error) {
	d := digest.FromBytes(b)
	if s.Has(descriptor.Descriptor{Digest: d, Size: int64(len(b))}) {
		return d, nil
	}
	w, err := s.Writer()
	if err != nil {
		return "", err
	}
	defer w.Abort()
	if _, err := io.Copy(w, bytes.NewReader(b)); err != nil {
		return "", err
	}
	_, err = w.Commit(descriptor.Descriptor{Digest: d, Size: int64(len(b))})
	return d, err
}

// LinkInto makes blob desc of the store appear in layout l: a hard link when both are
// on one filesystem, else a copy. The layout's own name only appears complete, and only
// once the blob is known to match its digest: sealed (see checkBlob), else hashed. A
// cached blob that fails its digest is removed from the store.
func (s *Store) LinkInto(l *Layout, desc descriptor.Descriptor) error {
	if err := desc.Digest.Validate(); err != nil {
		return fmt.Errorf("invalid digest %q: %w", desc.Digest, err)
	}
	if l.HasBlob(desc) {
		return nil
	}
	src := s.Path(desc.Digest)
	tmp := filepath.Join(l.tmpDir(), "link-"+desc.Digest.Encoded())
	_ = os.Remove(tmp)
	if err := os.Link(src, tmp); err != nil {
		f, err := openNoFollow(src)
		if err != nil {
			return fmt.Errorf("read cached blob %s: %w", desc.Digest, err)
		}
		defer f.Close()
		if _, err = l.CopyBlob(context.Background(), desc, f); errors.Is(err, ErrDigestMismatch) {
			if fi, serr := f.Stat(); serr == nil {
				removeIfSame(src, fi)
			}
			return fmt.Errorf("cached blob %s failed its digest and was removed from the cache; build again to fetch it: %w", desc.Digest, err)
		}
		return err
	}
	// The link is the cached file itself: its seal, or its hash, vouches for it.
	if state := checkBlob(tmp, desc, false); state != blobGood {
		_ = os.Remove(tmp)
		if state == blobBad {
			if fi, err := os.Lstat(src); err == nil {
				removeIfSame(src, fi)
			}
			return fmt.Errorf("cached blob %s does not match its digest and was removed from the cache; build again to fetch it", desc.Digest)
		}
		return fmt.Errorf("cached blob %s is missing or has the wrong size", desc.Digest)
	}
	if err := renameIntoBlobs(tmp, l.BlobPath(desc.Digest)); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("link cached blob %s into %s: %w", desc.Digest, l.Dir(), err)
	}
	return nil
}

func refFile(ref string) string {
	sum := sha256.Sum256([]byte(ref))
	return hex.EncodeToString(sum[:])
}

// SetRef remembers that ref (a full image name with tag) pointed at d.
func (s *Store) SetRef(ref string, d digest.Digest) error {
	p := filepath.Join(s.dir, "refs", refFile(ref))
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, []byte(d.String()+" "+ref+"\n"), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}

// Ref returns the digest ref pointed at when it was last resolved.
func (s *Store) Ref(ref string) (digest.Digest, bool) {
	b, err := os.ReadFile(filepath.Join(s.dir, "refs", refFile(ref)))
	if err != nil {
		return "", false
	}
	field, _, _ := strings.Cut(strings.TrimSpace(string(b)), " ")
	d, err := digest.Parse(field)
	return d, err == nil
}

// PruneResult says what Prune removed and kept: entries (a blob, a partial download, a
// builder's root filesystem, a built wheel) and their bytes, in all and by kind.
type PruneResult struct {
	Removed      int
	RemovedBytes int64
	Kept         int
	KeptBytes    int64

	Blobs  PruneCount // blobs and partial downloads
	RootFS PruneCount // builders' unpacked root filesystems (rootfs/)
	Wheels PruneCount // wheels compiled from sdists (built-wheels/)
}

// PruneCount is what Prune removed and kept of one kind of entry.
type PruneCount struct {
	Removed      int
	RemovedBytes int64
	Kept         int
	KeptBytes    int64
}

func (c *PruneCount) removed(n int64) { c.Removed++; c.RemovedBytes += n }
func (c *PruneCount) kept(n int64)    { c.Kept++; c.KeptBytes += n }

// count returns kind k's counts in r.
func (r *PruneResult) count(k entryKind) *PruneCount {
	switch k {
	case kindRootFS:
		return &r.RootFS
	case kindWheel:
		return &r.Wheels
	}
	return &r.Blobs
}

// total sets the totals from the counts of each kind.
func (r *PruneResult) total() {
	r.Removed = r.Blobs.Removed + r.RootFS.Removed + r.Wheels.Removed
	r.RemovedBytes = r.Blobs.RemovedBytes + r.RootFS.RemovedBytes + r.Wheels.RemovedBytes
	r.Kept = r.Blobs.Kept + r.RootFS.Kept + r.Wheels.Kept
	r.KeptBytes = r.Blobs.KeptBytes + r.RootFS.KeptBytes + r.Wheels.KeptBytes
}

type entryKind int

const (
	kindBlob    entryKind = iota
	kindPartial           // a download that did not finish, kept to be resumed
	kindRootFS
	kindWheel
)

// entry is one thing Prune keeps or removes whole.
type entry struct {
	path string
	size int64
	used time.Time
	kind entryKind
}

// A temporary file of the store (tmp/) is held (locked) while a build writes it; one
// nobody holds and nobody wrote for staleTemp is the leftover of a build that was
// killed. The age covers the instant between creating a file and locking it, and builds
// of earlier versions that did not lock. A partial download (partial/) is kept for a
// later build to resume: one nobody holds or wrote for stalePartial is given up.
const (
	staleTemp    = 10 * time.Second
	stalePartial = 24 * time.Hour
)

// Prune removes the least recently used entries (blobs, partial downloads, builders'
// root filesystems, built wheels) until the store holds at most maxBytes (0 empties it;
// a download in progress and a root filesystem a build uses stay), temporary files left
// by builds that were killed, and partial downloads nobody resumed for a day.
func (s *Store) Prune(maxBytes int64) (res PruneResult, err error) {
	defer res.total()
	tmp := filepath.Join(s.dir, "tmp")
	if entries, err := os.ReadDir(tmp); err == nil {
		for _, e := range entries {
			if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() && time.Since(fi.ModTime()) > staleTemp {
				_, _ = removePartial(filepath.Join(tmp, e.Name())) // unless a build holds it
			}
		}
	}
	var entries []entry
	for _, dir := range []string{"blobs", partialDir} {
		kind := kindBlob
		if dir == partialDir {
			kind = kindPartial
		}
		err := filepath.WalkDir(filepath.Join(s.dir, dir), func(p string, de fs.DirEntry, err error) error {
			if err != nil || de.IsDir() {
				return err
			}
			fi, err := de.Info()
			if err != nil {
				return err
			}
			if kind == kindPartial && time.Since(fi.ModTime()) > stalePartial {
				if removed, err := removePartial(p); err == nil && removed {
					res.Blobs.removed(fi.Size())
					return nil
				}
			}
			entries = append(entries, entry{p, fi.Size(), fi.ModTime(), kind})
			return nil
		})
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return res, fmt.Errorf("read cache %s: %w", s.dir, err)
		}
	}
	more, err := s.builderEntries(&res)
	if err != nil {
		return res, err
	}
	entries = append(entries, more...)
	var total int64
	for _, e := range entries {
		total += e.size
	}
	slices.SortFunc(entries, func(a, b entry) int { return a.used.Compare(b.used) })
	for _, e := range entries {
		c := res.count(e.kind)
		if total <= maxBytes && maxBytes > 0 { // 0 empties it, entries of no size too
			c.kept(e.size)
			continue
		}
		removed := true
		var err error
		switch e.kind {
		case kindBlob:
			err = os.Remove(e.path)
		case kindPartial:
			removed, err = removePartial(e.path) // not while a download holds it
		case kindRootFS:
			removed, err = removeRootFS(e.path) // not while a build uses it
		case kindWheel:
			err = removeWheel(e.path, filepath.Join(s.dir, builtWheelsDir))
		}
		switch {
		case errors.Is(err, fs.ErrNotExist): // removed meanwhile, or a partial committed
		case err != nil:
			return res, fmt.Errorf("prune cache: %w", err)
		case !removed:
			c.kept(e.size)
			continue
		}
		total -= e.size
		c.removed(e.size)
	}
	return res, nil
}
