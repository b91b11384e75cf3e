package build

import (
	"archive/zip"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoadConfigFile: arbitrary pycontainer.toml bytes load, or fail with an error that
// names the file; never a panic.
func FuzzLoadConfigFile(f *testing.F) {
	for _, s := range []string{
		"[build]\nbase_image = \"python:3.11-slim\"\nplatform = \"linux/amd64\"\ninclude_deps = true\n[build.env]\nA = \"1\"\n[registry]\nurl = \"ghcr.io/x/y\"\n",
		"[build]\nplatform = [\"linux/amd64\", 3]\n", "[build\n", "[build]\nports = [8000, \"53/udp\"]\nentrypoint = \"python -m app\"\n", "",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "pycontainer.toml")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		_, _, err := LoadConfigFile(path)
		var ce *ConfigError
		if err != nil && !errors.As(err, &ce) && !strings.Contains(err.Error(), "pycontainer.toml") {
			t.Fatalf("error does not name the file: %v", err)
		}
	})
}

// FuzzLoadProject: arbitrary pyproject.toml bytes load or fail; never a panic.
func FuzzLoadProject(f *testing.F) {
	f.Add([]byte("[project]\nname = \"x\"\nrequires-python = \">=3.11\"\n[project.scripts]\ndemo = \"app:main\"\n[tool.pycontainer]\nplatform = \"linux/arm64\"\n"))
	f.Add([]byte("[tool.pycontainer.build]\nbase_image = 1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "pyproject.toml"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		p, _, _, err := LoadProject(dir)
		if err == nil {
			_ = DefaultPythonBase(p.RequiresPython)
		}
	})
}

// FuzzIgnorePatterns: any .dockerignore selects files or fails with an error; never a
// panic, and nothing selected lies outside the context.
func FuzzIgnorePatterns(f *testing.F) {
	for _, s := range []string{"*.md\n!KEEP.md\n", "**\n!app.py\n", "[\n", "../\n", "!\n", "docs/\n#c\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ignore string) {
		dir := t.TempDir()
		for name, body := range map[string]string{".dockerignore": ignore, "app.py": "x", "docs/a.md": "y", "KEEP.md": "z", "pkg/m.py": ""} {
			p := filepath.Join(dir, name)
			os.MkdirAll(filepath.Dir(p), 0o755)
			os.WriteFile(p, []byte(body), 0o644)
		}
		sel, err := SelectFiles(dir)
		if err != nil {
			return
		}
		for _, file := range sel.Files {
			if strings.HasPrefix(file.Rel, "..") || filepath.IsAbs(file.Rel) {
				t.Fatalf("selected %q outside the context", file.Rel)
			}
		}
	})
}

// FuzzWheelEntries: any wheel (zip) bytes install or are refused; never a panic, never
// an entry outside the dependency prefix.
func FuzzWheelEntries(f *testing.F) {
	var seed bytes.Buffer
	zw := zip.NewWriter(&seed)
	for name, body := range map[string]string{"pkg/__init__.py": "", "pkg-1.data/scripts/t": "#!python\n", "pkg-1.dist-info/entry_points.txt": "[console_scripts]\na = pkg:main\n"} {
		w, _ := zw.Create(name)
		w.Write([]byte(body))
	}
	zw.Close()
	f.Add(seed.Bytes())
	f.Add([]byte("PK\x03\x04 not really"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "pkg-1-py3-none-any.whl")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		entries, closers, err := wheelEntries([]wheel{{Path: p, Name: "pkg", Version: "1", Pure: true}})
		for _, c := range closers {
			c.Close()
		}
		if err != nil {
			return
		}
		root := strings.TrimPrefix(DepsRoot, "/")
		dirs := map[string]bool{}
		for _, e := range entries {
			if e.Dir {
				dirs[e.Name] = true
			}
		}
		for _, e := range entries {
			parent := strings.HasPrefix(root+"/", e.Name+"/") // opt, opt/pycontainer
			if !parent && !strings.HasPrefix(e.Name, root+"/") {
				t.Fatalf("wheel entry installs at %q, outside %s", e.Name, DepsRoot)
			}
			for _, part := range strings.Split(e.Name, "/") {
				if part == "" || part == "." || part == ".." {
					t.Fatalf("wheel entry %q has a %q component", e.Name, part)
				}
			}
			if hasControl(e.Name) {
				t.Fatalf("wheel entry %q holds a control character", e.Name)
			}
			if !e.Dir && dirs[e.Name] {
				t.Fatalf("wheel entry %q is both a file and a directory", e.Name)
			}
		}
	})
}
