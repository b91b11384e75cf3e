package oci

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	digest "github.com/opencontainers/go-digest"
	"github.com/regclient/regclient/types/descriptor"
)

// partialDir holds downloads that did not finish, one file per blob digest, so a later
// attempt (in this build or the next) asks the registry only for the rest.
const partialDir = "partial"

// Partial downloads one blob into the store and keeps what a failed attempt wrote, in
// partial/<algorithm>/<hex> of the store, never in a layout. The file is locked while an
// attempt writes it: another process downloading the same blob at that moment writes a
// temporary file of its own instead, which is not kept.
//
// Partial is a registry.ResumableSink. Its bytes are not hashed again: whoever calls
// Commit must have verified the digest of the whole blob, the kept bytes included (the
// registry client reads them back through regclient's digest check).
type Partial struct {
	s    *Store
	want descriptor.Descriptor
	f    *os.File // the open attempt, nil between attempts
	// private is set when f is a temporary file of this download alone: another
	// process holds the blob's partial file.
	private bool
}

// Partial returns the resumable download of blob want into the store.
func (s *Store) Partial(want descriptor.Descriptor) *Partial {
	return &Partial{s: s, want: want}
}

func (s *Store) partialPath(d digest.Digest) string {
	return filepath.Join(s.dir, partialDir, d.Algorithm().String(), d.Encoded())
}

// open starts an attempt on the blob's partial file, locked, or on a private temporary
// file when another process holds it.
func (p *Partial) open() error {
	if p.f != nil {
		return nil
	}
	if err := p.want.Digest.Validate(); err != nil {
		// Never a path: a digest from a hostile manifest could name one outside the store.
		return fmt.Errorf("invalid digest %q: %w", p.want.Digest, err)
	}
	path := p.s.partialPath(p.want.Digest)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("create %s: %w", filepath.Dir(path), err)
	}
	// The file can be committed or pruned between opening and locking it: then the lock
	// is on a file that no longer has this name, and opening again finds the new one.
	for range 3 {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return fmt.Errorf("open partial download %s: %w", path, err)
		}
		locked, err := tryLockFile(f)
		if err != nil {
			f.Close()
			return fmt.Errorf("lock partial download %s: %w", path, err)
		}
		if !locked {
			f.Close()
			break
		}
		if fi, err := f.Stat(); err == nil {
			if named, err := os.Stat(path); err == nil && os.SameFile(fi, named) {
				p.f, p.private = f, false
				return nil
			}
		}
		f.Close()
	}
	f, err := os.CreateTemp(filepath.Join(p.s.dir, "tmp"), "blob-")
	if err != nil {
		return fmt.Errorf("create temporary blob in %s: %w", p.s.dir, err)
	}
	// Held while it is written: Prune removes only temporary files nobody holds.
	if _, err := tryLockFile(f); err != nil {
		_ = removeLocked(f)
		return fmt.Errorf("lock temporary blob %s: %w", f.Name(), err)
	}
	p.f, p.private = f, true
	return nil
}

// Begin starts an attempt from the first byte, discarding what earlier ones kept.
func (p *Partial) Begin() (io.Writer, error) {
	if err := p.open(); err != nil {
		return nil, err
	}
	if err := p.f.Truncate(0); err != nil {
		return nil, fmt.Errorf("truncate %s: %w", p.f.Name(), err)
	}
	if _, err := p.f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	return p.f, nil
}

// Resume starts an attempt after the bytes earlier attempts kept: it returns how many
// there are, a reader of them, and the writer for the bytes that follow. With nothing
// kept it is Begin.
func (p *Partial) Resume() (int64, io.ReaderAt, io.Writer, error) {
	if err := p.open(); err != nil {
		return 0, nil, nil, err
	}
	fi, err := p.f.Stat()
	if err != nil {
		return 0, nil, nil, err
	}
	kept := fi.Size()
	if p.private || kept == 0 || kept >= p.want.Size {
		// A complete file that was never committed may be damaged: it would have been
		// committed had it matched.
		w, err := p.Begin()
		return 0, nil, w, err
	}
	if _, err := p.f.Seek(kept, io.SeekStart); err != nil {
		return 0, nil, nil, err
	}
	return kept, io.NewSectionReader(p.f, 0, kept), p.f, nil
}

// Keep ends a failed attempt, keeping its bytes for the next Resume.
func (p *Partial) Keep() {
	if p.f == nil {
		return
	}
	if p.private {
		p.Abort()
		return
	}
	p.f.Close() // and the lock with it
	p.f = nil
}

// Abort ends an attempt and discards the bytes, kept ones included.
func (p *Partial) Abort() {
	if p.f == nil {
		return
	}
	_ = removeLocked(p.f)
	p.f = nil
}

// Commit moves the downloaded blob to its content address in the store, once its size
// matches; its digest must have been verified by the caller.
func (p *Partial) Commit() error {
	if p.f == nil {
		return errors.New("commit of a blob download that was not begun")
	}
	defer p.Abort() // a no-op once committed
	fi, err := p.f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() != p.want.Size {
		return fmt.Errorf("blob %s size mismatch: expected %d bytes, got %d; the bytes were discarded", p.want.Digest, p.want.Size, fi.Size())
	}
	if err := p.f.Chmod(blobMode); err != nil {
		return fmt.Errorf("chmod blob: %w", err)
	}
	seal(p.f, p.want.Digest) // the caller verified the digest
	if err := p.f.Sync(); err != nil {
		return fmt.Errorf("sync blob %s: %w", p.want.Digest, err)
	}
	dst := p.s.Path(p.want.Digest)
	// blobs/<algorithm>/ of a digest other than sha256 is made when its first blob arrives.
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("store blob %s: %w", p.want.Digest, err)
	}
	f := p.f
	p.f = nil
	if err := renameLocked(f, dst); err != nil {
		return fmt.Errorf("store blob %s: %w", p.want.Digest, err)
	}
	return nil
}

// removePartial deletes a partial download unless an attempt holds it; it reports
// whether it did.
func removePartial(path string) (bool, error) {
	f, err := openNoFollow(path)
	if err != nil {
		return false, err
	}
	locked, err := tryLockFile(f)
	if err != nil || !locked {
		f.Close()
		return false, err
	}
	return true, removeLocked(f)
}
