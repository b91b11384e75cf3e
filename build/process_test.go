package build

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/pycontainer/pycontainer/internal/cmdenv"
)

// TestResolveReadsPathsInTheProcessDir: with a working directory in Inputs.Process,
// every relative path (typed, exported or a project file's) is read there and not in
// the test process's directory, and messages show it as the user wrote it.
func TestResolveReadsPathsInTheProcessDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"app.py":               "print('hi')\n",
		"sub/app.py":           "print('sub')\n",
		"sub/pycontainer.toml": "[build]\noutput = \"out/image\"\n",
		"bad/pycontainer.toml": "[build\n",
		"bad/app.py":           "",
	})
	str := func(s string) *string { return &s }
	tests := []struct {
		name            string
		flags           Settings
		config          string
		env             []string
		context, output string
		err             string // the error's text, exactly: paths as the user wrote them
	}{
		{name: "defaults", context: dir, output: filepath.Join(dir, "dist", "image")},
		{name: "typed paths", flags: Settings{Context: str("sub"), Output: str("o/img")},
			context: filepath.Join(dir, "sub"), output: filepath.Join(dir, "o", "img")},
		{name: "exported paths", env: []string{"PYCONTAINER_CONTEXT=sub", "PYCONTAINER_OUTPUT=x"},
			context: filepath.Join(dir, "sub"), output: filepath.Join(dir, "x")},
		{name: "a config file's paths are its directory's", config: "sub/pycontainer.toml", flags: Settings{Context: str("sub")},
			context: filepath.Join(dir, "sub"), output: filepath.Join(dir, "sub", "out", "image")},
		{name: "absolute stays", flags: Settings{Output: str("/abs/out")}, context: dir, output: "/abs/out"},
		{name: "missing context", flags: Settings{Context: str("nowhere")},
			err: `build context "nowhere" is not a directory: pass --context DIR with your project's directory`},
		{name: "missing config", config: "nope.toml", err: "config file nope.toml does not exist: check the --config path"},
		{name: "broken config", flags: Settings{Context: str("bad")}, err: "bad/pycontainer.toml:1: expected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			process := cmdenv.Env{Environ: append([]string{}, tt.env...), Dir: dir}
			o, err := Resolve(Inputs{ConfigPath: tt.config, Flags: tt.flags, Process: process})
			if tt.err != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.err) {
					t.Fatalf("error %v, want one starting %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if o.Context != tt.context || o.Output != tt.output {
				t.Errorf("context %q, output %q; want %q, %q", o.Context, o.Output, tt.context, tt.output)
			}
			if got, want := o.shown(o.Output), process.Rel(tt.output); got != want {
				t.Errorf("messages show the output as %q, want %q", got, want)
			}
		})
	}
}
