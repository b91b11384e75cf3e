package ui

import (
	"context"
	"errors"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
	digest "github.com/opencontainers/go-digest"
	"github.com/regclient/regclient/types/descriptor"
	"github.com/regclient/regclient/types/mediatype"
	"github.com/regclient/regclient/types/ref"

	"github.com/pycontainer/pycontainer/build"
	"github.com/pycontainer/pycontainer/registry"
	"github.com/pycontainer/pycontainer/stack"
	"github.com/pycontainer/pycontainer/ui/uitest"
)

// stackIndex is an index of image with one entry per platform.
func stackIndex(t testing.TB, image string, platforms ...string) *registry.Index {
	t.Helper()
	r, err := ref.New(image)
	if err != nil {
		t.Fatal(err)
	}
	ix := &registry.Index{Ref: r, Digest: digest.FromString(image), MediaType: mediatype.OCI1ManifestList}
	for _, p := range platforms {
		pl := mustPlatform(t, p)
		ix.Entries = append(ix.Entries, registry.Entry{Platform: pl, Size: 30_000_000, Layers: 5,
			Descriptor: descriptor.Descriptor{MediaType: mediatype.OCI1Manifest, Digest: digest.FromString(image + p), Size: 900, Platform: &pl}})
	}
	return ix
}

func composePlace(line int, service string) stack.Image {
	return stack.Image{Source: stack.Source{File: "compose.yaml", Line: line, Service: service}}
}

func dockerfilePlace(line int, stage string) stack.Image {
	return stack.Image{Source: stack.Source{File: "Dockerfile", Line: line, Stage: stage, Instruction: stack.InstrFrom}}
}

// stackRow is a row read from an index with platforms, checked for wants; misses take
// their next step from next (by platform), each with a diagnosis that says the same.
func stackRow(t testing.TB, image string, places []stack.Image, has []string, wants []registry.PlatformRequest, next map[string]stack.Next) stack.Row {
	ix := stackIndex(t, image, has...)
	r := stack.Row{Image: image, Ref: ix.Ref.CommonName(), Index: ix}
	for _, p := range places {
		p.Ref = image
		r.Places = append(r.Places, p)
	}
	for _, w := range wants {
		_, found := ix.Find(w.Platform)
		c := stack.Cell{Platform: w, Found: found}
		if !found {
			c.Next = next[w.String()]
			d := &registry.Diagnosis{Image: r.Ref, Requested: w, Available: ix.Platforms(), TagsChecked: 12, TagsTotal: 40, Host: testHost}
			switch c.Next.Kind {
			case stack.NextSibling:
				d.Siblings = []registry.Sibling{{Ref: c.Next.Ref, Tag: tagOf(c.Next.Ref), Platforms: []string{"linux/amd64", "linux/arm64"}}}
			case stack.NextNewer:
				d.Newer = &registry.Sibling{Ref: c.Next.Ref, Tag: tagOf(c.Next.Ref), Platforms: []string{"linux/amd64", "linux/arm64"}}
			}
			c.Diagnosis = d
		}
		r.Cells = append(r.Cells, c)
	}
	return r
}

