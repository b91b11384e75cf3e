package main

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/teatest/v2"

	"github.com/pycontainer/pycontainer/build"
	"github.com/pycontainer/pycontainer/internal/testbase"
	"github.com/pycontainer/pycontainer/oci"
	"github.com/pycontainer/pycontainer/registry"
	"github.com/pycontainer/pycontainer/ui"
)

// appFor resolves the options of the demo project in the current directory, as
// `pycontainer` would, and sets up the app on them.
func appFor(t *testing.T, start ui.Screen, base string, platformFlag ...string) (*ui.App, *build.Options) {
	t.Helper()
	flags := build.Settings{BaseImage: &base}
	if len(platformFlag) > 0 {
		flags.Platforms = platformFlag
	}
	opts, err := build.Resolve(build.Inputs{Flags: flags})
	if err != nil {
		t.Fatal(err)
	}
	cfg := ui.Config{Services: appServices(opts), BaseImage: base, Host: oci.Platform{OS: "linux", Architecture: "amd64"},
		Theme: "dark", Output: opts.Output, Start: start}
	if len(platformFlag) > 0 {
		cfg.Requested = opts.Platforms
	}
	return ui.New(cfg), opts
}

// screen wraps the app and records what it draws after every message, so a test reads
// the screen a person would see while the real program loop drives the app.
type screen struct {
	app  tea.Model
	last atomic.Value // string: the latest frame, ANSI stripped
}

func (s *screen) Init() tea.Cmd { return s.app.Init() }

func (s *screen) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	m, cmd := s.app.Update(msg)
	s.app = m
	s.last.Store(ansi.Strip(m.View().Content))
	return s, cmd
}

func (s *screen) View() tea.View { return s.app.View() }

// waitFor polls the screen until it shows what, or fails the test after 20 seconds.
func (s *screen) waitFor(t *testing.T, what string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		frame, _ := s.last.Load().(string)
		if strings.Contains(frame, what) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the screen never showed %q; it shows:\n%s", what, frame)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func keyPress(s string) tea.KeyPressMsg {
	switch s {
	case "enter":
		return tea.KeyPressMsg{Code: tea.KeyEnter}
	case "space":
		return tea.KeyPressMsg{Code: tea.KeySpace, Text: " "}
	case "down":
		return tea.KeyPressMsg{Code: tea.KeyDown}
	}
	return tea.KeyPressMsg{Code: rune(s[0]), Text: s}
}

// TestFlowPickTwoPlatformsAndBuild: open, fetch, pick amd64 and arm64, build, inspect.
func TestFlowPickTwoPlatformsAndBuild(t *testing.T) {
	newSeedWorld(t)
	app, _ := appFor(t, ui.ScreenBase, "python:3.11-slim")
	scr := &screen{app: app}
	tm := teatest.NewTestModel(t, scr, teatest.WithInitialTermSize(100, 30))
	tm.Send(keyPress("enter"))
	scr.waitFor(t, "0 platforms of 3 selected")
	for _, k := range []string{"space", "down", "space", "enter"} {
		tm.Send(keyPress(k))
	}
	scr.waitFor(t, "the config's platform matches the index entry")
	tm.Send(keyPress("q"))
	tm.WaitFinished(t, teatest.WithFinalTimeout(10*time.Second))
	if err := app.Result(); err != nil {
		t.Fatalf("build result: %v", err)
	}
	idx := readIndex(t, "dist/image")
	var plats []string
	for _, m := range idx.Manifests {
		plats = append(plats, string(m.Platform))
	}
	if strings.Join(plats, " ") != `{"architecture":"amd64","os":"linux"} {"architecture":"arm64","os":"linux"}` {
		t.Errorf("built %v", plats)
	}
}

