package demo

import (
	"context"
	"net/http"
	"strings"
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

// Seed pushes the catalog; padding adds that many bytes to each platform's layer so
// downloads take long enough to watch.
func (r *Registry) Seed(ctx context.Context, padding int) error {
	// Repositories are pushed concurrently, the tags of one in turn: the Distribution
	// registry rejects two uploads of the same blob to a repository at once.
	byRepo := map[string][]Spec{}
	var repos []string
	for _, spec := range Catalog {
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

// Throttle limits each blob download to about bytesPerSec, as a remote registry would.
func Throttle(bytesPerSec int) func(http.Handler) http.Handler {
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") {
				w = &throttledWriter{ResponseWriter: w, bytesPerSec: bytesPerSec}
			}
			h.ServeHTTP(w, r)
		})
	}
}

type throttledWriter struct {
	http.ResponseWriter
	bytesPerSec int
}

func (t *throttledWriter) Write(p []byte) (int, error) {
	const chunk = 32 << 10
	written := 0
	for len(p) > 0 {
		n := min(len(p), chunk)
		m, err := t.ResponseWriter.Write(p[:n])
		written += m
		if err != nil {
			return written, err
		}
		if f, ok := t.ResponseWriter.(http.Flusher); ok {
			f.Flush()
		}
		p = p[n:]
		time.Sleep(time.Duration(n) * time.Second / time.Duration(t.bytesPerSec))
	}
	return written, nil
}
