package oci

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/regclient/regclient/types/descriptor"
)

// LayerFile is one entry of a layer's tar, as its header states it: listing a layer
// never keeps a file's contents.
type LayerFile struct {
	// Path is relative to the image's root and cleaned as a runtime extracting the
	// layer treats it ("./a/../b" and "/b" are "b"): no name climbs out of the root.
	// It is the layer's bytes: escape it before showing it (TreeLine.Name is).
	Path string
	Size int64       // a regular file's length; 0 for every other kind
	Mode fs.FileMode // kind and permission bits
	// Link is a symlink's target as written, or a hardlink's target path, cleaned as
	// Path is.
	Link     string
	Hardlink bool // Link names an entry whose contents this one shares
}

const (
	whiteoutPrefix = ".wh."
	// whiteoutMeta prefixes AUFS's own bookkeeping files, which are not entries.
	whiteoutMeta   = ".wh..wh."
	opaqueWhiteout = ".wh..wh..opq"
)

// Whiteout reports whether the entry is a whiteout and what it deletes from the
// layers below: ".wh.NAME" deletes NAME beside it; ".wh..wh..opq" makes its
// directory opaque, hiding all the layers below hold there (deleted is then the
// directory, "" for the root).
func (f LayerFile) Whiteout() (deleted string, opaque, ok bool) {
	dir, base := path.Split(f.Path)
	switch {
	case base == opaqueWhiteout:
		return strings.TrimSuffix(dir, "/"), true, true
	case strings.HasPrefix(base, whiteoutMeta), !strings.HasPrefix(base, whiteoutPrefix), base == whiteoutPrefix:
		return "", false, false
	}
	return dir + strings.TrimPrefix(base, whiteoutPrefix), false, true
}

// ErrLayerTooLarge is returned, wrapped, when a layer expands to more than listing
// reads of it; the entries read until then are returned with it.
var ErrLayerTooLarge = errors.New("the layer expands to more than a listing reads")

// Bounds on what a listing takes from a layer, whatever the layer or the caller says:
// a layer may come from anyone's registry.
const (
	// MaxLayerFiles is the most entries a listing returns: a tar of bare headers
	// holds two million entries per GiB.
	MaxLayerFiles = 200_000
	// maxListedNameBytes bounds the bytes of names a listing keeps.
	maxListedNameBytes = 32 << 20
	// maxEntryName is longer than any path a filesystem takes (PATH_MAX); Go's tar
	// reader accepts names of up to 1 MiB.
	maxEntryName = 4096
	// A layer's tar is read up to layerExpansion times its compressed size, and at
	// least layerReadFloor: real layers expand 2-5 times, a hostile one made of
	// zeros a thousand times.
	layerExpansion = 32
	layerReadFloor = 64 << 20
	// maxZstdWindow admits layers written with zstd's highest levels (--ultra -22
	// uses 128 MiB) and keeps a hostile frame from asking the decoder for more.
	maxZstdWindow = 128 << 20
)

// LayerFiles lists the entries of layer d of the OCI layout at dir: a tar, plain or
// compressed with gzip or zstd as d.MediaType says (sniffed when it says nothing). At
// most max entries are returned (max <= 0, or above MaxLayerFiles, is MaxLayerFiles);
// truncated reports that the layer holds more. Only headers are read: the contents of
// a plain tar's files are skipped by seeking, a compressed one's are decompressed and
// discarded, up to the bound behind ErrLayerTooLarge. On error, files holds the
// entries read before it.
func LayerFiles(ctx context.Context, dir string, d descriptor.Descriptor, max int) (files []LayerFile, truncated bool, err error) {
	return listLayer(ctx, os.DirFS(dir), dir, d, max)
}

// LayerFiles is the package's LayerFiles for a layout already inspected, a directory
// or an archive.
func (s *Summary) LayerFiles(ctx context.Context, d descriptor.Descriptor, max int) (files []LayerFile, truncated bool, err error) {
	return listLayer(ctx, s.fsys, s.Dir, d, max)
}

func listLayer(ctx context.Context, fsys fs.FS, where string, d descriptor.Descriptor, max int) ([]LayerFile, bool, error) {
	f, err := openBlob(fsys, d.Digest) // refuses digests that would name a path outside blobs/
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, fmt.Errorf("%s does not hold layer %s: %w", where, d.Digest, err)
	}
	if err != nil {
		return nil, false, fmt.Errorf("%s: layer %s: %w", where, d.Digest, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, false, fmt.Errorf("%s: layer %s: %w", where, d.Digest, err)
	}
	if d.Size > 0 && fi.Size() != d.Size {
		return nil, false, fmt.Errorf("%s: layer %s has %d bytes where its descriptor says %d: the layout is damaged; rebuild the image", where, d.Digest, fi.Size(), d.Size)
	}
	var r io.Reader = f
	if af, ok := f.(*archiveFile); ok {
		r = af.r // a section of the archive, which can seek past files' contents
	}
	files, truncated, err := readLayerFiles(ctx, r, d.MediaType, max, layerReadBound(fi.Size()))
	if err != nil {
		err = fmt.Errorf("%s: layer %s: %w", where, ShortDigest(d.Digest.String()), err)
	}
	return files, truncated, err
}

// layerReadBound is how much listing reads of the tar of a layer of size bytes.
func layerReadBound(size int64) int64 {
	if size >= math.MaxInt64/layerExpansion {
		return math.MaxInt64
	}
	return max(layerReadFloor, size*layerExpansion)
}

