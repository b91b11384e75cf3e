//go:build linux

package reliability

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pycontainer/pycontainer/internal/clitest"
	"github.com/pycontainer/pycontainer/internal/testbase"
)

// pathRows: what a project holds decides what goes into the image, never where the build
// reads or writes outside it; the files pycontainer reads from it are regular files of a
// sane size; a symlinked --context builds the project; login and save never write
// through what they find in their way.
func pathRows(t *testing.T) []reliabilityRow {
	reg := testbase.Start(t)
	reg.Push(t, testbase.Spec{Repo: "library/python", Tag: "3.11-slim", Platforms: testbase.PythonPlatforms[:1]})
	const build = "build --platform linux/amd64 --progress plain"
	var rows []reliabilityRow
	row := func(name string, f func(t *testing.T, w *clitest.World) reliabilityRow) {
		t.Run(name, func(t *testing.T) {
			r := f(t, newSeedWorldWith(t, reg))
			r.Mode, r.Trials = "hostile input", 1
			rows = append(rows, r)
		})
	}
	// refused checks a build in w failed with one line holding want and wrote no layout.
	refused := func(t *testing.T, w *clitest.World, code int, stderr, want string) {
		t.Helper()
		msg := strings.TrimSpace(stderr)
		if code != 1 || strings.Contains(msg, "\n") || !strings.Contains(msg, want) {
			t.Errorf("exit %d, want 1 and one line with %q:\n%s", code, want, stderr)
		}
		if _, err := os.Stat(w.Path("dist/image/index.json")); err == nil {
			t.Error("a refused build wrote dist/image")
		}
	}

	row("context ../home", func(t *testing.T, w *clitest.World) reliabilityRow {
		home := filepath.Join(filepath.Dir(w.Dir), "home")
		if err := os.Mkdir(home, 0o755); err != nil {
			t.Fatal(err)
		}
		w.WriteFile(t, filepath.Join(home, "app.py"), "print('not this project')\n")
		w.WriteFile(t, filepath.Join(home, "notes.txt"), "home-secret\n")
		w.WriteFile(t, "pycontainer.toml", "[build]\ncontext = \"../home\"\n")
		code, _, stderr := w.Run(t, build)
		leak := 0
		if code == 0 {
			layers := layerEntries(t, w.Path("dist/image"))
			if _, ok := layers[len(layers)-1]["app/notes.txt"]; ok {
				leak++
			}
		}
		refused(t, w, code, stderr, `pycontainer.toml: context "../home" leads to `)
		return reliabilityRow{What: "pycontainer.toml `[build] context = \"../home\"`", Leak: leak,
			Outcome: "refused in one line: outside the project, pass --context on the command line to mean it; nothing read there"}
	})
	row("output outside", func(t *testing.T, w *clitest.World) reliabilityRow {
		outside := t.TempDir()
		if err := os.Symlink(outside, w.Path("dist")); err != nil {
			t.Fatal(err)
		}
		pyproject := w.ReadFile(t, "pyproject.toml")
		for _, c := range []struct{ file, body, target, want string }{
			{"pycontainer.toml", "[build]\noutput = %q\n", filepath.Join(outside, "abs"), `pycontainer.toml: output "` + outside},
			{"pyproject.toml", "[project]\nname = \"demo\"\n[project.scripts]\ndemo = \"app:main\"\n[tool.pycontainer]\noutput = %q\n", "../out", `pyproject.toml [tool.pycontainer]: output "`},
			{"pycontainer.toml", "[build]\noutput = %q\n", "dist/image", `pycontainer.toml: output "dist/image" leads to ` + outside},
		} {
			w.WriteFile(t, c.file, fmt.Sprintf(c.body, c.target))
			code, _, stderr := w.Run(t, build)
			refused(t, w, code, stderr, c.want)
			for _, p := range []string{filepath.Join(outside, "abs"), filepath.Join(w.Dir, "..", "out"), filepath.Join(outside, "image")} {
				if _, err := os.Stat(p); err == nil {
					t.Errorf("output %s: the build wrote %s", c.target, p)
				}
			}
			os.Remove(w.Path("pycontainer.toml"))
			w.WriteFile(t, "pyproject.toml", string(pyproject))
		}
		return reliabilityRow{What: "`output = \"/abs\"` in pycontainer.toml, `output = \"../out\"` in [tool.pycontainer], `output = \"dist/image\"` with `dist` a symlink out of the project",
			Outcome: "each refused in one line naming the file, the key and where it leads (pass --output to mean it); nothing written outside"}
	})
	row("plan names the context", func(t *testing.T, w *clitest.World) reliabilityRow {
		code, stdout, stderr := w.Run(t, "build --platform linux/amd64 --dry-run --progress json")
		if code != 0 {
			t.Fatalf("dry run: exit %d\n%s", code, stderr)
		}
		real, _ := filepath.EvalSymlinks(w.Dir)
		got := ""
		sc := bufio.NewScanner(strings.NewReader(stdout))
		for sc.Scan() {
			var ev struct{ Type, Context string }
			if json.Unmarshal(sc.Bytes(), &ev) == nil && ev.Type == "plan" {
				got = ev.Context
			}
		}
		if got != real {
			t.Errorf("the plan's context is %q, want %q", got, real)
		}
		return reliabilityRow{What: "which directory goes into the image (`--dry-run --progress json`)", Outcome: "the plan names the context directory, absolute, symlinks resolved"}
	})

	// The FIFO and device rows run the binary: a read that blocks would block the test.
	for _, c := range []struct{ name, file string }{
		{"FIFO pyproject.toml", "pyproject.toml"}, {"FIFO pycontainer.toml", "pycontainer.toml"}, {"FIFO .dockerignore", ".dockerignore"},
	} {
		row(c.name, func(t *testing.T, w *clitest.World) reliabilityRow {
			os.Remove(w.Path(c.file))
			if err := syscall.Mkfifo(w.Path(c.file), 0o644); err != nil {
				t.Fatal(err)
			}
			code, stderr, how := runBounded(t, w.Command(t, strings.Fields(build)))
			if how != "ended by itself" {
				t.Errorf("%s: %s (exit %d)\n%s", c.file, how, code, stderr)
			}
			refused(t, w, code, stderr, c.file+" is a named pipe (FIFO), not a regular file")
			return reliabilityRow{What: c.file + " a FIFO (nothing writes to it; SIGINT after 3 s if still running)", Outcome: "refused at once in one line, nothing opened for a blocking read"}
		})
	}
	row("pyproject.toml -> /dev/zero", func(t *testing.T, w *clitest.World) reliabilityRow {
		os.Remove(w.Path("pyproject.toml"))
		if err := os.Symlink("/dev/zero", w.Path("pyproject.toml")); err != nil {
			t.Fatal(err)
		}
		// Capped at 4 GB of address space: the unbounded read must not take the machine.
		code, stderr, how := runBounded(t, inShell(w.Command(t, strings.Fields(build)), "ulimit -v 4194304"))
		if how != "ended by itself" {
			t.Errorf("%s (exit %d)\n%s", how, code, stderr)
		}
		refused(t, w, code, stderr, "pyproject.toml is a character device (through a symlink)")
		return reliabilityRow{What: "pyproject.toml a symlink to /dev/zero", Outcome: "refused at once in one line, nothing read"}
	})
	row("FIFO requirements.txt", func(t *testing.T, w *clitest.World) reliabilityRow {
		if err := syscall.Mkfifo(w.Path("requirements.txt"), 0o644); err != nil {
			t.Fatal(err)
		}
		code, _, stderr := w.Run(t, build+" --include-deps")
		refused(t, w, code, stderr, "requirements.txt is a named pipe (FIFO)")
		return reliabilityRow{What: "requirements.txt a FIFO, with --include-deps", Outcome: "refused in one line (it was silently passed over for [project.dependencies])"}
	})

	row("symlinked context", func(t *testing.T, w *clitest.World) reliabilityRow {
		link := filepath.Join(t.TempDir(), "project")
		if err := os.Symlink(w.Dir, link); err != nil {
			t.Fatal(err)
		}
		code, _, stderr := w.Run(t, build+" --context "+link)
		if code != 0 {
			t.Fatalf("exit %d\n%s", code, stderr)
		}
		layers := layerEntries(t, w.Path("dist/image"))
		if _, ok := layers[len(layers)-1]["app/app.py"]; !ok {
			t.Errorf("the app layer lacks app.py: %v\n%s", layers[len(layers)-1], stderr)
		}
		return reliabilityRow{What: "`--context LINK`, LINK a symlink to the project", Outcome: "the directory it points to is built: app.py in the app layer"}
	})
	row("entrypoint module missing", func(t *testing.T, w *clitest.World) reliabilityRow {
		w.WriteFile(t, ".dockerignore", "*.py\n")
		code, _, stderr := w.Run(t, build)
		refused(t, w, code, stderr, `[project.scripts] demo = "app:main": module app is not in the build context`)
		return reliabilityRow{What: "an app layer without the module the entrypoint imports ([project.scripts] demo = \"app:main\", `*.py` in .dockerignore)",
			Outcome: "refused in one line naming the module and the context (--entrypoint to run what the base holds)"}
	})

	login := func(t *testing.T, w *clitest.World, plant func(tmp, victim string)) (config, victim string) {
		t.Helper()
		dir := t.TempDir()
		w.Setenv("DOCKER_CONFIG", dir)
		victim = filepath.Join(t.TempDir(), "victim")
		w.WriteFile(t, victim, "victim")
		plant(filepath.Join(dir, "config.json.tmp"), victim)
		if code, _, stderr := w.RunArgs(t, []string{"login", w.Registry.Host, "-u", "me", "--password-stdin"}, "login-secret-pw\n"); code != 0 {
			t.Fatalf("login: exit %d\n%s", code, stderr)
		}
		return filepath.Join(dir, "config.json"), victim
	}
	row("login through a planted symlink", func(t *testing.T, w *clitest.World) reliabilityRow {
		config, victim := login(t, w, func(tmp, victim string) {
			if err := os.Symlink(victim, tmp); err != nil {
				t.Fatal(err)
			}
		})
		leak := 0
		if b, _ := os.ReadFile(victim); string(b) != "victim" {
			t.Errorf("login wrote through the symlink: the victim holds %q", b)
			leak++
		}
		if fi, err := os.Lstat(config); err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o600 {
			t.Errorf("config.json: %v %v, want a regular file of mode 0600", fi.Mode(), err)
		}
		return reliabilityRow{What: "login with `~/.docker/config.json.tmp` a symlink to another file", Leak: leak,
			Outcome: "the link's target untouched; config.json written through a fresh exclusive temporary file, mode 0600"}
	})
	row("login over a planted 0666 file", func(t *testing.T, w *clitest.World) reliabilityRow {
		config, _ := login(t, w, func(tmp, _ string) {
			w.WriteFile(t, tmp, "")
			if err := os.Chmod(tmp, 0o666); err != nil {
				t.Fatal(err)
			}
		})
		if fi, err := os.Stat(config); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("config.json: %v, want mode 0600 (%v)", fi.Mode().Perm(), err)
		}
		return reliabilityRow{What: "login with `~/.docker/config.json.tmp` planted with mode 0666", Outcome: "config.json has mode 0600"}
	})

	row("save into its own layout", func(t *testing.T, w *clitest.World) reliabilityRow {
		w.MustBuild(t, build)
		before := w.ReadFile(t, "dist/image/index.json")
		code, _, stderr := w.Run(t, "save -o dist/image/index.json")
		if code != 2 || strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.Contains(stderr, "is inside the layout dist/image that save reads") {
			t.Errorf("exit %d, want 2 and one line:\n%s", code, stderr)
		}
		if after, _ := os.ReadFile(w.Path("dist/image/index.json")); !bytes.Equal(before, after) {
			t.Error("save replaced the layout's index.json")
		} else {
			validateLayout(t, w.Path("dist/image"))
		}
		return reliabilityRow{What: "`save -o dist/image/index.json`", Outcome: "refused in one line (exit 2); the layout intact"}
	})
	return rows
}

// runBounded runs cmd (a World's Command: this test binary as pycontainer) and says how
// it ended: by itself within 3 s, on a SIGINT sent then, or not even then (killed 10 s
// later).
func runBounded(t *testing.T, cmd *exec.Cmd) (code int, stderr, how string) {
	t.Helper()
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	how = "ended by itself"
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		how = "ended on SIGINT (blocked until then)"
		_ = cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			how = "ignored SIGINT: killed after 13 s"
			_ = cmd.Process.Kill()
			<-done
		}
	}
	return cmd.ProcessState.ExitCode(), errb.String(), how
}

// inShell has /bin/sh run script (a ulimit, a umask: what binds the process alone) and
// then exec cmd's program with its arguments, environment and directory.
func inShell(cmd *exec.Cmd, script string) *exec.Cmd {
	cmd.Args = append([]string{"/bin/sh", "-c", script + `; exec "$0" "$@"`}, cmd.Args...)
	cmd.Path = "/bin/sh"
	return cmd
}
