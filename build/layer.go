package build

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"runtime"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/pgzip"
	digest "github.com/opencontainers/go-digest"

	"github.com/pycontainer/pycontainer/oci"
)

// layerEntry is one file of a layer: its path in the image and where its bytes come from.
type layerEntry struct {
	Name string // path in the image, without a leading slash
	Mode int64
	Size int64
	Link string
	Dir  bool
	// Open returns the content of a regular file.
	Open func() (io.ReadCloser, error)
	// ModTime is used when the layer is not reproducible.
	ModTime time.Time
	// Source is a context file's path as the user knows it (relative to the context),
	// for messages; empty for entries that come from elsewhere (wheels).
	Source string
}

// layerResult describes a written layer.
type layerResult struct {
	DiffID digest.Digest // digest of the uncompressed tar, for rootfs.diff_ids
	// Heads are the first bytes of the files a platform check could object to
	// (binaries, scripts, pyvenv.cfg), kept so the layer need not be read again.
	Heads []fileHead
}

// fileHead is the start of one file of a layer.
type fileHead struct {
	Name string
	Head []byte
}

// writeLayer writes entries as a gzip-compressed tar to w. With a fixed mtime the bytes
// depend only on the entries: owners are 0:0 with no names, times are fixed and the gzip
// header carries no name or time.
func writeLayer(w io.Writer, entries []layerEntry, mtime *time.Time) (layerResult, error) {
	gz, err := newCompressor(w, entries)
	if err != nil {
		return layerResult{}, err
	}
	diff := digest.Canonical.Digester()
	tw := tar.NewWriter(io.MultiWriter(gz, diff.Hash()))
	res := layerResult{}
	for _, e := range entries {
		hdr := &tar.Header{
			Name:    e.Name,
			Mode:    e.Mode,
			ModTime: e.ModTime,
		}
		if mtime != nil {
			hdr.ModTime = *mtime
		}
		hdr.ModTime = hdr.ModTime.Truncate(time.Second)
		switch {
		case e.Dir:
			hdr.Typeflag = tar.TypeDir
			hdr.Name = strings.TrimSuffix(e.Name, "/") + "/"
		case e.Link != "":
			hdr.Typeflag = tar.TypeSymlink
			hdr.Linkname = e.Link
		default:
			hdr.Typeflag = tar.TypeReg
			hdr.Size = e.Size
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return layerResult{}, fmt.Errorf("layer entry %s: %w", e.Name, err)
		}
		if hdr.Typeflag == tar.TypeReg {
			head, err := copyEntry(tw, e)
			if err != nil {
				return layerResult{}, err
			}
			if oci.Worth(e.Name, head) {
				res.Heads = append(res.Heads, fileHead{Name: e.Name, Head: bytes.Clone(head)})
			}
		}
	}
	if err := tw.Close(); err != nil {
		return layerResult{}, fmt.Errorf("finish layer tar: %w", err)
	}
	if err := gz.Close(); err != nil {
		return layerResult{}, fmt.Errorf("finish layer compression: %w", err)
	}
	res.DiffID = diff.Digest()
	return res, nil
}

