package cli

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/teatest/v2"

	"github.com/pycontainer/pycontainer/build"
	"github.com/pycontainer/pycontainer/internal/clitest"
	"github.com/pycontainer/pycontainer/internal/testbase"
	"github.com/pycontainer/pycontainer/oci"
	"github.com/pycontainer/pycontainer/registry"
	"github.com/pycontainer/pycontainer/ui"
	"github.com/pycontainer/pycontainer/ui/uitest"
)

// The flows drive the app the way a person does: it opens on the base image screen
// with nothing passed by flag (set up as `pycontainer` sets it up), the image is typed,
// every step is a key, and what lands on disk is checked at the end.

// flow is the app under test, driven by the real program loop.
type flow struct {
	t    *testing.T
	app  *ui.App
	tm   *teatest.TestModel
	last atomic.Value // string: the latest frame, ANSI stripped
}

// startFlow opens the app on the project in w's directory, as `pycontainer` run there
// does, at 100×30. The world's own XDG_CONFIG_HOME holds the recent-images list.
func startFlow(t *testing.T, w *clitest.World) *flow {
	t.Helper()
	env := w.Env()
	opts, err := build.Resolve(build.Inputs{Flags: build.Settings{}, Process: env})
	if err != nil {
		t.Fatal(err)
	}
	cfg := appConfig(opts, env, "dark")
	cfg.Host = oci.Host{Platform: oci.Platform{OS: "linux", Architecture: "amd64"}}
	f := &flow{t: t, app: ui.New(cfg)}
	t.Cleanup(f.app.Close)
	f.tm = teatest.NewTestModel(t, f, teatest.WithInitialTermSize(100, 30))
	return f
}

func (f *flow) Init() tea.Cmd { return f.app.Init() }

func (f *flow) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	_, cmd := f.app.Update(msg)
	f.last.Store(ansi.Strip(f.app.View().Content))
	return f, cmd
}

func (f *flow) View() tea.View { return f.app.View() }

func (f *flow) frame() string { s, _ := f.last.Load().(string); return s }

// waitFor polls the screen until it shows what, or fails after 20 seconds.
func (f *flow) waitFor(what string) {
	f.t.Helper()
	f.waitUntil(what, func(frame string) bool { return strings.Contains(frame, what) })
}