// fixtureStack is a Compose project and its Dockerfile checked for linux/amd64 and
// linux/arm64: a newer line, emulation, a sibling, nothing at all, an image that is not
// there, one named twice, and a build stage checked for this machine only.
func fixtureStack(t testing.TB) *stack.Check {
	both := requests(t, "linux/amd64", "linux/arm64")
	arm := "linux/arm64"
	host := []registry.PlatformRequest{{Platform: mustPlatform(t, "linux/amd64"), Raw: "$BUILDPLATFORM", Source: "Dockerfile:5 (stage tools): this machine builds it"}}
	win := "mcr.microsoft.com/windows/servercore:ltsc2022"
	return &stack.Check{Platforms: both, Rows: []stack.Row{
		stackRow(t, "mysql:5.7", []stack.Image{composePlace(3, "db")}, []string{"linux/amd64"}, both, map[string]stack.Next{
			arm: {Kind: stack.NextNewer, Ref: "docker.io/library/mysql:8.0", Text: "use docker.io/library/mysql:8.0, the nearest newer version line: it has linux/arm64"}}),
		stackRow(t, "node:8-alpine", []stack.Image{composePlace(7, "web")}, []string{"linux/amd64"}, both, map[string]stack.Next{
			arm: {Kind: stack.NextEmulate, Ref: "linux/amd64", Text: `run its linux/amd64 image under emulation: add "platform: linux/amd64" under service web (compose.yaml:7); this machine: native on this machine`}}),
		stackRow(t, "postgres:16", []stack.Image{composePlace(11, "pg")}, []string{"linux/amd64", "linux/arm64", "linux/arm/v7", "linux/s390x"}, both, nil),
		{Image: "nope:1", Ref: "docker.io/library/nope:1", Places: []stack.Image{composePlace(14, "old")},
			Err: errors.New("image docker.io/library/nope:1 not found: the repository has no tag 1; did you mean 1.0? (or latest, 1.1)")},
		stackRow(t, "redis:7", []stack.Image{composePlace(17, "cache"), composePlace(21, "queue")}, []string{"linux/amd64", "linux/arm64"}, both, nil),
		stackRow(t, "python:3.11-amd64only", []stack.Image{dockerfilePlace(2, "build")}, []string{"linux/amd64"}, both, map[string]stack.Next{
			arm: {Kind: stack.NextSibling, Ref: "docker.io/library/python:3.11-slim", Text: "use docker.io/library/python:3.11-slim: it has linux/arm64"}}),
		stackRow(t, "golang:1.22", []stack.Image{dockerfilePlace(5, "tools")}, []string{"linux/amd64", "linux/arm64"}, host, nil),
		stackRow(t, win, []stack.Image{composePlace(25, "win")}, []string{"windows/amd64"}, both, map[string]stack.Next{
			"linux/amd64": {Kind: stack.NextNothing, Text: "nothing published of " + win + " runs on linux/amd64"},
			arm:           {Kind: stack.NextNothing, Text: "nothing published of " + win + " runs on linux/arm64"}}),
	}}
}

// manyPlatformStack is checked for eight platforms, more than 80 columns hold.
func manyPlatformStack(t testing.TB) *stack.Check {
	all := []string{"linux/amd64", "linux/arm64", "linux/arm/v7", "linux/arm/v6", "linux/386", "linux/ppc64le", "linux/s390x", "linux/riscv64"}
	wants := requests(t, all...)
	emulate := map[string]stack.Next{}
	alpine := map[string]stack.Next{"linux/riscv64": {Kind: stack.NextSibling, Ref: "docker.io/library/python:3.11-alpine", Text: "use docker.io/library/python:3.11-alpine: it has linux/riscv64"}}
	for _, p := range all[1:] {
		emulate[p] = stack.Next{Kind: stack.NextEmulate, Ref: "linux/amd64", Text: "run its linux/amd64 image under emulation: docker run --platform linux/amd64 mysql:5.7"}
	}
	return &stack.Check{Platforms: wants, Rows: []stack.Row{
		stackRow(t, "postgres:16", []stack.Image{composePlace(3, "pg")}, all, wants, nil),
		stackRow(t, "mysql:5.7", []stack.Image{composePlace(6, "db")}, all[:1], wants, emulate),
		stackRow(t, "python:3.11-slim", []stack.Image{dockerfilePlace(1, "build")}, all[:7], wants, alpine),
	}}
}

// hostileStack names images, services, files and next steps with terminal escapes, as a
// Compose file or a registry could.
func hostileStack(t testing.TB) *stack.Check {
	both := requests(t, "linux/amd64", "linux/arm64")
	row := stackRow(t, "mysql:5.7", []stack.Image{{Source: stack.Source{File: "comp\x1b[2Jose.yaml", Line: 3, Service: "db\x1b]0;pwned\x07"}}},
		[]string{"linux/amd64"}, both, map[string]stack.Next{"linux/arm64": {Kind: stack.NextNewer, Ref: "docker.io/library/mysql:8.0\x1b[5m", Text: "use \x1b[5mmysql:8.0\x1b[0m"}})
	row.Image = "mysql:5.7\x1b[2J\x1b[31m"
	row.Places[0].Ref = row.Image
	return &stack.Check{Platforms: both, Rows: []stack.Row{row,
		{Image: "nope:1\x1b]0;x\x07", Ref: "docker.io/library/nope:1\x1b[2J", Places: []stack.Image{composePlace(9, "old\x1b[31m")},
			Err: errors.New("image nope:1 not found:\n\x1b[2Jthe registry said \x1b]8;;http://evil\x07click\x1b]8;;\x07")},
	}}
}

