package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode"

	"github.com/pycontainer/pycontainer/internal/testbase"
)

// The terminal app as a person uses it: the real binary in tmux, run with no arguments
// in a project directory, driven by keys only (send-keys), read off the screen
// (capture-pane), and judged by what lands on disk and whether the image runs.
//
// The screen texts relied on are few: "›" at the start of a line marks the cursor row,
// the platform names, the status line "N platforms of M selected", "✓ Built" for a
// finished build and "✗" for a failure. The input is found by the text typed into it.

// TestTUIBuildsTypedBase types a base image served by the Distribution registry into the
// first screen, picks platforms in the table and builds. The layout must name exactly
// the picked platforms, each manifest must say it was built on the typed image and on
// the registry's manifest of that platform, and each image must run: arm64 under
// qemu-aarch64-static, amd64 under chroot.
func TestTUIBuildsTypedBase(t *testing.T) {
	w := newTUIWorld(t)
	tests := []struct {
		name          string
		width, height int
		pick          []string // in the order they are picked
	}{
		{"80x24 linux/arm64", 80, 24, []string{"linux/arm64"}},
		{"160x45 linux/arm64 and linux/amd64", 160, 45, []string{"linux/arm64", "linux/amd64"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, p := range tt.pick {
				if w.arch(p) == nil {
					t.Skipf("no %s python base was built (see PYCONTAINER_E2E_ROOTFS)", p)
				}
			}
			start := time.Now()
			work := demoProject(t)
			app := startTUI(t, w.bin, work, tt.width, tt.height)
			app.typeBaseImage(w.image)
			app.waitForTable(w.platforms)
			for _, p := range tt.pick {
				app.moveCursorTo(p)
				app.toggle()
			}
			if got := app.selectedCount(app.capture()); got != len(tt.pick) {
				t.Fatalf("%d platforms selected after picking %v, want %d", got, tt.pick, len(tt.pick))
			}
			app.send("Enter")
			// Done when the screen says so; a layout on disk that the screen has not
			// reported 10 s later ends the wait too (then the summary is missing).
			layout := filepath.Join(work, "dist", "image")
			var written time.Time
			screen := app.waitFor("the end of the build (✓ Built or ✗)", 3*time.Minute, func(s string) bool {
				if strings.Contains(s, "✓ Built") || strings.Contains(s, "✗") {
					return true
				}
				if _, err := os.Stat(filepath.Join(layout, "index.json")); err == nil && written.IsZero() {
					written = time.Now()
				}
				return !written.IsZero() && time.Since(written) > 10*time.Second
			})
			took := time.Since(start).Round(time.Second)
			switch {
			case strings.Contains(screen, "✗"):
				code := app.quit()
				t.Fatalf("the build failed on screen %s after the app started (the app then exited with status %d):\n%s", took, code, frame(screen))
			case !strings.Contains(screen, "✓ Built"):
				t.Errorf("the build wrote %s, but 10 s later the screen does not say ✓ Built:\n%s", layout, frame(screen))
			default:
				t.Logf("the screen when the build ended, %s after the app started:\n%s", took, frame(screen))
			}
			if code := app.quit(); code != 0 {
				t.Errorf("the app exited with status %d after a successful build", code)
			}

			images := w.checkLayout(t, layout, tt.pick)
			for _, p := range tt.pick {
				img, ok := images[p]
				if !ok {
					continue // reported by checkLayout
				}
				t.Run("run "+p, func(t *testing.T) {
					a := w.arch(p)
					got := runLayoutImage(t, layout, img, *a)
					t.Logf("the %s image printed:\n%s", p, got)
					if !strings.Contains(got, "Platform: "+a.machine) {
						t.Errorf("the %s image printed\n%s\nwhich lacks %q", p, got, "Platform: "+a.machine)
					}
				})
			}
		})
	}
}