func (f *flow) waitUntil(what string, ok func(frame string) bool) {
	f.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !ok(f.frame()) {
		if time.Now().After(deadline) {
			f.t.Fatalf("the screen never showed %s; it shows:\n%s", what, f.frame())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// press sends keys by name, each once the previous one has been handled.
func (f *flow) press(keys ...string) {
	f.t.Helper()
	for _, k := range keys {
		before := f.frame()
		f.tm.Send(uitest.Key(k))
		// A key that changes nothing on screen is fine; give it a moment to land.
		deadline := time.Now().Add(300 * time.Millisecond)
		for f.frame() == before && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// typeImage clears the base image input and types image.
func (f *flow) typeImage(image string) {
	f.t.Helper()
	f.press("ctrl+u")
	f.tm.Type(image)
	f.waitFor("› " + image)
}

// open types image and presses enter, and waits for the screen to say what.
func (f *flow) open(image, what string) {
	f.t.Helper()
	f.typeImage(image)
	f.press("enter")
	f.waitFor(what)
}

// cursorTo moves the cursor with the arrow keys to the row that starts with label.
func (f *flow) cursorTo(label string) {
	f.t.Helper()
	for range 12 {
		for _, l := range strings.Split(f.frame(), "\n") {
			if strings.HasPrefix(strings.TrimSpace(l), "› "+label+" ") || strings.HasPrefix(strings.TrimSpace(l), "› [ ] "+label+" ") ||
				strings.HasPrefix(strings.TrimSpace(l), "› [x] "+label+" ") {
				return
			}
		}
		f.press("down")
	}
	f.t.Fatalf("the cursor never reached %s:\n%s", label, f.frame())
}

func (f *flow) quit() {
	f.t.Helper()
	f.press("q")
	f.tm.WaitFinished(f.t, teatest.WithFinalTimeout(10*time.Second))
}

// builtFrom reads the layout: each image's platform and the base its manifest names.
func builtFrom(t *testing.T, dir string) map[string][2]string {
	t.Helper()
	s, err := oci.InspectPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][2]string{}
	for _, img := range s.Images {
		out[oci.PlatformString(img.Platform())] = [2]string{img.Annotations["org.opencontainers.image.base.name"], img.Annotations["org.opencontainers.image.base.digest"]}
	}
	return out
}

// indexDigest is the digest of the index an image's tag names now.
func indexDigest(t *testing.T, image string) string {
	t.Helper()
	r, err := registry.ParseReference(image)
	if err != nil {
		t.Fatal(err)
	}
	ix, err := registry.New(registry.Options{Registries: []string{r.Registry}}).Index(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	return ix.Digest.String()
}

// TestFlowBuildWhatWasBrowsed: the image typed is the image built, not the project's
// default base (python:3.11-slim here, which the registry also has).
func TestFlowBuildWhatWasBrowsed(t *testing.T) {
	t.Parallel()
	w := newSeedWorld(t)
	w.Registry.Push(t, testbase.Spec{Repo: "library/python", Tag: "3.12-slim", Platforms: testbase.PythonPlatforms, PaddingBytes: 10})
	image := w.Registry.Host + "/library/python:3.12-slim"
	f := startFlow(t, w)
	f.open(image, "0 platforms of 3 selected")
	f.cursorTo("linux/amd64")
	f.press("space")
	f.cursorTo("linux/arm64")
	f.press("space", "enter")
	f.waitFor("✓ Built 2 platforms")
	if !strings.Contains(f.frame(), "from "+image+"@sha256:") {
		t.Errorf("the summary does not name the base as typed:\n%s", f.frame())
	}
	f.press("enter")
	f.waitFor("base        " + image + "@sha256:")
	f.quit()
	if err := f.app.Result(); err != nil {
		t.Fatalf("build result: %v", err)
	}
	got := builtFrom(t, w.Path("dist/image"))
	for _, p := range []string{"linux/amd64", "linux/arm64"} {
		if want := [2]string{image, indexDigest(t, image)}; got[p] != want {
			t.Errorf("%s built from %v, want %v", p, got[p], want)
		}
	}
	if len(got) != 2 {
		t.Errorf("the layout holds %v", got)
	}
}

// TestFlowPinnedToTheIndexShown: a tag that moves between browsing and building does
// not change the base: the build uses the index that was on screen.
func TestFlowPinnedToTheIndexShown(t *testing.T) {
	t.Parallel()
	w := newSeedWorld(t)
	image := w.Registry.Host + "/library/python:3.11-slim"
	shown, shownLayers := indexDigest(t, image), baseLayers(t, image, "linux/amd64")
	f := startFlow(t, w)
	f.open(image, "0 platforms of 3 selected")
	w.Registry.Push(t, testbase.Spec{Repo: "library/python", Tag: "3.11-slim", Platforms: testbase.PythonPlatforms, PaddingBytes: 7})
	if moved := indexDigest(t, image); moved == shown {
		t.Fatal("the tag did not move")
	}
	f.cursorTo("linux/amd64")
	f.press("space", "enter")
	f.waitFor("✓ Built 1 platform")
	f.quit()
	if got := builtFrom(t, w.Path("dist/image"))["linux/amd64"]; got != [2]string{image, shown} {
		t.Errorf("built from %v, want the index shown: %s", got, shown)
	}
	s, err := oci.InspectPath(w.Path("dist/image"))
	if err != nil {
		t.Fatal(err)
	}
	var built []string
	for _, l := range s.Images[0].Layers[:len(shownLayers)] {
		built = append(built, l.Digest.String())
	}
	if strings.Join(built, " ") != strings.Join(shownLayers, " ") {
		t.Errorf("the image's base layers are %v, want those of the index shown, %v", built, shownLayers)
	}
}

// baseLayers are the layer digests of one platform's image of a base.
func baseLayers(t *testing.T, image, platform string) []string {
	t.Helper()
	r, _ := registry.ParseReference(image)
	client := registry.New(registry.Options{Registries: []string{r.Registry}})
	ix, err := client.Index(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := oci.ParsePlatform(platform)
	e, _ := ix.Find(p)
	img, err := client.Image(context.Background(), r, e.Descriptor)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range img.Manifest.Layers {
		out = append(out, l.Digest.String())
	}
	return out
}

// TestFlowFollowATryRow: the project asks for linux/arm/v6, which python:3.11-slim
// lacks; the diagnosis's try line opens python:3.11-alpine with arm/v6 asked for, and
// enter builds it.
func TestFlowFollowATryRow(t *testing.T) {
	t.Parallel()
	w := demoWorld(t)
	w.WriteFile(t, "pycontainer.toml", "[build]\nplatforms = [\"linux/arm/v6\"]\n")
	f := startFlow(t, w)
	f.typeImage("python:3.11-slim")
	f.press("enter")
	f.waitFor("Why linux/arm/v6 is missing")
	f.waitFor("▸ docker.io/library/python:3.11-alpine")
	for range 12 {
		if strings.Contains(f.frame(), "enter opens it") {
			break
		}
		f.press("down")
	}
	f.waitFor("enter opens it")
	f.press("enter")
	f.waitFor("docker.io/library/python:3.11-alpine  index")
	f.waitFor("1 platform of")
	f.press("enter")
	f.waitFor("✓ Built 1 platform")
	f.quit()
	if err := f.app.Result(); err != nil {
		t.Fatal(err)
	}
	want := "docker.io/library/python:3.11-alpine"
	if got := builtFrom(t, w.Path("dist/image")); len(got) != 1 || got["linux/arm/v6"][0] != want {
		t.Errorf("built %v, want linux/arm/v6 from %s", got, want)
	}
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

// armLayerOf is the last layer of arm64's image, the one it does not share with the
// other platforms.
func armLayerOf(t *testing.T, image string) string {
	t.Helper()
	layers := baseLayers(t, image, "linux/arm64")
	return layers[len(layers)-1]
}

// TestFlowEscOutOfAFailedBuild: a build that fails leaves by esc, back to the
// platforms, and quitting reports the failure.
func TestFlowEscOutOfAFailedBuild(t *testing.T) {
	t.Parallel()
	fault := &failBlob{}
	reg := testbase.StartWith(t, fault.wrap)
	reg.Push(t, testbase.Spec{Repo: "library/python", Tag: "3.11-slim", Platforms: testbase.PythonPlatforms})
	w := newSeedWorldWith(t, reg)
	image := reg.Host + "/library/python:3.11-slim"
	fault.digest = armLayerOf(t, image)
	fault.armed.Store(true)
	f := startFlow(t, w)
	f.open(image, "0 platforms of 3 selected")
	f.cursorTo("linux/arm64")
	f.press("space", "enter")
	f.waitFor("1 platform of 1 failed; dist/image is unchanged — r retries")
	if fault.hits.Load() == 0 {
		t.Fatal("the fault was never hit")
	}
	f.press("esc")
	f.waitFor("1 platform of 3 selected")
	f.quit()
	if err := f.app.Result(); err == nil || errors.Is(err, ui.ErrInterrupted) {
		t.Errorf("result after a failed build: %v", err)
	}
	if _, err := os.Stat(w.Path("dist/image/index.json")); !os.IsNotExist(err) {
		t.Errorf("a failed build wrote a layout: %v", err)
	}
}

// stopAt serves at most the first limit bytes of one blob while armed, then goes quiet
// (however the request's Range starts), as a stalled transfer does; it records the
// Range headers it was asked for.
type stopAt struct {
	digest string
	limit  int64
	armed  atomic.Bool
	mu     sync.Mutex
	ranges []string
}

func (s *stopAt) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, "/blobs/"+s.digest) {
			h.ServeHTTP(w, r)
			return
		}
		s.mu.Lock()
		s.ranges = append(s.ranges, r.Header.Get("Range"))
		s.mu.Unlock()
		if !s.armed.Load() {
			h.ServeHTTP(w, r)
			return
		}
		from := int64(0)
		if m := regexp.MustCompile(`^bytes=(\d+)-`).FindStringSubmatch(r.Header.Get("Range")); m != nil {
			from, _ = strconv.ParseInt(m[1], 10, 64)
		}
		h.ServeHTTP(&quietAfter{ResponseWriter: w, left: s.limit - from, done: r.Context().Done()}, r)
	})
}

// quietAfter passes on left bytes of a body, then sends nothing until the client gives up.
type quietAfter struct {
	http.ResponseWriter
	left int64
	done <-chan struct{}
}

func (q *quietAfter) Write(p []byte) (int, error) {
	if int64(len(p)) <= q.left {
		n, err := q.ResponseWriter.Write(p)
		q.left -= int64(n)
		return n, err
	}
	_, _ = q.ResponseWriter.Write(p[:max(q.left, 0)])
	q.left = 0
	q.ResponseWriter.(http.Flusher).Flush()
	<-q.done
	return 0, errors.New("the client gave up")
}

// TestFlowRetryResumes: a layer that stops at 60% fails the build; r fetches only the
// rest, asking the registry for the bytes after those kept.
func TestFlowRetryResumes(t *testing.T) {
	t.Parallel()
	cut := &stopAt{}
	reg := testbase.StartWith(t, cut.wrap)
	reg.Push(t, testbase.Spec{Repo: "library/python", Tag: "3.11-slim", Platforms: testbase.PythonPlatforms, PaddingBytes: 2 << 20})
	w := newSeedWorldWith(t, reg)
	image := reg.Host + "/library/python:3.11-slim"
	cut.digest = armLayerOf(t, image)
	cut.limit = 1200 << 10 // of a ~2 MB layer
	cut.armed.Store(true)
	w.Setenv("PYCONTAINER_STALL_TIMEOUT", "1s") // each attempt gives up after 1 s of silence
	f := startFlow(t, w)
	f.open(image, "0 platforms of 3 selected")
	f.cursorTo("linux/arm64")
	f.press("space", "enter")
	f.waitFor("1 platform of 1 failed")
	cut.armed.Store(false)
	cut.mu.Lock()
	cut.ranges = nil
	cut.mu.Unlock()
	f.press("right", "r")
	f.waitFor("✓ Built 1 platform")
	if !strings.Contains(f.frame(), "resumed at 1.2 MB") {
		t.Errorf("the layer row does not say it resumed:\n%s", f.frame())
	}
	f.quit()
	cut.mu.Lock()
	defer cut.mu.Unlock()
	if len(cut.ranges) != 1 || cut.ranges[0] != "bytes=1228800-" {
		t.Errorf("the retry asked for %q, want the rest only (bytes=1228800-)", cut.ranges)
	}
	if err := f.app.Result(); err != nil {
		t.Fatal(err)
	}
}

// TestFlowCancel: esc stops a build that is downloading; every row says cancelled, the
// layout is untouched, and quitting reports an interrupted build.
func TestFlowCancel(t *testing.T) {
	t.Parallel()
	reg := testbase.StartWith(t, testbase.SlowBlobs)
	reg.Push(t, testbase.Spec{Repo: "library/python", Tag: "3.11-slim", Platforms: testbase.PythonPlatforms, PaddingBytes: 4 << 20})
	w := newSeedWorldWith(t, reg)
	f := startFlow(t, w)
	f.open(reg.Host+"/library/python:3.11-slim", "0 platforms of 3 selected")
	f.press("a", "enter")
	f.waitFor("downloading")
	f.press("right", "esc")
	f.waitFor("Build cancelled; dist/image is unchanged")
	if strings.Contains(f.frame(), "downloading") || strings.Contains(f.frame(), "waiting") {
		t.Errorf("a row still reads downloading or waiting:\n%s", f.frame())
	}
	f.quit()
	if err := f.app.Result(); !errors.Is(err, ui.ErrInterrupted) {
		t.Errorf("result %v, want an interrupted build (exit 130)", err)
	}
	if _, err := os.Stat(w.Path(filepath.Join("dist", "image", "index.json"))); !os.IsNotExist(err) {
		t.Errorf("a cancelled build wrote a layout: %v", err)
	}
}

// TestThemeChoice: PYCONTAINER_THEME is the default of --theme; an unknown theme stops
// the app with a usage error that says where the choice came from and what exists.
func TestThemeChoice(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.Setenv("PYCONTAINER_THEME", "light")
	if code, stdout, _ := w.Run(t, "build --help"); code != 0 || !strings.Contains(stdout, `(default "light")`) {
		t.Errorf("--theme does not default to PYCONTAINER_THEME (exit %d):\n%s", code, stdout)
	}
	env := w.Env()
	env.Stdin, env.Stdout, env.Stderr = strings.NewReader(""), io.Discard, io.Discard // the theme stops it before it draws
	err := runApp(context.Background(), env, ui.Config{Theme: "solarized"}, nil)
	var usage usageError
	if !errors.As(err, &usage) || !strings.Contains(err.Error(), `--theme or PYCONTAINER_THEME: unknown theme "solarized": choose one of auto, dark, light, high-contrast`) {
		t.Errorf("runApp with an unknown theme: %v", err)
	}
}

// TestFlowMistypedTag: a tag the repository lacks is said in a sentence on the first
// screen, with the nearest tags, and the input is there to fix it.
func TestFlowMistypedTag(t *testing.T) {
	t.Parallel()
	w := newSeedWorld(t)
	f := startFlow(t, w)
	f.typeImage(w.Registry.Host + "/library/python:3.11-slimm")
	f.press("enter")
	f.waitFor("did you mean 3.11-slim?")
	f.waitFor("the repository has no tag 3.11-slimm")
	if strings.Contains(f.frame(), "{") {
		t.Errorf("the registry's raw answer is on screen:\n%s", f.frame())
	}
	f.press("backspace", "enter")
	f.waitFor("0 platforms of 3 selected")
	f.quit()
}
