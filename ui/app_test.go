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
	"github.com/pycontainer/pycontainer/ui/uitest"
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
// an attestation entry for amd64.
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

// fixtureDiagnosis is what registry.DiagnoseAll says of a platform python:3.11-slim lacks.
func fixtureDiagnosis(ix *registry.Index, req build.RequestedPlatform) *registry.Diagnosis {
	return &registry.Diagnosis{
		Image: ix.Ref.CommonName(), Requested: req, Available: ix.Platforms(), Attestations: 1,
		Siblings: []registry.Sibling{
			{Ref: "docker.io/library/python:3.11-alpine", Tag: "3.11-alpine", Platforms: []string{"linux/amd64", "linux/riscv64"}},
			{Ref: "docker.io/library/python:3.12-alpine", Tag: "3.12-alpine", Platforms: []string{"linux/riscv64"}},
		},
		TagsChecked: 5, TagsTotal: 9,
		Host: oci.Host{Platform: oci.Platform{OS: "linux", Architecture: "amd64"}, Emulators: map[string]string{"arm64": "/usr/bin/qemu-aarch64-static"}, BinfmtMounted: true},
	}
}

// testHost runs amd64 natively and arm64 under QEMU, and has no emulator for the rest.
var testHost = oci.Host{Platform: oci.Platform{OS: "linux", Architecture: "amd64"}, Emulators: map[string]string{"arm64": "/usr/bin/qemu-aarch64-static"}, BinfmtMounted: true}

func requests(t testing.TB, raws ...string) []build.RequestedPlatform {
	var req []build.RequestedPlatform
	for _, r := range raws {
		req = append(req, build.RequestedPlatform{Platform: mustPlatform(t, r), Raw: r, Source: "--platform flag"})
	}
	return req
}

func newTestApp(t testing.TB, cfg Config) *App {
	t.Helper()
	if cfg.Services.FetchIndex == nil {
		cfg.Services.FetchIndex = func(context.Context, string) (*registry.Index, error) { return fixtureIndex(t), nil }
	}
	if cfg.Services.Build == nil {
		cfg.Services.Build = func(context.Context, build.Request, build.Sink) error { return nil }
	}
	if cfg.Services.Inspect == nil {
		cfg.Services.Inspect = func(context.Context) (*oci.Summary, error) { return fixtureSummary(), nil }
	}
	if cfg.Services.Diagnose == nil {
		cfg.Services.Diagnose = func(_ context.Context, ix *registry.Index, missing []build.RequestedPlatform) []*registry.Diagnosis {
			var out []*registry.Diagnosis
			for _, m := range missing {
				out = append(out, fixtureDiagnosis(ix, m))
			}
			return out
		}
	}
	if cfg.Services.LayerFiles == nil {
		cfg.Services.LayerFiles = func(context.Context, *oci.Summary, descriptor.Descriptor, int) ([]oci.LayerFile, bool, error) {
			return []oci.LayerFile{{Path: "app/app.py", Size: 1_234}, {Path: "app/pyproject.toml", Size: 420}, {Path: "app/pkg/__init__.py", Size: 0}}, false, nil
		}
	}
	if cfg.Services.Save == nil {
		cfg.Services.Save = func(*oci.Summary, oci.ImageSummary) (string, error) { return "dist/demo.tar", nil }
	}
	if cfg.BaseImage == "" {
		cfg.BaseImage = "python:3.11-slim"
	}
	cfg.Host, cfg.Theme, cfg.Output = testHost, "dark", "dist/image"
	a := New(cfg)
	a.build.now = func() time.Time { return time.Date(2026, 11, 27, 9, 0, 2, 0, time.UTC) }
	t.Cleanup(a.Close)
	return a
}

// send feeds msgs through Update one by one, each with the commands it returns and the
// messages those produce (depth first, as a person's next key comes after), dropping
// blinks, ticks and quits. Builds run by fakes finish within the call.
func send(a *App, msgs ...tea.Msg) []tea.Msg {
	var seen []tea.Msg
	for _, m := range msgs {
		queue := []tea.Msg{m}
		for len(queue) > 0 && len(seen) < 1000 {
			m := queue[0]
			queue = queue[1:]
			seen = append(seen, m)
			_, cmd := a.Update(m)
			queue = append(run(cmd), queue...)
		}
	}
	return seen
}

func run(cmd tea.Cmd) []tea.Msg {
	if cmd == nil {
		return nil
	}
	msg := cmd()
	// tea.Batch and tea.Sequence (whose message type is unexported) are lists of commands.
	if v := reflect.ValueOf(msg); v.IsValid() && v.Kind() == reflect.Slice && v.Type().Elem() == reflect.TypeFor[tea.Cmd]() {
		var out []tea.Msg
		for i := range v.Len() {
			out = append(out, run(v.Index(i).Interface().(tea.Cmd))...)
		}
		return out
	}
	switch msg.(type) {
	case nil, tea.QuitMsg:
		return nil
	}
	if fmt.Sprintf("%T", msg) == "cursor.BlinkMsg" || fmt.Sprintf("%T", msg) == "cursor.initialBlinkMsg" || fmt.Sprintf("%T", msg) == "spinner.TickMsg" {
		return nil
	}
	return []tea.Msg{msg}
}

// sent reports whether msgs hold a message of type T.
func sent[T any](msgs []tea.Msg) (T, bool) {
	for _, m := range msgs {
		if v, ok := m.(T); ok {
			return v, true
		}
	}
	var zero T
	return zero, false
}

func screenText(a *App) string {
	return ansi.Strip(a.View().Content)
}

// openPlatforms fetches the fixture index from the base screen, as enter does.
func openPlatforms(t *testing.T, a *App) {
	t.Helper()
	send(a, uitest.Key("enter"))
	if a.screen != ScreenPlatforms {
		t.Fatalf("screen %v after enter on the base screen:\n%s", a.screen, screenText(a))
	}
}

