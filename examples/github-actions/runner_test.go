package githubactions_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// runner runs jobs as a GitHub-hosted runner would, each on a machine of its own (a
// fresh home, workspace and Python), with what the test stands in for GitHub.
type runner struct {
	t       *testing.T
	project string            // what actions/checkout checks out
	pipEnv  []string          // how pip reaches the wheels
	expr    map[string]string // github.*, secrets.* for ${{ }}
	log     strings.Builder   // everything every step printed
}

// machine is one job's runner: its environment so far.
type machine struct {
	home, workspace, temp string
	path                  []string // PATH, first entries first
}

// runJob runs the steps of job name with the matrix values m.
func (r *runner) runJob(name string, wf workflow, m map[string]string) {
	t := r.t
	j := wf.Jobs[name]
	home := t.TempDir()
	mc := &machine{home: home, workspace: filepath.Join(home, "work"), temp: filepath.Join(home, "temp"), path: filepath.SplitList(os.Getenv("PATH"))}
	for _, d := range []string{mc.workspace, mc.temp} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	expr := map[string]string{}
	for k, v := range r.expr {
		expr[k] = v
	}
	for k, v := range m {
		expr["matrix."+k] = v
	}
	for i, s := range j.Steps {
		label := fmt.Sprintf("%s %v step %d %q", name, m, i+1, r.substitute(s.Name, expr))
		switch {
		case s.Uses != "":
			r.uses(mc, s, label)
		case s.Run != "":
			env := r.stepEnv(mc, expr, wf.Env, j.Env, s.Env)
			r.run(mc, s, r.substitute(s.Run, expr), env, label)
		default:
			t.Fatalf("%s: neither uses nor run", label)
		}
	}
}

// uses stands in for the actions the workflow uses.
func (r *runner) uses(mc *machine, s step, label string) {
	t := r.t
	action, _, _ := strings.Cut(s.Uses, "@")
	switch action {
	case "actions/checkout":
		if err := os.CopyFS(mc.workspace, os.DirFS(r.project)); err != nil {
			t.Fatalf("%s: %v", label, err)
		}
	case "actions/setup-python":
		// A venv of the host's python3 (the version asked for is the runner's business),
		// its bin first on PATH, as setup-python puts the toolcache's.
		venv := filepath.Join(mc.home, "hostedtoolcache", "python")
		if out, err := exec.CommandContext(t.Context(), "python3", "-m", "venv", venv).CombinedOutput(); err != nil {
			t.Fatalf("%s: python3 -m venv: %v\n%s", label, err, out)
		}
		mc.path = append([]string{filepath.Join(venv, "bin")}, mc.path...)
	default:
		t.Fatalf("%s: the test cannot stand in for %s", label, s.Uses)
	}
	t.Logf("%s: %s (stood in for)", label, s.Uses)
}

// stepEnv is the environment of a run step: the runner's, then the workflow's, job's and
// step's env, later ones winning, as GitHub sets them.
func (r *runner) stepEnv(mc *machine, expr map[string]string, envs ...map[string]string) []string {
	env := []string{
		"PATH=" + strings.Join(mc.path, string(os.PathListSeparator)), "HOME=" + mc.home, "TMPDIR=" + mc.temp, "LANG=C.UTF-8",
		"CI=true", "GITHUB_ACTIONS=true", "RUNNER_OS=Linux", "RUNNER_TEMP=" + mc.temp, "GITHUB_WORKSPACE=" + mc.workspace,
		"GITHUB_REPOSITORY=" + expr["github.repository"], "GITHUB_SHA=" + expr["github.sha"], "GITHUB_ACTOR=" + expr["github.actor"],
		"GITHUB_OUTPUT=" + filepath.Join(mc.temp, "output"), "GITHUB_ENV=" + filepath.Join(mc.temp, "env"),
	}
	if root := os.Getenv("PYENV_ROOT"); root != "" { // python3 may be pyenv's shim
		env = append(env, "PYENV_ROOT="+root)
	}
	env = append(env, r.pipEnv...)
	for _, e := range envs {
		keys := make([]string, 0, len(e))
		for k := range e {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			env = append(env, k+"="+r.substitute(e[k], expr))
		}
	}
	return env
}

// run runs one step's script with bash -e, GitHub's default shell on Linux.
func (r *runner) run(mc *machine, s step, script string, env []string, label string) {
	t := r.t
	if s.Shell != "" && s.Shell != "bash" {
		t.Fatalf("%s: shell %s; the test runs bash", label, s.Shell)
	}
	file := filepath.Join(mc.temp, "step.sh")
	if err := os.WriteFile(file, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), "bash", "-e", file)
	cmd.Dir, cmd.Env = mc.workspace, env
	out, err := cmd.CombinedOutput()
	r.log.Write(out)
	t.Logf("%s:\n%s\n%s", label, strings.TrimSpace(script), out)
	if err != nil {
		t.Fatalf("%s failed: %v", label, err)
	}
	// Outputs and env files would change later steps; this runner does not carry them.
	for _, f := range []string{"output", "env"} {
		if b, _ := os.ReadFile(filepath.Join(mc.temp, f)); len(b) > 0 {
			t.Fatalf("%s wrote GITHUB_%s, which the test does not carry to later steps", label, strings.ToUpper(f))
		}
	}
}

var exprRE = regexp.MustCompile(`\$\{\{\s*([^}]*?)\s*\}\}`)

// substitute replaces ${{ name }} as GitHub does before a step runs; an expression the
// test does not know fails it, rather than running a step GitHub would run differently.
func (r *runner) substitute(s string, expr map[string]string) string {
	return exprRE.ReplaceAllStringFunc(s, func(m string) string {
		name := exprRE.FindStringSubmatch(m)[1]
		v, ok := expr[name]
		if !ok {
			r.t.Fatalf("the workflow uses ${{ %s }}, which the test does not provide", name)
		}
		return v
	})
}
