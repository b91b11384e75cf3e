package ui

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pycontainer/pycontainer/build"
	"github.com/pycontainer/pycontainer/ui/uitest"
)

// sdistEvents are a compile for arm64 as a build sends them, and a wheel built before.
func sdistEvents() []build.Event {
	return []build.Event{
		build.SdistCompiling{Platform: "linux/arm64", Package: "fastcalc", Version: "1.0", How: "emulated", Builder: "python:3.11"},
		build.SdistProgressed{Platform: "linux/arm64", Package: "fastcalc", Elapsed: 2 * time.Second, LastLine: "running build_ext"},
		build.SdistProgressed{Platform: "linux/arm64", Package: "fastcalc", Elapsed: 8100 * time.Millisecond, LastLine: "gcc -shared -o _answer.so"},
		build.SdistCompiled{Platform: "linux/arm64", Package: "fastcalc", Wheel: "fastcalc-1.0-cp311-cp311-linux_aarch64.whl", Elapsed: 9 * time.Second},
		build.SdistCompiled{Platform: "linux/amd64", Package: "fastcalc", Wheel: "fastcalc-1.0-cp311-cp311-linux_x86_64.whl", Cached: true},
	}
}

// TestSdistEventsPlain: a compile reads as it runs, without a line per event.
func TestSdistEventsPlain(t *testing.T) {
	var out, res bytes.Buffer
	p := NewPlain(&out, &res, false)
	for _, ev := range sdistEvents() {
		p.Emit(ev)
	}
	want := "compiling fastcalc 1.0 for linux/arm64 (emulated) in python:3.11\n" +
		"compiling fastcalc 1.0 for linux/arm64 (emulated) … 8.1s: gcc -shared -o _answer.so\n" +
		"linux/arm64: fastcalc built from source in 9.0s: fastcalc-1.0-cp311-cp311-linux_aarch64.whl\n" +
		"linux/amd64: fastcalc built from source before: fastcalc-1.0-cp311-cp311-linux_x86_64.whl (cached)\n"
	if out.String() != want {
		t.Errorf("plain:\n%s\nwant:\n%s", out.String(), want)
	}
	out.Reset()
	p.Emit(build.PlanReady{Base: "python:3.11-slim", BaseDigest: "sha256:" + strings.Repeat("a", 64), Builder: "python:3.11", BuilderDigest: "sha256:" + strings.Repeat("b", 64)})
	if !strings.Contains(out.String(), "builder python:3.11@sha256:"+strings.Repeat("b", 64)+" (sdists compile in it)\n") {
		t.Errorf("the plan does not name the builder pinned:\n%s", out.String())
	}
}

// TestSdistEventsJSON: the events go to JSON with their types and read back the same.
func TestSdistEventsJSON(t *testing.T) {
	var out bytes.Buffer
	j := NewJSONLines(&out)
	for _, ev := range sdistEvents() {
		j.Emit(ev)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	types := []string{"sdist_compiling", "sdist_progressed", "sdist_progressed", "sdist_compiled", "sdist_compiled"}
	for i, l := range lines {
		if !strings.HasPrefix(l, `{"type":"`+types[i]+`",`) {
			t.Errorf("line %d: %s, want type %s", i, l, types[i])
		}
		ev, err := DecodeEvent([]byte(l))
		if err != nil || !reflect.DeepEqual(ev, sdistEvents()[i]) {
			t.Errorf("line %d reads back as %#v, %v", i, ev, err)
		}
	}
	if !strings.Contains(lines[4], `"cached":true`) {
		t.Errorf("cached wheel: %s", lines[4])
	}
}

// TestSdistEventsApp: the build screen lists the compiles, and names the builder.
func TestSdistEventsApp(t *testing.T) {
	a, release := runningBuild(t, "linux/amd64", "linux/arm64")
	defer func() { release <- nil }()
	buildEvents(a, build.PlanReady{Base: "python:3.11-slim", BaseDigest: "sha256:" + strings.Repeat("a", 64), Builder: "python:3.11", BuilderDigest: "sha256:" + strings.Repeat("b", 64)})
	buildEvents(a, sdistEvents()[:3]...)
	text := screenText(a)
	for _, want := range []string{"builder python:3.11@sha256:bbbbbbbbbbbb", "Built from source", "linux/arm64    fastcalc 1.0 (emulated) … 8.1s: gcc -shared -o _answer.so"} {
		if !strings.Contains(text, want) {
			t.Errorf("build screen lacks %q:\n%s", want, text)
		}
	}
	buildEvents(a, sdistEvents()[3:]...)
	text = screenText(a)
	for _, want := range []string{"fastcalc 1.0 (emulated): built in 9.0s", "linux/amd64    fastcalc: built before (cached)"} {
		if !strings.Contains(text, want) {
			t.Errorf("build screen lacks %q:\n%s", want, text)
		}
	}
}

// TestSdistCompileCancelledApp: a compile the cancel cut short says so, not "…".
func TestSdistCompileCancelledApp(t *testing.T) {
	a, _ := runningBuild(t, "linux/amd64", "linux/arm64")
	buildEvents(a, build.PlanReady{Base: "python:3.11-slim", Builder: "python:3.11", BuilderDigest: "sha256:" + strings.Repeat("b", 64)})
	buildEvents(a, sdistEvents()[:3]...)
	send(a, uitest.Key("esc"))
	waitBuild(t, a)
	text := screenText(a)
	if !strings.Contains(text, "fastcalc 1.0 (emulated): cancelled after") || strings.Contains(text, "(emulated) …") {
		t.Errorf("the compile's line after the cancel:\n%s", text)
	}
}
