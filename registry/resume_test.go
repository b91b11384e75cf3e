package registry

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
	"github.com/regclient/regclient/types/descriptor"
	"github.com/regclient/regclient/types/ref"

	"github.com/pycontainer/pycontainer/internal/testbase"
	"github.com/pycontainer/pycontainer/oci"
)

// rangeServer wraps a registry and misbehaves on the GETs of one blob: it stops sending
// at a byte of the blob (going quiet, as a stalled transfer does), cuts the connection
// once at another, or ignores Range. It records the Range of every GET of the blob.
type rangeServer struct {
	mu          sync.Mutex
	digest      string
	stallAt     int64 // > 0: send nothing past this byte of the blob
	cutOnceAt   int64 // > 0: close the connection at this byte, once
	ignoreRange bool
	ranges      []string // "" for a GET without Range
}

func (s *rangeServer) set(f func(s *rangeServer)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

func (s *rangeServer) gets() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.ranges...)
}

func (s *rangeServer) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		mine := s.digest != "" && r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/blobs/"+s.digest)
		if mine {
			s.ranges = append(s.ranges, r.Header.Get("Range"))
		}
		stallAt, cutAt, ignore := s.stallAt, s.cutOnceAt, s.ignoreRange
		s.mu.Unlock()
		if !mine {
			h.ServeHTTP(w, r)
			return
		}
		if ignore {
			r.Header.Del("Range")
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		start := int64(0) // the blob's byte the body starts at
		if cr := rec.Header().Get("Content-Range"); cr != "" {
			first, _, _ := strings.Cut(strings.TrimPrefix(cr, "bytes "), "-")
			start, _ = strconv.ParseInt(first, 10, 64)
		}
		body := rec.Body.Bytes()
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		send := func(upTo int64) {
			if n := upTo - start; n > 0 {
				_, _ = w.Write(body[:min(n, int64(len(body)))])
			}
			w.(http.Flusher).Flush()
		}
		switch {
		case cutAt > start && cutAt < start+int64(len(body)):
			s.set(func(s *rangeServer) { s.cutOnceAt = 0 })
			send(cutAt)
			if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
				conn.Close()
			}
		case stallAt > 0:
			send(stallAt)
			<-r.Context().Done()
		default:
			_, _ = w.Write(body)
		}
	})
}

// resumeFixture is a registry serving a 256 KiB layer through a rangeServer, a client
// with a short stall timeout and a cache.
type resumeFixture struct {
	srv   *rangeServer
	c     *Client
	r     ref.Ref
	layer descriptor.Descriptor
	store *oci.Store
}

