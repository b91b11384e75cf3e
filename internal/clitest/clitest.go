// Package clitest runs pycontainer's command lines in tests as the binary would, each
// test in a world of its own: a project directory, an environment, a shared cache and,
// for the seed's commands, a loopback registry that mirrors Docker Hub. Worlds share
// no process state (no chdir, no setenv), so the tests that use them run in parallel.
package clitest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pycontainer/pycontainer/examples"
	"github.com/pycontainer/pycontainer/internal/cmdenv"
	"github.com/pycontainer/pycontainer/internal/testbase"
)

// Runner runs one command line in env and returns its exit code: cli.Run. The
// commands' package passes it in, so its own tests can use this package too.
type Runner func(args []string, env cmdenv.Env) int

// World is where a test's commands run.
type World struct {
	// Registry is Docker Hub for the world's commands (nil in New's worlds).
	Registry *testbase.Registry
	// Dir is the project directory and the commands' working directory.
	Dir     string
	environ []string
	run     Runner
}

// New is an empty project directory, with an environment of its own: the test
// process's, less every variable pycontainer reads, with an empty shared cache, docker
// config and config directory of its own.
func New(t testing.TB, run Runner) *World {
	t.Helper()
	w := &World{Dir: t.TempDir(), environ: baseEnviron(), run: run}
	w.Setenv("PYCONTAINER_CACHE", t.TempDir())
	w.Setenv("DOCKER_CONFIG", t.TempDir())
	w.Setenv("XDG_CONFIG_HOME", t.TempDir()) // the app's recent images
	return w
}

// NewSeed is the world the seed document assumes: python:3.11-slim on Docker Hub (a
// loopback registry standing in for it) and the demo app in the project directory.
func NewSeed(t testing.TB, run Runner) *World {
	t.Helper()
	reg := testbase.Start(t)
	reg.Push(t, testbase.Spec{Repo: "library/python", Tag: "3.11-slim", Platforms: testbase.PythonPlatforms, Attestation: true})
	return NewSeedWith(t, reg, run)
}

// NewSeedWith is NewSeed with reg as Docker Hub, holding what the test pushed there.
func NewSeedWith(t testing.TB, reg *testbase.Registry, run Runner) *World {
	t.Helper()
	w := New(t, run)
	w.Registry = reg
	w.Setenv("PYCONTAINER_REGISTRY_MIRROR", "docker.io="+reg.Host)
	CopyDemoApp(t, w.Dir)
	return w
}

// baseEnviron is the test process's environment without what would change a command:
// pycontainer's own variables, registry logins, SOURCE_DATE_EPOCH.
func baseEnviron() []string {
	dropped := map[string]bool{"SOURCE_DATE_EPOCH": true, "DOCKER_CONFIG": true, "DOCKER_AUTH_CONFIG": true, "XDG_CONFIG_HOME": true,
		"REGISTRY_USERNAME": true, "REGISTRY_PASSWORD": true, "GITHUB_TOKEN": true, "GITHUB_ACTOR": true,
		"PIP_INDEX_URL": true, "PIP_EXTRA_INDEX_URL": true, "PIP_FIND_LINKS": true}
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !dropped[k] && !strings.HasPrefix(k, "PYCONTAINER_") {
			out = append(out, kv)
		}
	}
	return out
}

// Setenv sets a variable for the world's later commands ("" unsets it in effect).
func (w *World) Setenv(key, value string) {
	w.environ = append(w.environ, key+"="+value)
}

// Env is the world's environment and directory, without streams.
func (w *World) Env() cmdenv.Env {
	return cmdenv.Env{Environ: append([]string(nil), w.environ...), Dir: w.Dir}
}

// Path is name inside the project directory (an absolute name as it is).
func (w *World) Path(name string) string { return w.Env().Path(name) }

// Run runs a command line (split at spaces) and returns its exit code and output.
func (w *World) Run(t testing.TB, cmdline string) (int, string, string) {
	t.Helper()
	return w.RunArgs(t, strings.Fields(cmdline), "")
}

// RunArgs runs args with stdin as standard input.
func (w *World) RunArgs(t testing.TB, args []string, stdin string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	env := w.Env()
	env.Stdin, env.Stdout, env.Stderr = strings.NewReader(stdin), &stdout, &stderr
	code := w.run(args, env)
	return code, stdout.String(), stderr.String()
}

// MustBuild runs a command line that must succeed and returns its stderr (a build's
// progress).
func (w *World) MustBuild(t testing.TB, cmdline string) string {
	t.Helper()
	code, stdout, stderr := w.Run(t, cmdline)
	if code != 0 {
		t.Fatalf("%s: exit %d\nstdout:\n%s\nstderr:\n%s", cmdline, code, stdout, stderr)
	}
	return stderr
}

// WriteFile writes content to name in the project directory, making its directories.
func (w *World) WriteFile(t testing.TB, name, content string) {
	t.Helper()
	p := w.Path(name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// ReadFile reads name in the project directory.
func (w *World) ReadFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(w.Path(name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// AsMainVariable set to 1 makes a test binary whose TestMain calls AsMain run as the
// pycontainer command itself.
const AsMainVariable = "PYCONTAINER_TEST_AS_MAIN"

// AsMain runs the test binary as pycontainer when Command started it (and returns
// otherwise), so a test can kill a build as a real process.
func AsMain(run Runner) {
	if os.Getenv(AsMainVariable) == "1" {
		os.Exit(run(os.Args[1:], cmdenv.OS()))
	}
}

// Command is the test binary as the pycontainer command in w: args, w's environment
// (plus extra KEY=value lines) and directory. The test package's TestMain calls AsMain.
func (w *World) Command(t testing.TB, args []string, extra ...string) *exec.Cmd {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, args...)
	cmd.Env = append(append(w.Env().Environ, AsMainVariable+"=1"), extra...)
	cmd.Dir = w.Dir
	return cmd
}

// CopyDemoApp writes the docs' demo app (app.py, pyproject.toml) into dir.
func CopyDemoApp(tb testing.TB, dir string) {
	tb.Helper()
	for name, data := range map[string][]byte{"app.py": examples.DemoApp, "pyproject.toml": examples.DemoPyproject} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
}

// NeedPip skips the test when python3 -m pip is not available: --include-deps
// delegates resolution to it.
func NeedPip(t testing.TB) {
	t.Helper()
	if err := exec.Command("python3", "-m", "pip", "--version").Run(); err != nil {
		t.Skip("python3 -m pip is not available; --include-deps delegates resolution to it")
	}
}
