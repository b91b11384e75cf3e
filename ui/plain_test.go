package ui

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/regclient/regclient/types/descriptor"

	"github.com/pycontainer/pycontainer/build"
	"github.com/pycontainer/pycontainer/oci"
	"github.com/pycontainer/pycontainer/registry"
	"github.com/pycontainer/pycontainer/ui/uitest"
)

func TestHumanBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 999: "999 B", 1000: "1.0 kB", 28_200_000: "28.2 MB", 3_500_000_000: "3.5 GB"} {
		if got := HumanBytes(n); got != want {
			t.Errorf("HumanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestPlainLines(t *testing.T) {
	d := "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	tests := []struct {
		ev   build.Event
		want string
	}{
		{build.LayerDone{Platform: "linux/arm64", Digest: d, Kind: build.LayerBase, Index: 1, Count: 3, Size: 28_200_000}, "linux/arm64: layer 1/3 sha256:0123456789ab 28.2 MB done\n"},
		{build.LayerDone{Platform: "linux/arm64", Digest: d, Kind: build.LayerBase, Index: 1, Count: 3, Size: 10, SharedWith: "linux/amd64"}, "linux/arm64: layer 1/3 sha256:0123456789ab 10 B fetched once, shared with linux/amd64\n"},
		{build.LayerDone{Platform: "linux/amd64", Digest: d, Kind: build.LayerApp, Index: 3, Count: 3, Size: 2000, Cached: true}, "linux/amd64: app layer 3/3 sha256:0123456789ab 2.0 kB cached\n"},
		{build.Warning{Message: "x.toml:3: unknown key"}, "warning: x.toml:3: unknown key\n"},
		{build.LayerResumed{Platform: "linux/arm64", Digest: d, From: 1_228_800, Total: 2_100_000}, "linux/arm64: layer sha256:0123456789ab: resuming at 1.2 MB of 2.1 MB (kept from an earlier attempt)\n"},
		{build.LayerResumed{Platform: "linux/arm64", Digest: d, Total: 2_100_000, StartsOver: true}, "linux/arm64: layer sha256:0123456789ab: the registry ignored the request to resume; downloading 2.1 MB from the start\n"},
		{build.LayerProgressed{Platform: "linux/amd64", Digest: d, Done: 1, Total: 2}, ""},
	}
	for _, tt := range tests {
		var out, res bytes.Buffer
		NewPlain(&out, &res, false).Emit(tt.ev)
		if out.String() != tt.want {
			t.Errorf("%T: %q, want %q", tt.ev, out.String(), tt.want)
		}
	}
	var out, res bytes.Buffer
	NewPlain(&out, &res, false).Emit(build.Finished{Output: "dist/image", Tag: "docker.io/library/app:1", Manifests: []string{d}, Duration: 1500 * time.Millisecond})
	if out.Len() != 0 || res.String() != "Built docker.io/library/app:1 in dist/image (sha256:0123456789ab) in 1.5s\n" {
		t.Errorf("summary went to %q / %q", out.String(), res.String())
	}
	res.Reset()
	NewPlain(&out, &res, false).Emit(build.Finished{Output: "dist/image", Tag: "docker.io/library/app:1", Manifests: []string{d, d}, Index: d,
		DockerLoad: "linux/arm64", Duration: 1500 * time.Millisecond})
	if want := "  2 platforms in index sha256:0123456789ab; docker load of dist/image gets linux/arm64 (pycontainer save --platform gives another)\n"; !strings.HasSuffix(res.String(), want) {
		t.Errorf("a multi-platform summary is %q, want it to end with %q", res.String(), want)
	}
}

func TestJSONLines(t *testing.T) {
	var out bytes.Buffer
	j := NewJSONLines(&out)
	j.Emit(build.LayerProgressed{Platform: "linux/amd64", Digest: "sha256:ab", Done: 5, Total: 10})
	j.Emit(build.Warning{Message: "careful"})
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], `{"type":"layer_progress",`) {
		t.Fatalf("lines %q", lines)
	}
	var ev map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &ev); err != nil {
		t.Fatal(err)
	}
	if ev["platform"] != "linux/amd64" || ev["done"] != float64(5) || ev["total"] != float64(10) {
		t.Errorf("event %v", ev)
	}
}

