package main

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"

	"github.com/pycontainer/pycontainer/internal/testbase"
)

// TestMain lets a test run this binary as the pycontainer command itself, so a build
// can be killed like a real process.
func TestMain(m *testing.M) {
	if os.Getenv("PYCONTAINER_TEST_AS_MAIN") == "1" {
		os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// slowBlobs streams blob bodies in small, delayed chunks.
func slowBlobs(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") {
			w = &slowWriter{ResponseWriter: w}
		}
		h.ServeHTTP(w, r)
	})
}

type slowWriter struct{ http.ResponseWriter }

func (s *slowWriter) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		n := min(len(p), 16<<10)
		m, err := s.ResponseWriter.Write(p[:n])
		written += m
		if err != nil {
			return written, err
		}
		if f, ok := s.ResponseWriter.(http.Flusher); ok {
			f.Flush()
		}
		p = p[n:]
		time.Sleep(5 * time.Millisecond)
	}
	return written, nil
}

// validateLayout checks that index.json and everything it references are present and
// match their digests.
func validateLayout(t *testing.T, dir string) {
	t.Helper()
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
	idx := readIndex(t, dir)
	if len(idx.Manifests) == 0 {
		t.Fatal("index.json lists no manifests")
	}
	for _, m := range idx.Manifests {
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
		ref := idx.Manifests[0].Annotations["org.opencontainers.image.ref.name"]
		if out, err := exec.Command("skopeo", "inspect", "oci:"+dir+":"+ref).CombinedOutput(); err != nil {
			t.Fatalf("skopeo cannot read the layout: %v\n%s", err, out)
		}
	}
}

// TestInterruptedBuildKeepsPreviousImage kills builds at random points (SIGKILL and
// SIGINT) and checks the layout is always either the previous image or the new one.
func TestInterruptedBuildKeepsPreviousImage(t *testing.T) {
	if testing.Short() {
		t.Skip("kills real processes; skipped with -short")
	}
	reg := testbase.StartWith(t, slowBlobs)
	reg.Push(t, testbase.Spec{Repo: "library/python", Tag: "3.11-slim", Platforms: testbase.PythonPlatforms, PaddingBytes: 2 << 20})
	newSeedWorldWith(t, reg)
	mustBuild(t, "build --tag demo:1 --platform linux/amd64 --base-image python:3.11-slim")
	previous, _ := os.ReadFile("dist/image/index.json")
	if err := os.WriteFile("app.py", []byte("print('v2')\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	const trials = 20
	rng := rand.New(rand.NewPCG(1, 2))
	outcomes := map[string]int{}
	var newImages [][]byte // index.json as each trial that replaced it left it
	for i := range trials {
		cmd := exec.Command(self, "build", "--tag", "demo:2", "--platform", "linux/arm64,linux/arm/v7", "--progress", "plain")
		cmd.Env = append(os.Environ(), "PYCONTAINER_TEST_AS_MAIN=1")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sig := syscall.SIGKILL
		if i%2 == 1 {
			sig = syscall.SIGINT
		}
		time.Sleep(time.Duration(rng.IntN(1500)) * time.Millisecond)
		_ = cmd.Process.Signal(sig)
		err := cmd.Wait()
		validateLayout(t, "dist/image")
		now, _ := os.ReadFile("dist/image/index.json")
		switch {
		case bytes.Equal(now, previous):
			outcomes["previous image"]++
		case err == nil:
			outcomes["finished before the signal"]++
			previous, newImages = now, append(newImages, now)
		case !cmd.ProcessState.Exited():
			// Killed after index.json was replaced, before the process ended: this must
			// be the new image whole, the one a clean build gives (checked below).
			outcomes["killed after the new image was in place"]++
			previous, newImages = now, append(newImages, now)
		default:
			// The process saw the signal and said the build failed, yet the image changed.
			t.Fatalf("trial %d (%v): index.json changed although the build failed (%v)\n%s", i, sig, err, stderr.String())
		}
		// A signal that lands before the handler is installed ends the process at once.
		caught := cmd.ProcessState.Exited()
		if sig == syscall.SIGINT && err != nil && caught && !strings.Contains(stderr.String(), "interrupted") {
			t.Errorf("trial %d: SIGINT did not say it was interrupted:\n%s", i, stderr.String())
		}
		if _, err := os.Stat("dist/image/.pycontainer-tmp"); err == nil && sig == syscall.SIGINT && cmd.ProcessState.ExitCode() == 130 {
			t.Errorf("trial %d: temporary files left after a clean interrupt", i)
		}
	}
	t.Logf("outcomes of %d trials: %v", trials, outcomes)
	if outcomes["previous image"] == 0 {
		t.Errorf("no trial interrupted a build mid-way; the test is not testing anything")
	}
	mustBuild(t, "build --tag demo:2 --platform linux/arm64,linux/arm/v7")
	validateLayout(t, "dist/image")
	if idx := readIndex(t, "dist/image"); len(idx.Manifests) != 2 {
		t.Errorf("the build after the interruptions has %d manifests, want 2", len(idx.Manifests))
	}
	final, _ := os.ReadFile("dist/image/index.json")
	for _, idx := range newImages {
		if !bytes.Equal(idx, final) {
			t.Errorf("an interrupted trial left index.json\n%s\nwhere a clean build writes\n%s", idx, final)
		}
	}
}

// TestConcurrentBuildsLock checks a second build into the same layout fails clearly
// while the first holds it.
func TestConcurrentBuildsLock(t *testing.T) {
	reg := testbase.StartWith(t, slowBlobs)
	reg.Push(t, testbase.Spec{Repo: "library/python", Tag: "3.11-slim", Platforms: testbase.PythonPlatforms, PaddingBytes: 2 << 20})
	newSeedWorldWith(t, reg)
	self, _ := os.Executable()
	cmd := exec.Command(self, "build", "--platform", "linux/amd64")
	cmd.Env = append(os.Environ(), "PYCONTAINER_TEST_AS_MAIN=1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat("dist/image/.pycontainer-tmp"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("first build never opened the layout")
		}
		time.Sleep(10 * time.Millisecond)
	}
	code, _, stderr := pycontainer(t, "build --platform linux/amd64")
	if code == 0 || !strings.Contains(stderr, "another pycontainer build is writing this layout") {
		t.Errorf("second build: exit %d\n%s", code, stderr)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("first build failed: %v", err)
	}
	validateLayout(t, "dist/image")
}

// TestInterruptedPush: ctrl+c while a push uploads comes after the layout was written,
// so the message says the output holds the new image and the push should run again;
// it never claims the previous image is unchanged.
func TestInterruptedPush(t *testing.T) {
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
	newSeedWorldWith(t, reg)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, "build", "--platform", "linux/amd64", "--tag", reg.Host+"/me/app:1", "--push", "--progress", "plain")
	cmd.Env = append(os.Environ(), "PYCONTAINER_TEST_AS_MAIN=1")
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
	if idx := readIndex(t, "dist/image"); len(idx.Manifests) != 1 || idx.Manifests[0].Annotations["io.containerd.image.name"] != reg.Host+"/me/app:1" {
		t.Errorf("dist/image does not hold the new image: %+v", idx)
	}
}