func newStackApp(t testing.TB, check *stack.Check) *App {
	return newTestApp(t, Config{Start: ScreenStack, Stack: check})
}

// stackStates are the stack screen's states the goldens, help and key checks cover.
func stackStates(t *testing.T) map[string]func(t *testing.T) *App {
	down := func(n int) func(t *testing.T) *App {
		return func(t *testing.T) *App {
			a := newStackApp(t, fixtureStack(t))
			for range n {
				send(a, uitest.Key("down"))
			}
			return a
		}
	}
	return map[string]func(t *testing.T) *App{
		"stack":        down(0),
		"stack-down":   down(1),
		"stack-error":  down(3),
		"stack-places": down(4),
		"stack-enter": func(t *testing.T) *App {
			a := newStackApp(t, fixtureStack(t))
			send(a, uitest.Key("enter"))
			return a
		},
		"stack-many": func(t *testing.T) *App { return newStackApp(t, manyPlatformStack(t)) },
		"stack-many-right": func(t *testing.T) *App {
			a := newStackApp(t, manyPlatformStack(t))
			a.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
			send(a, uitest.Key("down"), uitest.Key("right"), uitest.Key("right"))
			return a
		},
		"stack-hostile": func(t *testing.T) *App { return newStackApp(t, hostileStack(t)) },
	}
}

// TestStackGoldens draws the stack screen's states at 80×24 and 120×40: exactly the
// height, no line wider than the terminal, and the same picture as last time.
func TestStackGoldens(t *testing.T) {
	states := stackStates(t)
	states["help-stack"] = func(t *testing.T) *App {
		a := newStackApp(t, fixtureStack(t))
		send(a, uitest.Key("?"))
		return a
	}
	goldenScreens(t, states)
}

func TestStackMatrix(t *testing.T) {
	a := newStackApp(t, fixtureStack(t))
	a.Update(tea.WindowSizeMsg{Width: 120, Height: 40})
	text := screenText(a)
	for _, want := range []string{"stack › platforms", "NAMED BY", "linux/amd64", "linux/arm64",
		"db ", "mysql:5.7", "✗ → 8.0", "✗ emulate", "✗ → 3.11-slim", "✗ none", "cache, queue", "Dockerfile stage build",
		"✗ not found: the repository", "compose.yaml:3 (service db)", "8 images · 4 missing a platform · 1 not read"} {
		if !strings.Contains(text, want) {
			t.Errorf("the matrix lacks %q:\n%s", want, text)
		}
	}
	// golang:1.22 is checked for this machine only: its arm64 column is not its own.
	if line := lineWith(text, "golang:1.22"); !strings.Contains(line, "✓") || !strings.Contains(line, "·") {
		t.Errorf("the build-platform row is %q, want ✓ for amd64 and · for arm64", line)
	}
}

func lineWith(text, s string) string {
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, s) {
			return l
		}
	}
	return ""
}

func TestStackMoves(t *testing.T) {
	a := newStackApp(t, fixtureStack(t))
	for _, step := range []struct {
		key  string
		want int
	}{{"up", 0}, {"down", 1}, {"j", 2}, {"k", 1}, {"pgdown", 7}, {"down", 7}, {"pgup", 0}} {
		send(a, uitest.Key(step.key))
		if a.stack.cursor != step.want {
			t.Fatalf("after %s the cursor is on row %d, want %d", step.key, a.stack.cursor, step.want)
		}
	}
	send(a, uitest.Key("down"))
	if text := screenText(a); !strings.Contains(text, "run its linux/amd64 image under emulation") || !strings.Contains(text, "compose.yaml:7 (service web)") {
		t.Errorf("the details are not node:8-alpine's:\n%s", text)
	}
	_, cmd := a.Update(uitest.Key("q"))
	if cmd == nil {
		t.Fatal("q does nothing on the stack screen")
	}
	if _, ok := cmd().(tea.QuitMsg); !ok {
		t.Error("q does not quit the stack screen")
	}
}