// TestPlanNotesJSON: what a plan leaves out or lets in goes to JSON as path and reason
// apart, reads back the same, and a line recorded before (plain "path (reason)" strings)
// still replays into the same plain lines.
func TestPlanNotesJSON(t *testing.T) {
	plan := build.PlanReady{Tag: "demo:1",
		Excluded: []build.PathNote{{Path: "a (1).env", Reason: "it may hold secrets; add !a (1).env to .dockerignore to include it"}},
		Included: []build.PathNote{{Path: "certs/ca.pem", Reason: "it may hold secrets; !certs/ca.pem in .dockerignore names it"}},
	}
	var out bytes.Buffer
	NewJSONLines(&out).Emit(plan)
	line := strings.TrimSpace(out.String())
	for _, want := range []string{
		`"excluded":[{"path":"a (1).env","reason":"it may hold secrets; add !a (1).env to .dockerignore to include it"}]`,
		`"included":[{"path":"certs/ca.pem","reason":"it may hold secrets; !certs/ca.pem in .dockerignore names it"}]`,
	} {
		if !strings.Contains(line, want) {
			t.Errorf("the plan event %s\nlacks %s", line, want)
		}
	}
	back, err := DecodeEvent([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, plan) {
		t.Errorf("read back %+v, want %+v", back, plan)
	}

	plainOf := func(ev build.Event) string {
		var out, res bytes.Buffer
		NewPlain(&out, &res, false).Emit(ev)
		_, notes, _ := strings.Cut(out.String(), "\n") // after the base line
		return notes
	}
	const want = "excluded: a (1).env (it may hold secrets; add !a (1).env to .dockerignore to include it)\n" +
		"included on request: certs/ca.pem (it may hold secrets; !certs/ca.pem in .dockerignore names it)\n"
	if got := plainOf(plan); got != want {
		t.Errorf("plain lines %q, want %q", got, want)
	}
	legacy, err := DecodeEvent([]byte(`{"type":"plan","tag":"demo:1",` +
		`"excluded":["a (1).env (it may hold secrets; add !a (1).env to .dockerignore to include it)"],` +
		`"included":["certs/ca.pem (it may hold secrets; !certs/ca.pem in .dockerignore names it)"]}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := plainOf(legacy); got != want {
		t.Errorf("a recorded plan's plain lines %q, want %q", got, want)
	}
}

// hostileText is what an attacker would put in a file name, a config or an error body:
// a window title, a screen clear, a carriage return and a newline that forge a line,
// cursor movement that hides the previous one, a bidi override, DEL, a C1 CSI and a
// byte that is not UTF-8.
const hostileText = "x\x1b]0;pwned\x07\x1b[2J\r\nexcluded: nothing\x1b[1A\x1b[2K\u202egpj.env\x7f\u009b31m\xff"

// hostileEscaped is hostileText as every renderer shows it.
const hostileEscaped = `x\x1b]0;pwned\x07\x1b[2J\r\nexcluded: nothing\x1b[1A\x1b[2K\u202egpj.env\x7f\x9b31m\xff`

// safeLines reports whether out is lines of printable text only: nothing a terminal
// would act on, and n lines.
func safeLines(t *testing.T, out string, n int) {
	t.Helper()
	if got := strings.Count(out, "\n"); got != n || !strings.HasSuffix(out, "\n") {
		t.Errorf("%d lines, want %d:\n%s", got, n, out)
	}
	if !printable(strings.ReplaceAll(out, "\n", "")) {
		t.Errorf("a control or invisible character reaches the terminal: %q", out)
	}
}

func TestSanitize(t *testing.T) {
	tests := []struct{ in, want string }{
		{"linux/amd64", "linux/amd64"},
		{"café 日本 ✓ → …", "café 日本 ✓ → …"},
		{"a\nb\rc\td", `a\nb\rc\td`},
		{`back\slash`, `back\slash`},
		{hostileText, hostileEscaped},
		{"zw\u200bls\u2028ps\u2029", `zw\u200bls\u2028ps\u2029`},
		{"\ufffd", "\ufffd"},
		{"", ""},
	}
	for _, tt := range tests {
		got := Sanitize(tt.in)
		if got != tt.want {
			t.Errorf("Sanitize(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if again := Sanitize(got); again != got {
			t.Errorf("Sanitize is not idempotent on %q: %q", tt.in, again)
		}
		if !printable(got) {
			t.Errorf("Sanitize(%q) = %q is not printable", tt.in, got)
		}
	}
	if got := SanitizeLines("offers:\n  linux/amd64\x1b[2J\n  \u202e\xff"); got != "offers:\n  linux/amd64\\x1b[2J\n  \\u202e\\xff" {
		t.Errorf("SanitizeLines = %q", got)
	}
}

// TestPlainHostileText: every field an event carries from outside (file names, errors,
// warnings, platforms, the base image's name) is printed escaped, one line per line.
func TestPlainHostileText(t *testing.T) {
	h := hostileText
	events := []build.Event{
		build.Warning{Message: h},
		build.PlanReady{Base: h, BaseDigest: h, BaseSource: h, Excluded: []build.PathNote{{Path: h, Reason: "a secret"}, {Path: "ok.env", Reason: "a secret"}},
			Platforms: []build.PlatformPlan{{Platform: "linux/amd64", Source: h, BasePlatform: h}}, Entrypoint: []string{h}, DryRun: true, Output: h, Tag: h},
		build.PlatformFailed{Platform: "linux/amd64", Error: h},
		build.PushStarted{Target: h, Manifests: 1},
		build.Pushed{Target: h, Digest: h},
		build.Finished{Output: h, Tag: h, Manifests: []string{h}},
	}
	var out, res bytes.Buffer
	p := NewPlain(&out, &res, true)
	for _, e := range events {
		p.Emit(e)
	}
	safeLines(t, out.String(), 3) // warning, failed, push
	safeLines(t, res.String(), 8) // the dry run's plan (6 lines), pushed, built
	if !strings.Contains(res.String(), "excluded: "+hostileEscaped+" (a secret)\nexcluded: ok.env (a secret)\n") {
		t.Errorf("the excluded lines do not show the name escaped:\n%s", res.String())
	}

	var js bytes.Buffer
	j := NewJSONLines(&js)
	for _, e := range events {
		j.Emit(e)
	}
	safeLines(t, js.String(), len(events))
	var ev struct{ Message string }
	if err := json.Unmarshal([]byte(strings.SplitN(js.String(), "\n", 2)[0]), &ev); err != nil || ev.Message != strings.ToValidUTF8(h, "\ufffd") {
		t.Errorf("the JSON line does not decode to the message (%v): %q", err, ev.Message)
	}
}

// rawSafe reports what of hostileText a screen let through as it is: the app styles
// with SGR sequences (ESC [ … m) only, so any other escape, a carriage return, a bell,
// DEL, a C1 control or a bidi override on screen came from the hostile text.
func rawSafe(t *testing.T, screen, content string) {
	t.Helper()
	for _, bad := range []string{"\x1b]", "\x1b[2J", "\x1b[1A", "\x1b[2K", "\r", "\x07", "\x7f", "\u009b", "\u202e", "\xff"} {
		if strings.Contains(content, bad) {
			t.Errorf("%s: %q reaches the terminal raw", screen, bad)
		}
	}
	if text := ansi.Strip(content); !strings.Contains(text, `x\x1b]0;pwned\x07`) {
		t.Errorf("%s: the hostile text is not shown escaped:\n%s", screen, text)
	}
}

// TestScreensEscapeHostileText: every screen of the app shows what comes from outside
// (an index's platforms and annotations, tags, a registry's error, file names, an
// image's env, labels and history, warnings) escaped.
func TestScreensEscapeHostileText(t *testing.T) {
	h := hostileText
	t.Run("base", func(t *testing.T) {
		a := newTestApp(t, Config{Services: Services{FetchIndex: func(context.Context, string) (*registry.Index, error) {
			return nil, errors.New("registry said: " + h)
		}}})
		a.Update(tea.WindowSizeMsg{Width: 200, Height: 40})
		send(a, uitest.Key("enter"))
		rawSafe(t, "base", a.View().Content)
	})
	t.Run("platforms", func(t *testing.T) {
		a := newTestApp(t, Config{Requested: requests(t, "linux/riscv64"), Services: Services{
			FetchIndex: func(context.Context, string) (*registry.Index, error) {
				ix := fixtureIndex(t)
				raw := oci.Platform{OS: "linux", Architecture: "amd64", Variant: h, OSVersion: h}
				ix.Entries[0].Descriptor.Platform = &raw
				ix.Entries[len(ix.Entries)-1].Descriptor.Annotations["vnd.docker.reference.digest"] = "sha256:" + h
				return ix, nil
			},
			Diagnose: func(_ context.Context, ix *registry.Index, missing []build.RequestedPlatform) []*registry.Diagnosis {
				d := fixtureDiagnosis(ix, missing[0])
				d.Siblings[0].Ref, d.Siblings[0].Platforms = "docker.io/library/python:"+h, []string{h}
				return []*registry.Diagnosis{d}
			},
		}})
		a.Update(tea.WindowSizeMsg{Width: 400, Height: 40})
		send(a, uitest.Key("enter"))
		rawSafe(t, "platforms", a.View().Content)
		send(a, uitest.Key("G")) // the missing row, with its diagnosis
		rawSafe(t, "platforms, diagnosis", a.View().Content)
	})
	t.Run("build", func(t *testing.T) {
		a, release := runningBuild(t, "linux/amd64")
		a.Update(tea.WindowSizeMsg{Width: 300, Height: 40})
		buildEvents(a, build.PlanReady{Excluded: []build.PathNote{{Path: h, Reason: "a secret"}}}, build.Warning{Message: h},
			build.PlatformFailed{Platform: "linux/amd64", Error: h})
		rawSafe(t, "build", a.View().Content)
		release <- errors.New(h)
		waitBuild(t, a)
		rawSafe(t, "build, failed", a.View().Content)
	})
	t.Run("inspect", func(t *testing.T) {
		summary := fixtureSummary()
		img := &summary.Images[0]
		img.Config.Config.Env = append(img.Config.Config.Env, "EVIL="+h)
		img.Config.Config.Labels = map[string]string{h: h}
		img.Config.History[0].CreatedBy = h
		img.Config.History[2].CreatedBy = "pycontainer build: " + h
		img.Name = h
		a := newTestApp(t, Config{Start: ScreenInspect, Services: Services{
			Inspect: func(context.Context) (*oci.Summary, error) { return summary, nil },
			LayerFiles: func(context.Context, *oci.Summary, descriptor.Descriptor, int) ([]oci.LayerFile, bool, error) {
				return []oci.LayerFile{{Path: "app/" + h, Size: 1}}, false, nil
			},
		}})
		a.Update(tea.WindowSizeMsg{Width: 400, Height: 200})
		send(a, run(a.Init())...)
		rawSafe(t, "inspect", a.View().Content)
	})
}
