package build

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pycontainer/pycontainer/internal/cmdenv"
)

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func ptr[T any](v T) *T { return &v }

func TestResolvePrecedence(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"pyproject.toml": `[project]
name = "demo"
requires-python = ">=3.12"

[tool.pycontainer]
base_image = "python:3.12-alpine"
platform = "linux/arm/v7"
workdir = "/srv"
user = "1000"

[tool.pycontainer.env]
FROM_PYPROJECT = "1"
SHARED = "pyproject"
`,
		"pycontainer.toml": `[build]
platform = ["linux/amd64", "linux/arm64"]
reproducible = false

[build.env]
SHARED = "toml"
`,
	})
	tests := []struct {
		name  string
		flags Settings
		check func(t *testing.T, o *Options)
	}{
		{"files only", Settings{}, func(t *testing.T, o *Options) {
			if o.BaseImage != "python:3.12-alpine" || o.BaseSource != "pyproject.toml [tool.pycontainer]" {
				t.Errorf("base %q from %q", o.BaseImage, o.BaseSource)
			}
			if len(o.Platforms) != 2 || o.Platforms[1].String() != "linux/arm64" || o.Platforms[0].Source != "pycontainer.toml" {
				t.Errorf("platforms %+v", o.Platforms)
			}
			if o.Reproducible || o.Workdir != "/srv" || o.User != "1000" {
				t.Errorf("reproducible=%v workdir=%q user=%q", o.Reproducible, o.Workdir, o.User)
			}
			if o.Env["SHARED"] != "toml" || o.Env["FROM_PYPROJECT"] != "1" {
				t.Errorf("env %v", o.Env)
			}
		}},
		{"typed flags win", Settings{Platforms: []string{"linux/arm64/v8,linux/amd64"}, BaseImage: ptr("python:3.11-slim"), Env: map[string]string{"SHARED": "flag"}}, func(t *testing.T, o *Options) {
			if o.BaseImage != "python:3.11-slim" || o.BaseSource != "--base-image flag" {
				t.Errorf("base %q from %q", o.BaseImage, o.BaseSource)
			}
			if len(o.Platforms) != 2 || o.Platforms[0].String() != "linux/arm64" || o.Platforms[0].Raw != "linux/arm64/v8" {
				t.Errorf("platforms %+v", o.Platforms)
			}
			if o.Env["SHARED"] != "flag" || o.Env["FROM_PYPROJECT"] != "1" {
				t.Errorf("env %v", o.Env)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.flags.Context = &dir
			o, err := Resolve(Inputs{Flags: tt.flags, Process: noProcessEnv})
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, o)
		})
	}
}

func TestResolveDefaults(t *testing.T) {
	tests := []struct {
		pyproject string
		wantBase  string
	}{
		{"", "python:3.11-slim"},
		{"[project]\nname='x'\nrequires-python = \">=3.12\"\n", "python:3.12-slim"},
		{"[project]\nrequires-python = \"~=3.10\"\n", "python:3.10-slim"},
		{"[project]\nrequires-python = \">=3.9,<3.13\"\n", "python:3.9-slim"},
		{"[project]\nrequires-python = \">3.11\"\n", "python:3.12-slim"},
		{"[project]\nrequires-python = \"<4\"\n", "python:3.11-slim"},
	}
	for _, tt := range tests {
		dir := t.TempDir()
		if tt.pyproject != "" {
			writeFiles(t, dir, map[string]string{"pyproject.toml": tt.pyproject})
		}
		o, err := Resolve(Inputs{Flags: Settings{Context: &dir}, Process: noProcessEnv})
		if err != nil {
			t.Fatal(err)
		}
		if o.BaseImage != tt.wantBase {
			t.Errorf("%q: base %s, want %s", tt.pyproject, o.BaseImage, tt.wantBase)
		}
		if len(o.Platforms) != 1 || o.Platforms[0].String() != "linux/amd64" || o.Platforms[0].Source != "default" {
			t.Errorf("default platform %+v", o.Platforms)
		}
		if o.Output != "dist/image" || o.Workdir != "/app" || !o.Reproducible {
			t.Errorf("defaults output=%q workdir=%q reproducible=%v", o.Output, o.Workdir, o.Reproducible)
		}
	}
}

