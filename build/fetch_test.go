package build

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
	"github.com/regclient/regclient/types/descriptor"
	"github.com/regclient/regclient/types/ref"

	"github.com/pycontainer/pycontainer/internal/testbase"
	"github.com/pycontainer/pycontainer/oci"
	"github.com/pycontainer/pycontainer/registry"
)

// stallingBlobs stops sending any blob over stallAt bytes at that byte while armed, and
// records the Range of the GETs of such blobs.
type stallingBlobs struct {
	armed  atomic.Bool
	mu     sync.Mutex
	ranges []string
}

const stallAt = 100_000

func (s *stallingBlobs) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || !strings.Contains(r.URL.Path, "/blobs/sha256:") {
			h.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if rec.Body.Len() <= stallAt && rec.Code == http.StatusOK {
			h.ServeHTTP(w, r) // a config, or a small layer
			return
		}
		s.mu.Lock()
		s.ranges = append(s.ranges, r.Header.Get("Range"))
		s.mu.Unlock()
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		body := rec.Body.Bytes()
		if !s.armed.Load() {
			_, _ = w.Write(body)
			return
		}
		if rec.Code == http.StatusOK {
			_, _ = w.Write(body[:stallAt])
		}
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
}

// TestRunResumesLayer: a build whose base layer download keeps failing leaves its bytes
// in the cache, and the next build (the app's `r`) continues from them: one
// LayerResumed, progress that goes on from there, the layer verified in the layout.
func TestRunResumesLayer(t *testing.T) {
	blobs := &stallingBlobs{}
	reg := testbase.StartWith(t, blobs.wrap)
	reg.Push(t, testbase.Spec{Repo: "library/python", Tag: "3.11-slim", Platforms: testbase.PythonPlatforms[:1], PaddingBytes: 256 << 10})
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "app.py"), []byte("print('hi')\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := oci.ParsePlatform("linux/amd64")
	if err != nil {
		t.Fatal(err)
	}
	o := &Options{
		Context: dir, Output: filepath.Join(t.TempDir(), "image"), Tag: "demo:1",
		BaseImage: reg.Host + "/library/python:3.11-slim",
		Platforms: []RequestedPlatform{{Platform: p, Raw: "linux/amd64", Source: "test"}},
		CacheDir:  filepath.Join(t.TempDir(), "cache"), StallTimeout: 200 * time.Millisecond,
		Project: Project{Name: "demo"},
	}
	blobs.armed.Store(true)
	if err := Run(context.Background(), o, nil); err == nil {
		t.Fatal("the build succeeded although the layer never arrived")
	}

	blobs.armed.Store(false)
	blobs.mu.Lock()
	blobs.ranges = nil
	blobs.mu.Unlock()
	o.StallTimeout = 10 * time.Second
	var mu sync.Mutex
	var resumes []LayerResumed
	var after []int64 // progress of the layer after it resumed
	err = Run(context.Background(), o, func(e Event) {
		mu.Lock()
		defer mu.Unlock()
		switch e := e.(type) {
		case LayerResumed:
			resumes = append(resumes, e)
		case LayerProgressed:
			if len(resumes) > 0 && e.Digest == resumes[0].Digest {
				after = append(after, e.Done)
			}
		}
	})
	if err != nil {
		t.Fatalf("the build after the registry healed: %v", err)
	}
	if len(resumes) != 1 || resumes[0].From != stallAt || resumes[0].StartsOver || resumes[0].Total < 256<<10 {
		t.Fatalf("resumes %+v, want one from %d", resumes, stallAt)
	}
	if len(after) == 0 {
		t.Error("no progress after the resume") // coalesced: its last count may be left out
	}
	for _, done := range after {
		if done < stallAt {
			t.Errorf("progress went back to %d after resuming from %d", done, stallAt)
		}
	}
	if got := blobs.ranges; len(got) != 1 || got[0] != "bytes=100000-" {
		t.Errorf("layer GETs with Range %q, want one bytes=100000-", got)
	}
	d := digest.Digest(resumes[0].Digest)
	for _, dir := range []string{o.Output, o.CacheDir} {
		b, err := os.ReadFile(oci.BlobPath(dir, d))
		if err != nil || digest.FromBytes(b) != d {
			t.Errorf("%s does not hold the layer verified (%v)", dir, err)
		}
	}
}