func newResumeFixture(t *testing.T) *resumeFixture {
	t.Helper()
	srv := &rangeServer{}
	reg := testbase.StartWith(t, srv.wrap)
	reg.Push(t, testbase.Spec{Repo: "library/python", Tag: "t", Platforms: testbase.PythonPlatforms[:1], PaddingBytes: 256 << 10})
	store, err := oci.OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c := New(Options{Registries: []string{reg.Host}, Store: store, StallTimeout: 200 * time.Millisecond})
	r, _ := ref.New(reg.Host + "/library/python:t")
	ix, err := c.Index(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	img, err := c.Image(context.Background(), r, ix.Entries[0].Descriptor)
	if err != nil {
		t.Fatal(err)
	}
	layer := img.Manifest.Layers[len(img.Manifest.Layers)-1]
	if layer.Size < 200<<10 {
		t.Fatalf("layer of %d bytes, want over 200 KiB", layer.Size)
	}
	srv.set(func(s *rangeServer) { s.digest = layer.Digest.String() })
	return &resumeFixture{srv: srv, c: c, r: r, layer: layer, store: store}
}

// fetch runs FetchBlob into the cache, recording progress and resumes.
func (f *resumeFixture) fetch(t *testing.T) (fetchResult, error) {
	t.Helper()
	var res fetchResult
	err := f.c.FetchBlob(context.Background(), f.r, f.layer, f.store.Partial(f.layer), BlobProgress{
		Read: func(n int64) {
			res.done += n
			if n < 0 {
				res.drops = append(res.drops, res.done)
			}
		},
		Resumed: func(from int64, startsOver bool) {
			res.resumes = append(res.resumes, resumed{from, startsOver})
		},
	})
	return res, err
}

type resumed struct {
	from       int64
	startsOver bool
}

type fetchResult struct {
	done    int64   // where progress ended
	drops   []int64 // where progress went back to
	resumes []resumed
}

func (f *resumeFixture) partialPath() string {
	return f.store.Dir() + "/partial/sha256/" + f.layer.Digest.Encoded()
}

// checkBlob fails unless the cache holds the layer, verified, and no partial of it.
func (f *resumeFixture) checkBlob(t *testing.T) {
	t.Helper()
	b, err := os.ReadFile(f.store.Path(f.layer.Digest))
	if err != nil {
		t.Fatalf("the layer is not in the cache: %v", err)
	}
	if got := digest.FromBytes(b); got != f.layer.Digest {
		t.Fatalf("the cached layer is %s, want %s", got, f.layer.Digest)
	}
	if _, err := os.Stat(f.partialPath()); err == nil {
		t.Error("the partial download is still there after the blob landed")
	}
}

// TestFetchBlobResumes: a download the registry stops sending keeps its bytes in the
// cache, and the next FetchBlob asks for the rest only, in any case ending with the blob
// whole and verified.
func TestFetchBlobResumes(t *testing.T) {
	const stallAt = 100_000
	tests := []struct {
		name string
		// between the failed FetchBlob and the next
		prepare func(t *testing.T, f *resumeFixture)
		// the Range headers the next FetchBlob sends, in order
		wantRanges func(size int64) []string
		want       resumed // the first resume
		restarts   bool    // progress goes back to 0 once
	}{
		{
			name:       "registry honours Range",
			wantRanges: func(int64) []string { return []string{"bytes=100000-"} },
			want:       resumed{stallAt, false},
		},
		{
			name: "registry ignores Range",
			prepare: func(t *testing.T, f *resumeFixture) {
				f.srv.set(func(s *rangeServer) { s.ignoreRange = true })
			},
			wantRanges: func(int64) []string { return []string{"bytes=100000-"} },
			want:       resumed{0, true},
		},
		{
			name: "kept bytes damaged",
			prepare: func(t *testing.T, f *resumeFixture) {
				file, err := os.OpenFile(f.partialPath(), os.O_RDWR, 0)
				if err != nil {
					t.Fatal(err)
				}
				defer file.Close()
				b := make([]byte, 1)
				if _, err := file.ReadAt(b, 500); err != nil {
					t.Fatal(err)
				}
				b[0] ^= 0xff
				if _, err := file.WriteAt(b, 500); err != nil {
					t.Fatal(err)
				}
			},
			// The resumed attempt fails its digest; the next starts at byte 0.
			wantRanges: func(int64) []string { return []string{"bytes=100000-", ""} },
			want:       resumed{stallAt, false},
			restarts:   true,
		},
		{
			name: "connection cut after resuming",
			prepare: func(t *testing.T, f *resumeFixture) {
				f.srv.set(func(s *rangeServer) { s.cutOnceAt = 150_000 })
			},
			// regclient resumes the cut body itself, in whole-blob offsets: its Range
			// passes through untouched.
			wantRanges: func(size int64) []string {
				return []string{"bytes=100000-", "bytes=150000-" + strconv.FormatInt(size, 10)}
			},
			want: resumed{stallAt, false},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel() // a FetchBlob that gives up takes a few seconds of backoff
			f := newResumeFixture(t)
			f.srv.set(func(s *rangeServer) { s.stallAt = stallAt })
			if _, err := f.fetch(t); err == nil {
				t.Fatal("FetchBlob succeeded from a registry that stalls every time")
			}
			fi, err := os.Stat(f.partialPath())
			if err != nil {
				t.Fatalf("the failed download kept nothing: %v", err)
			}
			if fi.Size() != stallAt {
				t.Fatalf("kept %d bytes, want %d", fi.Size(), stallAt)
			}
			if _, err := os.Stat(f.store.Path(f.layer.Digest)); err == nil {
				t.Fatal("an incomplete blob is in the cache")
			}

			f.srv.set(func(s *rangeServer) { s.stallAt, s.ranges = 0, nil })
			f.c.stallTimeout = 10 * time.Second // longer than regclient's backoff when it resumes a cut body
			if tt.prepare != nil {
				tt.prepare(t, f)
			}
			res, err := f.fetch(t)
			if err != nil {
				t.Fatalf("FetchBlob after the registry healed: %v", err)
			}
			f.checkBlob(t)
			got, want := f.srv.gets(), tt.wantRanges(f.layer.Size)
			if strings.Join(got, "|") != strings.Join(want, "|") {
				t.Errorf("GETs with Range %q, want %q (resumes %+v)", got, want, res.resumes)
			}
			if len(res.resumes) == 0 || res.resumes[0] != tt.want {
				t.Errorf("resumes %+v, want first %+v", res.resumes, tt.want)
			}
			if res.done != f.layer.Size {
				t.Errorf("progress ended at %d, want %d", res.done, f.layer.Size)
			}
			if wantDrops := map[bool]string{false: "[]", true: "[0]"}[tt.restarts]; fmt.Sprint(res.drops) != wantDrops {
				t.Errorf("progress went back to %v, want %s", res.drops, wantDrops)
			}
		})
	}
}

// TestFetchBlobResumesWithinRetries: an attempt cut short is resumed by FetchBlob's next
// attempt, not started over.
func TestFetchBlobResumesWithinRetries(t *testing.T) {
	f := newResumeFixture(t)
	f.srv.set(func(s *rangeServer) { s.stallAt = 100_000 })
	go func() {
		// Heal the registry once the first attempt has stalled.
		for len(f.srv.gets()) == 0 {
			time.Sleep(10 * time.Millisecond)
		}
		f.srv.set(func(s *rangeServer) { s.stallAt = 0 })
	}()
	res, err := f.fetch(t)
	if err != nil {
		t.Fatal(err)
	}
	f.checkBlob(t)
	if got := f.srv.gets(); len(got) != 2 || got[0] != "" || got[1] != "bytes=100000-" {
		t.Errorf("GETs with Range %q, want the whole blob then bytes=100000-", got)
	}
	if len(res.resumes) != 1 || res.resumes[0] != (resumed{100_000, false}) || len(res.drops) > 0 {
		t.Errorf("resumes %+v, progress drops %v; want one resume from 100000 and no drop", res.resumes, res.drops)
	}
}
