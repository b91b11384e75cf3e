package oci

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	digest "github.com/opencontainers/go-digest"
	"github.com/regclient/regclient/types/descriptor"
	"github.com/regclient/regclient/types/mediatype"
)

// tarOf writes a tar of hdrs; a regular file gets hdr.Size bytes of 'x'.
func tarOf(t testing.TB, hdrs ...*tar.Header) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range hdrs {
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Mode == 0 && h.Typeflag != tar.TypeXGlobalHeader {
			h.Mode = 0o644
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write(bytes.Repeat([]byte("x"), int(h.Size))); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// compressed is data as a layer of media type mt holds it.
func compressed(t testing.TB, mt string, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	var w io.WriteCloser
	switch {
	case strings.HasSuffix(mt, "gzip"):
		w = gzip.NewWriter(&buf)
	case strings.HasSuffix(mt, "zstd"):
		zw, err := zstd.NewWriter(&buf)
		if err != nil {
			t.Fatal(err)
		}
		w = zw
	default:
		return data
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// layerBlob stores data as a blob of a new layout and returns the layout and the
// blob's descriptor with media type mt.
func layerBlob(t testing.TB, mt string, data []byte) (string, descriptor.Descriptor) {
	t.Helper()
	dir, l := newLayout(t)
	defer l.Close()
	d, err := l.CopyBlob(context.Background(), descriptor.Descriptor{MediaType: mt}, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return dir, d
}

func TestLayerFiles(t *testing.T) {
	hdrs := []*tar.Header{
		{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "./app/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "./app/main.py", Size: 12},
		{Name: "app/pkg/deep/mod.py", Size: 5, Mode: 0o600},
		{Name: "usr/bin/python", Typeflag: tar.TypeSymlink, Linkname: "python3.11"},
		{Name: "usr/bin/python3", Typeflag: tar.TypeLink, Linkname: "./usr/bin/python3.11"},
		{Name: "etc/.wh.motd", Size: 0},
		{Name: "var/cache/.wh..wh..opq", Size: 0},
		{Name: "/abs/file", Size: 1},
		{Name: "../../etc/passwd", Size: 2},
		{Name: "dev/null", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3},
		{Name: "pax-global", Typeflag: tar.TypeXGlobalHeader, PAXRecords: map[string]string{"comment": "x"}},
	}
	want := []LayerFile{
		{Path: "app", Mode: fs.ModeDir | 0o755},
		{Path: "app/main.py", Size: 12, Mode: 0o644},
		{Path: "app/pkg/deep/mod.py", Size: 5, Mode: 0o600},
		{Path: "usr/bin/python", Mode: fs.ModeSymlink | 0o644, Link: "python3.11"},
		{Path: "usr/bin/python3", Mode: 0o644, Link: "usr/bin/python3.11", Hardlink: true},
		{Path: "etc/.wh.motd", Mode: 0o644},
		{Path: "var/cache/.wh..wh..opq", Mode: 0o644},
		{Path: "abs/file", Size: 1, Mode: 0o644},
		{Path: "etc/passwd", Size: 2, Mode: 0o644},
		{Path: "dev/null", Mode: fs.ModeDevice | fs.ModeCharDevice | 0o644},
	}
	plain := tarOf(t, hdrs...)
	for _, tc := range []struct {
		name, mediaType string
		// stated is the media type the descriptor gives, when it is not mediaType
		stated *string
	}{
		{name: "gzip", mediaType: mediatype.OCI1LayerGzip},
		{name: "zstd", mediaType: mediatype.OCI1LayerZstd},
		{name: "plain", mediaType: mediatype.OCI1Layer},
		{name: "docker gzip", mediaType: mediatype.Docker2LayerGzip},
		{name: "gzip, no media type", mediaType: mediatype.OCI1LayerGzip, stated: new(string)},
		{name: "zstd, no media type", mediaType: mediatype.OCI1LayerZstd, stated: new(string)},
		{name: "plain, no media type", mediaType: mediatype.OCI1Layer, stated: new(string)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, d := layerBlob(t, tc.mediaType, compressed(t, tc.mediaType, plain))
			if tc.stated != nil {
				d.MediaType = *tc.stated
			}
			got, truncated, err := LayerFiles(context.Background(), dir, d, 0)
			if err != nil {
				t.Fatal(err)
			}
			if truncated {
				t.Error("truncated, with every entry listed")
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("LayerFiles:\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

// TestLayerFilesOfBuiltLayouts lists the layer the package's own helper writes, from
// the layout directory and from an archive of it.
func TestLayerFilesOfBuiltLayouts(t *testing.T) {
	amd64 := Platform{OS: "linux", Architecture: "amd64"}
	dir := layoutWith(t, amd64, amd64, map[string][]byte{"app/main.py": []byte("print(1)\n"), "app/lib/util.py": []byte("x = 1\n")})
	s, err := Inspect(dir)
	if err != nil {
		t.Fatal(err)
	}
	var archive bytes.Buffer
	if err := s.WriteArchive(context.Background(), &archive, s.Images[0]); err != nil {
		t.Fatal(err)
	}
	tarPath := filepath.Join(t.TempDir(), "image.tar")
	if err := os.WriteFile(tarPath, archive.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	fromArchive, err := InspectPath(tarPath)
	if err != nil {
		t.Fatal(err)
	}
	layer := s.Images[0].Layers[0]
	want := map[string]int64{"app/main.py": 9, "app/lib/util.py": 6}
	for name, list := range map[string]func() ([]LayerFile, bool, error){
		"directory": func() ([]LayerFile, bool, error) { return LayerFiles(context.Background(), dir, layer, 10) },
		"summary":   func() ([]LayerFile, bool, error) { return s.LayerFiles(context.Background(), layer, 10) },
		"archive":   func() ([]LayerFile, bool, error) { return fromArchive.LayerFiles(context.Background(), layer, 10) },
	} {
		files, truncated, err := list()
		if err != nil || truncated {
			t.Fatalf("%s: truncated %v, err %v", name, truncated, err)
		}
		got := map[string]int64{}
		for _, f := range files {
			got[f.Path] = f.Size
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: files %v, want %v", name, got, want)
		}
	}
}

func TestLayerFilesTruncates(t *testing.T) {
	var hdrs []*tar.Header
	for _, name := range []string{"a", "b", "c", "d", "e"} {
		hdrs = append(hdrs, &tar.Header{Name: name, Size: 1})
	}
	dir, d := layerBlob(t, mediatype.OCI1LayerGzip, compressed(t, mediatype.OCI1LayerGzip, tarOf(t, hdrs...)))
	for _, tc := range []struct {
		max           int
		want          int
		wantTruncated bool
	}{
		{max: 1, want: 1, wantTruncated: true},
		{max: 4, want: 4, wantTruncated: true},
		{max: 5, want: 5},
		{max: 6, want: 5},
		{max: 0, want: 5},
		{max: -1, want: 5},
	} {
		files, truncated, err := LayerFiles(context.Background(), dir, d, tc.max)
		if err != nil {
			t.Fatalf("max %d: %v", tc.max, err)
		}
		if len(files) != tc.want || truncated != tc.wantTruncated {
			t.Errorf("max %d: %d files, truncated %v; want %d, %v", tc.max, len(files), truncated, tc.want, tc.wantTruncated)
		}
	}
}

func TestLayerFilesRefusesDamagedLayers(t *testing.T) {
	ctx := context.Background()
	entries := tarOf(t, &tar.Header{Name: "a", Size: 10}, &tar.Header{Name: "big", Size: 64 << 10}, &tar.Header{Name: "z", Size: 1})
	gz := compressed(t, mediatype.OCI1LayerGzip, entries)
	zst := compressed(t, mediatype.OCI1LayerZstd, entries)
	cut := func(b []byte, n int) []byte { return b[:n] }

	for _, tc := range []struct {
		name     string
		data     []byte
		mt       string
		edit     func(*descriptor.Descriptor)
		want     string // in the error
		wantIs   error
		minFiles int // entries read before the error
	}{
		{name: "gzip cut in the middle", data: cut(gz, len(gz)/2), mt: mediatype.OCI1LayerGzip, want: "truncated", wantIs: io.ErrUnexpectedEOF, minFiles: 1},
		{name: "gzip without its trailer", data: cut(gz, len(gz)-4), mt: mediatype.OCI1LayerGzip, wantIs: io.ErrUnexpectedEOF, minFiles: 3},
		{name: "zstd cut in the middle", data: cut(zst, len(zst)/2), mt: mediatype.OCI1LayerZstd, want: "layer"},
		{name: "plain tar cut in a file", data: cut(entries, 1024+512+100), mt: mediatype.OCI1Layer, want: "truncated", wantIs: io.ErrUnexpectedEOF, minFiles: 1},
		{name: "gzip that is not", data: entries, mt: mediatype.OCI1LayerGzip, want: "not a gzip stream"},
		{name: "not a layer", data: []byte(`{}`), mt: "application/vnd.in-toto+json", want: "is not a layer"},
		{name: "size differs from descriptor", data: gz, mt: mediatype.OCI1LayerGzip, edit: func(d *descriptor.Descriptor) { d.Size++ }, want: "damaged"},
		{name: "digest naming a path", data: gz, mt: mediatype.OCI1LayerGzip, edit: func(d *descriptor.Descriptor) { d.Digest = "sha256:../../../etc/passwd" }, want: "invalid digest"},
		{name: "missing blob", data: gz, mt: mediatype.OCI1LayerGzip, edit: func(d *descriptor.Descriptor) { d.Digest = digest.FromString("other") }, wantIs: fs.ErrNotExist},
		{name: "name longer than PATH_MAX", data: tarOf(t, &tar.Header{Name: strings.Repeat("n/", 3000) + "f", Size: 1}), mt: mediatype.OCI1Layer, want: "longer than any filesystem"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, d := layerBlob(t, tc.mt, tc.data)
			if tc.edit != nil {
				tc.edit(&d)
			}
			files, _, err := LayerFiles(ctx, dir, d, 0)
			if err == nil {
				t.Fatalf("no error; listed %+v", files)
			}
			t.Log(err)
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("error %q is not %v", err, tc.wantIs)
			}
			if len(files) < tc.minFiles {
				t.Errorf("%d entries kept from before the damage, want at least %d", len(files), tc.minFiles)
			}
		})
	}
}

// TestLayerFilesBoundsHostileLayers: a gzip bomb stops at the read bound, a plain tar
// claiming huge files is skipped by seeking, and cancelling stops a listing.
func TestLayerFilesBoundsHostileLayers(t *testing.T) {
	ctx := context.Background()
	// 8 MiB of zeros in a file: gzip makes it a few KiB.
	var bomb bytes.Buffer
	tw := tar.NewWriter(&bomb)
	tw.WriteHeader(&tar.Header{Name: "first", Mode: 0o644, Size: 1})
	tw.Write([]byte("x"))
	tw.WriteHeader(&tar.Header{Name: "zeros", Mode: 0o644, Size: 8 << 20})
	tw.Write(make([]byte, 8<<20))
	tw.WriteHeader(&tar.Header{Name: "after", Mode: 0o644})
	tw.Close()
	gz := compressed(t, mediatype.OCI1LayerGzip, bomb.Bytes())
	files, truncated, err := readLayerFiles(ctx, bytes.NewReader(gz), mediatype.OCI1LayerGzip, 0, 1<<20)
	if !errors.Is(err, ErrLayerTooLarge) || !truncated || len(files) != 2 {
		t.Errorf("gzip bomb with a 1 MiB bound: %d files, truncated %v, err %v; want the 2 entries before the bound, ErrLayerTooLarge", len(files), truncated, err)
	}
	if files, _, err := readLayerFiles(ctx, bytes.NewReader(gz), mediatype.OCI1LayerGzip, 0, 16<<20); err != nil || len(files) != 3 {
		t.Errorf("the same layer within the bound: %d files, err %v", len(files), err)
	}
	if got := layerReadBound(1 << 30); got != 32<<30 {
		t.Errorf("read bound of a 1 GiB layer: %d", got)
	}
	if got := layerReadBound(1 << 62); got <= 1<<62 {
		t.Errorf("read bound of a huge layer wrapped round: %d", got)
	}

	// A plain tar whose header claims 1 TiB: seeking past it reads nothing, then the
	// layer ends.
	var huge bytes.Buffer
	tw = tar.NewWriter(&huge)
	tw.WriteHeader(&tar.Header{Name: "claims-a-tebibyte", Mode: 0o644, Size: 1 << 40})
	tw.Flush()
	readCount := &countingReadSeeker{ReadSeeker: bytes.NewReader(huge.Bytes())}
	files, _, err = readLayerFiles(ctx, readCount, mediatype.OCI1Layer, 0, 1<<20)
	if !errors.Is(err, io.ErrUnexpectedEOF) || len(files) != 1 || files[0].Size != 1<<40 {
		t.Errorf("plain tar claiming 1 TiB: files %+v, err %v", files, err)
	}
	if readCount.n > 64<<10 {
		t.Errorf("read %d bytes of a plain tar to skip a file's contents; want it skipped by seeking", readCount.n)
	}

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := readLayerFiles(cancelled, bytes.NewReader(gz), mediatype.OCI1LayerGzip, 0, 1<<30); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled listing: err %v", err)
	}
}

type countingReadSeeker struct {
	io.ReadSeeker
	n int
}

func (c *countingReadSeeker) Read(p []byte) (int, error) {
	n, err := c.ReadSeeker.Read(p)
	c.n += n
	return n, err
}

func TestWhiteout(t *testing.T) {
	for _, tc := range []struct {
		path, deleted string
		opaque, ok    bool
	}{
		{path: "etc/.wh.motd", deleted: "etc/motd", ok: true},
		{path: ".wh.top", deleted: "top", ok: true},
		{path: "var/cache/.wh..wh..opq", deleted: "var/cache", opaque: true, ok: true},
		{path: ".wh..wh..opq", deleted: "", opaque: true, ok: true},
		{path: "x/.wh..wh.plnk", ok: false},
		{path: "x/.wh.", ok: false},
		{path: "x/wh.file", ok: false},
		{path: "x/.whatever", ok: false},
	} {
		deleted, opaque, ok := LayerFile{Path: tc.path}.Whiteout()
		if deleted != tc.deleted || opaque != tc.opaque || ok != tc.ok {
			t.Errorf("%s: Whiteout() = %q, %v, %v; want %q, %v, %v", tc.path, deleted, opaque, ok, tc.deleted, tc.opaque, tc.ok)
		}
	}
}

// treeText renders lines compactly for comparing: indentation by depth, "/" after
// directories, sizes, marks.
func treeText(lines []TreeLine) string {
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(strings.Repeat("  ", l.Depth))
		switch {
		case l.More > 0:
			b.WriteString("… " + itoa(int64(l.More)) + " more " + itoa(l.Size))
		case l.Deleted:
			b.WriteString("-" + l.Name)
		default:
			b.WriteString(l.Name)
			if l.Dir {
				b.WriteString("/")
			}
			b.WriteString(" " + itoa(l.Size))
			if l.Dir {
				b.WriteString(" (" + itoa(int64(l.Files)) + ")")
			}
			if l.Link != "" {
				b.WriteString(" -> " + l.Link)
			}
			if l.Opaque {
				b.WriteString(" opaque")
			}
			if l.Collapsed {
				b.WriteString(" …")
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestFileTree(t *testing.T) {
	file := func(p string, size int64) LayerFile { return LayerFile{Path: p, Size: size, Mode: 0o644} }
	dir := func(p string) LayerFile { return LayerFile{Path: p, Mode: fs.ModeDir | 0o755} }
	deps := []LayerFile{
		dir("usr"), dir("usr/lib"),
		file("usr/lib/site/a/__init__.py", 10), file("usr/lib/site/a/x.py", 20),
		file("usr/lib/site/b/__init__.py", 1), file("usr/lib/site/b.pth", 2),
		file("usr/lib/site/c.py", 3), file("usr/lib/site/d.py", 4),
		file("app/main.py", 100),
		file("README", 7),
	}
	for _, tc := range []struct {
		name     string
		files    []LayerFile
		maxLines int
		want     string
	}{
		{
			name: "nested directories first, sizes summed, parents implied",
			files: []LayerFile{
				file("b.txt", 1), dir("a"), file("a/z.py", 5), file("a/sub/deep/x.bin", 1000),
				{Path: "a/link", Mode: fs.ModeSymlink | 0o777, Link: "z.py"},
				{Path: "a/hard", Mode: 0o644, Link: "a/z.py", Hardlink: true},
			},
			want: "" +
				"a/ 1005 (4)\n" +
				"  sub/ 1000 (1)\n" +
				"    deep/ 1000 (1)\n" +
				"      x.bin 1000\n" +
				"  hard 0 -> a/z.py\n" +
				"  link 0 -> z.py\n" +
				"  z.py 5\n" +
				"b.txt 1\n",
		},
		{
			name: "whiteouts are deletions, opaque directories are marked",
			files: []LayerFile{
				file("etc/.wh.motd", 0), file("etc/hosts", 3), file("var/cache/.wh..wh..opq", 0),
				file("var/cache/new", 4), file(".wh.tmp", 0), file("x/.wh..wh.plnk", 0),
			},
			want: "" +
				"etc/ 3 (1)\n" +
				"  hosts 3\n" +
				"  -motd\n" +
				"var/ 4 (1)\n" +
				"  cache/ 4 (1) opaque\n" +
				"    new 4\n" +
				"-tmp\n",
		},
		{
			name: "a later entry replaces an earlier one; a real entry beats a whiteout",
			files: []LayerFile{
				file("f", 1), file("f", 2), file("g/.wh.h", 0), file("g/h", 9), file("k", 1), file("k/inside", 3),
			},
			want: "" +
				"g/ 9 (1)\n" +
				"  h 9\n" +
				"k/ 3 (1)\n" +
				"  inside 3\n" +
				"f 2\n",
		},
		{
			name:     "everything fits",
			files:    deps,
			maxLines: 100,
			want: "" +
				"app/ 100 (1)\n" +
				"  main.py 100\n" +
				"usr/ 40 (6)\n" +
				"  lib/ 40 (6)\n" +
				"    site/ 40 (6)\n" +
				"      a/ 30 (2)\n" +
				"        __init__.py 10\n" +
				"        x.py 20\n" +
				"      b/ 1 (1)\n" +
				"        __init__.py 1\n" +
				"      b.pth 2\n" +
				"      c.py 3\n" +
				"      d.py 4\n" +
				"README 7\n",
		},
		{
			name:     "breadth first: the big directory shows what fits, the rest is collapsed",
			files:    deps,
			maxLines: 9,
			want: "" +
				"app/ 100 (1)\n" +
				"  main.py 100\n" +
				"usr/ 40 (6)\n" +
				"  lib/ 40 (6)\n" +
				"    site/ 40 (6)\n" +
				"      a/ 30 (2) …\n" +
				"      b/ 1 (1) …\n" +
				"      … 3 more 9\n" +
				"README 7\n",
		},
		{
			name:     "the top level alone does not fit",
			files:    deps,
			maxLines: 2,
			want: "" +
				"app/ 100 (1) …\n" +
				"… 2 more 47\n",
		},
		{
			name:     "one line",
			files:    deps,
			maxLines: 1,
			want:     "… 3 more 147\n",
		},
		{
			name:  "names that would drive a terminal are escaped",
			files: []LayerFile{file("\x1b[2Jclear", 1), file("bidi\u202eexe.txt", 1), {Path: "bad\xffutf8", Mode: fs.ModeSymlink, Link: "\x07bell"}},
			want: "" +
				"\\x1b[2Jclear 1\n" +
				"bad\\xffutf8 0 -> \\abell\n" +
				"bidi\\u202eexe.txt 1\n",
		},
		{
			name:  "hostile sizes do not wrap round",
			files: []LayerFile{file("a/x", 1<<62), file("a/y", 1<<62), file("a/z", 1<<62)},
			want: "" +
				"a/ 9223372036854775807 (3)\n" +
				"  x 4611686018427387904\n" +
				"  y 4611686018427387904\n" +
				"  z 4611686018427387904\n",
		},
		{name: "empty layer", files: nil, want: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lines := FileTree(tc.files, tc.maxLines)
			if got := treeText(lines); got != tc.want {
				t.Errorf("FileTree:\n%s\nwant:\n%s", got, tc.want)
			}
			if tc.maxLines > 0 && len(lines) > tc.maxLines {
				t.Errorf("%d lines, more than %d", len(lines), tc.maxLines)
			}
		})
	}
}

func TestFileTreeLineFields(t *testing.T) {
	lines := FileTree([]LayerFile{{Path: "etc/.wh.motd"}, {Path: "bin/sh", Mode: fs.ModeSymlink | 0o777, Link: "busybox"}}, 0)
	want := []TreeLine{
		{Depth: 0, Name: "bin", Path: "bin", Dir: true, Mode: fs.ModeDir},
		{Depth: 1, Name: "sh", Path: "bin/sh", Mode: fs.ModeSymlink | 0o777, Link: "busybox"},
		{Depth: 0, Name: "etc", Path: "etc", Dir: true, Mode: fs.ModeDir},
		{Depth: 1, Name: "motd", Path: "etc/motd", Deleted: true},
	}
	want[0].Files = 1
	if !reflect.DeepEqual(lines, want) {
		t.Errorf("FileTree:\n got %+v\nwant %+v", lines, want)
	}
}

func TestFilesUnder(t *testing.T) {
	files := []LayerFile{{Path: "usr"}, {Path: "usr/lib/a", Size: 1}, {Path: "usr/libexec/b"}, {Path: "usr/lib/sub/c", Size: 2}}
	got := FilesUnder(files, "usr/lib")
	want := []LayerFile{{Path: "a", Size: 1}, {Path: "sub/c", Size: 2}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("FilesUnder(usr/lib) = %+v, want %+v", got, want)
	}
}

// BenchmarkFileTree: a site-packages of 50,000 files laid out for a screen.
func BenchmarkFileTree(b *testing.B) {
	var files []LayerFile
	for i := range 50000 {
		files = append(files, LayerFile{Path: "usr/lib/python3.11/site-packages/pkg" + itoa(int64(i%500)) + "/mod" + itoa(int64(i)) + ".py", Size: int64(i)})
	}
	for b.Loop() {
		FileTree(files, 200)
	}
}