func TestConfigProblems(t *testing.T) {
	tests := []struct {
		name     string
		toml     string
		wantErr  string // substring of the error, "" for none
		wantWarn string // substring of a warning
	}{
		{"unknown key warns with line", "[build]\nbase_image = \"python:3.11-slim\"\nplatfrom = \"linux/arm64\"\n", "", "pycontainer.toml:3: unknown key \"build.platfrom\""},
		{"unknown table warns", "[biuld]\nx = 1\n", "", "pycontainer.toml:1: unknown key \"biuld\""},
		{"wrong type has file and line", "[build]\n\ninclude_deps = \"yes\"\n", "pycontainer.toml:3:", ""},
		{"wrong list type has line", "[build]\nbase_image = \"x\"\nplatform = 64\n", "pycontainer.toml:3: build.platform: expected a string or a list of strings, found an integer", ""},
		{"bad toml has line", "[build\nplatform = 1\n", "pycontainer.toml:1:", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, map[string]string{"pycontainer.toml": tt.toml, "app.py": ""})
			o, err := Resolve(Inputs{Flags: Settings{Context: &dir}, Process: noProcessEnv})
			if tt.wantErr != "" {
				var ce *ConfigError
				if !errors.As(err, &ce) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want a ConfigError containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(strings.Join(o.Warnings, "\n"), tt.wantWarn) {
				t.Errorf("warnings %q lack %q", o.Warnings, tt.wantWarn)
			}
		})
	}
}

func TestConfigPathMissing(t *testing.T) {
	_, err := Resolve(Inputs{ConfigPath: filepath.Join(t.TempDir(), "nope.toml")})
	if err == nil || !strings.Contains(err.Error(), "does not exist") || !strings.Contains(err.Error(), "--config") {
		t.Fatalf("err = %v", err)
	}
}

func TestPyprojectUnknownKeysOnlyInOurTable(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"pyproject.toml": `[project]
name = "x"
dependencies = ["requests"]

[build-system]
requires = ["hatchling"]

[tool.black]
line-length = 100

[tool.pycontainer]
base_imag = "python:3.12-slim"
`})
	_, _, warnings, err := LoadProject(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "pyproject.toml:12: unknown key \"tool.pycontainer.base_imag\"") {
		t.Errorf("warnings = %q, want exactly the typo in [tool.pycontainer]", warnings)
	}
}

func TestScriptsKeepFileOrder(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"pyproject.toml": "[project]\nname = \"x\"\n\n[project.scripts]\nzeta = \"pkg.cli:main\"\nalpha = \"other:run\"\n"})
	p, _, _, err := LoadProject(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Scripts) != 2 || p.Scripts[0].Name != "zeta" || p.Scripts[0].Module != "pkg.cli" || p.Scripts[0].Function != "main" {
		t.Errorf("scripts %+v", p.Scripts)
	}
}

func TestReadProjectFile(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"ok.toml": "[build]\n", "big.toml": strings.Repeat("#", maxProjectFileBytes+1)})
	mkfifo(t, filepath.Join(dir, "fifo.toml"))
	for link, target := range map[string]string{"zero.toml": "/dev/zero", "dir.toml": dir, "ok-link.toml": "ok.toml"} {
		if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name, wantErr string
	}{
		{"ok.toml", ""},
		{"ok-link.toml", ""},
		{"fifo.toml", "is a named pipe (FIFO), not a regular file: reading it would block; replace it with the file itself"},
		{"zero.toml", "is a character device (through a symlink), not a regular file: reading it may never end"},
		{"dir.toml", "is a directory (through a symlink), not a regular file"},
		{"big.toml", "is larger than 4 MiB, too large for a project file"},
		{"missing.toml", "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() {
				_, err := readProjectFile(filepath.Join(dir, tt.name))
				done <- err
			}()
			select {
			case err := <-done:
				if tt.wantErr == "" && err != nil {
					t.Fatal(err)
				}
				if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("blocked") // the goroutine stays blocked; the test binary ends anyway
			}
		})
	}
}

