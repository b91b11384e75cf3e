//go:build linux

package reliability

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
	"github.com/regclient/regclient/types/descriptor"
	"github.com/regclient/regclient/types/mediatype"

	"github.com/pycontainer/pycontainer/internal/clitest"
	"github.com/pycontainer/pycontainer/internal/testbase"
)

// layoutRows: the shared cache and the output directory hold only what they should.
// Cached and kept blobs are not trusted by their size, --verify checks every digest, a
// build writes only into an empty directory or an image layout and never through a
// link inside it, inspect bounds what a hostile archive makes it do, and what killed
// builds leave in the cache goes.
func layoutRows(t *testing.T) []reliabilityRow {
	var (
		extra sync.Map    // request path -> servedBlob, beside the registry (which refuses sha512 blobs)
		slow  atomic.Bool // blob bodies trickle, for builds to be killed mid-download
	)
	reg := testbase.StartWith(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if v, ok := extra.Load(r.URL.Path); ok {
				b := v.(servedBlob)
				w.Header().Set("Content-Type", b.mediaType)
				w.Header().Set("Content-Length", fmt.Sprint(len(b.data)))
				w.Header().Set("Docker-Content-Digest", b.digest.String())
				if r.Method == http.MethodGet {
					w.Write(b.data)
				}
				return
			}
			if slow.Load() {
				testbase.SlowBlobs(h).ServeHTTP(w, r)
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	reg.Push(t, testbase.Spec{Repo: "library/python", Tag: "3.11-slim", Platforms: testbase.PythonPlatforms})
	reg.Push(t, testbase.Spec{Repo: "library/python", Tag: "big", Platforms: testbase.PythonPlatforms, PaddingBytes: 8 << 20})
	// A verification of the huge base takes long enough for a build to commit during it.
	reg.Push(t, testbase.Spec{Repo: "library/python", Tag: "huge", Platforms: testbase.PythonPlatforms[:2], PaddingBytes: 64 << 20})
	w := newSeedWorldWith(t, reg)
	huge := " --base-image " + reg.Host + "/library/python:huge"

	tests := []struct {
		name, what string
		run        func(t *testing.T) (outcome string, corrupt int)
	}{
		{"cached blob flipped", "two bytes of a cached base layer flipped, its size kept; then a build into a new layout", func(t *testing.T) (string, int) {
			cache := layFreshCache(t, w)
			first := filepath.Join(t.TempDir(), "image")
			w.MustBuild(t, "build --platform linux/amd64 --output "+first)
			layFlip(t, layBlobFile(cache, layBaseLayers(t, first)[0]), 0)
			second := filepath.Join(t.TempDir(), "image")
			code, _, stderr := w.Run(t, "build --platform linux/amd64 --progress plain --output "+second)
			if code != 0 {
				t.Fatalf("exit %d:\n%s", code, stderr)
			}
			corrupt := corruptBlobs(t, cache, second)
			if corrupt == 0 {
				validateLayout(t, second)
			}
			return "exit 0; the changed file no longer matches its seal, is hashed, removed from the cache and downloaded again; the new layout valid", corrupt
		}},
		{"layout blob flipped", "two bytes of a base layer of the output flipped, its size kept (a hard link: the cache's too); then the same build again", func(t *testing.T) (string, int) {
			cache := layFreshCache(t, w)
			out := filepath.Join(t.TempDir(), "image")
			w.MustBuild(t, "build --platform linux/amd64 --output "+out)
			layFlip(t, layBlobFile(out, layBaseLayers(t, out)[0]), 100)
			code, _, stderr := w.Run(t, "build --platform linux/amd64 --progress plain --output "+out)
			if code != 0 {
				t.Fatalf("exit %d:\n%s", code, stderr)
			}
			corrupt := corruptBlobs(t, cache, out)
			if corrupt == 0 {
				validateLayout(t, out)
			}
			return "exit 0; the kept blob is not trusted by its size: hashed, downloaded again and renamed over it; valid", corrupt
		}},
		{"verify names the bad blob", "inspect --verify of a layout whose base layer has a flipped byte in its gzip trailer (its files still read)", func(t *testing.T) (string, int) {
			layFreshCache(t, w)
			out := filepath.Join(t.TempDir(), "image")
			w.MustBuild(t, "build --platform linux/amd64 --output "+out)
			layer := layBaseLayers(t, out)[0]
			layFlip(t, layBlobFile(out, layer), -1)
			code, stdout, stderr := w.Run(t, "inspect --verify --progress plain "+out)
			if code != 1 || !strings.Contains(stdout+stderr, layer+" does not match its digest") {
				t.Errorf("exit %d, want 1 and the layer %s named:\n%s%s", code, layer, stdout, stderr)
			}
			return "exit 1: " + reportable(strings.ReplaceAll(lastLine(stderr), layer[7:], "<digest>"), out), 0
		}},
		{"collection keeps other files", "a rebuild of a layout holding blobs/img/logo.png and blobs/sha256/README beside its blobs", func(t *testing.T) (string, int) {
			layFreshCache(t, w)
			out := filepath.Join(t.TempDir(), "image")
			w.MustBuild(t, "build --platform linux/amd64 --output "+out)
			oldApp := layAppLayer(t, out)
			others := []string{"blobs/img/logo.png", "blobs/sha256/README"}
			for _, name := range others {
				w.WriteFile(t, filepath.Join(out, name), "not a blob")
			}
			w.WriteFile(t, "app.py", "print('a new version')\n")
			w.MustBuild(t, "build --platform linux/amd64 --output "+out)
			for _, name := range others {
				if _, err := os.Stat(filepath.Join(out, name)); err != nil {
					t.Errorf("the build removed %s: %v", name, err)
				}
			}
			if _, err := os.Stat(layBlobFile(out, oldApp)); err == nil {
				t.Error("the old app layer, which nothing names now, was kept")
			}
			validateLayout(t, out)
			return "kept; only the blob the new index no longer names (the old app layer) removed", 0
		}},
		{"blobs is a link", "a layout whose blobs/ is a symbolic link to a directory elsewhere; then a build", func(t *testing.T) (string, int) {
			return layLinkInside(t, w, "blobs")
		}},
		{"blobs/sha256 is a link", "a layout whose blobs/sha256/ is a symbolic link to a directory elsewhere; then a build", func(t *testing.T) (string, int) {
			return layLinkInside(t, w, filepath.Join("blobs", "sha256"))
		}},
		{"-o . over a project", "build -o . in a project holding its own index.json and blobs/img/logo.png", func(t *testing.T) (string, int) {
			layFreshCache(t, w)
			w.WriteFile(t, "index.json", `{"the site's": "own index"}`)
			w.WriteFile(t, "blobs/img/logo.png", "png")
			defer os.RemoveAll(w.Path("blobs"))
			defer os.Remove(w.Path("index.json"))
			before := layDirList(t, w.Dir)
			code, _, stderr := w.Run(t, "build --platform linux/amd64 --progress plain -o .")
			if code == 0 || !strings.Contains(lastLine(stderr), "not an OCI image layout") || strings.Count(stderr, "Error:") != 1 {
				t.Errorf("exit %d, want a one-line refusal:\n%s", code, stderr)
			}
			if after := layDirList(t, w.Dir); after != before {
				t.Errorf("the project changed:\nbefore %s\nafter  %s", before, after)
			}
			return fmt.Sprintf("exit %d, the project untouched: %s", code, reportable(strings.TrimPrefix(lastLine(stderr), "Error: "), filepath.Dir(w.Dir))), 0
		}},
		{"-o /", "build -o /", func(t *testing.T) (string, int) {
			layFreshCache(t, w)
			before := layDirList(t, "/")
			code, _, stderr := w.Run(t, "build --platform linux/amd64 --progress plain -o /")
			if after := layDirList(t, "/"); after != before {
				// The code before this check wrote a layout there: undo what it added.
				for _, name := range []string{"oci-layout", "index.json", "manifest.json", "blobs", ".pycontainer-tmp"} {
					if !strings.Contains(" "+before+" ", " "+name+" ") {
						os.RemoveAll(filepath.Join("/", name))
					}
				}
				t.Errorf("the build wrote into /: before %s\nafter %s", before, after)
			}
			if code == 0 || !strings.Contains(stderr, "/ is not empty and is not an OCI image layout") {
				t.Errorf("exit %d, want a refusal:\n%s", code, stderr)
			}
			held := lastLine(stderr)
			if i, j := strings.Index(held, "(it holds "), strings.Index(held, "more, and"); i >= 0 && j > i {
				held = held[:i] + "(it holds …" + held[j+4:]
			}
			return fmt.Sprintf("exit %d, nothing written: %s", code, strings.TrimPrefix(held, "Error: ")), 0
		}},
		{"archive naming an index 40,000 times", "", func(t *testing.T) (string, int) {
			archive, size := layHostileArchive(t)
			code, cpu, rss, stderr := layRunSelf(t, 30*time.Second, w.Command(t, []string{"inspect", "--json", archive}))
			if code != 0 || cpu > 5*time.Second*raceSlowdown || rss > 500*raceSlowdown {
				t.Errorf("exit %d after %s of CPU, %d MB:\n%s", code, cpu, rss, stderr)
			}
			return fmt.Sprintf("%.0f MB archive: exit 0 after %.1fs of CPU, %d MB peak; each blob read once, 9,999 images listed", float64(size)/1e6, cpu.Seconds(), max(rss/10*10, 10)), 0
		}},
		{"killed builds' temporary files", "two builds on one cache killed (SIGKILL) while they download; a minute later cache prune --all", func(t *testing.T) (string, int) {
			cache := layFreshCache(t, w)
			slow.Store(true)
			defer slow.Store(false)
			var cmds []*exec.Cmd
			for i := range 2 {
				cmd := w.Command(t, []string{"build", "--platform", "linux/amd64", "--progress", "json", "--output", filepath.Join(t.TempDir(), fmt.Sprint(i)), "--base-image", reg.Host + "/library/python:big"})
				watch := &lineWatcher{marker: `"layer_progress"`, seen: make(chan struct{})}
				cmd.Stdout, cmd.Stderr = watch, watch
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				defer cmd.Process.Kill()
				select {
				case <-watch.seen:
				case <-time.After(20 * time.Second):
					t.Fatalf("build %d never started downloading:\n%s", i, watch.String())
				}
				cmds = append(cmds, cmd)
			}
			for _, cmd := range cmds {
				cmd.Process.Signal(syscall.SIGKILL)
				cmd.Wait()
			}
			left := layLeftovers(t, cache)
			if len(left) == 0 {
				t.Fatal("the killed builds left nothing to clean up: nothing was tested")
			}
			minuteAgo := time.Now().Add(-time.Minute)
			for _, p := range left {
				os.Chtimes(filepath.Join(cache, p), minuteAgo, minuteAgo)
			}
			code, stdout, stderr := w.Run(t, "cache prune --all")
			if now := layLeftovers(t, cache); code != 0 || len(now) != 0 {
				t.Errorf("cache prune --all: exit %d, left %v of %v\n%s%s", code, now, left, stdout, stderr)
			}
			return fmt.Sprintf("left %s; all removed (nobody holds them, unwritten for over %s)", layDescribeLeftovers(left), "10 s"), 0
		}},
		{"verify racing a rebuild", "inspect --verify while a build of a new version commits into the same layout and removes blobs of the image being verified", func(t *testing.T) (string, int) {
			layFreshCache(t, w)
			out := filepath.Join(t.TempDir(), "image")
			platforms := []string{"linux/amd64", "linux/arm64"}
			for _, p := range platforms { // both in the cache: each build below only links and commits
				w.MustBuild(t, "build --platform "+p+" --output "+out+huge)
			}
			// A build takes milliseconds here, a verification about a hundred: each build
			// starts at another point of a verification, so that some commit after the
			// verifier read index.json and before it read the blobs the commit removes.
			// verify makes a verification's process on the test's goroutine (w.Command may
			// fail the test) and returns what runs it, on another goroutine too.
			verify := func() func() (error, string) {
				cmd := w.Command(t, []string{"inspect", "--verify", "--progress", "plain", out})
				var vout bytes.Buffer
				cmd.Stdout, cmd.Stderr = &vout, &vout
				return func() (error, string) {
					err := cmd.Run()
					return err, lastLine(vout.String())
				}
			}
			start := time.Now()
			if err, msg := verify()(); err != nil {
				t.Fatalf("inspect --verify with no build running: %s", msg)
			}
			length := time.Since(start)
			start = time.Now()
			w.MustBuild(t, "build --platform "+platforms[0]+" --output "+out+huge)
			// Each build starts so that its commit lands at another point of a verification;
			// a build as slow as a verification (under the race detector, say) cannot.
			window := length - time.Since(start)
			if window <= 0 {
				t.Skipf("a build (%s) takes as long as a verification (%s) here: the race cannot be staged", time.Since(start), length)
			}
			const trials = 12
			failed, deferred := 0, 0
			var first string
			for i := range trials {
				// A new app layer each time: the one the verifier reads last is removed.
				w.WriteFile(t, "app.py", fmt.Sprintf("print('race %d')\n", i))
				type result struct {
					err error
					msg string
				}
				done := make(chan result)
				run := verify()
				go func() {
					err, msg := run()
					done <- result{err, msg}
				}()
				// From the moment the verifier holds the blobs, at another point each time.
				for deadline := time.Now().Add(10 * time.Second); !layBlobsHeld(out) && time.Now().Before(deadline); {
					time.Sleep(time.Millisecond)
				}
				time.Sleep(window * time.Duration(i) / trials)
				oldApp := layAppLayer(t, out)
				w.MustBuild(t, "build --platform "+platforms[i%2]+" --output "+out+huge)
				if _, err := os.Stat(layBlobFile(out, oldApp)); err == nil {
					deferred++ // committed while the verifier held the blobs
				}
				if r := <-done; r.err != nil {
					failed++
					if first == "" {
						first = r.msg
					}
				}
			}
			if failed > 0 {
				t.Errorf("inspect --verify failed in %d of %d trials, first: %s", failed, trials, first)
			}
			if deferred == 0 && failed == 0 {
				t.Error("no build committed while a verification ran: nothing was tested")
			}
			w.MustBuild(t, "build --platform linux/amd64 --output "+out+huge)
			if n := len(layMust(os.ReadDir(filepath.Join(out, "blobs", "sha256")))); n > 5 {
				t.Errorf("the build after the readers left %d blobs; the arm64 image's should be gone", n)
			}
			validateLayout(t, out)
			return fmt.Sprintf("exit 0 in %d of %d trials (%d builds committed during a verification): the verifier holds the layout's blobs (a shared lock); the build replaces index.json and leaves removing old blobs to a later commit", trials-failed, trials, deferred), 0
		}},
		{"sha512 layer digests", "a base image whose layer digest is sha512 (valid OCI)", func(t *testing.T) (string, int) {
			layFreshCache(t, w)
			image := layPushSHA512Base(t, reg, &extra)
			out := filepath.Join(t.TempDir(), "image")
			code, _, stderr := w.Run(t, "build --platform linux/amd64 --progress plain --output "+out+" --base-image "+image)
			if code != 0 {
				t.Fatalf("exit %d:\n%s", code, stderr)
			}
			code, stdout, stderr := w.Run(t, "inspect --verify --progress plain "+out)
			if code != 0 || !strings.Contains(stdout, "sha512:") {
				t.Errorf("inspect --verify: exit %d\n%s%s", code, stdout, stderr)
			}
			return "built; the layer stored in blobs/sha512/ and verified with sha512 (inspect --verify: ok)", 0
		}},
		{"save -o under umask 077", "save -o image.tar with umask 077", func(t *testing.T) (string, int) {
			layFreshCache(t, w)
			out := filepath.Join(t.TempDir(), "image")
			w.MustBuild(t, "build --platform linux/amd64 --output "+out)
			archive := filepath.Join(t.TempDir(), "image.tar")
			// The umask binds the save's process alone, as a user's shell sets it.
			save := inShell(w.Command(t, []string{"save", "-o", archive, out}), "umask 077")
			var stderrBuf bytes.Buffer
			save.Stderr = &stderrBuf
			code, stderr := exitCode(t, save), stderrBuf.String()
			fi, err := os.Stat(archive)
			if code != 0 || err != nil {
				t.Fatalf("save: exit %d (%v)\n%s", code, err, stderr)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("the archive is %v under umask 077, want -rw-------", fi.Mode().Perm())
			}
			return fmt.Sprintf("the archive is %v, as the umask asks", fi.Mode().Perm()), 0
		}},
	}
	var rows []reliabilityRow
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			outcome, corrupt := tt.run(t)
			what := tt.what
			if what == "" {
				what = "inspect of an archive whose index names one nested index 40,000 times, each listing 9,999 images"
			}
			rows = append(rows, reliabilityRow{What: what, Mode: "layout and cache", Trials: 1, Outcome: outcome, Corrupt: corrupt})
		})
	}
	return rows
}