// readLayerFiles lists the tar read from r, compressed as mediaType says: at most
// limit entries, reading at most readBound bytes of the tar.
func readLayerFiles(ctx context.Context, r io.Reader, mediaType string, limit int, readBound int64) ([]LayerFile, bool, error) {
	if limit <= 0 || limit > MaxLayerFiles {
		limit = MaxLayerFiles
	}
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	compression, err := layerCompression(mediaType)
	if err != nil {
		return nil, false, err
	}
	if compression == "" { // no media type: go by the first bytes
		br := bufio.NewReader(r)
		compression, r = sniffCompression(br), br
	}
	budget := &readBudget{ctx: ctx, left: readBound}
	var src io.Reader
	switch compression {
	case "gzip":
		zr, err := gzip.NewReader(ctxReader{ctx, r})
		if err != nil {
			return nil, false, fmt.Errorf("not a gzip stream (media type %q): %w", mediaType, err)
		}
		defer zr.Close()
		budget.r, src = zr, budget
	case "zstd":
		zr, err := zstd.NewReader(ctxReader{ctx, r}, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(maxZstdWindow), zstd.WithDecoderMaxMemory(maxZstdWindow))
		if err != nil {
			return nil, false, fmt.Errorf("not a zstd stream (media type %q): %w", mediaType, err)
		}
		defer zr.Close() // the decoder holds buffers, and goroutines unless closed
		budget.r, src = zr, budget
	default:
		budget.r, src = r, budget
		if s, ok := r.(io.Seeker); ok {
			src = seekingBudget{budget, s} // tar seeks past contents instead of reading them
		}
	}

	tr := tar.NewReader(src)
	var files []LayerFile
	nameBytes := 0
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return files, budget.exceeded, budget.explain(err, len(files))
		}
		f, ok, err := layerFile(hdr)
		if err != nil {
			return files, false, fmt.Errorf("entry %d: %w", len(files)+1, err)
		}
		if !ok {
			continue
		}
		if len(files) == limit || nameBytes+len(f.Path)+len(f.Link) > maxListedNameBytes {
			return files, true, nil
		}
		nameBytes += len(f.Path) + len(f.Link)
		files = append(files, f)
	}
	if compression != "tar" {
		// The end-of-archive marker is not the end of the stream: reading on to it
		// checks the compressor's checksum and finds a stream cut short.
		if _, err := io.Copy(io.Discard, budget); err != nil {
			return files, budget.exceeded, budget.explain(err, len(files))
		}
	}
	return files, false, nil
}

// layerCompression is "gzip", "zstd" or "tar" for a layer's media type; "" when it
// has none.
func layerCompression(mediaType string) (string, error) {
	switch {
	case mediaType == "":
		return "", nil
	case strings.HasSuffix(mediaType, "gzip"):
		return "gzip", nil
	case strings.HasSuffix(mediaType, "zstd"):
		return "zstd", nil
	case strings.HasSuffix(mediaType, "tar"):
		return "tar", nil
	}
	return "", fmt.Errorf("media type %q is not a layer (a tar, plain or compressed)", mediaType)
}

func sniffCompression(br *bufio.Reader) string {
	head, _ := br.Peek(4)
	switch {
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		return "gzip"
	case bytes.HasPrefix(head, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return "zstd"
	}
	return "tar"
}

// layerFile is the entry hdr describes; false for entries that are no file of the
// image (the root itself, pax global headers).
func layerFile(hdr *tar.Header) (LayerFile, bool, error) {
	name, err := cleanEntryPath(hdr.Name)
	if err != nil || name == "" {
		return LayerFile{}, false, err
	}
	f := LayerFile{Path: name, Mode: hdr.FileInfo().Mode()}
	switch hdr.Typeflag {
	case tar.TypeReg, tar.TypeGNUSparse:
		f.Size = hdr.Size
	case tar.TypeLink:
		if f.Link, err = cleanEntryPath(hdr.Linkname); err != nil {
			return LayerFile{}, false, err
		}
		f.Hardlink = true
	case tar.TypeSymlink:
		if len(hdr.Linkname) > maxEntryName {
			return LayerFile{}, false, fmt.Errorf("a link target of %d bytes, longer than any filesystem takes", len(hdr.Linkname))
		}
		f.Link = hdr.Linkname
	case tar.TypeDir, tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
	default:
		return LayerFile{}, false, nil
	}
	return f, true, nil
}

// cleanEntryPath is name relative to the root, ".." never climbing above it (as
// runtimes extract it); "" for the root.
func cleanEntryPath(name string) (string, error) {
	if len(name) > maxEntryName {
		return "", fmt.Errorf("a name of %d bytes, longer than any filesystem takes", len(name))
	}
	return strings.TrimPrefix(path.Clean("/"+name), "/"), nil
}

// readBudget stops reading a layer after left bytes, and when ctx ends.
type readBudget struct {
	ctx      context.Context
	r        io.Reader
	left     int64
	exceeded bool
}

func (b *readBudget) Read(p []byte) (int, error) {
	if err := b.ctx.Err(); err != nil {
		return 0, err
	}
	if b.left <= 0 {
		b.exceeded = true
		return 0, ErrLayerTooLarge
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	return n, err
}

// explain says what a read error of the layer's tar means.
func (b *readBudget) explain(err error, read int) error {
	switch {
	case b.exceeded:
		return fmt.Errorf("listed %d entries: %w", read, ErrLayerTooLarge)
	case b.ctx.Err() != nil:
		return b.ctx.Err()
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("the layer ends early, after %d entries: it is truncated: %w", read, err)
	}
	return fmt.Errorf("the layer is damaged after %d entries: %w", read, err)
}

// seekingBudget lets tar skip a plain layer's file contents by seeking, which reads
// nothing and so costs none of the budget.
type seekingBudget struct {
	*readBudget
	s io.Seeker
}

func (s seekingBudget) Seek(offset int64, whence int) (int64, error) {
	if err := s.ctx.Err(); err != nil {
		return 0, err
	}
	return s.s.Seek(offset, whence)
}
