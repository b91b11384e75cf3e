package build

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func selectedNames(t *testing.T, dir string, ignore ...string) []string {
	t.Helper()
	sel, err := SelectFiles(dir, ignore...)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range sel.Files {
		names = append(names, f.Rel)
	}
	return names
}

func TestSelectFiles(t *testing.T) {
	tests := []struct {
		name   string
		files  map[string]string
		ignore []string
		want   []string
	}{
		{
			name: "builtin excludes",
			files: map[string]string{
				"app.py": "", "pkg/__init__.py": "", "pkg/__pycache__/x.pyc": "", "pkg/mod.pyc": "",
				".git/config": "", ".env": "SECRET=1", "dist/image/index.json": "", "build/lib/x.py": "",
				"demo.egg-info/PKG-INFO": "", "README.md": "",
			},
			want: []string{"README.md", "app.py", "pkg", "pkg/__init__.py"},
		},
		{
			name: "dockerignore with exception",
			files: map[string]string{
				".dockerignore": "docs/\n*.md\n!KEEP.md\n", "app.py": "", "docs/a.txt": "", "README.md": "", "KEEP.md": "",
			},
			want: []string{"KEEP.md", "app.py"},
		},
		{
			name:  "dockerignore can re-include a builtin",
			files: map[string]string{".dockerignore": "!build\n", "app.py": "", "build/x.py": ""},
			want:  []string{"app.py", "build", "build/x.py"},
		},
		{
			name:  "containerignore wins over dockerignore",
			files: map[string]string{".containerignore": "a.py\n", ".dockerignore": "b.py\n", "a.py": "", "b.py": ""},
			want:  []string{"b.py"},
		},
		{
			name:   "output dir inside context",
			files:  map[string]string{"app.py": "", "out/img/index.json": ""},
			ignore: []string{"out/img"},
			want:   []string{"app.py", "out"},
		},
		{
			name:  "virtualenv of any name",
			files: map[string]string{"app.py": "", "myenv/pyvenv.cfg": "home = /opt/homebrew/bin", "myenv/bin/python": ""},
			want:  []string{"app.py"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, tt.files)
			var ignore []string
			for _, i := range tt.ignore {
				ignore = append(ignore, filepath.Join(dir, i))
			}
			got := selectedNames(t, dir, ignore...)
			if !slices.Equal(got, tt.want) {
				t.Errorf("selected %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSelectFilesSymlinksAndSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"app.py": "print(1)"})
	if err := os.Symlink("/etc/passwd", filepath.Join(dir, "outside")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("app.py", filepath.Join(dir, "link.py")); err != nil {
		t.Fatal(err)
	}
	sel, err := SelectFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	links := map[string]string{}
	for _, f := range sel.Files {
		links[f.Rel] = f.Link
	}
	if links["outside"] != "/etc/passwd" || links["link.py"] != "app.py" {
		t.Errorf("symlinks must be stored as links, not followed: %v", links)
	}
}

func layerBytes(t *testing.T, dir string, mtime *time.Time) []byte {
	t.Helper()
	sel, err := SelectFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := writeLayer(&buf, appEntries(sel, "/app"), mtime); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestAppLayerReproducible(t *testing.T) {
	files := map[string]string{"app.py": "print('hi')\n", "pkg/__init__.py": "", "pkg/util.py": "X = 1\n"}
	a, b := t.TempDir(), t.TempDir()
	writeFiles(t, a, files)
	writeFiles(t, b, files)
	// Different mtimes in the second copy must not change the bytes.
	old := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := os.Chtimes(filepath.Join(b, "app.py"), old, old); err != nil {
		t.Fatal(err)
	}
	epoch := time.Unix(0, 0).UTC()
	if !bytes.Equal(layerBytes(t, a, &epoch), layerBytes(t, b, &epoch)) {
		t.Fatal("the same files in two directories with different mtimes gave different layers")
	}
	if bytes.Equal(layerBytes(t, a, &epoch), layerBytes(t, a, nil)) {
		t.Fatal("a non-reproducible layer should carry real mtimes")
	}

	zr, err := gzip.NewReader(bytes.NewReader(layerBytes(t, a, &epoch)))
	if err != nil {
		t.Fatal(err)
	}
	if zr.Header.Name != "" || !zr.Header.ModTime.IsZero() {
		t.Errorf("gzip header carries name %q or time %v", zr.Header.Name, zr.Header.ModTime)
	}
	tr := tar.NewReader(zr)
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" || !h.ModTime.Equal(epoch) {
			t.Errorf("%s: uid=%d gid=%d uname=%q gname=%q mtime=%v", h.Name, h.Uid, h.Gid, h.Uname, h.Gname, h.ModTime)
		}
		names = append(names, h.Name)
	}
	want := []string{"app/", "app/app.py", "app/pkg/", "app/pkg/__init__.py", "app/pkg/util.py"}
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Errorf("layer entries %q, want %q", names, want)
	}
}

func TestAppLayerKeepsModes(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"run.sh": "#!/bin/sh\n"})
	if err := os.Chmod(filepath.Join(dir, "run.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	epoch := time.Unix(0, 0)
	zr, err := gzip.NewReader(bytes.NewReader(layerBytes(t, dir, &epoch)))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		if h.Name == "app/run.sh" && h.Mode != 0o755 {
			t.Errorf("run.sh mode %o, want 755", h.Mode)
		}
	}
}

func TestLargeLayerParallelCompressionIsReproducible(t *testing.T) {
	dir := t.TempDir()
	big := bytes.Repeat([]byte("import os\nprint(os.getcwd())\n"), (parallelFrom/28)+1000)
	writeFiles(t, dir, map[string]string{"big.py": string(big), "app.py": "print(1)\n"})
	epoch := time.Unix(0, 0).UTC()
	a, b := layerBytes(t, dir, &epoch), layerBytes(t, dir, &epoch)
	if !bytes.Equal(a, b) {
		t.Fatal("two parallel-compressed layers of the same files differ")
	}
	zr, err := gzip.NewReader(bytes.NewReader(a))
	if err != nil {
		t.Fatal(err)
	}
	if zr.Header.Name != "" || !zr.Header.ModTime.IsZero() {
		t.Errorf("gzip header carries name %q or time %v", zr.Header.Name, zr.Header.ModTime)
	}
	n, err := io.Copy(io.Discard, zr)
	if err != nil || n < int64(len(big)) {
		t.Errorf("layer decompresses to %d bytes (%v)", n, err)
	}
}