func layMust[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// layFreshCache gives a row a cache of its own in w and returns it.
func layFreshCache(t *testing.T, w *clitest.World) string {
	dir := t.TempDir()
	w.Setenv("PYCONTAINER_CACHE", dir)
	return dir
}

// layBlobFile is where blob d ("sha256:…") lives under dir (a layout or the cache).
func layBlobFile(dir, d string) string {
	alg, hex, _ := strings.Cut(d, ":")
	return filepath.Join(dir, "blobs", alg, hex)
}

// layLayers are the layers of the first image of the layout at dir.
func layLayers(t *testing.T, dir string) []string {
	t.Helper()
	var man struct{ Layers []struct{ Digest string } }
	clitest.ReadBlobJSON(t, dir, clitest.ReadIndex(t, dir).Manifests[0].Digest, &man)
	var out []string
	for _, l := range man.Layers {
		out = append(out, l.Digest)
	}
	return out
}

// layBaseLayers are the base image's layers of the layout's first image; layAppLayer its own.
func layBaseLayers(t *testing.T, dir string) []string {
	l := layLayers(t, dir)
	return l[:len(l)-1]
}

func layAppLayer(t *testing.T, dir string) string {
	l := layLayers(t, dir)
	return l[len(l)-1]
}

// layFlip inverts two bytes of the file at path, at offset at (counted from the end
// when negative), its size kept.
func layFlip(t *testing.T, path string, at int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	if at < 0 {
		at += fi.Size() - 1
	}
	b := make([]byte, 2)
	if _, err := f.ReadAt(b, at); err != nil {
		t.Fatal(err)
	}
	b[0], b[1] = ^b[0], ^b[1]
	if _, err := f.WriteAt(b, at); err != nil {
		t.Fatal(err)
	}
}

// layDirList names what dir holds, without following links.
func layDirList(t *testing.T, dir string) string {
	t.Helper()
	var names []string
	filepath.WalkDir(dir, func(p string, de os.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if dir == "/" && p != "/" && de.IsDir() {
			names = append(names, p)
			return filepath.SkipDir // the top level of / is enough
		}
		names = append(names, p)
		return nil
	})
	return strings.Join(names, " ")
}

// layLinkInside builds in w, moves link (blobs or blobs/sha256) of the layout elsewhere
// and puts a symbolic link to it in its place, then builds again.
func layLinkInside(t *testing.T, w *clitest.World, link string) (string, int) {
	layFreshCache(t, w)
	out := filepath.Join(t.TempDir(), "image")
	w.MustBuild(t, "build --platform linux/amd64 --output "+out)
	elsewhere := filepath.Join(t.TempDir(), "elsewhere")
	if err := os.Rename(filepath.Join(out, link), elsewhere); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(elsewhere, filepath.Join(out, link)); err != nil {
		t.Fatal(err)
	}
	before := layDirList(t, elsewhere)
	w.WriteFile(t, "app.py", fmt.Sprintf("print(%q)\n", link))
	code, _, stderr := w.Run(t, "build --platform linux/amd64 --progress plain --output "+out)
	if code == 0 || !strings.Contains(stderr, "is a symbolic link, not a directory") {
		t.Errorf("exit %d, want a refusal:\n%s", code, stderr)
	}
	if after := layDirList(t, elsewhere); after != before {
		t.Errorf("the build wrote where the link points:\nbefore %s\nafter  %s", before, after)
	}
	if _, err := os.Lstat(filepath.Join(out, link)); err != nil {
		t.Errorf("the link was removed: %v", err)
	}
	return fmt.Sprintf("exit %d, nothing written through it: %s", code, reportable(strings.TrimPrefix(lastLine(stderr), "Error: "), filepath.Dir(out))), 0
}

// layRunSelf runs cmd (a World's Command: pycontainer as a process), killed after
// timeout, and returns its exit code, the CPU time it took (wall time says more about
// other load of the machine) and its peak memory in MB, read from /proc as it runs: the
// rusage of a child of this large test process counts the parent's memory too.
func layRunSelf(t *testing.T, timeout time.Duration, cmd *exec.Cmd) (int, time.Duration, int64, string) {
	t.Helper()
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(timeout, func() { cmd.Process.Kill() })
	defer timer.Stop()
	status := fmt.Sprintf("/proc/%d/status", cmd.Process.Pid)
	var peakKB atomic.Int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if b, err := os.ReadFile(status); err == nil {
				for _, line := range strings.Split(string(b), "\n") {
					var kb int64
					if _, err := fmt.Sscanf(line, "VmHWM: %d kB", &kb); err == nil && kb > peakKB.Load() {
						peakKB.Store(kb)
					}
				}
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	start := time.Now()
	cmd.Wait()
	close(stop)
	<-sampled
	if time.Since(start) >= timeout {
		stderr.WriteString(fmt.Sprintf("killed after %s\n", timeout))
	}
	return cmd.ProcessState.ExitCode(), cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), peakKB.Load() / 1024, stderr.String()
}

// layHostileArchive writes an OCI archive whose index names one nested index 40,000
// times, that index listing 9,999 images (manifests differing by an annotation).
func layHostileArchive(t *testing.T) (string, int64) {
	t.Helper()
	cfg := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	cfgDesc := descriptor.Descriptor{MediaType: mediatype.OCI1ImageConfig, Digest: digest.FromBytes(cfg), Size: int64(len(cfg))}
	type entry struct {
		MediaType string            `json:"mediaType"`
		Digest    digest.Digest     `json:"digest"`
		Size      int64             `json:"size"`
		Platform  map[string]string `json:"platform,omitempty"`
	}
	files := map[string][]byte{"oci-layout": []byte(`{"imageLayoutVersion":"1.0.0"}`), "blobs/sha256/" + cfgDesc.Digest.Encoded(): cfg}
	var inner []entry
	for i := range 9999 {
		man := layMust(json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": mediatype.OCI1Manifest, "config": cfgDesc, "layers": []any{},
			"annotations": map[string]string{"n": fmt.Sprint(i)}}))
		files["blobs/sha256/"+digest.FromBytes(man).Encoded()] = man
		inner = append(inner, entry{mediatype.OCI1Manifest, digest.FromBytes(man), int64(len(man)), map[string]string{"os": "linux", "architecture": "amd64"}})
	}
	innerRaw := layMust(json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": mediatype.OCI1ManifestList, "manifests": inner}))
	files["blobs/sha256/"+digest.FromBytes(innerRaw).Encoded()] = innerRaw
	outer := slices.Repeat([]entry{{mediatype.OCI1ManifestList, digest.FromBytes(innerRaw), int64(len(innerRaw)), nil}}, 40000)
	files["index.json"] = layMust(json.Marshal(map[string]any{"schemaVersion": 2, "manifests": outer}))
	path := filepath.Join(t.TempDir(), "hostile.tar")
	f := layMust(os.Create(path))
	defer f.Close()
	tw := tar.NewWriter(f)
	for _, name := range slices.Sorted(maps.Keys(files)) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(files[name])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write(files[name])
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return path, layMust(f.Stat()).Size()
}

