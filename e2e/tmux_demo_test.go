package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The demo in tmux: it needs no registry or bases, only tmux and go, and its builds
// stream for a few seconds, long enough to stop one.

// demoSession starts `pycontainer demo` with its own TMPDIR (where it keeps the project
// and the layout), fetches python:3.11-slim, selects every platform and starts a build.
func demoSession(t *testing.T, width, height int) (*tuiSession, string) {
	t.Helper()
	for _, tool := range []string{"tmux", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed", tool)
		}
	}
	tmp := t.TempDir()
	app := startTUIWith(t, buildBinary(t), t.TempDir(), width, height, []string{"TMPDIR=" + tmp}, "demo")
	app.waitFor("the demo's first screen", 30*time.Second, func(scr string) bool { return strings.Contains(scr, "DEMO DATA") })
	if demoDirs(t, tmp) != 1 {
		t.Fatalf("the demo made %d directories in its TMPDIR, want 1", demoDirs(t, tmp))
	}
	app.send("Enter")
	app.waitFor("the platform table", 30*time.Second, func(scr string) bool { return strings.Contains(scr, "platforms of") })
	app.send("a", "Enter")
	app.waitFor("a running build", 30*time.Second, func(scr string) bool { return strings.Contains(scr, "downloading") })
	return app, tmp
}

// demoDirs counts the demo's temporary directories in dir.
func demoDirs(t *testing.T, dir string) int {
	t.Helper()
	found, err := filepath.Glob(filepath.Join(dir, "pycontainer-demo-*"))
	if err != nil {
		t.Fatal(err)
	}
	return len(found)
}

// waitGone waits until the demo's temporary directory is gone.
func waitGone(t *testing.T, tmp string) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); demoDirs(t, tmp) > 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the demo's temporary directory is still in %s", tmp)
		}
	}
}

// TestTUIStoppedBuildExits130: q during a build asks first, the second q stops it; so
// does ctrl+c at once. Either way the app exits 130 and the demo cleans up.
func TestTUIStoppedBuildExits130(t *testing.T) {
	tests := []struct {
		name string
		keys [][]string // pressed in turn, each after the screen settled
	}{
		{"q, then q to confirm", [][]string{{"q"}, {"q"}}},
		{"ctrl+c", [][]string{{"C-c"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app, tmp := demoSession(t, 80, 24)
			for i, keys := range tt.keys {
				app.send(keys...)
				if i == 0 && len(tt.keys) > 1 {
					app.waitFor("the question before quitting", 10*time.Second, func(scr string) bool {
						return strings.Contains(scr, "q again stops it and quits")
					})
				}
			}
			code := -1
			for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
				if c, ok := app.exited(); ok {
					code = c
					break
				}
			}
			if code != 130 {
				t.Errorf("exit status %d, want 130 (interrupted)", code)
			}
			// The line may have scrolled above the pane when tmux said the pane ended:
			// read its history too.
			said := "Error: interrupted; the previous image in the output directory is unchanged"
			out, _ := app.tmux("capture-pane", "-p", "-S", "-", "-t", app.target)
			if !strings.Contains(out, said) {
				t.Errorf("the terminal after quitting does not say the build was interrupted:\n%s", frame(out))
			}
			waitGone(t, tmp)
		})
	}
}

// TestTUIDemoHangup: closing the terminal (SIGHUP) in the middle of a build stops it and
// removes the demo's temporary directory, as q does.
func TestTUIDemoHangup(t *testing.T) {
	app, tmp := demoSession(t, 80, 24)
	if out, err := app.tmux("kill-server"); err != nil {
		t.Fatalf("tmux kill-server: %v\n%s", err, out)
	}
	waitGone(t, tmp)
	if entries, _ := os.ReadDir(tmp); len(entries) != 0 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("the demo left %v in its TMPDIR", names)
	}
}

// TestTUIDemoStack drives `pycontainer demo --stack` at 80×24 and 120×40 as a person
// does: the matrix names mysql:5.7's miss and its newer line, down and enter open its
// platforms with the diagnosis, esc comes back, q quits with 0.
func TestTUIDemoStack(t *testing.T) {
	for _, tool := range []string{"tmux", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed", tool)
		}
	}
	bin := buildBinary(t)
	for _, size := range [][2]int{{80, 24}, {120, 40}} {
		t.Run(fmt.Sprintf("%dx%d", size[0], size[1]), func(t *testing.T) {
			app := startTUIWith(t, bin, t.TempDir(), size[0], size[1], []string{"TMPDIR=" + t.TempDir()}, "demo", "--stack")
			app.waitFor("the stack's matrix", 30*time.Second, func(scr string) bool {
				return strings.Contains(scr, "mysql:5.7") && strings.Contains(scr, "✗ → 8.0") && strings.Contains(scr, "✗ emulate")
			})
			app.send("Down", "Down", "Enter")
			app.waitFor("mysql:5.7's platforms and why arm64 is missing", 30*time.Second, func(scr string) bool {
				return strings.Contains(scr, "docker.io/library/mysql:5.7  index") && strings.Contains(scr, "Why linux/arm64 is missing")
			})
			app.send("Escape")
			app.waitFor("the matrix again", 10*time.Second, func(scr string) bool { return strings.Contains(scr, "Stack  4 images") })
			app.send("q")
			app.waitFor("the app to exit", 10*time.Second, func(string) bool {
				code, done := app.exited()
				if done && code != 0 {
					t.Errorf("exit %d, want 0", code)
				}
				return done
			})
		})
	}
}