func TestRealPath(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	writeFiles(t, root, map[string]string{"sub/x": ""})
	for link, target := range map[string]string{
		"out":      outside,
		"rel-out":  "../" + filepath.Base(outside),
		"dangling": filepath.Join(outside, "made-by-the-build"),
		"in":       "sub",
		"loop":     "loop",
	} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	realOutside, err := filepath.EvalSymlinks(outside)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path    string
		inside  bool
		leadsTo string // a suffix of where it leads, "" to skip
	}{
		{".", true, ""},
		{"dist/image", true, "/dist/image"},
		{"sub/../sub/x", true, "/sub/x"},
		{"in/new/dir", true, "/sub/new/dir"},
		{"..", false, ""},
		{"../elsewhere", false, ""},
		{"sub/../../elsewhere", false, ""},
		{"/", false, ""},
		{outside, false, realOutside},
		{"out/image", false, realOutside + "/image"},
		{"rel-out", false, realOutside},
		{"dangling/image", false, realOutside + "/made-by-the-build/image"},
		{"missing/../sub", true, "/sub"},
	}
	t.Chdir(root)
	for _, tt := range tests {
		ok, real, err := insideRoot(".", tt.path)
		if err != nil {
			t.Errorf("%s: %v", tt.path, err)
			continue
		}
		if ok != tt.inside || !strings.HasSuffix(real, tt.leadsTo) {
			t.Errorf("%s: inside %v, leads to %s; want %v, ...%s", tt.path, ok, real, tt.inside, tt.leadsTo)
		}
	}
	if _, _, err := insideRoot(".", "loop/x"); err == nil || !strings.Contains(err.Error(), "too many levels of symbolic links") {
		t.Errorf("a symlink loop: %v", err)
	}
}