// layLeftovers are the files under the cache's tmp/ and partial/, relative to it.
func layLeftovers(t *testing.T, cache string) []string {
	t.Helper()
	var out []string
	for _, dir := range []string{"tmp", "partial"} {
		filepath.WalkDir(filepath.Join(cache, dir), func(p string, de os.DirEntry, err error) error {
			if err == nil && !de.IsDir() {
				out = append(out, layMust(filepath.Rel(cache, p)))
			}
			return nil
		})
	}
	return out
}

// layDescribeLeftovers says how many files were left where: "tmp/blob-* 1, partial/ 1".
func layDescribeLeftovers(left []string) string {
	counts := map[string]int{}
	for _, p := range left {
		if strings.HasPrefix(p, "tmp"+string(filepath.Separator)) {
			counts["tmp/blob-*"]++
		} else {
			counts["partial/"]++
		}
	}
	return describeOutcomes(counts)
}

// servedBlob is a blob or manifest served beside the registry.
type servedBlob struct {
	mediaType string
	digest    digest.Digest
	data      []byte
}

// layPushSHA512Base serves, through extra, a one-layer amd64 image whose layer is named
// by a sha512 digest, and returns its reference.
func layPushSHA512Base(t *testing.T, reg *testbase.Registry, extra *sync.Map) string {
	t.Helper()
	var layerTar bytes.Buffer
	tw := tar.NewWriter(&layerTar)
	body := []byte("#!/bin/sh\necho python\n")
	tw.WriteHeader(&tar.Header{Name: "usr/bin/python3", Mode: 0o755, Size: int64(len(body)), Typeflag: tar.TypeReg})
	tw.Write(body)
	tw.Close()
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(layerTar.Bytes())
	zw.Close()
	const repo = "sha512/base"
	serve := func(kind, mediaType string, d digest.Digest, data []byte, names ...string) descriptor.Descriptor {
		for _, name := range append(names, d.String()) {
			extra.Store("/v2/"+repo+"/"+kind+"/"+name, servedBlob{mediaType, d, data})
		}
		return descriptor.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(data))}
	}
	layer := serve("blobs", mediatype.OCI1LayerGzip, digest.SHA512.FromBytes(gz.Bytes()), gz.Bytes())
	cfg := layMust(json.Marshal(map[string]any{"architecture": "amd64", "os": "linux",
		"config": map[string]any{"Env": []string{"PATH=/usr/bin:/bin"}},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []digest.Digest{digest.FromBytes(layerTar.Bytes())}}}))
	cfgDesc := serve("blobs", mediatype.OCI1ImageConfig, digest.FromBytes(cfg), cfg)
	man := layMust(json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": mediatype.OCI1Manifest, "config": cfgDesc, "layers": []descriptor.Descriptor{layer}}))
	serve("manifests", mediatype.OCI1Manifest, digest.FromBytes(man), man, "1")
	return reg.Host + "/" + repo + ":1"
}

// layBlobsHeld reports whether a reader holds the layout's blobs (inspect's shared lock):
// an exclusive lock cannot be had without waiting. One that can is let go at once.
func layBlobsHeld(layout string) bool {
	f, err := os.Open(filepath.Join(layout, "blobs"))
	if err != nil {
		return false
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return errors.Is(err, syscall.EWOULDBLOCK)
	}
	syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return false
}
