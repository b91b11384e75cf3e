package oci

import (
	"archive/tar"
	"bytes"
	"context"
	"io/fs"
	"testing"

	"github.com/regclient/regclient/types/mediatype"
)

// FuzzLayerFiles: an arbitrary tar, plain, gzip- or zstd-compressed, or arbitrary bytes
// claiming to be gzip or zstd, is listed or rejected, never a panic or a hang; what is
// listed stays within the limit, every path stays inside the root, and its tree fits
// the lines it is given.
func FuzzLayerFiles(f *testing.F) {
	seed := tarOf(f,
		&tar.Header{Name: "./app/", Typeflag: tar.TypeDir}, &tar.Header{Name: "app/main.py", Size: 3},
		&tar.Header{Name: "../../etc/.wh.passwd"}, &tar.Header{Name: "var/.wh..wh..opq"},
		&tar.Header{Name: "bin/sh", Typeflag: tar.TypeSymlink, Linkname: "/bin/busybox"},
		&tar.Header{Name: "bin/ls", Typeflag: tar.TypeLink, Linkname: "../bin/sh"})
	for kind := range uint8(5) {
		f.Add(seed, kind, int16(0))
		f.Add(seed, kind, int16(2))
	}
	f.Add([]byte{0x1f, 0x8b, 8, 0}, uint8(3), int16(0))
	f.Add([]byte{0x28, 0xb5, 0x2f, 0xfd}, uint8(4), int16(0))
	f.Fuzz(func(t *testing.T, data []byte, kind uint8, limit int16) {
		mt := []string{mediatype.OCI1Layer, mediatype.OCI1LayerGzip, mediatype.OCI1LayerZstd, mediatype.OCI1LayerGzip, mediatype.OCI1LayerZstd}[kind%5]
		if kind%5 < 3 {
			data = compressed(t, mt, data)
		}
		files, truncated, err := readLayerFiles(context.Background(), bytes.NewReader(data), mt, int(limit), 1<<20)
		if limit > 0 && len(files) > int(limit) {
			t.Fatalf("%d files listed, limit %d", len(files), limit)
		}
		if err == nil && truncated && (limit <= 0 || len(files) != int(limit)) {
			t.Fatalf("truncated at %d files with limit %d and no error", len(files), limit)
		}
		for _, lf := range files {
			if !fs.ValidPath(lf.Path) || lf.Path == "." {
				t.Fatalf("path %q is not a clean path inside the root", lf.Path)
			}
		}
		for _, lines := range []int{0, 1, 7} {
			tree := FileTree(files, lines)
			if lines > 0 && len(tree) > lines {
				t.Fatalf("%d lines for a budget of %d", len(tree), lines)
			}
		}
	})
}
