package build

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
			o, err := Resolve(Inputs{Flags: tt.flags, Getenv: func(string) string { return "" }})
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
		o, err := Resolve(Inputs{Flags: Settings{Context: &dir}, Getenv: func(string) string { return "" }})
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
			o, err := Resolve(Inputs{Flags: Settings{Context: &dir}, Getenv: func(string) string { return "" }})
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
