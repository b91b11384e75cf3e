package demo

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
)

// Catalog mirrors the platform sets of real tags, so the demo shows what users meet:
// a slim tag with many platforms and attestations, an alpine-like tag that lacks some,
// an image only built for amd64 whose newer siblings have arm64, and a single-manifest
// tag.
var Catalog = []Spec{
	{Repo: "library/python", Tag: "3.11-slim", Attestation: true, Platforms: []Platform{
		{"linux", "amd64", ""}, {"linux", "arm64", "v8"}, {"linux", "arm", "v7"}, {"linux", "arm", "v5"},
		{"linux", "386", ""}, {"linux", "ppc64le", ""}, {"linux", "s390x", ""},
	}},
	{Repo: "library/python", Tag: "3.12-slim", Attestation: true, Platforms: []Platform{
		{"linux", "amd64", ""}, {"linux", "arm64", "v8"}, {"linux", "arm", "v7"}, {"linux", "arm", "v5"},
		{"linux", "386", ""}, {"linux", "ppc64le", ""}, {"linux", "s390x", ""},
	}},
	{Repo: "library/python", Tag: "3.11-alpine", Attestation: true, Platforms: []Platform{
		{"linux", "amd64", ""}, {"linux", "arm64", "v8"}, {"linux", "arm", "v7"}, {"linux", "arm", "v6"},
		{"linux", "386", ""}, {"linux", "ppc64le", ""}, {"linux", "riscv64", ""}, {"linux", "s390x", ""},
	}},
	{Repo: "demo/legacy-python", Tag: "3.8", DockerMediaTypes: true, Platforms: []Platform{{"linux", "amd64", ""}}},
	{Repo: "demo/legacy-python", Tag: "3.9", Attestation: true, Platforms: []Platform{{"linux", "amd64", ""}, {"linux", "arm64", "v8"}}},
	{Repo: "demo/legacy-python", Tag: "3.10", Attestation: true, Platforms: []Platform{{"linux", "amd64", ""}, {"linux", "arm64", "v8"}, {"linux", "arm", "v7"}}},
	{Repo: "demo/legacy-python", Tag: "3.8-arm64-only", Single: true, Platforms: []Platform{{"linux", "arm64", "v8"}}},
}

// Stack mirrors the images of a Compose stack as people run it on arm64 laptops and
// servers, for `platforms --compose`. Demo data, with these real platform sets: mysql:5.7
// was only built for amd64 and its newer line 8.0 has arm64; node:8-alpine is
// amd64-only with no newer line here; postgres:16 has many platforms.
var Stack = []Spec{
	{Repo: "library/mysql", Tag: "5.7", Platforms: []Platform{{"linux", "amd64", ""}}},
	{Repo: "library/mysql", Tag: "5.7.44", Platforms: []Platform{{"linux", "amd64", ""}}},
	{Repo: "library/mysql", Tag: "8.0", Attestation: true, Platforms: []Platform{{"linux", "amd64", ""}, {"linux", "arm64", "v8"}}},
	{Repo: "library/mysql", Tag: "8.4", Attestation: true, Platforms: []Platform{{"linux", "amd64", ""}, {"linux", "arm64", "v8"}}},
	{Repo: "library/node", Tag: "8-alpine", DockerMediaTypes: true, Platforms: []Platform{{"linux", "amd64", ""}}},
	{Repo: "library/postgres", Tag: "16", Attestation: true, Platforms: []Platform{
		{"linux", "amd64", ""}, {"linux", "arm64", "v8"}, {"linux", "arm", "v7"}, {"linux", "arm", "v6"}, {"linux", "arm", "v5"},
		{"linux", "386", ""}, {"linux", "ppc64le", ""}, {"linux", "s390x", ""}, {"linux", "mips64le", ""},
	}},
}

// Seed pushes the catalog; padding adds that many bytes to each platform's layer so
// downloads take long enough to watch.
func (r *Registry) Seed(ctx context.Context, padding int) error {
	return r.seed(ctx, Catalog, padding)
}

// SeedStack pushes the Stack's images.
func (r *Registry) SeedStack(ctx context.Context, padding int) error {
	return r.seed(ctx, Stack, padding)
}

func (r *Registry) seed(ctx context.Context, specs []Spec, padding int) error {
	// Repositories are pushed concurrently, the tags of one in turn: the Distribution
	// registry rejects two uploads of the same blob to a repository at once.
	byRepo := map[string][]Spec{}
	var repos []string
	for _, spec := range specs {
		if _, ok := byRepo[spec.Repo]; !ok {
			repos = append(repos, spec.Repo)
		}
		spec.PaddingBytes = padding
		byRepo[spec.Repo] = append(byRepo[spec.Repo], spec)
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, repo := range repos {
		g.Go(func() error {
			for _, spec := range byRepo[repo] {
				if _, err := r.Push(gctx, spec); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return g.Wait()
}

// ConnectionRate is the most one blob download from a Throttled registry gets, in
// bytes per second: about what one TCP connection to a registry on another continent
// carries. It is what makes a layer of a few MB take seconds, however fast the link.
const ConnectionRate = 1 << 20

// Throttle makes a registry serve blobs as a distant one does: each download at up to
// ConnectionRate, and all downloads in flight together at up to bytesPerSec, the
// link they share. One download alone is held by its connection, so a single layer
// visibly streams; many at once share the link, as they would on a real one.
// Manifests and HEAD requests are not slowed: they are small.
func Throttle(bytesPerSec int) func(http.Handler) http.Handler {
	perConnection := min(ConnectionRate, bytesPerSec)
	return func(h http.Handler) http.Handler {
		link := &pacer{rate: float64(bytesPerSec)} // shared by this handler's downloads alone
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") {
				w = &throttledWriter{ResponseWriter: w, ctx: r.Context(), link: link, conn: &pacer{rate: float64(perConnection)}}
			}
			h.ServeHTTP(w, r)
		})
	}
}

// pacer books bytes onto a channel of rate bytes per second.
type pacer struct {
	mu   sync.Mutex
	rate float64
	next time.Time // when what is booked so far has gone out
}

// book reserves n bytes and returns when they will have gone out.
func (p *pacer) book(now time.Time, n int) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.next.Before(now) {
		p.next = now // an idle channel saves up no credit
	}
	p.next = p.next.Add(time.Duration(float64(n) / p.rate * float64(time.Second)))
	return p.next
}

type throttledWriter struct {
	http.ResponseWriter
	ctx        context.Context
	link, conn *pacer
}

func (t *throttledWriter) Write(p []byte) (int, error) {
	// Small chunks keep the stream smooth: a progress bar moves several times a second.
	const chunk = 32 << 10
	written := 0
	for len(p) > 0 {
		n := min(len(p), chunk)
		// A chunk goes out once its connection and the link have carried it.
		now := time.Now()
		until := t.conn.book(now, n)
		if l := t.link.book(now, n); l.After(until) {
			until = l
		}
		timer := time.NewTimer(until.Sub(now))
		select {
		case <-timer.C:
		case <-t.ctx.Done(): // the client went away: stop sending
			timer.Stop()
			return written, t.ctx.Err()
		}
		m, err := t.ResponseWriter.Write(p[:n])
		written += m
		if err != nil {
			return written, err
		}
		if f, ok := t.ResponseWriter.(http.Flusher); ok {
			f.Flush()
		}
		p = p[n:]
	}
	return written, nil
}
