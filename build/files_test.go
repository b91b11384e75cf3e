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

	"github.com/moby/patternmatcher"
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

// TestSelectFilesNotesWhatItLeavesOut: each thing left out that a person should hear of
// comes as its path and why, apart, in walk order; a directory's path ends in "/".
func TestSelectFilesNotesWhatItLeavesOut(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"app.py": "", ".env": "A=1", "myenv/pyvenv.cfg": "home = /usr/bin"})
	mkfifo(t, filepath.Join(dir, "pipe"))
	sel, err := SelectFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []PathNote{
		{".env", "it may hold secrets; add !.env to .dockerignore to include it"},
		{"myenv/", "a virtualenv: its binaries are built for this host, not the image; use --include-deps"},
		{"pipe", "not a regular file, directory or symlink"},
	}
	if !slices.Equal(sel.Excluded, want) {
		t.Errorf("excluded %q,\nwant %q", sel.Excluded, want)
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

// secretSamples holds a file for every secret pattern, as a path below the context and
// the outermost secret on it, which the build names when it leaves the file out.
var secretSamples = []struct{ path, root string }{
	{".git/config", ".git"},
	{".env", ".env"},
	{".env.production", ".env.production"},
	{".ssh/config", ".ssh"},
	{"id_rsa", "id_rsa"},
	{"id_dsa", "id_dsa"},
	{"id_ecdsa", "id_ecdsa"},
	{"id_ed25519", "id_ed25519"},
	{"id_ecdsa_sk", "id_ecdsa_sk"},
	{"id_ed25519_sk", "id_ed25519_sk"},
	{"deploy.ppk", "deploy.ppk"},
	{"server.pem", "server.pem"},
	{"tls.key", "tls.key"},
	{".npmrc", ".npmrc"},
	{".pypirc", ".pypirc"},
	{".netrc", ".netrc"},
	{".git-credentials", ".git-credentials"},
	{".aws/credentials", ".aws"},
	{".docker/config.json", ".docker/config.json"},
	{".kube/config", ".kube/config"},
	{".config/gh/hosts.yml", ".config/gh/hosts.yml"},
}

// notSecrets are neighbours of secrets that go in: public keys, look-alike names.
var notSecrets = []string{
	"id_rsa.pub", "environment.py", ".envrc", "keys.py", "pem.py", "docker/config.json",
	".docker/daemon.json", ".kube/cache.json", ".config/gh/config.yml", "kube/config",
}

// TestSecretsAtAnyDepth walks the whole list at depth 0, 1 and 3: each secret is left
// out and named, its neighbours go in.
func TestSecretsAtAnyDepth(t *testing.T) {
	// Every pattern has a sample, so a pattern added later is walked too.
	for _, pattern := range secretPatterns {
		pm, err := patternmatcher.New([]string{pattern})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(secretSamples, func(s struct{ path, root string }) bool {
			hit, _ := pm.MatchesOrParentMatches(s.path)
			return hit
		}) {
			t.Errorf("secret pattern %s has no sample in secretSamples", pattern)
		}
	}
	for _, prefix := range []string{"", "src/", "a/b/c/"} {
		for _, s := range secretSamples {
			t.Run(prefix+s.path, func(t *testing.T) {
				dir := t.TempDir()
				files := map[string]string{"app.py": "", prefix + s.path: "secret"}
				for _, n := range notSecrets {
					files[prefix+n] = ""
				}
				writeFiles(t, dir, files)
				sel, err := SelectFiles(dir)
				if err != nil {
					t.Fatal(err)
				}
				got := map[string]bool{}
				for _, f := range sel.Files {
					got[f.Rel] = true
				}
				if got[prefix+s.path] {
					t.Errorf("%s went in", prefix+s.path)
				}
				for _, n := range notSecrets {
					if !got[prefix+n] {
						t.Errorf("%s, not a secret, was left out", prefix+n)
					}
				}
				want := PathNote{prefix + s.root, "it may hold secrets; add !" + prefix + s.root + " to .dockerignore to include it"}
				if !slices.Contains(sel.Excluded, want) {
					t.Errorf("excluded %q, want it to hold %q", sel.Excluded, want)
				}
				if len(sel.Included) != 0 {
					t.Errorf("included on request %q, want none", sel.Included)
				}
			})
		}
	}
}

// noteLines is notes as the renderers print them.
func noteLines(notes []PathNote) []string {
	var out []string
	for _, n := range notes {
		out = append(out, n.String())
	}
	return out
}

// TestSecretsComeBackOnlyByName: a "!" line brings a secret back only when it names
// it (or a secret folder it is in), never through a folder above it, and the build
// says so when it does.
func TestSecretsComeBackOnlyByName(t *testing.T) {
	project := map[string]string{
		"app.py": "", "src/app.py": "", "src/.env": "TOKEN=x", "src/.ssh/id_rsa": "k", "src/.netrc": "n",
		"src/.git/config": "url = https://u:TOKEN@host/x", "src/.git/HEAD": "ref", ".ssh/id_ed25519": "k",
		"certs/ca.pem": "-----BEGIN CERTIFICATE-----", ".env": "A=1",
	}
	secretsIn := func(sel *Selection) []string {
		var in []string
		for _, f := range sel.Files {
			if f.Mode.IsRegular() && !slices.Contains([]string{"app.py", "src/app.py", ".dockerignore"}, f.Rel) {
				in = append(in, f.Rel)
			}
		}
		return in
	}
	tests := []struct {
		name, ignore string
		want         []string // the secrets that go in
		included     []string // what the build says went in on request
		excluded     []string // among what it says it left out
	}{
		{name: "!src brings back src, not its secrets", ignore: "!src\n",
			excluded: []string{"src/.env (it may hold secrets; !src in .dockerignore does not name it: add !src/.env to include it)", "src/.git (it may hold secrets; !src in .dockerignore does not name it: add !src/.git to include it)", "src/.ssh (it may hold secrets; !src in .dockerignore does not name it: add !src/.ssh to include it)"}},
		{name: "the allow-list * then !src", ignore: "*\n!src\n",
			excluded: []string{"src/.netrc (it may hold secrets; !src in .dockerignore does not name it: add !src/.netrc to include it)"}},
		{name: "a wildcard below the folder names nothing", ignore: "*\n!src/*\n!src/**\n!**\n"},
		{name: "!* and !.* match the context itself", ignore: "!*\n!.*\n"},
		{name: "the file named", ignore: "*\n!src\n!src/.env\n", want: []string{"src/.env"},
			included: []string{"src/.env (it may hold secrets; !src/.env in .dockerignore names it)"}},
		{name: "a pattern matching its own name", ignore: "!**/.env\n", want: []string{".env", "src/.env"},
			included: []string{".env (it may hold secrets; !**/.env in .dockerignore names it)", "src/.env (it may hold secrets; !**/.env in .dockerignore names it)"}},
		{name: "a secret folder named, named once", ignore: "!.ssh\n", want: []string{".ssh/id_ed25519"},
			included: []string{".ssh (it may hold secrets; !.ssh in .dockerignore names it)"}},
		{name: "a file inside a secret folder", ignore: "!src/.git/config\n", want: []string{"src/.git/config"},
			included: []string{"src/.git/config (it may hold secrets; !src/.git/config in .dockerignore names it)"},
			excluded: []string{"src/.git (it may hold secrets; add !src/.git to .dockerignore to include it)"}},
		{name: "a certificate bundle", ignore: "!certs/ca.pem\n", want: []string{"certs/ca.pem"},
			included: []string{"certs/ca.pem (it may hold secrets; !certs/ca.pem in .dockerignore names it)"}},
		{name: "a later line excludes it again", ignore: "!src/.env\nsrc\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, project)
			writeFiles(t, dir, map[string]string{".dockerignore": tt.ignore})
			sel, err := SelectFiles(dir)
			if err != nil {
				t.Fatal(err)
			}
			if got := secretsIn(sel); !slices.Equal(got, tt.want) {
				t.Errorf("secrets in the layer %q, want %q", got, tt.want)
			}
			if got := noteLines(sel.Included); !slices.Equal(got, tt.included) {
				t.Errorf("included on request %q, want %q", got, tt.included)
			}
			for _, x := range tt.excluded {
				if got := noteLines(sel.Excluded); !slices.Contains(got, x) {
					t.Errorf("excluded %q, want it to hold %q", got, x)
				}
			}
		})
	}
}

