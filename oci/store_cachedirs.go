package oci

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Beside its blobs the store holds what builds with --allow-sdist make, each pruned as
// one entry with the blobs, least recently used first:
//   - rootfs/<manifest hex>/: a builder image's unpacked root filesystem, made in a
//     temporary rootfs/.unpack-* directory renamed into place; its size is its files'
//     and its last use the directory's mtime (UseDir, TouchUsed);
//   - built-wheels/<sdist sha256>/<platform>/<builder manifest hex>/NAME.whl: a wheel
//     compiled from an sdist, written as a .tmp-* file renamed into place; its last use
//     is the file's mtime (TouchUsed).
const (
	rootfsDir      = "rootfs"
	builtWheelsDir = "built-wheels"
	unpackPrefix   = ".unpack-"
	wheelTmpPrefix = ".tmp-"
	// staleUnpack is the age of a temporary .unpack-* directory or .tmp-* wheel past
	// which it is the leftover of a build that was killed: unpacking a builder takes
	// a minute or two, copying a wheel less.
	staleUnpack = time.Hour
)

// TouchUsed marks the cache entry at path (a built wheel, a builder's root filesystem)
// as used now, so Prune keeps it over entries used longer ago.
func TouchUsed(path string) error {
	now := time.Now()
	return os.Chtimes(path, now, now)
}

// UseDir marks the builder root filesystem dir (rootfs/<hex> of the store) as used now
// and keeps Prune from removing it until release is called: hold it while a compile
// runs in it. An error wrapping fs.ErrNotExist says it is not there (or Prune just took
// it): unpack it again.
func UseDir(dir string) (release func(), err error) {
	release, _, err = holdDir(dir, false)
	if err != nil {
		return nil, err
	}
	if err := TouchUsed(dir); err != nil {
		release()
		return nil, err
	}
	return release, nil
}

// RemoveTree removes dir and everything under it, making its directories writable
// first where a plain RemoveAll cannot (an unpacked image has 0555 directories).
// Symbolic links are removed, never followed.
func RemoveTree(dir string) error {
	if err := os.RemoveAll(dir); err == nil {
		return nil
	}
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() { // before its entries are read: a 0000 one opens after
			if fi, err := d.Info(); err == nil {
				_ = os.Chmod(p, fi.Mode().Perm()|0o700)
			}
		}
		return nil
	})
	return os.RemoveAll(dir)
}

// treeSize is the sum of the sizes of the regular files under dir; what cannot be read
// is not counted.
func treeSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// builderEntries lists the store's builder root filesystems and built wheels as prune
// entries, and removes leftovers of killed builds older than staleUnpack, counted in res.
func (s *Store) builderEntries(res *PruneResult) ([]entry, error) {
	var out []entry
	root := filepath.Join(s.dir, rootfsDir)
	dirs, err := os.ReadDir(root)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read cache %s: %w", s.dir, err)
	}
	for _, e := range dirs {
		fi, err := e.Info()
		if err != nil || !fi.IsDir() {
			continue
		}
		p := filepath.Join(root, e.Name())
		switch {
		case strings.HasPrefix(e.Name(), unpackPrefix):
			if time.Since(fi.ModTime()) > staleUnpack {
				size := treeSize(p)
				if err := RemoveTree(p); err != nil {
					return nil, fmt.Errorf("prune cache: %w", err)
				}
				res.RootFS.removed(size)
			}
		case !strings.HasPrefix(e.Name(), "."):
			out = append(out, entry{path: p, size: treeSize(p), used: fi.ModTime(), kind: kindRootFS})
		}
	}
	wheels := filepath.Join(s.dir, builtWheelsDir)
	err = filepath.WalkDir(wheels, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if !strings.HasPrefix(d.Name(), wheelTmpPrefix) {
			out = append(out, entry{path: p, size: fi.Size(), used: fi.ModTime(), kind: kindWheel})
		} else if time.Since(fi.ModTime()) > staleUnpack {
			if err := removeWheel(p, wheels); err != nil {
				return err
			}
			res.Wheels.removed(fi.Size())
		}
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read cache %s: %w", s.dir, err)
	}
	return out, nil
}

// removeRootFS removes builder root filesystem dir unless a build holds it (UseDir); it
// reports whether it did. The directory is first renamed into a new temporary
// .unpack-* directory, so no build finds half of it, and one killed midway leaves
// what the next Prune removes.
func removeRootFS(dir string) (bool, error) {
	release, ok, err := holdDir(dir, true)
	if errors.Is(err, fs.ErrPermission) { // an image's root of mode 0300, say
		if fi, serr := os.Lstat(dir); serr == nil && fi.IsDir() && os.Chmod(dir, fi.Mode().Perm()|0o700) == nil {
			release, ok, err = holdDir(dir, true)
		}
	}
	if err != nil || !ok {
		return false, err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), unpackPrefix)
	if err == nil {
		// Moving a directory to another parent writes its "..": it must be writable.
		if fi, serr := os.Lstat(dir); serr == nil && fi.Mode().Perm()&0o200 == 0 {
			_ = os.Chmod(dir, fi.Mode().Perm()|0o700)
		}
		err = os.Rename(dir, filepath.Join(tmp, "pruned"))
	}
	release()
	if err != nil {
		if tmp != "" {
			_ = os.Remove(tmp)
		}
		return false, err
	}
	return true, RemoveTree(tmp)
}

// removeWheel removes a built wheel, then its key directories up to top as they empty.
func removeWheel(p, top string) error {
	if err := os.Remove(p); err != nil {
		return err
	}
	for d := filepath.Dir(p); d != top && strings.HasPrefix(d, top+string(filepath.Separator)); d = filepath.Dir(d) {
		if os.Remove(d) != nil {
			break // not empty: another wheel, or one being written
		}
	}
	return nil
}
