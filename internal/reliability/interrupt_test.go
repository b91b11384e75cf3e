package reliability

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"

	"github.com/pycontainer/pycontainer/internal/clitest"
	"github.com/pycontainer/pycontainer/internal/testbase"
)

// validateLayout checks that index.json and everything it references are present and
// match their digests, and that skopeo reads the layout. dir is absolute: no test reads
// against the process's directory.
func validateLayout(t *testing.T, dir string) {
	t.Helper()
	if !filepath.IsAbs(dir) {
		t.Fatalf("validateLayout(%q): a relative path reads the process's directory, not the world's", dir)
	}
	check := func(d string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, "blobs", "sha256", strings.TrimPrefix(d, "sha256:")))
		if err != nil {
			t.Fatalf("referenced blob missing: %v", err)
		}
		if got := digest.FromBytes(b).String(); got != d {
			t.Fatalf("blob %s holds bytes of %s", d, got)
		}
		return b
	}
	images := clitest.ReadImages(t, dir)
	if len(images) == 0 {
		t.Fatal("index.json lists no manifests")
	}
	for _, e := range clitest.ReadIndex(t, dir).Manifests {
		check(e.Digest) // a nested index too
	}
	for _, m := range images {
		var man struct {
			Config struct{ Digest string }
			Layers []struct{ Digest string }
		}
		if err := json.Unmarshal(check(m.Digest), &man); err != nil {
			t.Fatal(err)
		}
		check(man.Config.Digest)
		for _, l := range man.Layers {
			check(l.Digest)
		}
	}
	if _, err := exec.LookPath("skopeo"); err == nil {
		ref := images[0].Annotations["org.opencontainers.image.ref.name"]
		var p struct{ Architecture, Variant string }
		_ = json.Unmarshal(images[0].Platform, &p)
		// A nested index holds no image of this machine's platform when the build was for
		// others: skopeo, as with a registry's index, is told which to read.
		args := []string{"--override-arch", p.Architecture, "--override-variant", p.Variant, "inspect", "oci:" + dir + ":" + ref}
		if out, err := exec.Command("skopeo", args...).CombinedOutput(); err != nil {
			t.Fatalf("skopeo cannot read the layout: %v\n%s", err, out)
		}
	}
}

