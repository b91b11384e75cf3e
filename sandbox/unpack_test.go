//go:build unix

package sandbox

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

const (
	mtTar  = "application/vnd.oci.image.layer.v1.tar"
	mtGzip = "application/vnd.oci.image.layer.v1.tar+gzip"
	mtZstd = "application/vnd.oci.image.layer.v1.tar+zstd"
)

// ent is one tar entry of a test layer. Names ending in / are directories; typ overrides.
type ent struct {
	name  string
	typ   byte
	mode  int64
	body  string
	link  string
	uid   int
	mtime time.Time
}

func file(name, body string, mode int64) ent {
	return ent{name: name, typ: tar.TypeReg, body: body, mode: mode}
}
func dir(name string, mode int64) ent { return ent{name: name, typ: tar.TypeDir, mode: mode} }
func symlink(name, target string) ent {
	return ent{name: name, typ: tar.TypeSymlink, link: target, mode: 0o777}
}
func hardlink(name, target string) ent {
	return ent{name: name, typ: tar.TypeLink, link: target, mode: 0o644}
}

var testTime = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

// layer builds a layer in memory, compressed as mediaType says.
func layer(t *testing.T, mediaType string, ents ...ent) Layer {
	t.Helper()
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	for _, e := range ents {
		mt := e.mtime
		if mt.IsZero() {
			mt = testTime
		}
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: e.mode, Linkname: e.link, Size: int64(len(e.body)),
			Uid: e.uid, Gid: e.uid, ModTime: mt, Format: tar.FormatPAX}
		if e.typ != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatalf("tar header %s: %v", e.name, err)
		}
		if h.Size > 0 {
			if _, err := io.WriteString(tw, e.body); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	var blob bytes.Buffer
	switch {
	case strings.HasSuffix(mediaType, "gzip"):
		zw := gzip.NewWriter(&blob)
		zw.Write(raw.Bytes())
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
	case strings.HasSuffix(mediaType, "zstd"):
		zw, err := zstd.NewWriter(&blob)
		if err != nil {
			t.Fatal(err)
		}
		zw.Write(raw.Bytes())
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
	default:
		blob = raw
	}
	b := blob.Bytes()
	return Layer{MediaType: mediaType, Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }}
}

// tree describes every path under dir: "d 0755", "f 0644 BODY" or "l -> TARGET".
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	got := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == dir {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			got[rel] = "l -> " + target
		case fi.IsDir():
			got[rel] = "d " + octal(fi.Mode())
		case fi.Mode().IsRegular():
			body, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			got[rel] = "f " + octal(fi.Mode()) + " " + string(body)
		default:
			got[rel] = "? " + fi.Mode().String()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func octal(m fs.FileMode) string {
	o := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		o |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		o |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		o |= 0o1000
	}
	return fmt.Sprintf("%04o", o)
}

// mountpoints are what Unpack adds to an image without them.
var mountpoints = map[string]string{"proc": "d 0555", "dev": "d 0755", "tmp": "d 1777"}