// TestTUIHarness checks the parts TestTUIBuildsTypedBase is made of, without relying on
// the app's build: the registry serves the bases; an image built on the typed base by
// `pycontainer build` passes the same layout checks and runs under qemu; in tmux the
// typed image reaches the platform table, Down and Up move the cursor row by row, space
// selects and unselects, and q quits with status 0 without writing a layout.
func TestTUIHarness(t *testing.T) {
	w := newTUIWorld(t)

	t.Run("a command-line build passes the checks and runs", func(t *testing.T) {
		work := demoProject(t)
		cmd := exec.Command(w.bin, "build", "--progress", "plain", "--platform", "linux/arm64", "--base-image", w.image)
		cmd.Dir = work
		cmd.Env = appEnv(t)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("pycontainer build: %v\n%s", err, out)
		}
		layout := filepath.Join(work, "dist", "image")
		images := w.checkLayout(t, layout, []string{"linux/arm64"})
		img, ok := images["linux/arm64"]
		if !ok {
			t.FailNow()
		}
		got := runLayoutImage(t, layout, img, *w.arch("linux/arm64"))
		if !strings.Contains(got, "Platform: aarch64") {
			t.Errorf("the arm64 image printed\n%s", got)
		}
	})

	t.Run("keys move, select and quit", func(t *testing.T) {
		work := demoProject(t)
		app := startTUI(t, w.bin, work, 80, 24)
		app.typeBaseImage(w.image)
		screen := app.waitForTable(w.platforms)
		rows := tableRows(screen)
		if len(rows) != len(w.platforms) {
			t.Fatalf("the table shows rows %v, want %v", rows, w.platforms)
		}
		// The cursor visits the last row, the first, then linux/arm64: Down and Up both move it.
		for _, p := range []string{rows[len(rows)-1], rows[0], "linux/arm64"} {
			app.moveCursorTo(p)
		}
		app.toggle()
		app.toggle() // unselects
		app.toggle()
		if got := app.selectedCount(app.capture()); got != 1 {
			t.Errorf("%d platforms selected, want 1", got)
		}
		if code := app.quit(); code != 0 {
			t.Errorf("quitting the platform table: exit status %d, want 0", code)
		}
		if _, err := os.Stat(filepath.Join(work, "dist")); !os.IsNotExist(err) {
			t.Errorf("quitting before a build left dist/ (%v)", err)
		}
	})
}

// tuiWorld is what both tests share: the registry with the python bases, the binary.
type tuiWorld struct {
	host      string   // the registry's host:port
	image     string   // the base image as typed
	bin       string   // the pycontainer binary
	present   []arch   // the architectures whose base was built
	platforms []string // their platforms as the table names them (linux/arm64, not /v8)
}

func newTUIWorld(t *testing.T) *tuiWorld {
	t.Helper()
	present, rootfs := pythonBases(t, arches, 1, "tmux", "umoci", "qemu-aarch64-static", "go")
	w := &tuiWorld{present: present}
	for _, a := range present {
		w.platforms = append(w.platforms, normPlatform(a.platform.String()))
	}
	if w.arch("linux/arm64") == nil {
		t.Skip("no arm64 python base: the flows pick linux/arm64")
	}
	w.host = testbase.StartDistribution(t)
	var plats []testbase.Platform
	for _, a := range present {
		plats = append(plats, a.platform)
	}
	testbase.Connect(w.host).Push(t, testbase.Spec{Repo: "library/python", Tag: "3.11-slim", Platforms: plats, RootFS: rootfs, Attestation: true})
	checkBaseIndex(t, w.host, len(plats))
	w.image = w.host + "/library/python:3.11-slim"
	w.bin = buildBinary(t)
	return w
}

func (w *tuiWorld) arch(platform string) *arch {
	for i, a := range w.present {
		if normPlatform(a.platform.String()) == platform {
			return &w.present[i]
		}
	}
	return nil
}

// normPlatform writes linux/arm64/v8 as linux/arm64, the platform's usual name.
func normPlatform(p string) string {
	if p == "linux/arm64/v8" {
		return "linux/arm64"
	}
	return p
}

