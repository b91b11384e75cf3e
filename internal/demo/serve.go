package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/regclient/regclient/types/descriptor"
)

// memory is a registry's content held in memory: blobs by digest, manifests by digest,
// and tags per repository.
type memory struct {
	mu        sync.RWMutex
	blobs     map[string][]byte
	manifests map[string]manifestEntry
	tags      map[string]map[string]string // repo -> tag -> digest
	digests   map[string]map[string]bool   // repo -> digests of the manifests pushed to it
}

type manifestEntry struct {
	mediaType string
	raw       []byte
}

func (m *memory) putBlob(_ context.Context, _ string, d descriptor.Descriptor, data []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.blobs[d.Digest.String()] = data
	return nil
}

func (m *memory) putManifest(_ context.Context, repo, reference string, d descriptor.Descriptor, raw []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.manifests[d.Digest.String()] = manifestEntry{mediaType: d.MediaType, raw: raw}
	if m.digests[repo] == nil {
		m.digests[repo] = map[string]bool{}
	}
	m.digests[repo][d.Digest.String()] = true
	if !strings.HasPrefix(reference, "sha256:") {
		if m.tags[repo] == nil {
			m.tags[repo] = map[string]string{}
		}
		m.tags[repo][reference] = d.Digest.String()
	}
	return nil
}

// Serve starts a read-only registry in memory on a free loopback port, for content this
// package pushes into it; wrap (may be nil) wraps its handler, to slow it down or inject
// faults. It speaks enough of the distribution API for pulls: manifests, blobs, tags.
func Serve(wrap func(http.Handler) http.Handler) (*Registry, error) {
	mem := &memory{blobs: map[string][]byte{}, manifests: map[string]manifestEntry{}, tags: map[string]map[string]string{}, digests: map[string]map[string]bool{}}
	var h http.Handler = mem
	if wrap != nil {
		h = wrap(h)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen on loopback: %w", err)
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(l) }()
	return &Registry{Host: l.Addr().String(), backend: mem, close: hs.Close}, nil
}

func (m *memory) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		registryError(w, http.StatusMethodNotAllowed, "UNSUPPORTED", "the demo registry is read-only")
		return
	}
	p := strings.TrimPrefix(r.URL.Path, "/v2/")
	if p == "" || p == r.URL.Path {
		w.WriteHeader(http.StatusOK)
		return
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	switch {
	case strings.HasSuffix(p, "/tags/list"):
		repo := strings.TrimSuffix(p, "/tags/list")
		tags := []string{}
		for t := range m.tags[repo] {
			tags = append(tags, t)
		}
		sort.Strings(tags)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"name": repo, "tags": tags})
	case strings.Contains(p, "/manifests/"):
		repo, reference, _ := strings.Cut(p, "/manifests/")
		d := reference
		if !strings.HasPrefix(reference, "sha256:") {
			d = m.tags[repo][reference]
		}
		e, ok := m.manifests[d]
		if !ok {
			registryError(w, http.StatusNotFound, "MANIFEST_UNKNOWN", "manifest unknown")
			return
		}
		send(w, r, e.mediaType, d, e.raw)
	case strings.Contains(p, "/blobs/"):
		_, d, _ := strings.Cut(p, "/blobs/")
		b, ok := m.blobs[d]
		if !ok {
			registryError(w, http.StatusNotFound, "BLOB_UNKNOWN", "blob unknown")
			return
		}
		send(w, r, "application/octet-stream", d, b)
	default:
		registryError(w, http.StatusNotFound, "NAME_UNKNOWN", "not found")
	}
}

func send(w http.ResponseWriter, r *http.Request, mediaType, digest string, body []byte) {
	w.Header().Set("Content-Type", mediaType)
	w.Header().Set("Docker-Content-Digest", digest)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(body)
	}
}

func registryError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"code": code, "message": msg}}})
}
