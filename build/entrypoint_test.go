package build

import (
	"slices"
	"strings"
	"testing"
)

func TestResolveLaunch(t *testing.T) {
	tests := []struct {
		name       string
		files      []string
		scripts    []Script
		explicit   []string
		want       []string // entrypoint, or a substring of the code for -c
		pythonPath []string
		wantErr    string
		wantWarn   bool
		deps       bool // --include-deps: a dependency may bring the module
	}{
		{name: "explicit wins", files: []string{"app.py"}, scripts: []Script{{"demo", "app", "main"}}, explicit: []string{"gunicorn", "app:wsgi"}, want: []string{"gunicorn", "app:wsgi"}},
		{name: "flat console script", files: []string{"app.py"}, scripts: []Script{{"demo", "app", "main"}}, want: []string{"import app as _m", "_m.main()", `sys.argv[0] = "demo"`}, pythonPath: []string{"/app"}},
		{name: "package console script", files: []string{"pkg/__init__.py", "pkg/cli.py"}, scripts: []Script{{"tool", "pkg.cli", "run"}}, want: []string{"import pkg.cli as _m", "_m.run()"}, pythonPath: []string{"/app"}},
		{name: "src layout", files: []string{"src/pkg/__init__.py", "src/pkg/cli.py"}, scripts: []Script{{"tool", "pkg.cli", "main"}}, want: []string{"import pkg.cli as _m"}, pythonPath: []string{"/app/src"}},
		{name: "object attribute", files: []string{"app.py"}, scripts: []Script{{"x", "app", "cli.main"}}, want: []string{"_m.cli.main()"}, pythonPath: []string{"/app"}},
		{name: "namespace package", files: []string{"ns", "ns/cli.py"}, scripts: []Script{{"x", "ns", "main"}}, want: []string{"import ns as _m"}, pythonPath: []string{"/app"}},
		{name: "module missing is an error", files: []string{"other.py"}, scripts: []Script{{"x", "missing", "main"}}, wantErr: "module missing is not in the build context"},
		{name: "module missing from an empty context", scripts: []Script{{"demo", "app", "main"}}, wantErr: "(0 files): build the project's directory (--context), or pass --entrypoint"},
		{name: "module elsewhere warns with --include-deps", files: []string{"other.py"}, scripts: []Script{{"x", "missing", "main"}}, deps: true, want: []string{"import missing as _m"}, pythonPath: []string{"/app"}, wantWarn: true},
		{name: "bad script target", files: []string{"app.py"}, scripts: []Script{{"x", "app; import os", "main"}}, wantErr: "not of the form"},
		{name: "__main__.py", files: []string{"__main__.py", "main.py"}, want: []string{"python3", "/app/__main__.py"}},
		{name: "main.py before app.py", files: []string{"app.py", "main.py"}, want: []string{"python3", "/app/main.py"}},
		{name: "app.py", files: []string{"app.py", "util.py"}, want: []string{"python3", "/app/app.py"}},
		{name: "nothing to run", files: []string{"util.py"}, wantErr: "no entrypoint found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sel := &Selection{}
			for _, f := range tt.files {
				sel.Files = append(sel.Files, File{Rel: f})
			}
			o := &Options{Workdir: "/app", Entrypoint: tt.explicit, Project: Project{Scripts: tt.scripts}, Context: ".", IncludeDeps: tt.deps}
			l, err := resolveLaunch(o, sel)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(l.Entrypoint) == 3 && l.Entrypoint[1] == "-c" {
				for _, w := range tt.want {
					if !strings.Contains(l.Entrypoint[2], w) {
						t.Errorf("code %q lacks %q", l.Entrypoint[2], w)
					}
				}
			} else if !slices.Equal(l.Entrypoint, tt.want) {
				t.Errorf("entrypoint %q, want %q", l.Entrypoint, tt.want)
			}
			if !slices.Equal(l.PythonPath, tt.pythonPath) {
				t.Errorf("PYTHONPATH %q, want %q", l.PythonPath, tt.pythonPath)
			}
			if (l.Warning != "") != tt.wantWarn {
				t.Errorf("warning %q", l.Warning)
			}
		})
	}
}

func TestParseCommand(t *testing.T) {
	for in, want := range map[string][]string{
		"python -m app":           {"python", "-m", "app"},
		`["python", "-c", "a b"]`: {"python", "-c", "a b"},
		"  uvicorn  app:api  ":    {"uvicorn", "app:api"},
	} {
		got, err := ParseCommand(in)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("ParseCommand(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseCommand(`["unterminated"`); err == nil {
		t.Error("a broken JSON array was accepted")
	}
}