// interruptedBuilds kills builds at random points, with SIGKILL and with SIGINT, each
// from an empty cache so a signal lands while layers download as often as while the
// layout is written. After each: the layout is the previous image or the new one whole
// (valid, skopeo reads it), the cache holds no corrupt blob, and the next build, from
// the cache the interrupted one left, succeeds.
func interruptedBuilds(t *testing.T) []reliabilityRow {
	needSignals(t)
	reg := testbase.StartWith(t, testbase.SlowBlobs)
	reg.Push(t, testbase.Spec{Repo: "library/python", Tag: "3.11-slim", Platforms: testbase.PythonPlatforms, PaddingBytes: 2 << 20})
	w := newSeedWorldWith(t, reg)
	caches := t.TempDir() // outside the project, whose files go into the image
	// Trials alternate two platform sets, so the layout never holds the base layers a
	// trial needs and every trial downloads them. The build after an interrupted one runs
	// the same command line, so an index.json the interrupted one left can be compared
	// with the one a clean build writes.
	builds := [2]string{
		"build --tag demo:2 --platform linux/arm64,linux/arm/v7 --progress plain",
		"build --tag demo:2 --platform linux/amd64 --progress plain",
	}
	buildCmd := func(cmdline, cache string) *exec.Cmd {
		return w.Command(t, strings.Fields(cmdline), "PYCONTAINER_CACHE="+cache)
	}
	// Signals land uniformly over 1.2 times what the slower whole build takes, so most
	// land mid-build and a few after it.
	var window time.Duration
	for i, cmdline := range builds {
		start := time.Now()
		if out, err := buildCmd(cmdline, filepath.Join(caches, fmt.Sprint("timing", i))).CombinedOutput(); err != nil {
			t.Fatalf("build: %v\n%s", err, out)
		}
		window = max(window, time.Since(start)*6/5)
	}

	const trialsPerSignal = 12
	rng := rand.New(rand.NewPCG(1, 2))
	var rows []reliabilityRow
	trial := 0
	for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGINT} {
		outcomes := map[string]int{}
		corrupt := 0
		for range trialsPerSignal {
			trial++
			w.WriteFile(t, "app.py", fmt.Sprintf("print('version %d')\n", trial)) // so each build makes a new image
			previous, _ := os.ReadFile(w.Path("dist/image/index.json"))
			cache := filepath.Join(caches, fmt.Sprint(trial))
			build := builds[(trial+1)%2] // the layout holds the other set's image: the timing ran builds[1] last
			cmd := buildCmd(build, cache)
			stderr := &lineWatcher{marker: ": done, manifest ", seen: make(chan struct{})}
			cmd.Stderr = stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			if trial%3 == 0 {
				// Aimed at the riskiest moment: a platform's manifest is written and the
				// index is about to be replaced.
				select {
				case <-stderr.seen:
				case <-time.After(30 * time.Second):
				}
			} else {
				time.Sleep(time.Duration(rng.Int64N(int64(window))))
			}
			_ = cmd.Process.Signal(sig)
			err := cmd.Wait()
			validateLayout(t, w.Path("dist/image"))
			left, _ := os.ReadFile(w.Path("dist/image/index.json"))
			if sig == syscall.SIGINT && cmd.ProcessState.ExitCode() == 130 {
				if !strings.Contains(stderr.String(), "interrupted") {
					t.Errorf("trial %d: SIGINT did not say it was interrupted:\n%s", trial, stderr.String())
				}
				if _, err := os.Stat(w.Path("dist/image/.pycontainer-tmp")); err == nil {
					t.Errorf("trial %d: temporary files left after a clean interrupt", trial)
				}
			}

			// The next build, from what the interrupted one left in its cache.
			w.Setenv("PYCONTAINER_CACHE", cache)
			w.MustBuild(t, build)
			validateLayout(t, w.Path("dist/image"))
			corrupt += corruptBlobs(t, cache, w.Path("dist/image"))
			clean, _ := os.ReadFile(w.Path("dist/image/index.json"))
			switch {
			case bytes.Equal(left, previous):
				outcomes["previous image"]++
			case !bytes.Equal(left, clean):
				t.Errorf("trial %d (%v): the interrupted build left index.json\n%s\nwhere a clean build writes\n%s", trial, sig, left, clean)
			case err == nil:
				outcomes["the new image, exit 0 (the signal came as it finished)"]++
			case !cmd.ProcessState.Exited():
				// Killed after index.json was replaced, before the process ended.
				outcomes["the new image whole, killed as it exited"]++
			default:
				t.Errorf("trial %d (%v): index.json changed although the build said it failed (%v)\n%s", trial, sig, err, stderr.String())
			}
		}
		if outcomes["previous image"] == 0 {
			t.Errorf("%v: no trial interrupted a build mid-way; nothing was tested", sig)
		}
		rows = append(rows, reliabilityRow{What: signalName[sig] + " at a random point of a build (empty cache, one or two platforms; a third of trials as the first manifest is written)", Mode: "interruption",
			Trials: trialsPerSignal, Outcome: describeOutcomes(outcomes) + "; valid every time (skopeo); each next build from the left cache built", Corrupt: corrupt})
	}
	return rows
}

// signalName is how RELIABILITY.md names the signals its rows send.
var signalName = map[syscall.Signal]string{syscall.SIGKILL: "SIGKILL", syscall.SIGINT: "SIGINT", syscall.SIGHUP: "SIGHUP", syscall.SIGTERM: "SIGTERM"}

// needSignals skips a section that interrupts a process the way a terminal or a CI
// runner does: Windows has no SIGINT to send to another process.
func needSignals(t *testing.T) {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("sends SIGINT and SIGKILL to a build: POSIX signals only")
	}
}

// lineWatcher keeps what a process writes and closes seen once marker appears.
type lineWatcher struct {
	marker string
	seen   chan struct{}
	mu     sync.Mutex
	buf    bytes.Buffer
	closed bool
}

func (w *lineWatcher) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if !w.closed && strings.Contains(w.buf.String(), w.marker) {
		w.closed = true
		close(w.seen)
	}
	return len(p), nil
}

func (w *lineWatcher) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// describeOutcomes lists counted outcomes, most frequent first.
func describeOutcomes(outcomes map[string]int) string {
	keys := slices.SortedFunc(maps.Keys(outcomes), func(a, b string) int { return cmp.Or(outcomes[b]-outcomes[a], strings.Compare(a, b)) })
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, outcomes[k])
	}
	return strings.Join(parts, ", ")
}

