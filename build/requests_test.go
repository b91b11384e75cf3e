package build

import (
	"context"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/pycontainer/pycontainer/internal/cmdenv"
	"github.com/pycontainer/pycontainer/internal/faultproxy"
	"github.com/pycontainer/pycontainer/internal/testbase"
)

// requestCounts is what a build asked of a registry, by kind. Challenged counts the
// requests answered 401 (sent before the token they need), and only there.
type requestCounts struct {
	Challenged, Token, HeadManifest, GetManifest, HeadBlob, GetBlob, Write, Other int
}

// requestCounter counts the requests its handler serves, by kind.
type requestCounter struct {
	mu     sync.Mutex
	counts requestCounts
}

func (c *requestCounter) take() requestCounts {
	c.mu.Lock()
	defer c.mu.Unlock()
	got := c.counts
	c.counts = requestCounts{}
	return got
}

func (c *requestCounter) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Counted as the answer starts, before the client can have read it: a test that
		// reads the counts once the build is done sees every request.
		cw := &countingWriter{ResponseWriter: w, count: func(status int) { c.add(r, status) }}
		h.ServeHTTP(cw, r)
		cw.header(http.StatusOK)
	})
}

func (c *requestCounter) add(r *http.Request, status int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := &c.counts
	p, head, get := r.URL.Path, r.Method == http.MethodHead, r.Method == http.MethodGet
	switch {
	case status == http.StatusUnauthorized:
		n.Challenged++
	case p == "/token":
		n.Token++
	case r.Method == http.MethodPut || r.Method == http.MethodPost || r.Method == http.MethodPatch:
		n.Write++
	case strings.Contains(p, "/manifests/") && head:
		n.HeadManifest++
	case strings.Contains(p, "/manifests/") && get:
		n.GetManifest++
	case strings.Contains(p, "/blobs/") && head:
		n.HeadBlob++
	case strings.Contains(p, "/blobs/") && get:
		n.GetBlob++
	default:
		n.Other++
	}
}

// countingWriter calls count once, with the status, when the answer starts.
type countingWriter struct {
	http.ResponseWriter
	count   func(status int)
	counted bool
}

func (w *countingWriter) header(status int) {
	if !w.counted {
		w.counted = true
		w.count(status)
	}
}

func (w *countingWriter) WriteHeader(status int) {
	w.header(status)
	w.ResponseWriter.WriteHeader(status)
}

func (w *countingWriter) Write(b []byte) (int, error) {
	w.header(http.StatusOK)
	return w.ResponseWriter.Write(b)
}

func (w *countingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// TestBuildRequests counts the requests of whole builds on a registry with token auth,
// as Docker Hub and ghcr.io have it: across a network each is a round trip, so a change
// that adds one shows here. The counts are the protocol's floor: one 401 and one token
// exchange per run (a push's scopes asked up front), the base tag read by GET on a cold
// build and checked by HEAD on a warm one, each manifest, config and layer read once, a
// push that stops at the target tag's HEAD when it names the image already, and in a
// first push one mount per base layer and a HEAD, POST and PUT per blob of the build's.
func TestBuildRequests(t *testing.T) {
	pull := []string{"repository:library/python:pull"}
	for _, tc := range []struct {
		name      string
		platforms int
		push      bool
		warm      bool // the same build ran before, with the same cache and output
		want      requestCounts
		scopes    [][]string // of each token the run was issued
	}{
		{name: "cold, one platform", platforms: 1,
			want:   requestCounts{Challenged: 1, Token: 1, GetManifest: 2, GetBlob: 3},
			scopes: [][]string{pull}},
		{name: "cold, three platforms", platforms: 3,
			want:   requestCounts{Challenged: 1, Token: 1, GetManifest: 4, GetBlob: 7},
			scopes: [][]string{pull}},
		{name: "warm, nothing changed", platforms: 1, warm: true,
			want:   requestCounts{Challenged: 1, Token: 1, HeadManifest: 1},
			scopes: [][]string{pull}},
		{name: "first push", platforms: 1, push: true,
			want:   requestCounts{Challenged: 1, Token: 1, HeadManifest: 1, GetManifest: 2, HeadBlob: 2, GetBlob: 3, Write: 7},
			scopes: [][]string{{"repository:app:pull,push", "repository:library/python:pull"}}},
		{name: "push of what is there already", platforms: 1, warm: true, push: true,
			want:   requestCounts{Challenged: 1, Token: 1, HeadManifest: 2},
			scopes: [][]string{{"repository:app:pull,push", "repository:library/python:pull"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			auth, counter := faultproxy.NewTokenAuth(), &requestCounter{}
			reg := testbase.StartWith(t, func(h http.Handler) http.Handler { return counter.wrap(auth.Wrap(h)) })
			reg.Push(t, testbase.Spec{Repo: "library/python", Tag: "3.11-slim", Platforms: testbase.PythonPlatforms})
			o := memOptions(t, "linux/amd64", "linux/arm64/v8", "linux/arm/v7")
			o.Platforms = o.Platforms[:tc.platforms]
			o.BaseImage, o.Reproducible = reg.Host+"/library/python:3.11-slim", true
			o.CacheDir = filepath.Join(t.TempDir(), "cache")
			o.Process = cmdenv.Env{Environ: []string{"HOME=" + t.TempDir()}} // no docker logins
			if tc.push {
				o.Push, o.Tag = true, reg.Host+"/app:1"
			}
			if tc.warm {
				if err := Run(context.Background(), o, nil); err != nil {
					t.Fatalf("the first build: %v", err)
				}
			}
			counter.take()
			before := len(auth.Issued())
			if err := Run(context.Background(), o, nil); err != nil {
				t.Fatal(err)
			}
			if got := counter.take(); got != tc.want {
				t.Errorf("requests\n got %+v\nwant %+v", got, tc.want)
			}
			scopes := auth.Issued()[before:]
			for _, s := range scopes {
				slices.Sort(s)
			}
			if !slices.EqualFunc(scopes, tc.scopes, slices.Equal) {
				t.Errorf("tokens issued for scopes %q, want %q", scopes, tc.scopes)
			}
		})
	}
}