// appEnv is a clean environment for the binary: its own HOME, config and cache, a
// UTF-8 locale, xterm-256color, and no CI variable (nothing of the caller's is passed
// on but PATH). Its proxy is a closed loopback port, so whatever it would fetch from
// outside fails at once instead of reaching the network (loopback is never proxied).
func appEnv(t *testing.T) []string {
	t.Helper()
	home := t.TempDir()
	proxy := "http://" + testbase.ClosedPort(t)
	return []string{
		"HTTP_PROXY=" + proxy,
		"HTTPS_PROXY=" + proxy,
		"NO_PROXY=127.0.0.1,localhost",
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"XDG_CONFIG_HOME=" + filepath.Join(home, ".config"),
		"XDG_CACHE_HOME=" + filepath.Join(home, ".cache"),
		"PYCONTAINER_CACHE=" + t.TempDir(),
		"LANG=C.UTF-8",
		"TERM=xterm-256color",
	}
}

// tuiSession is the app running in a private tmux server.
type tuiSession struct {
	t        *testing.T
	env      []string // for tmux and, through it, the app
	socket   string   // tmux -L name, under TMUX_TMPDIR
	conf     string
	target   string
	exitFile string   // the app's exit status, written when it ends
	screens  []string // the last distinct screens captured, oldest first
}

var tmuxSessions atomic.Int64

// startTUI runs bin with no arguments in dir, in a detached tmux session of the given
// size, and waits for the first screen.
func startTUI(t *testing.T, bin, dir string, width, height int) *tuiSession {
	t.Helper()
	return startTUIWith(t, bin, dir, width, height, nil)
}

// startTUIWith is startTUI with more environment (KEY=VALUE) and arguments.
func startTUIWith(t *testing.T, bin, dir string, width, height int, env []string, args ...string) *tuiSession {
	t.Helper()
	// TMUX_TMPDIR holds the server's socket: a short private directory, as a socket's
	// path is limited to about 100 bytes.
	tmp, err := os.MkdirTemp("", "pyc-tmux-")
	if err != nil {
		t.Fatal(err)
	}
	scratch := t.TempDir()
	s := &tuiSession{
		t:        t,
		env:      append(append(appEnv(t), env...), "TMUX_TMPDIR="+tmp),
		socket:   fmt.Sprintf("pycontainer-e2e-%d-%d", os.Getpid(), tmuxSessions.Add(1)),
		conf:     filepath.Join(scratch, "tmux.conf"),
		target:   "app",
		exitFile: filepath.Join(scratch, "exit-status"),
	}
	// No status line, so the pane is the whole width x height; a pane whose process
	// ended stays, so its last screen can still be read.
	conf := "set -g status off\nset -g remain-on-exit on\nset -g default-terminal xterm-256color\n"
	command := shQuote(bin)
	for _, a := range args {
		command += " " + shQuote(a)
	}
	script := fmt.Sprintf("cd %s || exit 1\nexport TERM=xterm-256color\nunset CI\n%s\necho $? > %s.tmp && mv %s.tmp %s\n",
		shQuote(dir), command, shQuote(s.exitFile), shQuote(s.exitFile), shQuote(s.exitFile))
	run := filepath.Join(scratch, "run.sh")
	if err := os.WriteFile(s.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(run, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			if _, ended := s.exited(); !ended {
				if out, err := s.tmux("capture-pane", "-p", "-t", s.target); err == nil {
					s.record(out)
				}
			}
			for i, scr := range s.screens {
				t.Logf("screen %d of the last %d captured:\n%s", i+1, len(s.screens), frame(scr))
			}
		}
		s.tmux("kill-server")
		os.RemoveAll(tmp)
	})
	if out, err := s.tmux("new-session", "-d", "-s", s.target, "-x", strconv.Itoa(width), "-y", strconv.Itoa(height), "sh "+shQuote(run)); err != nil {
		t.Fatalf("tmux new-session: %v\n%s", err, out)
	}
	size, err := s.tmux("display-message", "-p", "-t", s.target, "#{pane_width}x#{pane_height}")
	if want := fmt.Sprintf("%dx%d", width, height); err != nil || strings.TrimSpace(size) != want {
		t.Fatalf("the tmux pane is %q (%v), want %s", size, err, want)
	}
	s.waitFor("the first screen", 30*time.Second, func(scr string) bool {
		return strings.TrimSpace(scr) != ""
	})
	return s
}