// TestFlowMissingPlatform: a platform asked for on the command line that the index lacks
// is listed as missing and cannot be built.
func TestFlowMissingPlatform(t *testing.T) {
	newSeedWorld(t)
	app, _ := appFor(t, ui.ScreenBase, "python:3.11-slim", "linux/s390x,linux/arm64")
	scr := &screen{app: app}
	tm := teatest.NewTestModel(t, scr, teatest.WithInitialTermSize(120, 30))
	tm.Send(keyPress("enter"))
	scr.waitFor(t, "missing: not in this index (asked by --platform flag)")
	scr.waitFor(t, "1 platform of 3 selected")
	scr.waitFor(t, "Why linux/s390x is missing")
	scr.waitFor(t, "index has  linux/amd64") // the real diagnosis arrived
	tm.Send(keyPress("q"))
	tm.WaitFinished(t, teatest.WithFinalTimeout(10*time.Second))
}

// failBlob answers 503 for one blob while armed.
type failBlob struct {
	digest string
	armed  atomic.Bool
	hits   atomic.Int32
}

func (f *failBlob) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f.armed.Load() && r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/blobs/"+f.digest) {
			f.hits.Add(1)
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// TestFlowFailingPlatformRetried: arm64's layer fails, amd64 goes on, r retries and the
// image is built with both.
func TestFlowFailingPlatformRetried(t *testing.T) {
	fault := &failBlob{}
	reg := testbase.StartWith(t, fault.wrap)
	reg.Push(t, testbase.Spec{Repo: "library/python", Tag: "3.11-slim", Platforms: testbase.PythonPlatforms})
	newSeedWorldWith(t, reg)

	// Find arm64's own layer and make it fail.
	client := registry.New(registry.Options{Registries: []string{reg.Host}})
	r, _ := registry.ParseReference(reg.Host + "/library/python:3.11-slim")
	ix, err := client.Index(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	arm, _ := ix.Find(oci.Platform{OS: "linux", Architecture: "arm64"})
	img, err := client.Image(context.Background(), r, arm.Descriptor)
	if err != nil {
		t.Fatal(err)
	}
	fault.digest = img.Manifest.Layers[1].Digest.String()
	fault.armed.Store(true)

	// The registry by name, not as a docker.io mirror: a failing mirror makes regclient
	// fall back to Docker Hub, which this test must not reach.
	app, _ := appFor(t, ui.ScreenBuild, reg.Host+"/library/python:3.11-slim", "linux/amd64,linux/arm64")
	scr := &screen{app: app}
	tm := teatest.NewTestModel(t, scr, teatest.WithInitialTermSize(100, 30))
	scr.waitFor(t, "1 platform of 2 failed")
	if fault.hits.Load() == 0 {
		t.Fatal("the fault was never hit")
	}
	fault.armed.Store(false)
	tm.Send(keyPress("r"))
	scr.waitFor(t, "the config's platform matches the index entry")
	tm.Send(keyPress("q"))
	tm.WaitFinished(t, teatest.WithFinalTimeout(10*time.Second))
	if err := app.Result(); err != nil {
		t.Fatalf("after the retry: %v", err)
	}
	if idx := readIndex(t, "dist/image"); len(idx.Manifests) != 2 {
		t.Errorf("%d manifests after the retry, want 2", len(idx.Manifests))
	}
}

// TestThemeChoice: PYCONTAINER_THEME is the default of --theme; an unknown theme stops
// the app with a usage error that says where the choice came from and what exists.
func TestThemeChoice(t *testing.T) {
	t.Setenv("PYCONTAINER_THEME", "light")
	if code, stdout, _ := pycontainer(t, "build --help"); code != 0 || !strings.Contains(stdout, `(default "light")`) {
		t.Errorf("--theme does not default to PYCONTAINER_THEME (exit %d):\n%s", code, stdout)
	}
	err := runApp(context.Background(), ui.Config{Theme: "solarized"}, nil)
	var usage usageError
	if !errors.As(err, &usage) || !strings.Contains(err.Error(), `--theme or PYCONTAINER_THEME: unknown theme "solarized": choose one of auto, dark, light, high-contrast`) {
		t.Errorf("runApp with an unknown theme: %v", err)
	}
}