// TestStackOpensThePlatformScreen: enter shows the row's own index with the check's
// diagnoses (nothing fetched or diagnosed again), and esc comes back to the matrix.
func TestStackOpensThePlatformScreen(t *testing.T) {
	fetched, diagnosed := 0, 0
	a := newTestApp(t, Config{Start: ScreenStack, Stack: fixtureStack(t), Services: Services{
		FetchIndex: func(context.Context, string) (*registry.Index, error) { fetched++; return fixtureIndex(t), nil },
		Diagnose: func(context.Context, *registry.Index, []build.RequestedPlatform) []*registry.Diagnosis {
			diagnosed++
			return nil
		},
	}})
	a.Update(tea.WindowSizeMsg{Width: 120, Height: 40})
	send(a, uitest.Key("enter"))
	if a.screen != ScreenPlatforms || a.platforms.index != a.cfg.Stack.Rows[0].Index {
		t.Fatalf("enter: screen %v, index %v", a.screen, a.platforms.index)
	}
	if fetched != 0 || diagnosed != 0 {
		t.Errorf("enter read again: %d fetches, %d diagnoses", fetched, diagnosed)
	}
	text := screenText(a)
	for _, want := range []string{"stack › platforms", "docker.io/library/mysql:5.7", "Why linux/arm64 is missing",
		"docker.io/library/mysql:8.0", "asked by --platform flag"} {
		if !strings.Contains(text, want) {
			t.Errorf("the platform screen lacks %q:\n%s", want, text)
		}
	}
	if req := a.platforms.request(); len(req.Platforms) != 1 || req.Platforms[0].String() != "linux/amd64" {
		t.Errorf("preselected %v, want the row's found linux/amd64", req.Platforms)
	}
	send(a, uitest.Key("esc"))
	if a.screen != ScreenStack || a.stack.cursor != 0 {
		t.Fatalf("esc: screen %v, cursor %d; want the stack, on the row it left", a.screen, a.stack.cursor)
	}
}

// TestStackDiagnosesWhatTheCheckDidNot: a row whose miss has no diagnosis is diagnosed
// the usual way when it opens.
func TestStackDiagnosesWhatTheCheckDidNot(t *testing.T) {
	check := fixtureStack(t)
	check.Rows[1].Cells[1].Diagnosis = nil
	var asked []build.RequestedPlatform
	a := newTestApp(t, Config{Start: ScreenStack, Stack: check, Services: Services{
		Diagnose: func(_ context.Context, ix *registry.Index, missing []build.RequestedPlatform) []*registry.Diagnosis {
			asked = append(asked, missing...)
			return []*registry.Diagnosis{{Image: ix.Ref.CommonName(), Requested: missing[0], Host: testHost, TagsTotal: 1}}
		},
	}})
	send(a, uitest.Key("down"), uitest.Key("enter"))
	if len(asked) != 1 || asked[0].String() != "linux/arm64" {
		t.Fatalf("diagnosed %v, want linux/arm64", asked)
	}
	if text := screenText(a); !strings.Contains(text, "the repository has no other tag") {
		t.Errorf("the diagnosis does not show:\n%s", text)
	}
}

func TestStackErrorRowDoesNotOpen(t *testing.T) {
	a := newStackApp(t, fixtureStack(t))
	send(a, uitest.Key("down"), uitest.Key("down"), uitest.Key("down"))
	if text := screenText(a); strings.Contains(lastLine(text), "enter") {
		t.Errorf("the footer offers enter on a row that could not be read: %q", lastLine(text))
	}
	send(a, uitest.Key("enter"))
	if a.screen != ScreenStack || !a.failed || !strings.Contains(a.status, "docker.io/library/nope:1 could not be read") {
		t.Errorf("enter on the error row: screen %v, status %q", a.screen, a.status)
	}
}