func TestPlatformScreen(t *testing.T) {
	a := newTestApp(t, Config{Requested: requests(t, "linux/arm64/v8", "linux/riscv64")})
	openPlatforms(t, a)
	p := a.platforms
	if got := p.request().Platforms; len(got) != 1 || got[0].String() != "linux/arm64" {
		t.Fatalf("preselected %v, want the requested linux/arm64 (asked as arm64/v8)", got)
	}
	a.Update(tea.WindowSizeMsg{Width: 120, Height: 40})
	text := screenText(a)
	for _, want := range []string{"linux/riscv64", "missing: not in this index (asked by --platform flag)", "Why linux/riscv64 is missing",
		"▸ docker.io/library/python:3.11-alpine", "RUNS HERE", "native on this machine", "emulated by QEMU",
		"no QEMU for s390x: install qemu-user-static", "index: arm64/v8", "1 attestation hidden (t)", "1 platform of 4 selected"} {
		if !strings.Contains(text, want) {
			t.Errorf("screen lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "index has") {
		t.Errorf("the diagnosis repeats the index the table shows:\n%s", text)
	}

	send(a, uitest.Key("t"))
	if !strings.Contains(screenText(a), "for linux/amd64") {
		t.Errorf("t does not show attestations, or they do not name their platform:\n%s", screenText(a))
	}
	send(a, uitest.Key("t"), uitest.Key("space")) // toggle amd64 (the first row)
	if len(p.request().Platforms) != 2 {
		t.Errorf("space did not select: %v", p.request().Platforms)
	}
	send(a, uitest.Key("n"))
	if len(p.request().Platforms) != 0 {
		t.Errorf("n left %v selected", p.request().Platforms)
	}
	send(a, uitest.Key("a"))
	if len(p.request().Platforms) != 4 {
		t.Errorf("a selected %d, want the 4 images (not the missing one, not attestations)", len(p.request().Platforms))
	}
	send(a, uitest.Key("n"), uitest.Key("/"), uitest.Key("a"), uitest.Key("r"), uitest.Key("m"), uitest.Key("enter"))
	if vis := p.visible(); len(vis) != 2 {
		t.Errorf("filter arm shows %d rows, want 2", len(vis))
	}
	msgs := send(a, uitest.Key("space"), uitest.Key("enter"))
	start, ok := sent[startBuildMsg](msgs)
	if !ok || len(start.req.Platforms) != 1 || start.req.Platforms[0].String() != "linux/arm64" {
		t.Fatalf("enter built %+v", msgs)
	}
	// What you browse is what you build: the image typed, pinned to the index shown.
	if start.req.Base != "python:3.11-slim" || start.req.IndexDigest != fixtureIndex(t).Digest {
		t.Errorf("build request %+v, want python:3.11-slim pinned to %s", start.req, fixtureIndex(t).Digest)
	}
}

func TestPlatformScreenNeedsASelection(t *testing.T) {
	a := newTestApp(t, Config{})
	openPlatforms(t, a)
	msgs := send(a, uitest.Key("enter"))
	if _, ok := sent[startBuildMsg](msgs); ok || a.status != "select at least one platform (space)" || !a.failed {
		t.Errorf("enter with nothing selected: %v, status %q", msgs, a.status)
	}
}

// TestTryRowOpensTheSibling: a diagnosis's try line is a row the cursor reaches; enter
// opens that image's platforms with the same platforms asked for.
func TestTryRowOpensTheSibling(t *testing.T) {
	var fetched []string
	a := newTestApp(t, Config{Requested: requests(t, "linux/amd64", "linux/riscv64"), Services: Services{
		FetchIndex: func(_ context.Context, image string) (*registry.Index, error) {
			fetched = append(fetched, image)
			ix := fixtureIndex(t)
			if strings.Contains(image, "alpine") {
				r, _ := ref.New(image)
				ix.Ref, ix.Digest = r, digest.FromString("alpine")
				riscv := oci.Platform{OS: "linux", Architecture: "riscv64"}
				ix.Entries = append(ix.Entries, registry.Entry{Platform: riscv, Descriptor: descriptor.Descriptor{MediaType: mediatype.OCI1Manifest, Digest: digest.FromString("riscv"), Platform: &riscv}})
			}
			return ix, nil
		},
	}})
	openPlatforms(t, a)
	for range 5 { // amd64, arm64, arm/v7, s390x, riscv64 (missing), then the first try line
		send(a, uitest.Key("down"))
	}
	if try := a.platforms.onTry(); try == nil || try.Tag != "3.11-alpine" {
		t.Fatalf("the cursor is not on the first try line:\n%s", screenText(a))
	}
	if text := screenText(a); !strings.Contains(text, "enter opens it") || !strings.Contains(text, "enter open this image") {
		t.Errorf("the try line under the cursor does not say what enter does:\n%s", text)
	}
	send(a, uitest.Key("enter"))
	if len(fetched) != 2 || fetched[1] != "docker.io/library/python:3.11-alpine" || a.screen != ScreenPlatforms {
		t.Fatalf("fetched %v, screen %v", fetched, a.screen)
	}
	req := a.platforms.request()
	if a.platforms.missingCount() != 0 || len(req.Platforms) != 2 || req.Base != "docker.io/library/python:3.11-alpine" || req.IndexDigest != digest.FromString("alpine") {
		t.Errorf("the sibling opened with %+v (missing %d), want amd64 and riscv64 preselected", req, a.platforms.missingCount())
	}
	if req.Platforms[1].Source != "--platform flag" {
		t.Errorf("the platforms asked for lost where they came from: %+v", req.Platforms)
	}
}

// TestAttestationsKeepTheCursor: t shows or hides attestations and the cursor stays on
// the row it was on.
func TestAttestationsKeepTheCursor(t *testing.T) {
	a := newTestApp(t, Config{})
	openPlatforms(t, a)
	send(a, uitest.Key("down"), uitest.Key("down")) // linux/arm/v7
	for range 2 {
		send(a, uitest.Key("t"))
		items := a.platforms.items()
		if got := a.platforms.rows[items[a.platforms.cursor].row].label(); got != "linux/arm/v7" {
			t.Fatalf("after t the cursor is on %s, want linux/arm/v7", got)
		}
	}
}

// TestDigestGoesBeforeNotes: at 80 columns the digest column makes way for the notes.
func TestDigestGoesBeforeNotes(t *testing.T) {
	a := newTestApp(t, Config{})
	openPlatforms(t, a)
	for _, tt := range []struct {
		width  int
		digest bool
	}{{80, false}, {140, true}} {
		a.Update(tea.WindowSizeMsg{Width: tt.width, Height: 24})
		text := screenText(a)
		if strings.Contains(text, "DIGEST") != tt.digest {
			t.Errorf("width %d: digest column shown %v, want %v:\n%s", tt.width, !tt.digest, tt.digest, text)
		}
		for _, note := range []string{"no QEMU for s390x: install qemu-user-static", "emulated by QEMU · index: arm64/v8"} {
			if !strings.Contains(text, note) {
				t.Errorf("width %d: note %q is cut:\n%s", tt.width, note, text)
			}
		}
	}
}

func TestBaseScreen(t *testing.T) {
	var fetched []string
	a := newTestApp(t, Config{Recent: []string{"python:3.12-slim", "python:3.11-alpine"}, Services: Services{
		FetchIndex: func(_ context.Context, image string) (*registry.Index, error) {
			fetched = append(fetched, image)
			return nil, errors.New("image " + image + " not found")
		},
	}})
	text := screenText(a)
	if strings.Contains(text, "esc") {
		t.Errorf("the first screen offers esc, which has nowhere to go:\n%s", text)
	}
	if !strings.Contains(text, "? help") || !strings.Contains(text, "ctrl+c quit") {
		t.Errorf("the footer lacks help or quit:\n%s", text)
	}
	// Arrows pick a recent image; typing replaces it; enter on nothing takes the offer.
	send(a, uitest.Key("down"), uitest.Key("down"), uitest.Key("up"))
	if v := a.base.input.Value(); v != "python:3.12-slim" {
		t.Errorf("↓↓↑ put %q in the input", v)
	}
	send(a, uitest.Key("ctrl+u"))
	send(a, uitest.Type("python:3.99")...)
	send(a, uitest.Key("enter"))
	send(a, uitest.Key("ctrl+u"), uitest.Key("enter"))
	if strings.Join(fetched, " ") != "python:3.99 python:3.11-slim" {
		t.Errorf("fetched %q", fetched)
	}
	if a.screen != ScreenBase || !strings.Contains(screenText(a), "image python:3.11-slim not found") {
		t.Errorf("a failed fetch must stay on the base screen with the error:\n%s", screenText(a))
	}
	// q is a letter here; ? is help.
	send(a, uitest.Key("q"))
	if a.base.input.Value() != "q" {
		t.Errorf("q did not type: %q", a.base.input.Value())
	}
	send(a, uitest.Key("?"))
	if !a.help || !strings.Contains(screenText(a), "Keys · base image") {
		t.Errorf("? did not open help on the base screen:\n%s", screenText(a))
	}
}

func TestBaseScreenCancelledFetch(t *testing.T) {
	a := newTestApp(t, Config{})
	_, cmd := a.Update(uitest.Key("enter"))
	if !a.base.fetching || !strings.Contains(screenText(a), "fetching the index of python:3.11-slim") {
		t.Fatalf("enter did not start fetching:\n%s", screenText(a))
	}
	send(a, uitest.Key("esc"))
	send(a, run(cmd)...) // the late answer of the cancelled fetch
	if a.screen != ScreenBase || a.base.fetching {
		t.Errorf("a cancelled fetch's result switched screens")
	}
}

// TestEscGoesBack: esc goes back from every screen (from the base screen, forward to
// the platform list it came from).
func TestEscGoesBack(t *testing.T) {
	a := newTestApp(t, Config{Requested: requests(t, "linux/amd64")})
	openPlatforms(t, a)
	send(a, uitest.Key("enter"))
	if a.screen != ScreenBuild || !a.build.succeeded() {
		t.Fatalf("screen %v after building", a.screen)
	}
	send(a, uitest.Key("enter"))
	if a.screen != ScreenInspect {
		t.Fatalf("enter on the summary: screen %v", a.screen)
	}
	for _, want := range []Screen{ScreenBuild, ScreenPlatforms, ScreenBase, ScreenPlatforms} {
		send(a, uitest.Key("esc"))
		if a.screen != want {
			t.Fatalf("esc: screen %v, want %v", a.screen, want)
		}
	}
}

func buildEvents(a *App, events ...build.Event) {
	for _, ev := range events {
		a.Update(buildEventMsg{id: a.build.id, event: ev})
	}
}

var (
	dShared = digest.FromString("shared").String()
	dAmd    = digest.FromString("amd").String()
	dArm    = digest.FromString("arm").String()
	dIndex  = digest.FromString("index").String()
	dApp    = digest.FromString("app").String()
)

// runningBuild is an app in the middle of a two-platform build whose service waits
// until the test releases it.
func runningBuild(t *testing.T, platforms ...string) (*App, chan error) {
	t.Helper()
	release := make(chan error, 1)
	a := newTestApp(t, Config{Requested: requests(t, platforms...), Services: Services{
		Build: func(ctx context.Context, _ build.Request, _ build.Sink) error {
			select {
			case err := <-release:
				return err
			case <-ctx.Done():
				return ctx.Err()
			}
		},
	}})
	a.Update(tea.WindowSizeMsg{Width: 100, Height: 30})
	send(a, uitest.Key("enter"))
	_, cmd := a.Update(startBuildMsg{req: a.platforms.request()})
	_ = cmd // the build's events come through buildEvents
	a.build.prog.started = a.build.now().Add(-2 * time.Second)
	return a, release
}

func sampleEvents() []build.Event {
	return []build.Event{
		build.PlanReady{Base: "docker.io/library/python:3.11-slim", Excluded: []build.PathNote{
			{Path: ".env", Reason: "it may hold secrets; add !.env to .dockerignore to include it"},
			{Path: "venv/", Reason: "a virtualenv: its binaries are built for this host, not the image; use --include-deps"}}},
		build.LayerStarted{Kind: build.LayerApp},
		build.PlatformStarted{Platform: "linux/amd64", Layers: 3, Size: 50_000_000},
		build.PlatformStarted{Platform: "linux/arm64", Layers: 3, Size: 48_000_000},
		build.LayerStarted{Platform: "linux/amd64", Digest: dShared, Kind: build.LayerBase, Index: 1, Count: 3, Size: 20_000_000},
		build.LayerStarted{Platform: "linux/amd64", Digest: dAmd, Kind: build.LayerBase, Index: 2, Count: 3, Size: 29_000_000},
		build.LayerStarted{Platform: "linux/arm64", Digest: dArm, Kind: build.LayerBase, Index: 2, Count: 3, Size: 27_000_000},
		build.LayerProgressed{Platform: "linux/amd64", Digest: dAmd, Done: 14_500_000, Total: 29_000_000},
		build.LayerDone{Platform: "linux/amd64", Digest: dShared, Kind: build.LayerBase, Index: 1, Count: 3, Size: 20_000_000},
		build.LayerDone{Platform: "linux/arm64", Digest: dShared, Kind: build.LayerBase, Index: 1, Count: 3, Size: 20_000_000, SharedWith: "linux/amd64"},
		build.PlatformFailed{Platform: "linux/arm64", Error: "linux/arm64: fetch blob " + dArm + ": unexpected http status code 503"},
		build.LayerDone{Platform: "linux/amd64", Digest: dApp, Kind: build.LayerApp, Index: 3, Count: 3, Size: 1_000_000},
	}
}

func TestBuildScreen(t *testing.T) {
	a, release := runningBuild(t, "linux/amd64", "linux/arm64")
	buildEvents(a, sampleEvents()...)
	amd, arm := a.build.prog.platforms[0], a.build.prog.platforms[1]
	if amd.bytesDone() != 35_500_000 || amd.total != 50_000_000 {
		t.Errorf("amd64 progress %d/%d", amd.bytesDone(), amd.total)
	}
	if arm.state != stateFailed || !strings.Contains(arm.err, "503") {
		t.Errorf("arm64 state %q err %q", arm.state, arm.err)
	}
	send(a, uitest.Key("right"), uitest.Key("down"), uitest.Key("right"))
	text := screenText(a)
	for _, want := range []string{"Building 2 platforms", "from python:3.11-slim@sha256:", "→ dist/image", "writing", "failed", "503",
		"Left out of the app layer", ".env (it may hold secrets", "venv/ (a virtualenv"} {
		if !strings.Contains(text, want) {
			t.Errorf("build screen lacks %q:\n%s", want, text)
		}
	}
	// The shared layer reads the same on both platforms' rows.
	if n := strings.Count(text, "done · shared"); n != 2 {
		t.Errorf("the shared layer reads \"done · shared\" on %d rows, want 2:\n%s", n, text)
	}
	if strings.Contains(text, "r retry") {
		t.Errorf("r is offered while the build runs:\n%s", text)
	}

	release <- errors.New("linux/arm64: 503")
	waitBuild(t, a)
	if a.build.running || a.screen != ScreenBuild {
		t.Fatalf("after a failed run: running=%v screen=%v", a.build.running, a.screen)
	}
	text = screenText(a)
	if !strings.Contains(text, "1 platform of 2 failed; dist/image is unchanged — r retries") || !strings.Contains(text, "r retry") {
		t.Errorf("no retry offered:\n%s", text)
	}
	// r runs the same request again.
	first := a.build.req
	_, cmd := a.Update(uitest.Key("r"))
	if cmd == nil || !a.build.running || a.build.prog.platforms[1].state != stateWaiting || !reflect.DeepEqual(a.build.req, first) {
		t.Fatalf("r did not restart the same build")
	}
	// Events of the first run arriving late are dropped.
	a.Update(buildEventMsg{id: a.build.id - 1, event: build.PlatformFailed{Platform: "linux/amd64", Error: "late"}})
	if a.build.prog.platforms[0].state == stateFailed {
		t.Error("an event of an earlier run changed the screen")
	}
}

// waitBuild delivers the build's remaining messages until it has finished.
func waitBuild(t *testing.T, a *App) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for a.build.running && time.Now().Before(deadline) {
		send(a, a.build.wait()())
	}
	if a.build.running {
		t.Fatal("the build never finished")
	}
}

// detailedError explains itself below its line, as build's NoMatchError and NoWheelError do.
type detailedError struct{}

func (detailedError) Error() string { return "no wheel of numpy" }
func (detailedError) Detail() string {
	return "  what to do    pin a version\n                or --allow-sdist"
}

// TestBuildScreenShowsDetail: a failed build's error, however wrapped, brings its
// detail lines (build.Detailer) to the screen under its own line.
func TestBuildScreenShowsDetail(t *testing.T) {
	var _ build.Detailer = detailedError{}
	a, release := runningBuild(t, "linux/amd64")
	release <- fmt.Errorf("prepare: %w", detailedError{})
	waitBuild(t, a)
	text := screenText(a)
	for _, want := range []string{"✗ Build failed", "prepare: no wheel of numpy", "what to do    pin a version", "or --allow-sdist"} {
		if !strings.Contains(text, want) {
			t.Errorf("the failed build's screen lacks %q:\n%s", want, text)
		}
	}
}

// TestBuildSummaryStays: a successful build stays on screen as a summary until enter.
func TestBuildSummaryStays(t *testing.T) {
	a, release := runningBuild(t, "linux/amd64")
	buildEvents(a,
		build.PlanReady{Excluded: []build.PathNote{{Path: ".git", Reason: "it may hold secrets; add !.git to .dockerignore to include it"}}},
		build.Warning{Message: "app/tool: an ELF binary for linux/arm64, not linux/amd64"},
		build.PlatformDone{Platform: "linux/amd64", Manifest: dAmd, Size: 31_000_000, Layers: 3},
		build.Finished{Tag: "docker.io/library/demo:latest", Duration: 3400 * time.Millisecond},
	)
	release <- nil
	waitBuild(t, a)
	text := screenText(a)
	if a.screen != ScreenBuild {
		t.Fatalf("a successful build left the summary for %v", a.screen)
	}
	for _, want := range []string{"✓ Built 1 platform in 3.4s", "as docker.io/library/demo:latest", oci.ShortHex(dAmd), "31.0 MB", "3 layers",
		".git (it may hold secrets", "an ELF binary for linux/arm64", "enter inspect"} {
		if !strings.Contains(text, want) {
			t.Errorf("summary lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "r retry") {
		t.Errorf("r is offered after a build that succeeded:\n%s", text)
	}
	if a.Result() != nil {
		t.Errorf("Result after success: %v", a.Result())
	}
}

// TestCancelMarksEveryLayer: esc cancels; every unfinished row and layer says so.
func TestCancelMarksEveryLayer(t *testing.T) {
	a, _ := runningBuild(t, "linux/amd64", "linux/arm64")
	buildEvents(a, sampleEvents()[:8]...)
	send(a, uitest.Key("right"), uitest.Key("esc"))
	waitBuild(t, a)
	text := screenText(a)
	if !strings.Contains(text, "Build cancelled; dist/image is unchanged") {
		t.Errorf("screen:\n%s", text)
	}
	if strings.Contains(text, stateDownloading) || strings.Contains(text, stateWaiting) {
		t.Errorf("a row still reads downloading or waiting after the cancel:\n%s", text)
	}
	if !errors.Is(a.Result(), ErrInterrupted) {
		t.Errorf("Result after a cancel: %v", a.Result())
	}
}

// TestQuitDuringABuild: q asks first, a second q stops the build; any other key keeps
// it; ctrl+c stops at once. Both give ErrInterrupted (exit 130).
func TestQuitDuringABuild(t *testing.T) {
	a, _ := runningBuild(t, "linux/amd64")
	send(a, uitest.Key("q"))
	if !a.confirmQuit || !strings.Contains(screenText(a), "q again stops it and quits") {
		t.Fatalf("q during a build did not ask:\n%s", screenText(a))
	}
	send(a, uitest.Key("j"))
	if a.confirmQuit || !a.build.running {
		t.Fatal("another key did not keep the build")
	}
	_, cmd := a.Update(uitest.Key("q"))
	_, cmd = a.Update(uitest.Key("q"))
	if cmd == nil || cmd() != tea.Quit() {
		t.Fatal("the second q did not quit")
	}
	if !errors.Is(a.Result(), ErrInterrupted) {
		t.Errorf("Result: %v", a.Result())
	}

	b, _ := runningBuild(t, "linux/amd64")
	if _, cmd := b.Update(uitest.Key("ctrl+c")); cmd == nil || cmd() != tea.Quit() || !errors.Is(b.Result(), ErrInterrupted) {
		t.Errorf("ctrl+c during a build: result %v", b.Result())
	}
}

// TestPushProgress: the push's events show on the build screen, as plain output prints them.
func TestPushProgress(t *testing.T) {
	a, _ := runningBuild(t, "linux/amd64")
	buildEvents(a,
		build.PushStarted{Target: "ghcr.io/org/app:1", Manifests: 1},
		build.PushProgressed{Digest: dAmd, Done: 5_000_000, Total: 10_000_000},
		build.BlobPushed{Digest: dShared, Size: 20_000_000, How: registry.BlobMounted},
	)
	if text := screenText(a); !strings.Contains(text, "push") || !strings.Contains(text, "to ghcr.io/org/app:1") || !strings.Contains(text, "1 mounted") {
		t.Errorf("no push progress:\n%s", text)
	}
}

func fixtureSummary() *oci.Summary {
	created := time.Date(2026, 10, 1, 12, 0, 0, 0, time.UTC)
	img := func(arch, variant string, problems ...string) oci.ImageSummary {
		cfg := v1.Image{Created: &created}
		cfg.Architecture, cfg.OS, cfg.Variant = arch, "linux", variant
		cfg.Config.Entrypoint = []string{"python3", "-c", "import sys; import app as _m; sys.exit(_m.main())"}
		cfg.Config.WorkingDir = "/app"
		cfg.Config.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/opt/pycontainer/deps/bin:/opt/venv/bin", "PYTHONPATH=/app"}
		cfg.Config.Labels = map[string]string{"org.example.team": "web"}
		cfg.History = []v1.History{{CreatedBy: "/bin/sh -c #(nop) ADD file:4b1be1de1a1e5aa608c688cad2824587262081866180d7368feb79d33ca05953 in / "},
			{CreatedBy: "ENV X=1", EmptyLayer: true}, {CreatedBy: "pycontainer build: COPY 3 files /app", Comment: "pycontainer"}}
		return oci.ImageSummary{
			RefName: "1.0", Name: "docker.io/library/demo:1.0", Digest: digest.FromString(arch), Config: cfg,
			Layers: []descriptor.Descriptor{
				{Digest: digest.FromString("l1" + arch), Size: 29_000_000},
				{Digest: digest.FromString("l2"), Size: 1_200},
			},
			Annotations: map[string]string{"org.opencontainers.image.base.name": "docker.io/library/python:3.11-slim",
				"org.opencontainers.image.base.digest": digest.FromString("base" + arch).String()},
			Problems: problems,
		}
	}
	s := &oci.Summary{Dir: "dist/image", Images: []oci.ImageSummary{
		img("amd64", ""), img("arm64", "", "the index says linux/arm/v7 but the config says linux/arm64"),
	}}
	s.DockerLoad = &s.Images[0]
	return s
}

func openInspect(t *testing.T, width, height int) *App {
	t.Helper()
	a := newTestApp(t, Config{Start: ScreenInspect})
	a.Update(tea.WindowSizeMsg{Width: width, Height: height})
	send(a, run(a.Init())...)
	return a
}

func TestInspectScreen(t *testing.T) {
	a := openInspect(t, 100, 60)
	text := screenText(a)
	for _, want := range []string{"✓ linux/amd64", "architecture amd64 · os linux", "base        docker.io/library/python:3.11-slim@sha256:",
		"/opt/venv/bin", "PYTHONPATH=/app", "org.example.team=web", "2 · 29.0 MB compressed",
		"ADD file:", "Files · COPY 3 files /app", "app.py", "1.2 kB", "docker load of dist/image gets this image"} {
		if !strings.Contains(text, want) {
			t.Errorf("inspect lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "attestation") || strings.Contains(text, "…") {
		t.Errorf("a layout without attestations mentions them, or a value is cut:\n%s", text)
	}
	send(a, uitest.Key("right"))
	if !strings.Contains(screenText(a), "✗ the index says linux/arm/v7 but the config says linux/arm64") {
		t.Errorf("a platform mismatch is not shown as an error:\n%s", screenText(a))
	}
	if !strings.Contains(screenText(a), "docker load of dist/image gets linux/amd64; s saves this one as a .tar") {
		t.Errorf("the arm64 image does not say docker load gets another:\n%s", screenText(a))
	}
	msgs := send(a, uitest.Key("p"))
	if s, _ := sent[statusMsg](msgs); s != "copied --platform linux/arm64" {
		t.Errorf("p: status %q (msgs %v)", s, msgs)
	}
	// A layout copied from a registry may hold attestations: counted beside the tabs.
	withAttestations := fixtureSummary()
	withAttestations.Attestations = 2
	send(a, inspectLoadedMsg{summary: withAttestations})
	if text := screenText(a); !strings.Contains(text, "+ 2 attestations") {
		t.Errorf("attestations not counted beside the platforms:\n%s", text)
	}
}

// TestInspectWraps: long values wrap at 80 columns instead of being cut.
func TestInspectWraps(t *testing.T) {
	a := openInspect(t, 80, 60)
	text := screenText(a)
	for _, want := range []string{"/opt/pycontainer/deps/bin:", "ADD", "in /"} {
		if !strings.Contains(text, want) {
			t.Errorf("inspect at 80 columns lacks %q:\n%s", want, text)
		}
	}
	for i, l := range strings.Split(text, "\n") {
		if strings.Contains(l, "…") && !strings.Contains(l, "more files") {
			t.Errorf("line %d is cut: %q", i+1, l)
		}
	}
}

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
			a := openInspect(t, 100, 30)
			var saved []string
			a.c.services.Save = func(_ *oci.Summary, img oci.ImageSummary) (string, error) {
				saved = append(saved, oci.PlatformString(img.Platform()))
				return "dist/demo-linux-arm64.tar", tt.err
			}
			if !strings.Contains(screenText(a), "s save .tar") {
				t.Errorf("the help line does not offer s:\n%s", screenText(a))
			}
			send(a, uitest.Key("right"), uitest.Key("s"))
			if len(saved) != 1 || saved[0] != "linux/arm64" {
				t.Fatalf("saved %v, want the platform on screen, linux/arm64", saved)
			}
			if a.status != tt.want || a.failed != tt.failure {
				t.Errorf("status %q (failure %v), want %q (failure %v)", a.status, a.failed, tt.want, tt.failure)
			}
		})
	}
}

// TestHelp: ? opens help on every screen; it lists that screen's keys, fits 80 columns
// uncut, and the footer always keeps help and quit.
func TestHelp(t *testing.T) {
	for name, mk := range screenStates(t) {
		t.Run(name, func(t *testing.T) {
			a := mk(t)
			a.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
			foot := lastLine(screenText(a))
			if !strings.Contains(foot, "? help") || !(strings.Contains(foot, "q quit") || strings.Contains(foot, "ctrl+c quit")) {
				t.Errorf("footer %q lacks ? help or quit", foot)
			}
			send(a, uitest.Key("?"))
			text := screenText(a)
			if !a.help || !strings.Contains(text, "Keys · "+a.screen.title()) {
				t.Fatalf("? did not open help:\n%s", text)
			}
			if strings.Contains(text, "…") {
				t.Errorf("help is cut at 80 columns:\n%s", text)
			}
			for _, g := range a.current().FullHelp() {
				for _, b := range g {
					if !strings.Contains(text, b.Help().Desc) {
						t.Errorf("help lacks %q:\n%s", b.Help().Desc, text)
					}
				}
			}
			send(a, uitest.Key("?"))
			if a.help {
				t.Error("? did not close help")
			}
		})
	}
}

// TestEveryListedKeyWorks presses each key a screen's help lists and checks it did
// something: a command, another screen, or another picture. Keys that undo another
// (up, left, page up) get their counterpart first, so there is something to undo.
func TestEveryListedKeyWorks(t *testing.T) {
	counterpart := map[string]string{"up": "down", "k": "j", "pgup": "pgdown", "ctrl+u": "ctrl+d", "left": "right", "h": "l", "right": "left", "l": "h"}
	for name, mk := range screenStates(t) {
		t.Run(name, func(t *testing.T) {
			prepare := func(a *App) *App {
				a.Update(tea.WindowSizeMsg{Width: 100, Height: 20})
				if a.current().Typing() {
					send(a, uitest.Type("py")...) // something to clear and complete
				}
				return a
			}
			probe := prepare(mk(t))
			for _, g := range probe.current().FullHelp() {
				for _, b := range g {
					for _, k := range b.Keys() {
						a := prepare(mk(t))
						if c, ok := counterpart[k]; ok && !a.current().Typing() {
							send(a, keyMsg(c))
						}
						before, screenBefore := screenText(a), a.screen
						_, cmd := a.Update(keyMsg(k))
						if cmd == nil && a.screen == screenBefore && screenText(a) == before {
							t.Errorf("%s: %q (%s) did nothing", name, k, b.Help().Desc)
						}
					}
				}
			}
		})
	}
}

func keyMsg(k string) tea.KeyPressMsg {
	switch k {
	case "pgdown", "pgup", "enter", "esc", "space", "up", "down", "left", "right", "tab", "ctrl+c", "ctrl+u", "ctrl+d":
		return uitest.Key(k)
	case "shift+tab":
		return tea.KeyPressMsg{Code: tea.KeyTab, Mod: tea.ModShift}
	}
	return uitest.Key(k)
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

// screenStates are the app's screens in the states the goldens and key checks cover.
func screenStates(t *testing.T) map[string]func(t *testing.T) *App {
	return map[string]func(t *testing.T) *App{
		"base": func(t *testing.T) *App {
			return newTestApp(t, Config{Recent: []string{"python:3.12-slim", "python:3.11-alpine"}})
		},
		"platforms": func(t *testing.T) *App {
			a := newTestApp(t, Config{Requested: requests(t, "linux/arm64", "linux/riscv64")})
			openPlatforms(t, a)
			return a
		},
		"build-running": func(t *testing.T) *App {
			a, _ := runningBuild(t, "linux/amd64", "linux/arm64")
			buildEvents(a, sampleEvents()...)
			a.build.expanded["linux/amd64"] = true
			return a
		},
		"build-failed": func(t *testing.T) *App {
			a, release := runningBuild(t, "linux/amd64", "linux/arm64")
			buildEvents(a, sampleEvents()...)
			release <- errors.New("linux/arm64: fetch blob: 503")
			waitBuild(t, a)
			return a
		},
		"build-done": func(t *testing.T) *App {
			a, release := runningBuild(t, "linux/amd64", "linux/arm64")
			buildEvents(a, sampleEvents()[:10]...)
			buildEvents(a,
				build.PlatformDone{Platform: "linux/amd64", Manifest: dAmd, Size: 50_000_000, Layers: 3},
				build.PlatformDone{Platform: "linux/arm64", Manifest: dArm, Size: 48_000_000, Layers: 3},
				build.Finished{Tag: "docker.io/library/demo:latest", Manifests: []string{dAmd, dArm}, Index: dIndex, DockerLoad: "linux/amd64", Duration: 3400 * time.Millisecond})
			release <- nil
			waitBuild(t, a)
			return a
		},
		"inspect": func(t *testing.T) *App {
			a := newTestApp(t, Config{Requested: requests(t, "linux/amd64")})
			openPlatforms(t, a)
			send(a, uitest.Key("enter"), uitest.Key("enter"))
			return a
		},
	}
}

// TestGoldenScreens draws every screen state at 80×24 and 120×40: exactly the height,
// no line wider than the terminal, and the same picture as last time.
func TestGoldenScreens(t *testing.T) {
	states := screenStates(t)
	extra := map[string]func(t *testing.T) *App{
		"base-fetch-error": func(t *testing.T) *App {
			a := newTestApp(t, Config{Services: Services{FetchIndex: func(context.Context, string) (*registry.Index, error) {
				return nil, errors.New("image docker.io/library/python:3.11-slimm not found: the repository has no tag 3.11-slimm; did you mean 3.11-slim? (or 3.12-slim, 3.11)")
			}}})
			send(a, uitest.Key("enter"))
			return a
		},
		"platforms-try": func(t *testing.T) *App {
			a := states["platforms"](t)
			for range 5 {
				send(a, uitest.Key("down"))
			}
			return a
		},
		"build-cancelled": func(t *testing.T) *App {
			a, _ := runningBuild(t, "linux/amd64", "linux/arm64")
			buildEvents(a, sampleEvents()[:8]...)
			a.build.expanded["linux/amd64"] = true
			send(a, uitest.Key("esc"))
			waitBuild(t, a)
			return a
		},
		"build-quit-asked": func(t *testing.T) *App {
			a := states["build-running"](t)
			send(a, uitest.Key("q"))
			return a
		},
		"base-recent-picked": func(t *testing.T) *App {
			a := states["base"](t)
			send(a, uitest.Key("down"), uitest.Key("down"))
			return a
		},
		"platforms-attestations": func(t *testing.T) *App {
			a := states["platforms"](t)
			send(a, uitest.Key("t"))
			return a
		},
		"build-push": func(t *testing.T) *App {
			a, _ := runningBuild(t, "linux/amd64")
			buildEvents(a,
				build.PlatformDone{Platform: "linux/amd64", Manifest: dAmd, Size: 50_000_000, Layers: 3},
				build.PushStarted{Target: "ghcr.io/org/app:1", Manifests: 1},
				build.BlobPushed{Digest: dShared, Size: 20_000_000, How: registry.BlobMounted},
				build.PushProgressed{Digest: dAmd, Done: 12_000_000, Total: 29_000_000},
				build.BlobPushed{Digest: dApp, Size: 1_000_000, How: registry.BlobUploaded})
			return a
		},
		"inspect-files": func(t *testing.T) *App {
			a := states["inspect"](t)
			send(a, uitest.Key("pgdown"))
			return a
		},
	}
	for _, name := range []string{"base", "platforms", "build-running", "build-done", "inspect"} {
		states["help-"+name] = func(t *testing.T) *App {
			a := screenStates(t)[name](t)
			send(a, uitest.Key("?"))
			return a
		}
	}
	for name, mk := range extra {
		states[name] = mk
	}
	goldenScreens(t, states)
}

// goldenScreens compares each state of the app, at 80×24 and 120×40, with its golden
// file testdata/NAME-WxH.golden, and checks that the frame fits the terminal.
func goldenScreens(t *testing.T, states map[string]func(*testing.T) *App) {
	for name, mk := range states {
		for _, size := range [][2]int{{80, 24}, {120, 40}} {
			t.Run(fmt.Sprintf("%s-%dx%d", name, size[0], size[1]), func(t *testing.T) {
				a := mk(t)
				a.Update(tea.WindowSizeMsg{Width: size[0], Height: size[1]})
				checkFrame(t, screenText(a), size[0], size[1])
				golden(t, filepath.Join("testdata", fmt.Sprintf("%s-%dx%d.golden", name, size[0], size[1])), screenText(a))
			})
		}
	}
}

// TestReplayedBuild: a build recorded with --progress json replays into the build
// screen, the same way at every run. The recording predates build.PathNote: its plan's
// "excluded" is plain strings, which must go on replaying as they were shown.
func TestReplayedBuild(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "build-recorded.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var events []build.Event
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		ev, err := DecodeEvent([]byte(line))
		if err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		events = append(events, ev)
	}
	for _, cut := range []struct {
		name string
		n    int
	}{{"mid", len(events) / 2}, {"end", len(events)}} {
		t.Run(cut.name, func(t *testing.T) {
			a, release := runningBuild(t, "linux/amd64", "linux/arm64", "linux/arm/v7")
			a.build.expanded["linux/arm64"] = true
			buildEvents(a, events[:cut.n]...)
			if cut.n == len(events) {
				release <- nil
				waitBuild(t, a)
			}
			a.Update(tea.WindowSizeMsg{Width: 120, Height: 40})
			checkFrame(t, screenText(a), 120, 40)
			golden(t, filepath.Join("testdata", "replay-"+cut.name+"-120x40.golden"), screenText(a))
		})
	}
}

func checkFrame(t *testing.T, frame string, width, height int) {
	t.Helper()
	lines := strings.Split(frame, "\n")
	if len(lines) != height {
		t.Errorf("%d lines at %dx%d, want %d", len(lines), width, height, height)
	}
	for i, l := range lines {
		if w := ansi.StringWidth(l); w > width {
			t.Errorf("line %d is %d cells wide at width %d: %q", i+1, w, width, l)
		}
	}
}

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

// TestBuildAtOnce: `pycontainer build --platform …` in a terminal fetches the index and
// builds from it at once, unless the index lacks a platform: then the table shows why.
func TestBuildAtOnce(t *testing.T) {
	tests := []struct {
		name      string
		platforms []string
		want      Screen
	}{
		{"every platform there", []string{"linux/amd64", "linux/arm64"}, ScreenBuild},
		{"one missing", []string{"linux/amd64", "linux/riscv64"}, ScreenPlatforms},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var built []build.Request
			a := newTestApp(t, Config{Requested: requests(t, tt.platforms...), AutoFetch: true, BuildAtOnce: true, Services: Services{
				Build: func(_ context.Context, req build.Request, _ build.Sink) error {
					built = append(built, req)
					return nil
				},
			}})
			send(a, run(a.Init())...)
			if a.screen != tt.want {
				t.Fatalf("screen %v, want %v:\n%s", a.screen, tt.want, screenText(a))
			}
			if tt.want == ScreenBuild && (len(built) != 1 || len(built[0].Platforms) != 2 || built[0].IndexDigest != fixtureIndex(t).Digest) {
				t.Errorf("built %+v, want both platforms from the index fetched", built)
			}
			if tt.want == ScreenPlatforms && (len(built) != 0 || !strings.Contains(screenText(a), "Why linux/riscv64 is missing")) {
				t.Errorf("built %+v; screen:\n%s", built, screenText(a))
			}
			// esc from the build goes back to the index it was built from.
			if tt.want == ScreenBuild {
				send(a, uitest.Key("esc"))
				if a.screen != ScreenPlatforms {
					t.Errorf("esc after the build: screen %v", a.screen)
				}
			}
		})
	}
}

// TestConfigWarningsShow: the project's configuration warnings (a broken file left out)
// are the first thing the app says.
func TestConfigWarningsShow(t *testing.T) {
	a := newTestApp(t, Config{Warnings: []string{"pycontainer.toml:1: expected ']' to close table name (its settings are left out)", "second"}})
	a.Update(tea.WindowSizeMsg{Width: 120, Height: 30})
	if text := screenText(a); !strings.Contains(text, "warning: pycontainer.toml:1: expected ']' to close table name (its settings are left out) (and 1 more)") {
		t.Errorf("the app does not show the configuration warning:\n%s", text)
	}
}