// copyEntry writes a file's content into the tar and returns its first bytes. The
// header already says how long the file is, so a file that grew or shrank since the
// context was listed stops the build with its name, not with the tar writer's "write
// too long".
func copyEntry(tw *tar.Writer, e layerEntry) ([]byte, error) {
	r, err := e.Open()
	if err != nil {
		return nil, fmt.Errorf("%s cannot be read: %w; fix its permissions or add it to .dockerignore", e.Name, err)
	}
	defer r.Close()
	src := &sourceReader{r: r}
	head := make([]byte, min(e.Size, oci.HeadSize))
	n, err := io.ReadFull(src, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read %s: %w", e.Name, err)
	}
	head = head[:n]
	if _, err := tw.Write(head); err != nil {
		return nil, fmt.Errorf("write %s into the layer: %w", e.Name, err)
	}
	rest, err := io.CopyN(tw, src, e.Size-int64(n))
	switch {
	case errors.Is(err, io.EOF):
		return nil, sizeMoved(e, fmt.Sprint(int64(n)+rest))
	case err != nil && src.err != nil:
		return nil, fmt.Errorf("read %s: %w", e.Name, err)
	case err != nil:
		return nil, fmt.Errorf("write %s into the layer: %w", e.Name, err)
	}
	// Read on to the end: one byte more than listed means it grew (its size now says
	// by how much), and a reader that checks a checksum at the end (a wheel's zip
	// entry) reports a mismatch there.
	var probe [1]byte
	m, err := io.ReadFull(r, probe[:])
	if err != nil && m == 0 && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read %s: %w", e.Name, err)
	}
	if m > 0 {
		now := fmt.Sprintf("more than %d", e.Size)
		if st, ok := r.(interface{ Stat() (fs.FileInfo, error) }); ok {
			if info, err := st.Stat(); err == nil && info.Size() > e.Size {
				now = fmt.Sprint(info.Size())
			}
		}
		return nil, sizeMoved(e, now)
	}
	return head, nil
}

// sizeMoved is the one-line error for an entry that did not hold the bytes its header
// announced: a context file written to during the build, or an archive that lies.
func sizeMoved(e layerEntry, now string) error {
	if e.Source == "" {
		return fmt.Errorf("%s holds %s bytes, not the %d its size says", e.Name, now, e.Size)
	}
	return fmt.Errorf("%s changed while being read (%d bytes when the context was listed, %s when read): rerun the build once nothing writes to it, or add it to .dockerignore", e.Source, e.Size, now)
}

// sourceReader remembers its reader's error, so a failed copy says whether the file
// or the layer failed.
type sourceReader struct {
	r   io.Reader
	err error
}

func (s *sourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		s.err = err
	}
	return n, err
}

// parallelFrom is the layer size from which compressing blocks in parallel pays off;
// below it the goroutines and buffers cost more than they save.
const parallelFrom = 8 << 20

// newCompressor picks the gzip writer for a layer of these entries. Both give the same
// bytes every run. Level 7 keeps the size at GNU gzip -6's; the parallel writer
// compresses 1 MiB blocks, each with the previous block's tail as its dictionary, so
// its output does not depend on the number of cores. The gzip header has no name and
// no time.
func newCompressor(w io.Writer, entries []layerEntry) (io.WriteCloser, error) {
	var total int64
	for _, e := range entries {
		total += e.Size
	}
	if total < parallelFrom {
		return gzip.NewWriterLevel(w, 7)
	}
	gz, err := pgzip.NewWriterLevel(w, 7)
	if err != nil {
		return nil, err
	}
	if err := gz.SetConcurrency(1<<20, max(runtime.GOMAXPROCS(0), 2)); err != nil {
		return nil, err
	}
	gz.Header.ModTime = time.Unix(0, 0) // "no time": pgzip would wrap the zero time
	return gz, nil
}

// appEntries maps the selected context files to layer entries under workdir.
func appEntries(sel *Selection, workdir string) []layerEntry {
	root := strings.Trim(path.Clean(workdir), "/")
	entries := []layerEntry{{Name: root, Dir: true, Mode: 0o755}}
	for _, f := range sel.Files {
		e := layerEntry{
			Name:    path.Join(root, f.Rel),
			Mode:    int64(f.Mode.Perm()),
			Size:    f.Size,
			Link:    f.Link,
			Dir:     f.Mode.IsDir(),
			ModTime: f.ModTime,
			Source:  f.Rel,
		}
		if f.Mode.IsRegular() {
			abs := f.Abs
			e.Open = func() (io.ReadCloser, error) { return os.Open(abs) }
		}
		entries = append(entries, e)
	}
	return entries
}