// TestStackTryLineComesBack: a try line of a platform list opened from the stack opens
// the sibling as anywhere else, and esc still leads back to the stack.
func TestStackTryLineComesBack(t *testing.T) {
	var fetched []string
	a := newTestApp(t, Config{Start: ScreenStack, Stack: fixtureStack(t), Services: Services{
		FetchIndex: func(_ context.Context, image string) (*registry.Index, error) {
			fetched = append(fetched, image)
			return stackIndex(t, image, "linux/amd64", "linux/arm64"), nil
		},
	}})
	for range 5 {
		send(a, uitest.Key("down"))
	}
	send(a, uitest.Key("enter")) // python:3.11-amd64only
	for range 2 {                // amd64, arm64 (missing), then the try line
		send(a, uitest.Key("down"))
	}
	if try := a.platforms.onTry(); try == nil || try.Tag != "3.11-slim" {
		t.Fatalf("the cursor is not on the try line:\n%s", screenText(a))
	}
	send(a, uitest.Key("enter"))
	if len(fetched) != 1 || fetched[0] != "docker.io/library/python:3.11-slim" || a.screen != ScreenPlatforms || a.platforms.missingCount() != 0 {
		t.Fatalf("fetched %v, screen %v, missing %d", fetched, a.screen, a.platforms.missingCount())
	}
	send(a, uitest.Key("esc"))
	if a.screen != ScreenStack || a.stack.cursor != 5 {
		t.Errorf("esc: screen %v, cursor %d; want the stack on row 5", a.screen, a.stack.cursor)
	}
}

// TestStackWithoutBuild: with no Build service the header names no build and a
// platform list's enter says building is not offered instead of starting one.
func TestStackWithoutBuild(t *testing.T) {
	a := newStackApp(t, fixtureStack(t))
	a.c.services.Build = nil
	if head := strings.Split(screenText(a), "\n")[0]; strings.Contains(head, "build") {
		t.Errorf("header %q names a build that cannot run", head)
	}
	send(a, uitest.Key("enter"), uitest.Key("enter"))
	if a.screen != ScreenPlatforms || a.status != "building is not offered here" {
		t.Errorf("enter on the platform list: screen %v, status %q", a.screen, a.status)
	}
}

func TestStackColumnsScroll(t *testing.T) {
	a := newStackApp(t, manyPlatformStack(t))
	a.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
	text := screenText(a)
	if !strings.Contains(text, "+") || !strings.Contains(text, "(←/→)") || strings.Contains(text, "linux/riscv64") {
		t.Fatalf("80 columns show every platform, or say nothing of the rest:\n%s", text)
	}
	for range 10 {
		send(a, uitest.Key("right"))
	}
	text = screenText(a)
	if !strings.Contains(text, "linux/riscv64") || strings.Contains(text, "linux/amd64  ") {
		t.Errorf("→ did not reach the last platform:\n%s", text)
	}
	if line := lineWith(text, "python:3.11"); !strings.Contains(line, "→ 3.11-alpine") {
		t.Errorf("python's riscv64 cell is %q", line)
	}
	for range 10 {
		send(a, uitest.Key("left"))
	}
	if a.stack.first != 0 {
		t.Errorf("← stops at column %d", a.stack.first)
	}
	a.Update(tea.WindowSizeMsg{Width: 200, Height: 40})
	if text := screenText(a); strings.Contains(text, "(←/→)") || !strings.Contains(text, "linux/riscv64") {
		t.Errorf("200 columns hold every platform:\n%s", text)
	}
}

