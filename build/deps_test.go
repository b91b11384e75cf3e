package build

import (
	"archive/zip"
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pycontainer/pycontainer/oci"
	"github.com/pycontainer/pycontainer/registry"
)

func TestWheelPlatforms(t *testing.T) {
	tests := []struct {
		platform, tag string
		first, last   string
	}{
		{"linux/amd64", "3.11-slim", "manylinux_2_36_x86_64", "manylinux1_x86_64"},
		{"linux/arm64", "3.11-slim-bullseye", "manylinux_2_31_aarch64", "manylinux2014_aarch64"},
		{"linux/arm/v7", "3.11", "manylinux_2_36_armv7l", "linux_armv7l"},
		{"linux/arm64", "3.11-alpine", "musllinux_1_2_aarch64", "musllinux_1_1_aarch64"},
		{"linux/amd64", "custom", "manylinux_2_28_x86_64", "manylinux1_x86_64"},
	}
	for _, tt := range tests {
		p, _ := oci.ParsePlatform(tt.platform)
		tags, err := wheelPlatforms(p, tt.tag)
		if err != nil {
			t.Errorf("wheelPlatforms(%s, %s): %v", tt.platform, tt.tag, err)
			continue
		}
		if tags[0] != tt.first || tags[len(tags)-1] != tt.last {
			t.Errorf("wheelPlatforms(%s, %s) = %v … %v, %v; want %s … %s", tt.platform, tt.tag, tags[0], tags[len(tags)-1], err, tt.first, tt.last)
		}
	}
	if _, err := wheelPlatforms(oci.Platform{OS: "windows", Architecture: "amd64"}, ""); err == nil {
		t.Error("windows has no manylinux wheels")
	}
}

func TestPythonVersion(t *testing.T) {
	img := &registry.Image{}
	img.Config.Config.Env = []string{"PATH=/usr/bin", "PYTHON_VERSION=3.12.4"}
	if v, err := pythonVersion(img, "whatever"); v != "3.12" || err != nil {
		t.Errorf("from PYTHON_VERSION: %q %v", v, err)
	}
	if v, err := pythonVersion(&registry.Image{}, "3.10-slim"); v != "3.10" || err != nil {
		t.Errorf("from the tag: %q %v", v, err)
	}
	if _, err := pythonVersion(&registry.Image{}, "latest"); err == nil {
		t.Error("no version anywhere must be an error")
	}
}

func TestParseWheelAndSplit(t *testing.T) {
	w, ok := parseWheel("/x/Flask_Cors-4.0.1-py2.py3-none-any.whl")
	if !ok || w.Name != "flask-cors" || w.Version != "4.0.1" || !w.Pure {
		t.Errorf("parseWheel: %+v %v", w, ok)
	}
	w, ok = parseWheel("/x/numpy-2.1.0-cp311-cp311-manylinux_2_17_aarch64.manylinux2014_aarch64.whl")
	if !ok || w.Pure || w.Name != "numpy" {
		t.Errorf("parseWheel native: %+v %v", w, ok)
	}
	pure := wheel{Path: "/a/six-1.16.0-py2.py3-none-any.whl", Name: "six", Pure: true}
	onlyArm := wheel{Path: "/a/arm-only-1-py3-none-any.whl", Name: "arm-only", Pure: true}
	amd := wheel{Path: "/a/fast-1-py3-none-manylinux2014_x86_64.whl", Name: "fast"}
	arm := wheel{Path: "/b/fast-1-py3-none-manylinux2014_aarch64.whl", Name: "fast"}
	shared, own := splitShared(map[string][]wheel{"linux/amd64": {amd, pure}, "linux/arm64": {arm, onlyArm, pure}})
	if len(shared) != 1 || shared[0].Name != "six" {
		t.Errorf("shared %v", shared)
	}
	if len(own["linux/amd64"]) != 1 || len(own["linux/arm64"]) != 2 {
		t.Errorf("own %v", own)
	}
}

