package ui

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	digest "github.com/opencontainers/go-digest"
	"github.com/regclient/regclient/types/descriptor"
	"github.com/regclient/regclient/types/mediatype"
	v1 "github.com/regclient/regclient/types/oci/v1"
	"github.com/regclient/regclient/types/ref"

	"github.com/pycontainer/pycontainer/build"
	"github.com/pycontainer/pycontainer/oci"
	"github.com/pycontainer/pycontainer/registry"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func mustPlatform(t testing.TB, s string) oci.Platform {
	t.Helper()
	p, err := oci.ParsePlatform(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// fixtureIndex is python:3.11-slim as Docker Hub serves it: arm64 spelt arm64/v8, and
// an attestation entry.
func fixtureIndex(t testing.TB) *registry.Index {
	r, _ := ref.New("python:3.11-slim")
	ix := &registry.Index{Ref: r, Digest: digest.FromString("index"), MediaType: mediatype.OCI1ManifestList}
	for i, p := range []struct{ os, arch, variant string }{
		{"linux", "amd64", ""}, {"linux", "arm64", "v8"}, {"linux", "arm", "v7"}, {"linux", "s390x", ""},
	} {
		raw := oci.Platform{OS: p.os, Architecture: p.arch, Variant: p.variant}
		d := descriptor.Descriptor{MediaType: mediatype.OCI1Manifest, Digest: digest.FromString(p.arch + p.variant), Size: 1000, Platform: &raw}
		ix.Entries = append(ix.Entries, registry.Entry{Platform: oci.NormalizePlatform(raw), Descriptor: d, Size: int64(40_000_000 + i*1_000_000), Layers: 4})
	}
	att := oci.Platform{OS: "unknown", Architecture: "unknown"}
	ix.Entries = append(ix.Entries, registry.Entry{Platform: att, Attestation: true, Descriptor: descriptor.Descriptor{
		MediaType: mediatype.OCI1Manifest, Digest: digest.FromString("att"), Platform: &att,
		Annotations: map[string]string{"vnd.docker.reference.digest": digest.FromString("amd64").String()},
	}})
	return ix
}

func newTestApp(t testing.TB, start Screen, requested ...string) *App {
	t.Helper()
	var req []build.RequestedPlatform
	for _, r := range requested {
		req = append(req, build.RequestedPlatform{Platform: mustPlatform(t, r), Raw: r, Source: "--platform flag"})
	}
	a := New(Config{
		Services: Services{
			FetchIndex: func(context.Context, string) (*registry.Index, error) { return fixtureIndex(t), nil },
			Build:      func(context.Context, []build.RequestedPlatform, build.Sink) error { return nil },
			Inspect:    func() (*oci.Summary, error) { return fixtureSummary(), nil },
			Diagnose: func(_ context.Context, _ *registry.Index, req build.RequestedPlatform) string {
				return "  asked for  " + req.String() + ", from " + req.Source + "\n  try        --base-image python:3.11-alpine   (linux/amd64, linux/riscv64)"
			},
			Save: func(*oci.Summary, oci.ImageSummary) (string, error) { return "dist/demo.tar", nil },
		},
		BaseImage: "python:3.11-slim", Requested: req, Host: mustPlatform(t, "linux/amd64"),
		Start: start, Theme: "dark", Output: "dist/image",
	})
	a.build.now = func() time.Time { return time.Date(2026, 11, 27, 9, 0, 2, 0, time.UTC) }
	return a
}

func press(s string) tea.KeyPressMsg {
	switch s {
	case "enter":
		return tea.KeyPressMsg{Code: tea.KeyEnter}
	case "esc":
		return tea.KeyPressMsg{Code: tea.KeyEscape}
	case "space":
		return tea.KeyPressMsg{Code: tea.KeySpace, Text: " "}
	case "down":
		return tea.KeyPressMsg{Code: tea.KeyDown}
	case "right":
		return tea.KeyPressMsg{Code: tea.KeyRight}
	}
	return tea.KeyPressMsg{Code: rune(s[0]), Text: s}
}

// send feeds msgs through Update and runs the commands they return (one level), like
// the runtime would, dropping blinks and ticks.
func send(a *App, msgs ...tea.Msg) []tea.Msg {
	var out []tea.Msg
	for _, m := range msgs {
		_, cmd := a.Update(m)
		out = append(out, run(cmd)...)
	}
	return out
}

func run(cmd tea.Cmd) []tea.Msg {
	if cmd == nil {
		return nil
	}
	msg := cmd()
	// tea.Batch and tea.Sequence (whose message type is unexported) are lists of commands.
	if v := reflect.ValueOf(msg); v.Kind() == reflect.Slice && v.Type().Elem() == reflect.TypeFor[tea.Cmd]() {
		var out []tea.Msg
		for i := range v.Len() {
			out = append(out, run(v.Index(i).Interface().(tea.Cmd))...)
		}
		return out
	}
	switch msg.(type) {
	case nil:
		return nil
	}
	return []tea.Msg{msg}
}

func screenText(a *App) string {
	return ansi.Strip(a.View().Content)
}

func loadPlatforms(t *testing.T, a *App) {
	t.Helper()
	for _, m := range send(a, indexFetchedMsg{seq: a.base.seq, image: "python:3.11-slim", index: fixtureIndex(t)}) {
		send(a, m)
	}
	if a.screen != ScreenPlatforms {
		t.Fatalf("screen %v after the index arrived", a.screen)
	}
}

func TestPlatformScreen(t *testing.T) {
	a := newTestApp(t, ScreenBase, "linux/arm64/v8", "linux/riscv64")
	loadPlatforms(t, a)
	p := a.platforms
	if got := p.selected(); len(got) != 1 || got[0].String() != "linux/arm64" {
		t.Fatalf("preselected %v, want the requested linux/arm64 (asked as arm64/v8)", got)
	}
	a.Update(tea.WindowSizeMsg{Width: 120, Height: 30})
	text := screenText(a)
	for _, want := range []string{"linux/riscv64", "missing: not in this index (asked by --platform flag)", "Why linux/riscv64 is missing", "try        --base-image python:3.11-alpine", "native on this machine", "runs under emulation", "index says linux/arm64/v8", "1 attestation hidden (t)", "1 platform of 4 selected"} {
		if !strings.Contains(text, want) {
			t.Errorf("screen lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "attestation of") {
		t.Error("attestations are shown before t is pressed")
	}

	send(a, press("t"))
	if !strings.Contains(screenText(a), "attestation of") {
		t.Error("t does not show attestations")
	}
	send(a, press("t"), press("space")) // toggle amd64 (the first row)
	if len(p.selected()) != 2 {
		t.Errorf("space did not select: %v", p.selected())
	}
	send(a, press("n"))
	if len(p.selected()) != 0 {
		t.Errorf("n left %v selected", p.selected())
	}
	send(a, press("a"))
	if len(p.selected()) != 4 {
		t.Errorf("a selected %d, want the 4 images (not the missing one, not attestations)", len(p.selected()))
	}
	send(a, press("n"), press("/"), press("a"), press("r"), press("m"), press("enter"))
	vis := p.visible()
	if len(vis) != 2 {
		t.Errorf("filter arm shows %d rows, want 2", len(vis))
	}
	msgs := send(a, press("space"), press("enter"))
	if len(msgs) != 1 {
		t.Fatalf("enter produced %v", msgs)
	}
	start, ok := msgs[0].(startBuildMsg)
	if !ok || len(start.platforms) != 1 || start.platforms[0].String() != "linux/arm64" {
		t.Errorf("enter built %+v", msgs[0])
	}
}

func TestPlatformScreenNeedsASelection(t *testing.T) {
	a := newTestApp(t, ScreenBase)
	loadPlatforms(t, a)
	msgs := send(a, press("enter"))
	if len(msgs) != 1 || msgs[0] != problemMsg("select at least one platform (space)") {
		t.Errorf("enter with nothing selected: %v", msgs)
	}
}

func TestBaseScreenFetch(t *testing.T) {
	a := newTestApp(t, ScreenBase)
	a.cfg.Services.FetchIndex = func(context.Context, string) (*registry.Index, error) {
		return nil, errors.New("image python:3.99 not found")
	}
	msgs := send(a, press("enter"))
	if !a.base.fetching {
		t.Fatal("enter did not start fetching")
	}
	if !strings.Contains(screenText(a), "fetching the index of python:3.11-slim") {
		t.Errorf("no spinner line:\n%s", screenText(a))
	}
	for _, m := range msgs {
		send(a, m)
	}
	if a.screen != ScreenBase || !strings.Contains(screenText(a), "image python:3.99 not found") {
		t.Errorf("a failed fetch must stay on the base screen with the error:\n%s", screenText(a))
	}
	// A cancelled fetch's late answer is dropped.
	send(a, press("enter"))
	send(a, press("esc"))
	send(a, indexFetchedMsg{seq: a.base.seq - 1, index: fixtureIndex(t)})
	if a.screen != ScreenBase || a.base.fetching {
		t.Errorf("a cancelled fetch's result switched screens")
	}
}

func buildEvents(t *testing.T, a *App, events ...build.Event) {
	t.Helper()
	for _, ev := range events {
		a.Update(buildEventMsg{id: a.build.id, event: ev})
	}
}

func sampleBuild(t *testing.T, a *App) {
	t.Helper()
	d1, d2, app := digest.FromString("shared").String(), digest.FromString("amd").String(), digest.FromString("app").String()
	d3 := digest.FromString("arm").String()
	a.build.id = 1
	buildEvents(t, a,
		build.PlanReady{Excluded: []string{".env (it may hold secrets; add !.env to .dockerignore to include it)", "venv/ (a virtualenv: its binaries are built for this host, not the image; use --include-deps)"}},
		build.LayerStarted{Kind: build.LayerApp},
		build.PlatformStarted{Platform: "linux/amd64", Layers: 3, Size: 50_000_000},
		build.PlatformStarted{Platform: "linux/arm64", Layers: 3, Size: 48_000_000},
		build.LayerStarted{Platform: "linux/amd64", Digest: d1, Kind: build.LayerBase, Index: 1, Count: 3, Size: 20_000_000},
		build.LayerStarted{Platform: "linux/amd64", Digest: d2, Kind: build.LayerBase, Index: 2, Count: 3, Size: 29_000_000},
		build.LayerStarted{Platform: "linux/arm64", Digest: d3, Kind: build.LayerBase, Index: 2, Count: 3, Size: 27_000_000},
		build.LayerProgressed{Platform: "linux/amd64", Digest: d2, Done: 14_500_000, Total: 29_000_000},
		build.LayerDone{Platform: "linux/amd64", Digest: d1, Kind: build.LayerBase, Index: 1, Count: 3, Size: 20_000_000},
		build.LayerDone{Platform: "linux/arm64", Digest: d1, Kind: build.LayerBase, Index: 1, Count: 3, Size: 20_000_000, SharedWith: "linux/amd64"},
		build.PlatformFailed{Platform: "linux/arm64", Error: "linux/arm64: fetch blob " + d3 + ": unexpected http status code 503"},
		build.LayerDone{Platform: "linux/amd64", Digest: app, Kind: build.LayerApp, Index: 3, Count: 3, Size: 1_000_000},
	)
}

func TestBuildScreen(t *testing.T) {
	a := newTestApp(t, ScreenBuild, "linux/amd64", "linux/arm64")
	a.build.running = true
	a.build.startedAt = a.build.now().Add(-2 * time.Second)
	sampleBuild(t, a)
	amd, arm := a.build.rows[0], a.build.rows[1]
	if amd.done() != 35_500_000 || amd.total != 50_000_000 {
		t.Errorf("amd64 progress %d/%d", amd.done(), amd.total)
	}
	if arm.state != stateFailed || !strings.Contains(arm.err, "503") {
		t.Errorf("arm64 state %q err %q", arm.state, arm.err)
	}
	send(a, press("down"), press("right"))
	text := screenText(a)
	for _, want := range []string{"Building 2 platforms", "linux/amd64", "writing", "failed", "503", "fetched once, by linux/amd64",
		"left out (secrets, virtualenvs, special files): .env, venv/"} {
		if !strings.Contains(text, want) {
			t.Errorf("build screen lacks %q:\n%s", want, text)
		}
	}

	// The run ends with the failure; r retries every platform.
	var runs int
	a.cfg.Services.Build = func(ctx context.Context, p []build.RequestedPlatform, sink build.Sink) error {
		runs++
		return nil
	}
	a.Update(buildFinishedMsg{id: a.build.id, err: errors.New("linux/arm64: 503")})
	if a.build.running || a.screen != ScreenBuild {
		t.Fatalf("after a failed run: running=%v screen=%v", a.build.running, a.screen)
	}
	if !strings.Contains(screenText(a), "1 platform of 2 failed; dist/image is unchanged — r retries") {
		t.Errorf("no retry hint:\n%s", screenText(a))
	}
	_, cmd := a.Update(press("r"))
	if cmd == nil || !a.build.running || a.build.rows[1].state != stateWaiting {
		t.Fatalf("r did not restart the build")
	}
	msg := cmd() // the run ends at once: the stub builds nothing
	a.Update(msg)
	if runs != 1 || a.screen != ScreenInspect {
		t.Errorf("retry: runs=%d screen=%v", runs, a.screen)
	}
	// Events of the first run arriving late are dropped.
	before := screenText(a)
	a.Update(buildEventMsg{id: 1, event: build.PlatformFailed{Platform: "linux/amd64", Error: "late"}})
	if a.build.rows[0].state == stateFailed || screenText(a) != before {
		t.Error("an event of an earlier run changed the screen")
	}
}

// TestLeftOutStaysInSight: a successful build moves on to the inspect screen at once,
// so what it left out of the image is said there too.
func TestLeftOutStaysInSight(t *testing.T) {
	a := newTestApp(t, ScreenBuild, "linux/amd64")
	a.build.id = 1
	buildEvents(t, a, build.PlanReady{Excluded: []string{".env (it may hold secrets; add !.env to .dockerignore to include it)", ".git (it may hold secrets; add !.git to .dockerignore to include it)"}})
	for _, m := range send(a, buildFinishedMsg{id: 1}) {
		send(a, m)
	}
	if text := screenText(a); a.screen != ScreenInspect || !strings.Contains(text, "left out (secrets, virtualenvs, special files): .env, .git") {
		t.Errorf("screen %v:\n%s", a.screen, text)
	}
}

func TestBuildScreenCancel(t *testing.T) {
	a := newTestApp(t, ScreenBuild, "linux/amd64")
	started := make(chan struct{})
	a.cfg.Services.Build = func(ctx context.Context, _ []build.RequestedPlatform, _ build.Sink) error {
		close(started)
		<-ctx.Done()
		return ctx.Err()
	}
	cmd := a.build.run()
	<-started
	send(a, press("esc"))
	a.Update(cmd())
	if a.build.running || a.build.rows[0].state != stateCancelled {
		t.Errorf("esc did not cancel: running=%v state=%q", a.build.running, a.build.rows[0].state)
	}
	if !strings.Contains(screenText(a), "Build cancelled; dist/image is unchanged") {
		t.Errorf("screen:\n%s", screenText(a))
	}
	if a.Result() == nil {
		t.Error("Result is nil after a cancelled build")
	}
}

func fixtureSummary() *oci.Summary {
	created := time.Date(2026, 10, 1, 12, 0, 0, 0, time.UTC)
	img := func(arch, variant string, problems ...string) oci.ImageSummary {
		cfg := v1.Image{Created: &created}
		cfg.Architecture, cfg.OS, cfg.Variant = arch, "linux", variant
		cfg.Config.Entrypoint = []string{"python3", "-c", "import sys; import app as _m; sys.exit(_m.main())"}
		cfg.Config.WorkingDir = "/app"
		cfg.Config.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "PYTHONPATH=/app"}
		cfg.Config.Labels = map[string]string{"org.example.team": "web"}
		cfg.History = []v1.History{{CreatedBy: "base: debian"}, {CreatedBy: "ENV X=1", EmptyLayer: true}, {CreatedBy: "pycontainer build: COPY 2 files /app"}}
		return oci.ImageSummary{
			RefName: "1.0", Name: "docker.io/library/demo:1.0", Digest: digest.FromString(arch), Config: cfg,
			Layers: []descriptor.Descriptor{
				{Digest: digest.FromString("l1" + arch), Size: 29_000_000},
				{Digest: digest.FromString("l2"), Size: 1_200},
			},
			Problems: problems,
		}
	}
	return &oci.Summary{Dir: "dist/image", Images: []oci.ImageSummary{
		img("amd64", ""), img("arm64", "", "the index says linux/arm/v7 but the config says linux/arm64"),
	}}
}

func TestInspectScreen(t *testing.T) {
	a := newTestApp(t, ScreenInspect)
	for _, m := range run(a.Init()) {
		send(a, m)
	}
	text := screenText(a)
	for _, want := range []string{"✓ linux/amd64", "architecture amd64 · os linux", "/app", "PYTHONPATH=/app", "org.example.team=web",
		"2 · 29.0 MB compressed", "base: debian", "pycontainer build: COPY 2 files /app"} {
		if !strings.Contains(text, want) {
			t.Errorf("inspect lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "attestation") {
		t.Errorf("a layout without attestations mentions them:\n%s", text)
	}
	send(a, press("right"))
	if !strings.Contains(screenText(a), "✗ the index says linux/arm/v7 but the config says linux/arm64") {
		t.Errorf("a platform mismatch is not shown as an error:\n%s", screenText(a))
	}
	msgs := send(a, press("p"))
	var status statusMsg
	for _, m := range msgs {
		if s, ok := m.(statusMsg); ok {
			status = s
		}
	}
	if status != "copied --platform linux/arm64" {
		t.Errorf("p: status %q (msgs %v)", status, msgs)
	}

	// A layout copied from a registry may hold attestations: counted beside the tabs.
	withAttestations := fixtureSummary()
	withAttestations.Attestations = 2
	send(a, inspectLoadedMsg{summary: withAttestations})
	if text := screenText(a); !strings.Contains(text, "linux/arm64 !   + 2 attestations") {
		t.Errorf("attestations not counted beside the platforms:\n%s", text)
	}
}

func TestGoldenScreens(t *testing.T) {
	sizes := [][2]int{{80, 24}, {120, 40}}
	screens := map[string]func(t *testing.T) *App{
		"base": func(t *testing.T) *App {
			a := newTestApp(t, ScreenBase)
			a.base.recent = []string{"python:3.12-slim", "python:3.11-alpine"}
			return a
		},
		"platforms": func(t *testing.T) *App {
			a := newTestApp(t, ScreenBase, "linux/arm64", "linux/riscv64")
			loadPlatforms(t, a)
			return a
		},
		"build": func(t *testing.T) *App {
			a := newTestApp(t, ScreenBuild, "linux/amd64", "linux/arm64")
			a.build.running = true
			sampleBuild(t, a)
			a.build.rows[0].expanded = true
			return a
		},
		"inspect": func(t *testing.T) *App {
			a := newTestApp(t, ScreenInspect)
			for _, m := range run(a.Init()) {
				send(a, m)
			}
			return a
		},
	}
	for name, mk := range screens {
		for _, size := range sizes {
			t.Run(name, func(t *testing.T) {
				a := mk(t)
				a.Update(tea.WindowSizeMsg{Width: size[0], Height: size[1]})
				got := screenText(a)
				lines := strings.Split(got, "\n")
				if len(lines) != size[1] {
					t.Errorf("%d lines at %dx%d, want %d", len(lines), size[0], size[1], size[1])
				}
				for i, l := range lines {
					if w := ansi.StringWidth(l); w > size[0] {
						t.Errorf("line %d is %d cells wide at width %d: %q", i+1, w, size[0], l)
					}
				}
				golden(t, filepath.Join("testdata", name+"-"+sizeName(size)+".golden"), got)
			})
		}
	}
}

func sizeName(s [2]int) string { return fmt.Sprintf("%dx%d", s[0], s[1]) }

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./ui -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs (go test ./ui -update rewrites it)\n--- want\n%s\n--- got\n%s", path, want, got)
	}
}

// TestInspectScreenSave: s saves the platform on screen and says how to load it; a
// failed save is reported as a failure, not as done.
func TestInspectScreenSave(t *testing.T) {
	tests := []struct {
		name    string
		err     error
		want    string
		failure bool
	}{
		{"saved", nil, "saved dist/demo-linux-arm64.tar for docker load -i", false},
		{"failed", errors.New("dist/image: blob sha256:ab does not match its digest"), "✗ save: dist/image: blob sha256:ab does not match its digest", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newTestApp(t, ScreenInspect)
			var saved []string
			a.cfg.Services.Save = func(_ *oci.Summary, img oci.ImageSummary) (string, error) {
				saved = append(saved, oci.PlatformString(img.Platform()))
				return "dist/demo-linux-arm64.tar", tt.err
			}
			for _, m := range run(a.Init()) {
				send(a, m)
			}
			if !strings.Contains(screenText(a), "s save .tar") {
				t.Errorf("the help line does not offer s:\n%s", screenText(a))
			}
			send(a, press("right"))
			for _, m := range send(a, press("s")) {
				for _, m := range send(a, m) {
					send(a, m)
				}
			}
			if len(saved) != 1 || saved[0] != "linux/arm64" {
				t.Fatalf("saved %v, want the platform on screen, linux/arm64", saved)
			}
			if a.status != tt.want || a.statusFailed != tt.failure {
				t.Errorf("status %q (failure %v), want %q (failure %v)", a.status, a.statusFailed, tt.want, tt.failure)
			}
		})
	}
}