// TestProjectPathsStayInside: a path a project's files name must lead into the project
// (--context, else the current directory); the same path typed on the command line is
// the user's own choice.
func TestProjectPathsStayInside(t *testing.T) {
	outside := t.TempDir()
	tests := []struct {
		name    string
		files   map[string]string
		links   map[string]string // name -> target ("OUTSIDE" is the other directory)
		config  string            // --config, relative to the project
		flags   Settings
		wantErr string
		check   func(t *testing.T, o *Options)
	}{
		{name: "context ../ in pycontainer.toml", files: map[string]string{"pycontainer.toml": "[build]\ncontext = \"../home\"\n"},
			wantErr: `pycontainer.toml: context "../home" leads to`},
		{name: "output /abs in pycontainer.toml", files: map[string]string{"pycontainer.toml": "[build]\noutput = \"/abs\"\n"},
			wantErr: `pycontainer.toml: output "/abs" is outside the project`},
		{name: "output ../ in [tool.pycontainer]", files: map[string]string{"pyproject.toml": "[tool.pycontainer]\noutput = \"../out\"\n"},
			wantErr: `pyproject.toml [tool.pycontainer]: output "../out" leads to`},
		{name: "output through a symlink out", files: map[string]string{"pycontainer.toml": "[build]\noutput = \"dist/image\"\n"},
			links: map[string]string{"dist": "OUTSIDE"}, wantErr: "pass --output on the command line to use it"},
		{name: "context through a symlink out", files: map[string]string{"pycontainer.toml": "[build]\ncontext = \"src\"\n"},
			links: map[string]string{"src": "OUTSIDE"}, wantErr: "pass --context on the command line to use it"},
		{name: "--config names a path out", files: map[string]string{"ci/build.toml": "[build]\noutput = \"../../out\"\n"},
			config: "ci/build.toml", wantErr: "build.toml: output"},
		{name: "paths inside are fine", files: map[string]string{"pycontainer.toml": "[build]\ncontext = \"app\"\noutput = \"out/image\"\n", "app/pyproject.toml": "[tool.pycontainer]\noutput = \"../other\"\n"},
			check: func(t *testing.T, o *Options) {
				if o.Context != "app" || o.Output != "out/image" {
					t.Errorf("context %q, output %q", o.Context, o.Output)
				}
			}},
		{name: "[tool.pycontainer] output inside, from a context of the config", files: map[string]string{"pycontainer.toml": "[build]\ncontext = \"app\"\n", "app/pyproject.toml": "[tool.pycontainer]\noutput = \"../other\"\n"},
			check: func(t *testing.T, o *Options) {
				if o.Output != "other" {
					t.Errorf("output %q", o.Output)
				}
			}},
		{name: "flags override what the files say", files: map[string]string{"pycontainer.toml": "[build]\ncontext = \"../home\"\noutput = \"/abs\"\n"},
			flags: Settings{Context: ptr("."), Output: ptr("/tmp/elsewhere")},
			check: func(t *testing.T, o *Options) {
				if o.Output != "/tmp/elsewhere" {
					t.Errorf("output %q", o.Output)
				}
			}},
		{name: "a symlinked context is resolved", files: map[string]string{"real/app.py": ""}, links: map[string]string{"link": "real"},
			flags: Settings{Context: ptr("link")},
			check: func(t *testing.T, o *Options) {
				if o.Context != "real" || !strings.HasSuffix(o.ContextDir(), "/real") {
					t.Errorf("context %q (%s)", o.Context, o.ContextDir())
				}
			}},
		{name: "a FIFO .dockerignore is refused", links: map[string]string{".dockerignore": "FIFO"},
			wantErr: ".dockerignore is a named pipe (FIFO), not a regular file"},
		{name: "a /dev/zero .containerignore is refused", links: map[string]string{".containerignore": "/dev/zero"},
			wantErr: ".containerignore is a character device (through a symlink)"},
		{name: "a FIFO pyproject.toml is refused", links: map[string]string{"pyproject.toml": "FIFO"},
			wantErr: "project file: pyproject.toml is a named pipe (FIFO)"},
		{name: "a FIFO pycontainer.toml is refused", links: map[string]string{"pycontainer.toml": "FIFO"},
			wantErr: "config file: pycontainer.toml is a named pipe (FIFO)"},
		{name: "a FIFO requirements.txt with include_deps is refused", files: map[string]string{"pycontainer.toml": "[build]\ninclude_deps = true\n"},
			links: map[string]string{"requirements.txt": "FIFO"}, wantErr: "requirements.txt is a named pipe (FIFO)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, tt.files)
			for name, target := range tt.links {
				var err error
				switch target {
				case "FIFO":
					mkfifo(t, filepath.Join(dir, name))
				case "OUTSIDE":
					err = os.Symlink(outside, filepath.Join(dir, name))
				default:
					err = os.Symlink(target, filepath.Join(dir, name))
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			t.Chdir(dir)
			done := make(chan struct{})
			var o *Options
			var err error
			go func() {
				defer close(done)
				o, err = Resolve(Inputs{ConfigPath: tt.config, Flags: tt.flags, Process: noProcessEnv})
			}()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("Resolve blocked")
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "\n") {
					t.Fatalf("err = %v, want one line with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, o)
		})
	}
}

// noProcessEnv is an empty environment: the test process's own variables stay out.
var noProcessEnv = cmdenv.Env{Environ: []string{}}

// envOf is an environment of exactly the variables in m.
func envOf(m map[string]string) cmdenv.Env {
	e := cmdenv.Env{Environ: []string{}}
	for k, v := range m {
		e.Environ = append(e.Environ, k+"="+v)
	}
	return e
}