func writeWheelZip(t *testing.T, files map[string]string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "pkg-1.0-py3-none-any.whl")
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range files {
			if !yield(k) {
				return
			}
		}
	}) {
		w, _ := zw.Create(name)
		w.Write([]byte(files[name]))
	}
	zw.Close()
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestWheelEntries(t *testing.T) {
	p := writeWheelZip(t, map[string]string{
		"pkg/__init__.py":                    "X = 1\n",
		"pkg-1.0.data/scripts/tool":          "#!python\nprint('tool')\n",
		"pkg-1.0.data/platlib/pkg_native.so": "\x7fELF...",
		"pkg-1.0.data/headers/pkg.h":         "/* for compiling */",
		"pkg-1.0.dist-info/entry_points.txt": "[console_scripts]\npkg-cli = pkg.cli:main\n[gui_scripts]\nignored = pkg:gui\n",
	})
	entries, closers, err := wheelEntries([]wheel{{Path: p, Name: "pkg", Version: "1.0", Pure: true}})
	for _, c := range closers {
		defer c.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, e := range entries {
		if e.Dir {
			got[e.Name+"/"] = ""
			continue
		}
		rc, _ := e.Open()
		b, _ := io.ReadAll(rc)
		rc.Close()
		got[e.Name] = string(b)
	}
	want := map[string]string{
		"opt/pycontainer/site-packages/pkg/__init__.py": "X = 1\n",
		"opt/pycontainer/site-packages/pkg_native.so":   "\x7fELF...",
		"opt/pycontainer/bin/tool":                      "#!/usr/bin/env python3\nprint('tool')\n",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if !strings.Contains(got["opt/pycontainer/bin/pkg-cli"], "from pkg.cli import main") {
		t.Errorf("console script: %q", got["opt/pycontainer/bin/pkg-cli"])
	}
	for k := range got {
		if strings.Contains(k, "headers") || strings.Contains(k, "ignored") {
			t.Errorf("unexpected entry %s", k)
		}
	}
	if _, ok := got["opt/pycontainer/site-packages/pkg/"]; !ok {
		t.Error("no directory entry for the package")
	}
}

// TestHostileWheels: wheels from strangers that try to write outside the prefix, hold
// names a layer cannot store, or make a path both a file and a directory are refused;
// console scripts whose names are not file names are skipped.
func TestHostileWheels(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string
		wantErr string   // refused with this error
		absent  []string // or installed without these entries
	}{
		{"zip slip", map[string]string{"../../etc/cron.d/evil": "* * * * * root sh"}, "leaves the install directory", nil},
		{"absolute path", map[string]string{"/etc/passwd": "root::0:0::/:/bin/sh"}, "leaves the install directory", nil},
		{"NUL in a name", map[string]string{"pkg/a\x00.py": ""}, "has a control character in its name", nil},
		{"newline in a name", map[string]string{"pkg/a\n.py": ""}, "has a control character in its name", nil},
		{"file and directory at once", map[string]string{"pkg": "x", "pkg/m.py": ""}, "both as a file and as a directory", nil},
		{"console scripts that are not file names", map[string]string{
			"pkg/__init__.py":                  "",
			"pkg-1.dist-info/entry_points.txt": "[console_scripts]\n.. = pkg:main\n. = pkg:main\n = pkg:main\nok = pkg:main\nnoattr = pkg\n",
		}, "", []string{"opt/pycontainer", "opt/pycontainer/bin", "opt/pycontainer/bin/noattr"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			entries, closers, err := wheelEntries([]wheel{{Path: writeWheelZip(t, tt.files), Name: "pkg", Version: "1"}})
			for _, c := range closers {
				c.Close()
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			kinds := map[string]bool{} // name -> is a directory
			for _, e := range entries {
				kinds[e.Name] = e.Dir
			}
			for _, name := range tt.absent {
				if isDir, ok := kinds[name]; ok && !isDir {
					t.Errorf("%s was written as a file", name)
				}
			}
			if _, ok := kinds["opt/pycontainer/bin/ok"]; !ok {
				t.Error("the valid console script ok is missing")
			}
		})
	}
}

func TestPipUnreachable(t *testing.T) {
	refused := `WARNING: Retrying (Retry(total=0, connect=None, read=None, redirect=None, status=None)) after connection broken by 'NewConnectionError('<pip._vendor.urllib3.connection.HTTPConnection object at 0x7f567286e2d0>: Failed to establish a new connection: [Errno 111] Connection refused')': /simple/pc/
ERROR: Could not find a version that satisfies the requirement pc==1.0 (from versions: none)
ERROR: No matching distribution found for pc==1.0`
	tests := []struct {
		name, out, want string
		ok              bool
	}{
		{"refused", refused, "connection refused", true},
		{"no such host", strings.ReplaceAll(refused, "[Errno 111] Connection refused", "[Errno -2] Name or service not known"), "name or service not known", true},
		{"timeout", `WARNING: Retrying (Retry(total=0)) after connection broken by 'ReadTimeoutError("HTTPConnectionPool(host='10.0.0.1', port=80): Read timed out. (read timeout=15)")': /simple/pc/
ERROR: Could not find a version that satisfies the requirement pc (from versions: none)`, "read timed out", true},
		{"could not fetch", "Could not fetch URL https://idx.example/simple/pc/: There was a problem confirming the ssl certificate - skipping\nERROR: Could not find a version that satisfies the requirement pc (from versions: none)", "There was a problem confirming the ssl certificate", true},
		{"a real missing wheel", "ERROR: Could not find a version that satisfies the requirement pc==1.0 (from versions: none)\nERROR: No matching distribution found for pc==1.0", "", false},
		{"a retry, then versions", strings.ReplaceAll(refused, "(from versions: none)", "(from versions: 0.9, 1.1)"), "", false},
	}
	for _, tt := range tests {
		_, got, ok := unreachableIndex(context.Background(), DepsOptions{}, tt.out)
		if got != tt.want || ok != tt.ok {
			t.Errorf("%s: unreachableIndex = %q, %v; want %q, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
	// pip retrying no more says only that no version exists: the index given is dialled.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	silent := "ERROR: Could not find a version that satisfies the requirement pc==1.0 (from versions: none)"
	idx, why, ok := unreachableIndex(context.Background(), DepsOptions{IndexURL: "http://u:TOKEN@" + closed + "/simple"}, silent)
	if !ok || why != "connection refused" || idx != "http://u:xxxxx@"+closed+"/simple" {
		t.Errorf("a refused --index-url: %q, %q, %v", idx, why, ok)
	}
	if _, _, ok := unreachableIndex(context.Background(), DepsOptions{}, silent); ok {
		t.Error("a missing package with no index given reads as an unreachable index")
	}
}

func TestRedactURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://pypi.org/simple", "https://pypi.org/simple"},
		{"http://user:TOKEN@127.0.0.1:8080/simple", "http://user:xxxxx@127.0.0.1:8080/simple"},
		{"https://TOKEN@gitlab.example/api/v4/projects/1/packages/pypi/simple", "https://xxxxx@gitlab.example/api/v4/projects/1/packages/pypi/simple"},
		{"/a/wheelhouse", "/a/wheelhouse"},
	}
	for _, tt := range tests {
		if got := redactURL(tt.in); got != tt.want || strings.Contains(got, "TOKEN") {
			t.Errorf("redactURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// fakePip makes PYCONTAINER_PIP a shell script running body, and returns the
// directory it may write to.
func fakePip(t *testing.T, body string) string {
	t.Helper()
	dir := t.TempDir()
	script := filepath.Join(dir, "pip.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nout="+dir+"\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PYCONTAINER_PIP", "sh "+script)
	return dir
}

// TestPipArgvHoldsNoSecret: index URLs reach pip through its environment, which only
// this user reads, never its argv, which `ps` shows every local user.
func TestPipArgvHoldsNoSecret(t *testing.T) {
	out := fakePip(t, `printf '%s\n' "$@" > $out/argv; env > $out/env`)
	t.Setenv("PIP_EXTRA_INDEX_URL", "https://already.example/simple")
	t.Setenv("PIP_FIND_LINKS", "")
	o := &Options{Deps: DepsOptions{
		IndexURL:       "http://user:TOKEN1@127.0.0.1:1/simple",
		ExtraIndexURLs: []string{"https://__token__:TOKEN2@gitlab.example/simple", "https://plain.example/simple"},
		FindLinks:      []string{"/wheels", "https://u:TOKEN3@links.example/"},
	}}
	p, _ := oci.ParsePlatform("linux/amd64")
	if _, _, err := downloadWheels(context.Background(), o, "requirements.txt", p, "3.11", "3.11-slim", t.TempDir()); err != nil {
		t.Fatal(err)
	}
	argv, _ := os.ReadFile(filepath.Join(out, "argv"))
	env, _ := os.ReadFile(filepath.Join(out, "env"))
	if strings.Contains(string(argv), "TOKEN") {
		t.Errorf("a token is in pip's argv:\n%s", argv)
	}
	if !strings.Contains(string(argv), "--find-links\n/wheels\n") {
		t.Errorf("a find-links directory without a secret left the argv:\n%s", argv)
	}
	for _, want := range []string{
		"PIP_INDEX_URL=http://user:TOKEN1@127.0.0.1:1/simple\n",
		"PIP_EXTRA_INDEX_URL=https://already.example/simple https://__token__:TOKEN2@gitlab.example/simple https://plain.example/simple\n",
		"PIP_FIND_LINKS=https://u:TOKEN3@links.example/\n",
	} {
		if !strings.Contains(string(env), want) {
			t.Errorf("pip's environment lacks %q", want)
		}
	}
}