func (s *tuiSession) tmux(args ...string) (string, error) {
	cmd := exec.Command("tmux", append([]string{"-u", "-f", s.conf, "-L", s.socket}, args...)...)
	cmd.Env = s.env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// send presses keys, named as tmux's send-keys names them (Enter, Down, Space, C-u).
func (s *tuiSession) send(keys ...string) {
	s.t.Helper()
	if out, err := s.tmux(append([]string{"send-keys", "-t", s.target}, keys...)...); err != nil {
		s.t.Fatalf("tmux send-keys %v: %v\n%s", keys, err, out)
	}
}

// typeText types text as it is (send-keys -l).
func (s *tuiSession) typeText(text string) {
	s.t.Helper()
	if out, err := s.tmux("send-keys", "-t", s.target, "-l", text); err != nil {
		s.t.Fatalf("tmux send-keys -l %q: %v\n%s", text, err, out)
	}
}

func (s *tuiSession) capture() string {
	s.t.Helper()
	out, err := s.tmux("capture-pane", "-p", "-t", s.target)
	if err != nil {
		s.t.Fatalf("tmux capture-pane: %v\n%s", err, out)
	}
	s.record(out)
	return out
}

func (s *tuiSession) record(scr string) {
	if n := len(s.screens); n > 0 && s.screens[n-1] == scr {
		return
	}
	s.screens = append(s.screens, scr)
	if len(s.screens) > 5 {
		s.screens = s.screens[1:]
	}
}

// exited returns the app's exit status once it has ended.
func (s *tuiSession) exited() (int, bool) {
	b, err := os.ReadFile(s.exitFile)
	if err != nil {
		return 0, false
	}
	code, err := strconv.Atoi(strings.TrimSpace(string(b)))
	return code, err == nil
}

// waitFor polls the screen until done accepts it, failing the test with the last screen
// after timeout or when the app ends first.
func (s *tuiSession) waitFor(what string, timeout time.Duration, done func(screen string) bool) string {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		scr := s.capture()
		if done(scr) {
			return scr
		}
		if code, ok := s.exited(); ok {
			s.t.Fatalf("the app exited with status %d while waiting for %s; the last screen:\n%s", code, what, frame(scr))
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("after %s the screen never showed %s; the last screen:\n%s", timeout, what, frame(scr))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// typeBaseImage empties the first screen's input, whatever it holds, types image and
// presses enter, once the screen shows image alone in the input.
func (s *tuiSession) typeBaseImage(image string) {
	s.t.Helper()
	// End, then ctrl+u deletes all before the cursor and ctrl+k all after it.
	s.send("End", "C-u", "C-k")
	s.typeText(image)
	s.waitFor("the typed image alone in the input ("+image+")", 10*time.Second, func(scr string) bool {
		return inputHolds(scr, image)
	})
	s.send("Enter")
}

// inputHolds reports whether a line of the screen is text alone after a prompt of
// symbols ("›", ">", none): nothing typed before it or after it.
func inputHolds(screen, text string) bool {
	for _, l := range strings.Split(screen, "\n") {
		before, after, ok := strings.Cut(l, text)
		if ok && strings.TrimSpace(after) == "" && !strings.ContainsFunc(before, func(r rune) bool {
			return unicode.IsLetter(r) || unicode.IsDigit(r)
		}) {
			return true
		}
	}
	return false
}

var selectedRe = regexp.MustCompile(`(\d+) platforms? of (\d+) selected`)

// waitForTable waits for the platform table with a row for each of platforms and the
// status line counting them, and fails at once if the fetch fails (✗).
func (s *tuiSession) waitForTable(platforms []string) string {
	s.t.Helper()
	scr := s.waitFor(fmt.Sprintf("the platform table with rows %v and 'N platforms of M selected'", platforms), time.Minute, func(scr string) bool {
		if strings.Contains(scr, "✗") {
			return true
		}
		rows := tableRows(scr)
		for _, p := range platforms {
			if !slices.Contains(rows, p) {
				return false
			}
		}
		return selectedRe.MatchString(scr) && cursorRow(scr) != ""
	})
	if strings.Contains(scr, "✗") {
		s.t.Fatalf("fetching the platforms failed:\n%s", frame(scr))
	}
	m := selectedRe.FindStringSubmatch(scr)
	if m[1] != "0" || m[2] != strconv.Itoa(len(platforms)) {
		s.t.Fatalf("the table says %q, want 0 of the %d platforms selected at first:\n%s", m[0], len(platforms), frame(scr))
	}
	return scr
}

var platformRe = regexp.MustCompile(`^(linux|windows|darwin|freebsd)/[a-z0-9_]+(/v[0-9.]+)?$`)

// rowPlatform is the platform a table row names: its first field that is one; "" for
// other lines.
func rowPlatform(line string) string {
	fields := strings.Fields(line)
	for _, f := range fields[:min(len(fields), 6)] {
		if platformRe.MatchString(f) {
			return normPlatform(f)
		}
	}
	return ""
}

// tableRows lists the platforms of the table's rows, top to bottom.
func tableRows(screen string) []string {
	var rows []string
	for _, l := range strings.Split(screen, "\n") {
		if p := rowPlatform(l); p != "" {
			rows = append(rows, p)
		}
	}
	return rows
}

// cursorRow is the platform of the row marked "›", "" if none is.
func cursorRow(screen string) string {
	for _, l := range strings.Split(screen, "\n") {
		if strings.HasPrefix(strings.TrimLeft(l, " "), "›") {
			if p := rowPlatform(l); p != "" {
				return p
			}
		}
	}
	return ""
}

// moveCursorTo presses Down or Up, one row at a time, each time waiting for the cursor
// to move, until the cursor row is platform.
func (s *tuiSession) moveCursorTo(platform string) {
	s.t.Helper()
	scr := s.capture()
	for range 20 {
		rows, cur := tableRows(scr), cursorRow(scr)
		if cur == platform {
			return
		}
		from, to := slices.Index(rows, cur), slices.Index(rows, platform)
		if from < 0 || to < 0 {
			s.t.Fatalf("moving the cursor from %q to %q: the table shows rows %v:\n%s", cur, platform, rows, frame(scr))
		}
		key := "Down"
		if to < from {
			key = "Up"
		}
		s.send(key)
		scr = s.waitFor(fmt.Sprintf("the cursor to leave %s after %s", cur, key), 10*time.Second, func(scr string) bool {
			return cursorRow(scr) != cur
		})
	}
	s.t.Fatalf("the cursor never reached %s:\n%s", platform, frame(scr))
}

func (s *tuiSession) selectedCount(screen string) int {
	s.t.Helper()
	m := selectedRe.FindStringSubmatch(screen)
	if m == nil {
		s.t.Fatalf("no 'N platforms of M selected' on screen:\n%s", frame(screen))
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// toggle presses space on the cursor row and waits for the selected count to change.
func (s *tuiSession) toggle() {
	s.t.Helper()
	scr := s.capture()
	before, row := s.selectedCount(scr), cursorRow(scr)
	s.send("Space")
	s.waitFor(fmt.Sprintf("the selected count to change from %d after space on %s", before, row), 10*time.Second, func(scr string) bool {
		m := selectedRe.FindStringSubmatch(scr)
		return m != nil && m[1] != strconv.Itoa(before)
	})
}

// quit presses q, and q again if the app is still there (it may ask to confirm), and
// returns the exit status.
func (s *tuiSession) quit() int {
	s.t.Helper()
	for _, wait := range []time.Duration{3 * time.Second, 20 * time.Second} {
		s.send("q")
		for deadline := time.Now().Add(wait); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if code, ok := s.exited(); ok {
				return code
			}
		}
		s.capture()
	}
	s.t.Fatalf("the app did not exit after q, q:\n%s", frame(s.capture()))
	return -1
}

// frame draws a captured screen with a left edge, so where lines begin shows; runs of
// more than two blank lines are counted, not drawn.
func frame(screen string) string {
	var out []string
	blank := 0
	flush := func() {
		if blank > 2 {
			out = append(out, fmt.Sprintf("  ┆ (%d blank lines)", blank))
		} else {
			for range blank {
				out = append(out, "  │")
			}
		}
		blank = 0
	}
	for _, l := range strings.Split(strings.TrimSuffix(screen, "\n"), "\n") {
		if strings.TrimSpace(l) == "" {
			blank++
			continue
		}
		flush()
		out = append(out, "  │"+l)
	}
	flush()
	return strings.Join(out, "\n")
}

func shQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// layoutImage is one image a layout names, through any nesting of indexes.
type layoutImage struct {
	raw         json.RawMessage // its descriptor as the index holds it
	digest      string
	platform    string // from the descriptor (linux/arm64, not /v8)
	nested      bool   // named by an index inside the layout's index.json
	annotations map[string]string
	config      struct{ Architecture, OS, Variant string }
}

type ociDescriptor struct {
	MediaType string `json:"mediaType"`
	Digest    string `json:"digest"`
	Platform  *struct {
		Architecture string `json:"architecture"`
		OS           string `json:"os"`
		Variant      string `json:"variant"`
	} `json:"platform"`
	Annotations map[string]string `json:"annotations"`
}

// layoutImages lists the images of an OCI layout, following nested indexes and
// leaving out attestation manifests; an image named twice is listed once.
func layoutImages(t *testing.T, layout string) []layoutImage {
	t.Helper()
	var out []layoutImage
	seen := map[string]bool{}
	var walk func(raw []byte, depth int)
	walk = func(raw []byte, depth int) {
		var idx struct{ Manifests []json.RawMessage }
		if err := json.Unmarshal(raw, &idx); err != nil {
			t.Fatalf("an index of %s: %v\n%s", layout, err, raw)
		}
		for _, m := range idx.Manifests {
			var d ociDescriptor
			if err := json.Unmarshal(m, &d); err != nil {
				t.Fatal(err)
			}
			blob := readLayoutBlob(t, layout, d.Digest)
			switch d.MediaType {
			case "application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json":
				if depth > 3 {
					t.Fatalf("%s nests indexes deeper than 3", layout)
				}
				walk(blob, depth+1)
				continue
			}
			if seen[d.Digest] || d.Annotations["vnd.docker.reference.type"] == "attestation-manifest" || (d.Platform != nil && d.Platform.OS == "unknown") {
				continue
			}
			seen[d.Digest] = true
			img := layoutImage{raw: m, digest: d.Digest, nested: depth > 0}
			if d.Platform != nil {
				p := d.Platform.OS + "/" + d.Platform.Architecture
				if d.Platform.Variant != "" {
					p += "/" + d.Platform.Variant
				}
				img.platform = normPlatform(p)
			}
			var man struct {
				Config      struct{ Digest string }
				Annotations map[string]string
			}
			if err := json.Unmarshal(blob, &man); err != nil {
				t.Fatalf("manifest %s: %v", d.Digest, err)
			}
			img.annotations = man.Annotations
			if err := json.Unmarshal(readLayoutBlob(t, layout, man.Config.Digest), &img.config); err != nil {
				t.Fatalf("config %s: %v", man.Config.Digest, err)
			}
			out = append(out, img)
		}
	}
	raw, err := os.ReadFile(filepath.Join(layout, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	walk(raw, 0)
	return out
}

func readLayoutBlob(t *testing.T, layout, d string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(layout, "blobs", "sha256", strings.TrimPrefix(d, "sha256:")))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkLayout checks that the layout holds an image for each of want and no other, each
// built on w.image (org.opencontainers.image.base.name) and on the registry's index of
// it (base.digest: the digest of what base.name names), with a config of that
// architecture. It returns the
// images by platform.
func (w *tuiWorld) checkLayout(t *testing.T, layout string, want []string) map[string]layoutImage {
	t.Helper()
	images := layoutImages(t, layout)
	byPlatform := map[string]layoutImage{}
	var got []string
	for _, img := range images {
		byPlatform[img.platform] = img
		got = append(got, img.platform)
		t.Logf("the layout holds %s (%s, nested %v)", img.platform, img.digest, img.nested)
	}
	if len(images) != len(want) || len(byPlatform) != len(want) {
		t.Errorf("the layout holds images for %v, want exactly %v", got, want)
	}
	for _, p := range want {
		img, ok := byPlatform[p]
		if !ok {
			t.Errorf("the layout has no image for %s (it has %v)", p, got)
			continue
		}
		if name := img.annotations["org.opencontainers.image.base.name"]; name != w.image {
			t.Errorf("%s: org.opencontainers.image.base.name is %q, want the image typed, %q", p, name, w.image)
		}
		if d, want := img.annotations["org.opencontainers.image.base.digest"], w.registryDigest(t); d != want {
			t.Errorf("%s: org.opencontainers.image.base.digest is %q, want %q (the registry's index of %s)", p, d, want, w.image)
		}
		arch := strings.Split(p, "/")[1]
		if img.config.Architecture != arch || img.config.OS != "linux" {
			t.Errorf("%s: the config says os %q architecture %q", p, img.config.OS, img.config.Architecture)
		}
	}
	return byPlatform
}

// registryDigest is the digest of the base's index, as the registry names it.
func (w *tuiWorld) registryDigest(t *testing.T) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodHead, "http://"+w.host+"/v2/library/python/manifests/3.11-slim", nil)
	req.Header.Set("Accept", "application/vnd.oci.image.index.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	d := resp.Header.Get("Docker-Content-Digest")
	if d == "" {
		t.Fatalf("the registry named no digest for %s", w.image)
	}
	return d
}

// runLayoutImage unpacks one image of layout with umoci and runs its process on its
// architecture (see runBundle).
func runLayoutImage(t *testing.T, layout string, img layoutImage, a arch) string {
	t.Helper()
	return runBundle(t, unpackLayoutImage(t, layout, img), a)
}

// unpackLayoutImage unpacks one image of layout with umoci, from a layout naming only
// it (its blobs hard-linked): umoci picks images by name and not by platform, so the
// tag of a multi-platform layout is ambiguous to it.
func unpackLayoutImage(t *testing.T, layout string, img layoutImage) string {
	t.Helper()
	var desc map[string]any
	if err := json.Unmarshal(img.raw, &desc); err != nil {
		t.Fatal(err)
	}
	desc["annotations"] = map[string]string{"org.opencontainers.image.ref.name": "e2e"}
	one := filepath.Join(t.TempDir(), "image")
	blobs := filepath.Join(one, "blobs", "sha256")
	if err := os.MkdirAll(blobs, 0o755); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(filepath.Join(layout, "blobs", "sha256"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if err := os.Link(filepath.Join(layout, "blobs", "sha256", e.Name()), filepath.Join(blobs, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	index, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": []any{desc}})
	if err := os.WriteFile(filepath.Join(one, "index.json"), index, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(one, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	bundle := filepath.Join(t.TempDir(), "bundle")
	if out, err := exec.Command("umoci", "unpack", "--rootless", "--image", one+":e2e", bundle).CombinedOutput(); err != nil {
		t.Fatalf("umoci unpack: %v\n%s", err, out)
	}
	return bundle
}