// concurrentBuilds starts a second build into a layout while a first one writes it:
// the second fails at once, saying why; the first finishes and the layout is valid.
func concurrentBuilds(t *testing.T) []reliabilityRow {
	reg := testbase.StartWith(t, testbase.SlowBlobs)
	reg.Push(t, testbase.Spec{Repo: "library/python", Tag: "3.11-slim", Platforms: testbase.PythonPlatforms, PaddingBytes: 2 << 20})
	w := newSeedWorldWith(t, reg)
	caches := t.TempDir()
	const trials = 3
	for i := range trials {
		// An empty cache and output each time, so the first build downloads while it
		// holds the layout.
		out := filepath.Join("dist", fmt.Sprint(i)) // as the user types it: both builds read it against the project
		cmd := w.Command(t, []string{"build", "--platform", "linux/amd64", "--output", out}, "PYCONTAINER_CACHE="+filepath.Join(caches, fmt.Sprint(i)))
		var firstErr bytes.Buffer
		cmd.Stderr = &firstErr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			if _, err := os.Stat(w.Path(filepath.Join(out, ".pycontainer-tmp"))); err == nil {
				break
			}
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				t.Fatal("the first build never opened the layout")
			}
			time.Sleep(10 * time.Millisecond)
		}
		start := time.Now()
		code, _, stderr := w.Run(t, "build --platform linux/amd64 --output "+out)
		if took := time.Since(start); code != 1 || !strings.Contains(lastLine(stderr), "another pycontainer build is writing this layout") || took > 5*time.Second {
			t.Errorf("trial %d: the second build: exit %d after %s\n%s", i, code, took, stderr)
		}
		if err := cmd.Wait(); err != nil {
			t.Fatalf("trial %d: the first build failed: %v\n%s", i, err, firstErr.String())
		}
		validateLayout(t, w.Path(out))
	}
	return []reliabilityRow{{What: "two builds into one layout at once", Mode: "concurrency", Trials: trials,
		Outcome: "the second refused at once: \"another pycontainer build is writing this layout\"; the first built, valid"}}
}

// interruptedPush: ctrl+c while a push uploads comes after the layout was written, so
// the message says the output holds the new image and the push should run again; it
// never claims the previous image is unchanged.
func interruptedPush(t *testing.T) []reliabilityRow {
	needSignals(t)
	uploading := make(chan struct{}, 1)
	var hang atomic.Bool // once the base is in place
	reg := testbase.StartWith(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if hang.Load() && r.Method != http.MethodGet && r.Method != http.MethodHead && strings.Contains(r.URL.Path, "/blobs/uploads") {
				select {
				case uploading <- struct{}{}:
				default:
				}
				<-r.Context().Done() // a registry that never finishes an upload
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	reg.Push(t, testbase.Spec{Repo: "library/python", Tag: "3.11-slim", Platforms: testbase.PythonPlatforms[:1]})
	hang.Store(true)
	w := newSeedWorldWith(t, reg)
	cmd := w.Command(t, []string{"build", "--platform", "linux/amd64", "--tag", reg.Host + "/me/app:1", "--push", "--progress", "plain"})
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-uploading:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("the push never began:\n%s", stderr.String())
	}
	_ = cmd.Process.Signal(syscall.SIGINT)
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case <-waited:
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Signal(syscall.SIGQUIT)
		<-waited
		t.Fatalf("the build did not end within 20 s of ctrl+c:\n%s", stderr.String())
	}
	want := "Error: interrupted while pushing; dist/image holds the new image, the registry may hold part of it: run the push again"
	if code := cmd.ProcessState.ExitCode(); code != 130 || !strings.Contains(stderr.String(), want) || strings.Contains(stderr.String(), "unchanged") {
		t.Errorf("exit %d, want 130 and %q:\n%s", code, want, stderr.String())
	}
	if idx := clitest.ReadIndex(t, w.Path("dist/image")); len(idx.Manifests) != 1 || idx.Manifests[0].Annotations["io.containerd.image.name"] != reg.Host+"/me/app:1" {
		t.Errorf("dist/image does not hold the new image: %+v", idx)
	}
	validateLayout(t, w.Path("dist/image"))
	return []reliabilityRow{{What: "SIGINT while --push uploads to a registry that never answers", Mode: "interruption", Trials: 1,
		Outcome: "exit 130 within 20 s: \"dist/image holds the new image, the registry may hold part of it: run the push again\""}}
}