// TestLayersStartBeforeConfigs: with a cache, a base layer's download starts as soon as
// its platform's manifest is read, before the configs (the source reads a config only
// once a download has begun), and the events still come in assembly's order: each
// layer's after its platform's PlatformStarted, each blob downloaded once.
func TestLayersStartBeforeConfigs(t *testing.T) {
	src := newMemSource()
	src.addBase(t, "3.11-slim", "linux/amd64", "linux/arm64")
	fetching := make(chan struct{})
	var once sync.Once
	src.onFetch = func() { once.Do(func() { close(fetching) }) }
	src.beforeConfig = func(ctx context.Context) error {
		select {
		case <-fetching:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(30 * time.Second): // a guard against hanging, not a measure
			return errors.New("no layer download began while the configs were read")
		}
	}
	o := memOptions(t, "linux/amd64", "linux/arm64")
	o.CacheDir = filepath.Join(t.TempDir(), "cache")
	w := world{connect: func(ref.Ref, *oci.Store) blobSource { return src }, clock: time.Now}
	var mu sync.Mutex
	var events []Event
	if err := run(context.Background(), o, func(e Event) { mu.Lock(); events = append(events, e); mu.Unlock() }, w); err != nil {
		t.Fatal(err)
	}
	startedAt := map[string]int{}
	downloads := 0
	for i, e := range events {
		var plat string
		switch e := e.(type) {
		case PlatformStarted:
			startedAt[e.Platform] = i
			continue
		case LayerStarted:
			if e.Kind == LayerBase {
				downloads++
			}
			plat = e.Platform
		case LayerProgressed:
			plat = e.Platform
		case LayerDone:
			plat = e.Platform
		default:
			continue
		}
		if at, ok := startedAt[plat]; plat != "" && (!ok || at > i) {
			t.Errorf("event %d %T of %s before its PlatformStarted", i, e, plat)
		}
	}
	for d, n := range src.fetches {
		if n != 1 {
			t.Errorf("blob %s downloaded %d times, want once", d, n)
		}
	}
	if len(src.fetches) != 3 || downloads != 3 {
		t.Errorf("%d blobs downloaded, %d LayerStarted; want 3 of each (one shared, one per platform)", len(src.fetches), downloads)
	}
}

// orderedSource answers FetchBlob once release is closed, telling started of each call.
type orderedSource struct {
	*memSource
	started chan int64
	release chan struct{}
}

func (s orderedSource) FetchBlob(ctx context.Context, _ ref.Ref, d descriptor.Descriptor, _ registry.BlobSink, _ registry.BlobProgress) error {
	s.started <- d.Size
	select {
	case <-s.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// nothingCached is an early store that holds nothing and keeps nothing.
type nothingCached struct{}

func (nothingCached) Cached(descriptor.Descriptor) (bool, error)       { return false, nil }
func (nothingCached) Receiver(descriptor.Descriptor) registry.BlobSink { return nil }
func (nothingCached) Received(descriptor.Descriptor) error             { return nil }

// The largest layers take the download slots first: the largest bounds the build, so it
// must not wait behind small ones, whatever order the manifest lists them in.
func TestEarlyDownloadsLargestFirst(t *testing.T) {
	sizes := []int64{174, 12 << 20, 5 << 20, 3 << 20, 149, 30 << 20, 1 << 10}
	src := orderedSource{memSource: newMemSource(), started: make(chan int64, len(sizes)), release: make(chan struct{})}
	f := newLayerFetcher(t.Context(), src, ref.Ref{}, nothingCached{}, func(Event) {})
	defer f.stop()
	var layers []descriptor.Descriptor
	for i, n := range sizes {
		layers = append(layers, descriptor.Descriptor{Digest: digest.FromString(strconv.Itoa(i)), Size: n})
	}
	f.start(layers)
	var first []int64
	for range blobConcurrency {
		first = append(first, <-src.started)
	}
	select {
	case n := <-src.started:
		t.Fatalf("a %d-byte download started while %d slots were taken", n, blobConcurrency)
	case <-time.After(50 * time.Millisecond): // a download beyond the bound would start at once
	}
	close(src.release)
	slices.Sort(first)
	if want := []int64{3 << 20, 5 << 20, 12 << 20, 30 << 20}; !slices.Equal(first, want) {
		t.Errorf("the first %d downloads were of %v bytes; want the largest, %v", blobConcurrency, first, want)
	}
	for range len(sizes) - blobConcurrency {
		<-src.started
	}
}
