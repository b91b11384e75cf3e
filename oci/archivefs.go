package oci

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"time"
)

// InspectPath reads the layout at path: a directory, or a tar archive of one (what
// `pycontainer save`, `docker save` since Docker 25 and `podman save --format
// oci-archive` write), read in place.
func InspectPath(p string) (*Summary, error) {
	fi, err := os.Stat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%s does not exist: build an image with `pycontainer build`, or name a layout directory or archive", p)
	case err != nil || fi.IsDir():
		return Inspect(p)
	}
	fsys, err := openArchiveFS(p)
	if err != nil {
		return nil, err
	}
	if _, err := fs.Stat(fsys, indexFile); errors.Is(err, fs.ErrNotExist) {
		if _, err := fs.Stat(fsys, "manifest.json"); err == nil {
			return nil, fmt.Errorf("%s is a docker save archive without index.json (Docker before 25); load it and save it again with a newer Docker, or use pycontainer save", p)
		}
		return nil, fmt.Errorf("%s is a tar archive without index.json, not an OCI image archive", p)
	}
	return InspectFS(fsys, p)
}

// archiveFS is the regular files of a tar archive as an fs.FS, read in place: Open
// reads a file's bytes from the archive, nothing is extracted or held in memory.
type archiveFS struct {
	path  string
	files map[string]archiveEntry
}

type archiveEntry struct {
	name         string
	offset, size int64
	mode         fs.FileMode
	modTime      time.Time
}

// openArchiveFS indexes the archive at p. Entries other than regular files, and names
// that are not plain relative paths, are left out; a later entry of a name replaces an
// earlier one, as extracting the archive would.
func openArchiveFS(p string) (*archiveFS, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	magic := make([]byte, 2)
	if _, err := io.ReadFull(f, magic); err == nil && bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		return nil, fmt.Errorf("%s is gzip-compressed: decompress it first (gunzip -k %s)", p, p)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	a := &archiveFS{path: p, files: map[string]archiveEntry{}}
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return a, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s is not a tar archive: %w", p, err)
		}
		name := path.Clean(hdr.Name)
		if hdr.Typeflag != tar.TypeReg || !fs.ValidPath(name) || name == "." {
			continue
		}
		// tar.Reader reads a header and nothing more: the file stands where the data starts.
		offset, err := f.Seek(0, io.SeekCurrent)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", p, err)
		}
		a.files[name] = archiveEntry{name: path.Base(name), offset: offset, size: hdr.Size, mode: hdr.FileInfo().Mode(), modTime: hdr.ModTime}
	}
}

func (a *archiveFS) lookup(op, name string) (archiveEntry, error) {
	if !fs.ValidPath(name) {
		return archiveEntry{}, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	e, ok := a.files[name]
	if !ok {
		return archiveEntry{}, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
	}
	return e, nil
}

// Open opens a regular file of the archive.
func (a *archiveFS) Open(name string) (fs.File, error) {
	e, err := a.lookup("open", name)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(a.path)
	if err != nil {
		return nil, err
	}
	return &archiveFile{f: f, r: io.NewSectionReader(f, e.offset, e.size), entry: e}, nil
}

// Stat describes a regular file of the archive without opening it.
func (a *archiveFS) Stat(name string) (fs.FileInfo, error) {
	e, err := a.lookup("stat", name)
	if err != nil {
		return nil, err
	}
	return e, nil
}

type archiveFile struct {
	f     *os.File
	r     *io.SectionReader
	entry archiveEntry
}

func (af *archiveFile) Read(p []byte) (int, error) { return af.r.Read(p) }
func (af *archiveFile) Stat() (fs.FileInfo, error) { return af.entry, nil }
func (af *archiveFile) Close() error               { return af.f.Close() }

func (e archiveEntry) Name() string       { return e.name }
func (e archiveEntry) Size() int64        { return e.size }
func (e archiveEntry) Mode() fs.FileMode  { return e.mode }
func (e archiveEntry) ModTime() time.Time { return e.modTime }
func (e archiveEntry) IsDir() bool        { return false }
func (e archiveEntry) Sys() any           { return nil }