func TestUnpack(t *testing.T) {
	tests := []struct {
		name   string
		layers func(t *testing.T) []Layer
		want   map[string]string
	}{
		{
			name: "files, dirs, modes and symlinks (gzip)",
			layers: func(t *testing.T) []Layer {
				return []Layer{layer(t, mtGzip,
					dir("etc/", 0o755), file("etc/hosts", "127.0.0.1 localhost", 0o644),
					file("usr/bin/tool", "#!/bin/sh", 0o755), // parents made implicitly
					file("usr/bin/su", "su", 0o4755),
					dir("root/", 0o700), file("root/key", "k", 0o600),
					dir("ro/", 0o555), file("ro/f", "read only", 0o444), // written into before its mode applies
					symlink("lib", "usr/lib"), symlink("etc/alt", "/usr/bin/tool"),
					dir("tmp/", 0o1777),
				)}
			},
			want: map[string]string{
				"etc": "d 0755", "etc/hosts": "f 0644 127.0.0.1 localhost", "etc/alt": "l -> /usr/bin/tool",
				"usr": "d 0755", "usr/bin": "d 0755", "usr/bin/tool": "f 0755 #!/bin/sh", "usr/bin/su": "f 4755 su",
				"root": "d 0700", "root/key": "f 0600 k", "ro": "d 0555", "ro/f": "f 0444 read only",
				"lib": "l -> usr/lib", "tmp": "d 1777",
			},
		},
		{
			name: "whiteout of a file and of a directory (zstd)",
			layers: func(t *testing.T) []Layer {
				return []Layer{
					layer(t, mtZstd, file("d/a", "a", 0o644), file("d/b", "b", 0o644), file("d/sub/x", "x", 0o644)),
					layer(t, mtZstd, file("d/.wh.a", "", 0o644), file("d/.wh.sub", "", 0o644), file("d/.wh.never-was", "", 0o644)),
				}
			},
			want: map[string]string{"d": "d 0755", "d/b": "f 0644 b"},
		},
		{
			name: "opaque directory before and after the layer's own entries",
			layers: func(t *testing.T) []Layer {
				return []Layer{
					layer(t, mtTar, file("d/a", "a", 0o644), file("d/sub/x", "x", 0o644), file("e/old", "o", 0o644), file("keep", "k", 0o644)),
					layer(t, mtTar, dir("d/", 0o750), file("d/.wh..wh..opq", "", 0o644), file("d/new", "n", 0o644),
						file("e/new", "n", 0o644), file("e/sub/y", "y", 0o644), file("e/.wh..wh..opq", "", 0o644)),
				}
			},
			want: map[string]string{"d": "d 0750", "d/new": "f 0644 n", "e": "d 0755", "e/new": "f 0644 n", "e/sub": "d 0755", "e/sub/y": "f 0644 y", "keep": "f 0644 k"},
		},
		{
			name: "a later layer replaces a directory with a file and a file with a directory",
			layers: func(t *testing.T) []Layer {
				return []Layer{
					layer(t, mtGzip, file("x/y", "y", 0o644), file("f", "file", 0o644), symlink("s", "x"), dir("m/", 0o700)),
					layer(t, mtGzip, file("x", "now a file", 0o600), dir("f/", 0o711), file("f/z", "z", 0o644), dir("s/", 0o755), dir("m/", 0o755)),
				}
			},
			want: map[string]string{"x": "f 0600 now a file", "f": "d 0711", "f/z": "f 0644 z", "s": "d 0755", "m": "d 0755"},
		},
		{
			name: "device nodes and FIFOs are skipped, with hard links to them",
			layers: func(t *testing.T) []Layer {
				return []Layer{layer(t, mtTar,
					dir("dev/", 0o755), ent{name: "dev/null", typ: tar.TypeChar, mode: 0o666}, ent{name: "dev/sda", typ: tar.TypeBlock, mode: 0o660},
					ent{name: "fifo", typ: tar.TypeFifo, mode: 0o644}, hardlink("fifo2", "fifo"), file("ok", "ok", 0o644))}
			},
			want: map[string]string{"dev": "d 0755", "ok": "f 0644 ok"},
		},
		{
			name: "an absolute symlink is followed from the image's root",
			layers: func(t *testing.T) []Layer {
				return []Layer{
					layer(t, mtTar, dir("real/", 0o755), symlink("abs", "/real"), symlink("real/up", "../real")),
					layer(t, mtTar, file("abs/f", "through abs", 0o644), file("real/up/g", "through up", 0o644)),
				}
			},
			want: map[string]string{"real": "d 0755", "abs": "l -> /real", "real/up": "l -> ../real", "real/f": "f 0644 through abs", "real/g": "f 0644 through up"},
		},
		{
			name: "media type sniffed when empty, ./ prefixes",
			layers: func(t *testing.T) []Layer {
				l := layer(t, mtZstd, dir("./", 0o755), file("./a", "a", 0o644))
				l.MediaType = ""
				g := layer(t, mtGzip, file("./b", "b", 0o644))
				g.MediaType = ""
				return []Layer{l, g, layer(t, "application/vnd.docker.image.rootfs.diff.tar.gzip", file("c", "c", 0o644))}
			},
			want: map[string]string{"a": "f 0644 a", "b": "f 0644 b", "c": "f 0644 c"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "root")
			if err := Unpack(context.Background(), dir, tt.layers(t)); err != nil {
				t.Fatal(err)
			}
			want := maps.Clone(tt.want)
			for k, v := range mountpoints {
				if _, ok := want[k]; !ok {
					want[k] = v
				}
			}
			if os.Geteuid() != 0 {
				// Without root, directories stay writable and searchable by the caller.
				for k, v := range want {
					if mode, ok := strings.CutPrefix(v, "d "); ok {
						var m uint32
						fmt.Sscanf(mode, "%o", &m)
						want[k] = fmt.Sprintf("d %04o", m|0o300)
					}
				}
			}
			got := tree(t, dir)
			if !maps.Equal(got, want) {
				for _, k := range slices.Sorted(maps.Keys(got)) {
					if got[k] != want[k] {
						t.Errorf("%s: got %q, want %q", k, got[k], want[k])
					}
				}
				for _, k := range slices.Sorted(maps.Keys(want)) {
					if _, ok := got[k]; !ok {
						t.Errorf("%s: missing, want %q", k, want[k])
					}
				}
			}
			if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
				t.Errorf("the root's mode: %v %v, want 0700", fi.Mode(), err)
			}
		})
	}
}

