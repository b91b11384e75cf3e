package build

import (
	"archive/zip"
	"bytes"
	"errors"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/moby/patternmatcher"
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

// fuzzNames are the path elements FuzzSecretSelection builds projects from: secrets
// and their neighbours, built-in excludes, and names an output may take.
var fuzzNames = []string{
	"src", "a", "b", "app.py", "outline.py", "out", "dist", "build", "__pycache__", "m.pyc", "README.md",
	".git", "config", "HEAD", ".env", ".env.prod", ".envrc", ".ssh", "id_rsa", "id_rsa.pub", "id_ed25519",
	".kube", ".config", "gh", "hosts.yml", ".docker", "config.json", ".aws", "credentials",
	".git-credentials", ".netrc", ".npmrc", "server.pem", "tls.key", "k.ppk", "keys.py",
}

// fuzzTokens are the elements of generated ignore lines: every name, and globs.
var fuzzTokens = append(slices.Clone(fuzzNames),
	"*", "**", "?", "*.pem", "*.key", ".env*", ".*", "*.py", "s*", "id_*", "[.]env", "c?nfig", `\.env`, "*.json", ".?it")

// decodeTree reads paths from bytes: each byte is an element (low 7 bits), the high bit
// ends the path; at most 5 elements a path.
func decodeTree(b []byte) []string {
	var paths, cur []string
	for _, x := range b[:min(len(b), 96)] {
		cur = append(cur, fuzzNames[int(x&0x7f)%len(fuzzNames)])
		if x&0x80 != 0 || len(cur) == 5 {
			paths, cur = append(paths, strings.Join(cur, "/")), nil
		}
	}
	if len(cur) > 0 {
		paths = append(paths, strings.Join(cur, "/"))
	}
	return paths
}

// decodeIgnore reads ignore lines from bytes: each byte is a token (low 6 bits), 0x40 on
// a line's first byte makes it a "!" line, the high bit ends the line; at most 4 tokens.
func decodeIgnore(b []byte) []string {
	var lines, cur []string
	neg := false
	flush := func() {
		line := strings.Join(cur, "/")
		if neg {
			line = "!" + line
		}
		lines, cur = append(lines, line), nil
	}
	for _, x := range b[:min(len(b), 64)] {
		if len(cur) == 0 {
			neg = x&0x40 != 0
		}
		cur = append(cur, fuzzTokens[int(x&0x3f)%len(fuzzTokens)])
		if x&0x80 != 0 || len(cur) == 4 {
			flush()
		}
	}
	if len(cur) > 0 {
		flush()
	}
	return lines
}

// encodeTree and encodeIgnore are their inverses, for readable seeds.
func encodeTree(paths ...string) []byte {
	var b []byte
	for _, p := range paths {
		parts := strings.Split(p, "/")
		for i, part := range parts {
			x := byte(mustIndex(fuzzNames, part))
			if i == len(parts)-1 {
				x |= 0x80
			}
			b = append(b, x)
		}
	}
	return b
}

func encodeIgnore(lines ...string) []byte {
	var b []byte
	for _, line := range lines {
		pattern, neg := strings.CutPrefix(line, "!")
		parts := strings.Split(pattern, "/")
		for i, part := range parts {
			x := byte(mustIndex(fuzzTokens, part))
			if i == 0 && neg {
				x |= 0x40
			}
			if i == len(parts)-1 {
				x |= 0x80
			}
			b = append(b, x)
		}
	}
	return b
}

func mustIndex(list []string, s string) int {
	i := slices.Index(list, s)
	if i < 0 {
		panic(s + " is not in the fuzz vocabulary")
	}
	return i
}

// oracleSecretAt is where the outermost secret on a path ends (an index into its
// elements), or -1; written from the list of secrets, not from secretPatterns.
func oracleSecretAt(elems []string) int {
	names := []string{".git", ".env", ".ssh", "id_rsa", "id_dsa", "id_ecdsa", "id_ed25519", "id_ecdsa_sk", "id_ed25519_sk",
		".npmrc", ".pypirc", ".netrc", ".git-credentials", ".aws"}
	for i, e := range elems {
		under := func(parents ...string) bool {
			return i >= len(parents) && slices.Equal(elems[i-len(parents):i], parents)
		}
		switch {
		case slices.Contains(names, e), strings.HasPrefix(e, ".env."),
			strings.HasSuffix(e, ".pem"), strings.HasSuffix(e, ".key"), strings.HasSuffix(e, ".ppk"),
			e == "config.json" && under(".docker"), e == "config" && under(".kube"), e == "hosts.yml" && under(".config", "gh"):
			return i
		}
	}
	return -1
}

// oracleMatches reports whether an ignore pattern matches exactly the path of elems, as
// .dockerignore documents it: each element a path.Match glob, "**" any number of
// elements (at least one at the end of a longer pattern, as moby matches it).
func oracleMatches(pattern string, elems []string) bool {
	pat := strings.Split(pattern, "/")
	if pattern == "**" {
		return true
	}
	var match func(p, e []string) bool
	match = func(p, e []string) bool {
		if len(p) == 0 {
			return len(e) == 0
		}
		if p[0] == "**" {
			least := 0
			if len(p) == 1 {
				least = 1
			}
			for k := least; k <= len(e); k++ {
				if match(p[1:], e[k:]) {
					return true
				}
			}
			return false
		}
		if len(e) == 0 {
			return false
		}
		ok, err := path.Match(p[0], e[0])
		return err == nil && ok && match(p[1:], e[1:])
	}
	return match(pat, elems)
}

// FuzzSecretSelection generates projects (secrets at any depth among ordinary files)
// with ignore files and an output directory, and checks SelectFiles differentially:
// against moby/patternmatcher's answer for every path that holds no secret, and
// against the secret rule for every path that does: a secret goes in only when moby
// lets it in and a "!" line matches its own path or a path inside it (the outermost
// secret on its path, a .ssh folder for .ssh/id_rsa), and the build names it then. A
// "!" line that is the secret's path, exactly, always brings it back. Nothing under the
// output goes in.
func FuzzSecretSelection(f *testing.F) {
	project := encodeTree("app.py", "src/app.py", "src/.env", "src/.ssh/id_rsa", "src/.netrc", "src/.git/config",
		"a/.git/config", "a/b/build/.kube/config", "outline.py", "out/HEAD", "b/server.pem", ".config/gh/hosts.yml")
	for _, seed := range []struct {
		ignore []string
		out    byte
	}{
		{[]string{"!src"}, 0},
		{[]string{"*", "!src"}, 0},
		{[]string{"*", "!src", "!src/.env"}, 0},
		{[]string{"!**/.env", "!**/config"}, 0},
		{[]string{"!.ssh", "!src/*", "!**"}, 0},
		{[]string{"*.py", "!outline.py", "!src/.git/config"}, 3},
		{nil, 5},
	} {
		f.Add(project, encodeIgnore(seed.ignore...), seed.out)
	}
	f.Fuzz(func(t *testing.T, tree, ignore []byte, out byte) {
		paths := decodeTree(tree)
		dir := t.TempDir()
		dirs := map[string]bool{}
		for _, p := range paths {
			for d := path.Dir(p); d != "."; d = path.Dir(d) {
				dirs[d] = true
			}
		}
		for d := range dirs {
			if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		for _, p := range paths {
			if !dirs[p] {
				if err := os.WriteFile(filepath.Join(dir, p), []byte("secret?"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := os.WriteFile(filepath.Join(dir, ".dockerignore"), []byte(strings.Join(decodeIgnore(ignore), "\n")), 0o644); err != nil {
			t.Fatal(err)
		}
		outDirs := slices.Sorted(maps.Keys(dirs))
		var outputs []string
		output := ""
		if i := int(out); i < len(outDirs) {
			output = outDirs[i]
			outputs = []string{filepath.Join(dir, output)}
		}

		user, err := readIgnoreFile(filepath.Join(dir, ".dockerignore"))
		if err != nil {
			t.Fatal(err)
		}
		moby, mobyErr := patternmatcher.New(append(append(slices.Clone(builtinExcludes), secretPatterns...), user...))
		sel, err := SelectFiles(dir, outputs...)
		if mobyErr != nil || err != nil {
			if (mobyErr == nil) != (err == nil) {
				t.Fatalf("moby says %v, SelectFiles %v", mobyErr, err)
			}
			return
		}
		selected := map[string]bool{}
		for _, f := range sel.Files {
			selected[f.Rel] = true
		}
		said := map[string]bool{} // what the build says went in on request
		for _, n := range sel.Included {
			said[n.Path] = true
		}
		for name := range said {
			if !selected[name] {
				t.Errorf("the build says %s went in on request; it did not", name)
			}
		}
		err = filepath.WalkDir(dir, func(p string, de fs.DirEntry, err error) error {
			if err != nil || p == dir {
				return err
			}
			rel, _ := filepath.Rel(dir, p)
			rel = filepath.ToSlash(rel)
			if output != "" && (rel == output || strings.HasPrefix(rel, output+"/")) {
				if selected[rel] {
					t.Errorf("%s, under the output %s, went in", rel, output)
				}
				return nil
			}
			excluded, err := moby.MatchesOrParentMatches(rel)
			if err != nil {
				t.Fatalf("moby: %v", err)
			}
			elems := strings.Split(rel, "/")
			at := oracleSecretAt(elems)
			if at < 0 {
				if selected[rel] == excluded {
					t.Errorf("%s: selected %v, moby/patternmatcher excludes it: %v (ignore %q)", rel, selected[rel], excluded, user)
				}
				return nil
			}
			// Secrets: the "!" lines that match the outermost secret's path or one inside it.
			var naming, exact []string
			for _, line := range user {
				pattern, ok := strings.CutPrefix(line, "!")
				if !ok {
					continue
				}
				for k := at; k < len(elems); k++ {
					q := elems[:k+1]
					if oracleMatches(pattern, q) {
						naming = append(naming, line)
					}
					if pattern == strings.Join(q, "/") {
						exact = append(exact, line)
					}
				}
			}
			switch {
			case selected[rel] && excluded:
				t.Errorf("secret %s went in; moby/patternmatcher excludes it (ignore %q)", rel, user)
			case selected[rel] && len(naming) == 0:
				t.Errorf("secret %s went in; no \"!\" line names it (ignore %q)", rel, user)
			case selected[rel] && !saidAbove(said, elems):
				t.Errorf("secret %s went in without a word: included %q", rel, sel.Included)
			case !selected[rel] && !excluded && len(exact) > 0:
				t.Errorf("secret %s stayed out although %s names it exactly (ignore %q)", rel, exact[0], user)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

// saidAbove reports whether the path of elems, or a folder above it, is in said.
func saidAbove(said map[string]bool, elems []string) bool {
	for k := range elems {
		if said[strings.Join(elems[:k+1], "/")] {
			return true
		}
	}
	return false
}