// TestStackHostileNames: escapes in names, files, next steps and errors reach the
// terminal as visible text, on the matrix and on the platform list it opens.
func TestStackHostileNames(t *testing.T) {
	a := newStackApp(t, hostileStack(t))
	check := func(where string) {
		for _, size := range [][2]int{{80, 24}, {120, 40}} {
			a.Update(tea.WindowSizeMsg{Width: size[0], Height: size[1]})
			raw := a.View().Content
			for _, bad := range []string{"\x1b[2J", "\x1b]0;", "\x1b[5m", "\x1b]8;", "\x07", "\x1b[31m"} {
				if strings.Contains(raw, bad) {
					t.Errorf("%s at %dx%d: %q reaches the terminal", where, size[0], size[1], bad)
				}
			}
			checkFrame(t, screenText(a), size[0], size[1])
		}
	}
	check("the matrix")
	send(a, uitest.Key("down"))
	check("the error row")
	send(a, uitest.Key("up"), uitest.Key("enter"))
	if a.screen != ScreenPlatforms {
		t.Fatalf("enter: screen %v", a.screen)
	}
	check("the platform list")
}

// TestStackHelp: ? lists every key of the stack screen uncut at 80 columns, and each
// key it lists does something.
func TestStackHelp(t *testing.T) {
	counterpart := map[string]string{"up": "down", "k": "j", "pgup": "pgdown", "ctrl+u": "ctrl+d", "left": "right", "h": "l"}
	for _, name := range []string{"stack", "stack-many"} {
		mk := stackStates(t)[name]
		t.Run(name, func(t *testing.T) {
			a := mk(t)
			a.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
			send(a, uitest.Key("?"))
			text := screenText(a)
			if !strings.Contains(text, "Keys · stack") || strings.Contains(text, "…") {
				t.Errorf("help on the stack screen:\n%s", text)
			}
			send(a, uitest.Key("?"))
			for _, g := range a.current().FullHelp() {
				for _, b := range g {
					if !strings.Contains(text, b.Help().Desc) {
						t.Errorf("help lacks %q", b.Help().Desc)
					}
					for _, k := range b.Keys() {
						a := mk(t)
						a.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
						if c, ok := counterpart[k]; ok {
							send(a, keyMsg(c))
						}
						before := screenText(a)
						_, cmd := a.Update(keyMsg(k))
						if cmd == nil && a.screen == ScreenStack && screenText(a) == before {
							t.Errorf("%q (%s) did nothing", k, b.Help().Desc)
						}
					}
				}
			}
		})
	}
}

// TestStackPlaceNames: the first column names services, a service's build stage, a
// Dockerfile's stages and other instructions, each once.
func TestStackPlaceNames(t *testing.T) {
	for _, tt := range []struct {
		places []stack.Source
		want   string
	}{
		{[]stack.Source{{File: "compose.yaml", Service: "db"}, {File: "compose.yaml", Service: "db2"}}, "db, db2"},
		{[]stack.Source{{File: "app/Dockerfile", Stage: "build"}}, "Dockerfile stage build"},
		{[]stack.Source{{File: "app/Dockerfile", Service: "web", Stage: "0", ComposeFile: "compose.yaml"}}, "web stage 0"},
		{[]stack.Source{{File: "Dockerfile", Instruction: stack.InstrSyntax}, {File: "Dockerfile", Instruction: stack.InstrSyntax}}, "Dockerfile # syntax"},
	} {
		var r stack.Row
		for _, s := range tt.places {
			r.Places = append(r.Places, stack.Image{Source: s})
		}
		if got := placeNames(r); got != tt.want {
			t.Errorf("placeNames(%+v) = %q, want %q", tt.places, got, tt.want)
		}
	}
	if got := tagOf("localhost:5000/library/python:3.11-slim"); got != "3.11-slim" {
		t.Errorf("tagOf = %q", got)
	}
	if got := tagOf("localhost:5000/python"); got != "localhost:5000/python" {
		t.Errorf("tagOf of an untagged reference = %q", got)
	}
}

// TestStackTinyTerminal: however small the terminal, no line is wider than it.
func TestStackTinyTerminal(t *testing.T) {
	for _, mk := range []func(testing.TB) *stack.Check{fixtureStack, manyPlatformStack, hostileStack} {
		a := newStackApp(t, mk(t))
		for _, size := range [][2]int{{50, 14}, {30, 8}, {12, 5}} {
			a.Update(tea.WindowSizeMsg{Width: size[0], Height: size[1]})
			send(a, uitest.Key("down"), uitest.Key("right"))
			checkFrame(t, screenText(a), size[0], size[1])
		}
	}
}