func TestUnpackHardLinksTimesOwners(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "root")
	old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	owned := file("owned", "o", 0o640)
	owned.uid = 1234
	layers := []Layer{
		layer(t, mtZstd, ent{name: "bin/", typ: tar.TypeDir, mode: 0o755, mtime: old},
			ent{name: "bin/python3.11", typ: tar.TypeReg, mode: 0o755, body: "elf", mtime: old},
			hardlink("bin/python3", "bin/python3.11"), file("replaced", "old", 0o644), hardlink("peer", "replaced"), owned),
		// Replacing a hard-linked file must not change its peer, as in the lower layer.
		layer(t, mtZstd, file("replaced", "new", 0o644)),
	}
	if err := Unpack(context.Background(), dir, layers); err != nil {
		t.Fatal(err)
	}
	a, err1 := os.Stat(filepath.Join(dir, "bin/python3.11"))
	b, err2 := os.Stat(filepath.Join(dir, "bin/python3"))
	if err1 != nil || err2 != nil || !os.SameFile(a, b) {
		t.Fatalf("bin/python3 is not a hard link of bin/python3.11: %v %v", err1, err2)
	}
	if !a.ModTime().Equal(old) {
		t.Errorf("file mtime %v, want %v", a.ModTime(), old)
	}
	if d, err := os.Stat(filepath.Join(dir, "bin")); err != nil || !d.ModTime().Equal(old) {
		t.Errorf("dir mtime %v (%v), want %v", d.ModTime(), err, old)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "peer")); string(got) != "old" {
		t.Errorf("peer of a replaced file reads %q, want old", got)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "replaced")); string(got) != "new" {
		t.Errorf("replaced reads %q, want new", got)
	}
	if os.Geteuid() == 0 {
		uid, gid := owner(t, filepath.Join(dir, "owned"))
		if uid != 1234 || gid != 1234 {
			t.Errorf("owner %d:%d, want 1234:1234 (kept as root)", uid, gid)
		}
	}
}

// TestUnpackHostile: entries that would write outside the directory are refused with an
// error naming them, nothing lands outside, and the partial tree is removed.
func TestUnpackHostile(t *testing.T) {
	tests := []struct {
		name  string
		ents  []ent
		entry string // the entry the error must name
	}{
		{"dot-dot name", []ent{file("../evil", "x", 0o644)}, "../evil"},
		{"dot-dot inside a name", []ent{file("a/../../evil", "x", 0o644)}, "a/../../evil"},
		{"absolute name", []ent{file("/abs", "x", 0o644)}, "/abs"},
		{"write through a relative symlink out", []ent{symlink("esc", "../outside"), file("esc/pwned", "x", 0o644)}, "esc/pwned"},
		{"write through a deep symlink out", []ent{dir("a/b/", 0o755), symlink("a/b/esc", "../../../../../../../../outside"), file("a/b/esc/pwned", "x", 0o644)}, "a/b/esc/pwned"},
		{"write through a chain of symlinks out", []ent{symlink("one", "two"), symlink("two", ".."), file("one/outside/pwned", "x", 0o644)}, "one/outside/pwned"},
		{"hard link to a file outside", []ent{hardlink("hl", "../outside/secret")}, "hl"},
		{"hard link through a symlink outside", []ent{symlink("esc", ".."), hardlink("hl", "esc/outside/secret")}, "hl"},
		{"absolute hard link", []ent{hardlink("hl", "/etc/passwd")}, "hl"},
		{"whiteout outside", []ent{file("../.wh.outside", "", 0o644)}, "../.wh.outside"},
		{"whiteout through a symlink", []ent{symlink("esc", ".."), file("esc/.wh.outside", "", 0o644)}, "esc/.wh.outside"},
		{"opaque marker through a symlink", []ent{symlink("esc", "../outside"), file("esc/.wh..wh..opq", "", 0o644)}, "esc/.wh..wh..opq"},
		{"symlink loop", []ent{symlink("a", "b"), symlink("b", "a"), file("a/f", "x", 0o644)}, "a/f"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := t.TempDir()
			outside := filepath.Join(base, "outside")
			if err := os.Mkdir(outside, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("s"), 0o600); err != nil {
				t.Fatal(err)
			}
			ents := append([]ent{file("first", "1", 0o644)}, tt.ents...)
			err := Unpack(context.Background(), filepath.Join(base, "root"), []Layer{layer(t, mtTar, ents...)})
			if err == nil {
				t.Fatal("unpacked, want an error")
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("entry %q", tt.entry)) {
				t.Errorf("error %q doesn't name entry %q", err, tt.entry)
			}
			t.Log(err)
			want := map[string]string{"outside": "d 0755", "outside/secret": "f 0600 s"}
			if got := tree(t, base); !maps.Equal(got, want) {
				t.Errorf("after the refusal %s holds %v, want only %v", base, got, want)
			}
			if fi, err := os.Stat(filepath.Join(outside, "secret")); err == nil {
				if n := nlink(fi); n != 1 {
					t.Errorf("outside/secret has %d links, want 1", n)
				}
			}
		})
	}
}