// TestSelectFilesLeavesOutTheOutputByPath: the output is a path, cleaned and relative
// to the working directory as typed, never a pattern.
func TestSelectFilesLeavesOutTheOutputByPath(t *testing.T) {
	all := []string{"app.py", "img", "img/index.json", "img[", "img[/index.json", "out*", "out*/index.json", "outline.py"}
	without := func(dir string) []string {
		return slices.DeleteFunc(slices.Clone(all), func(n string) bool { return n == dir || strings.HasPrefix(n, dir+"/") })
	}
	tests := []struct {
		name, output string
		want         []string
	}{
		{"a glob character in the name", "out*", without("out*")},
		{"a bracket, which as a pattern would not compile", "img[", without("img[")},
		{"unclean", "./img/../img/", without("img")},
		{"not there yet", "new/image", all},
		{"outside the context", "../elsewhere", all},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, map[string]string{"app.py": "", "outline.py": "", "out*/index.json": "", "img/index.json": "", "img[/index.json": ""})
			t.Chdir(dir)
			if got := selectedNames(t, dir, tt.output); !slices.Equal(got, tt.want) {
				t.Errorf("selected %q, want %q", got, tt.want)
			}
		})
	}
	// The default output stays out even when a .dockerignore brings dist back.
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"app.py": "", "dist/image/index.json": "", "dist/notes.txt": "", ".dockerignore": "!dist\n"})
	if got, want := selectedNames(t, dir, filepath.Join(dir, "dist/image")), []string{"app.py", "dist", "dist/notes.txt"}; !slices.Equal(got, want) {
		t.Errorf("with !dist: selected %q, want %q", got, want)
	}
}