// An absolute symlink to a host path means that path inside the image: it is followed
// there and never on the host.
func TestUnpackAbsoluteSymlinkStaysInside(t *testing.T) {
	base := t.TempDir()
	outside := filepath.Join(base, "outside")
	os.Mkdir(outside, 0o755)
	dir := filepath.Join(base, "root")
	err := Unpack(context.Background(), dir, []Layer{layer(t, mtTar, symlink("abs", outside), file("abs/pwned", "x", 0o644))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(outside, "pwned")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a file was written outside: %v", err)
	}
	if got, err := os.ReadFile(filepath.Join(dir, outside, "pwned")); err != nil || string(got) != "x" {
		t.Errorf("the file didn't land inside at %s: %q %v", filepath.Join(dir, outside, "pwned"), got, err)
	}
}

func TestUnpackErrors(t *testing.T) {
	ctx := context.Background()
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	tests := []struct {
		name   string
		ctx    context.Context
		layers func(t *testing.T) []Layer
		exists bool
		want   string
	}{
		{"unknown media type", ctx, func(t *testing.T) []Layer {
			l := layer(t, mtTar, file("a", "a", 0o644))
			l.MediaType = "application/vnd.oci.image.layer.v1.tar+encrypted"
			return []Layer{l}
		}, false, "is not a tar"},
		{"gzip that isn't", ctx, func(t *testing.T) []Layer {
			l := layer(t, mtTar, file("a", "a", 0o644))
			l.MediaType = mtGzip
			return []Layer{l}
		}, false, "layer 1 of 1"},
		{"truncated tar", ctx, func(t *testing.T) []Layer {
			l := layer(t, mtTar, file("a", strings.Repeat("a", 5000), 0o644))
			full := l.Open
			l.Open = func() (io.ReadCloser, error) {
				rc, _ := full()
				b, _ := io.ReadAll(rc)
				return io.NopCloser(bytes.NewReader(b[:1000])), nil
			}
			return []Layer{layer(t, mtTar, file("ok", "", 0o644)), l}
		}, false, "layer 2 of 2"},
		{"open fails", ctx, func(t *testing.T) []Layer {
			return []Layer{{MediaType: mtTar, Open: func() (io.ReadCloser, error) { return nil, errors.New("blob gone") }}}
		}, false, "blob gone"},
		{"no Open", ctx, func(t *testing.T) []Layer { return []Layer{{MediaType: mtTar}} }, false, "no Open"},
		{"hard link to a missing file", ctx, func(t *testing.T) []Layer { return []Layer{layer(t, mtTar, hardlink("a", "b"))} }, false, `entry "a"`},
		{"canceled", canceled, func(t *testing.T) []Layer { return []Layer{layer(t, mtTar, file("a", "a", 0o644))} }, false, context.Canceled.Error()},
		{"directory exists", ctx, func(t *testing.T) []Layer { return nil }, true, "exists"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "root")
			if tt.exists {
				os.Mkdir(dir, 0o755)
			}
			err := Unpack(tt.ctx, dir, tt.layers(t))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one saying %q", err, tt.want)
			}
			if _, serr := os.Stat(dir); !tt.exists && !errors.Is(serr, fs.ErrNotExist) {
				t.Errorf("the partial tree is still there: %v", serr)
			}
		})
	}
}
