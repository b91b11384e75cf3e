// Package testbase gives tests a real registry (olareg in process, or the Distribution
// registry binary) holding the generated multi-platform bases of package demo.
package testbase

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/olareg/olareg"
	olaregcfg "github.com/olareg/olareg/config"
	digest "github.com/opencontainers/go-digest"

	"github.com/pycontainer/pycontainer/internal/demo"
)

// Spec, Platform, PythonPlatforms and Created are demo's, re-exported for tests.
type (
	Spec     = demo.Spec
	Platform = demo.Platform
)

var (
	PythonPlatforms = demo.PythonPlatforms
	Created         = demo.Created
)

// Registry is a registry for one test.
type Registry struct {
	*demo.Registry
}

// Start runs an in-memory registry for the duration of the test.
func Start(t testing.TB) *Registry {
	return StartWith(t, nil)
}

// StartWith runs olareg, a full registry (pushes too), in memory on loopback, its
// handler wrapped by wrap (to slow it down or inject faults); nil means no wrapping.
func StartWith(t testing.TB, wrap func(http.Handler) http.Handler) *Registry {
	t.Helper()
	srv := olareg.New(olaregcfg.Config{Storage: olaregcfg.ConfigStorage{StoreType: olaregcfg.StoreMem}})
	var h http.Handler = srv
	if wrap != nil {
		h = wrap(srv)
	}
	ts := httptest.NewServer(h)
	t.Cleanup(func() {
		ts.Close()
		_ = srv.Close()
	})
	return &Registry{demo.Connect(strings.TrimPrefix(ts.URL, "http://"))}
}

// Connect uses a registry that already runs at host.
func Connect(host string) *Registry {
	return &Registry{demo.Connect(host)}
}

// ConnectAuth uses a registry that already runs at host, with a login.
func ConnectAuth(host, user, password string) *Registry {
	return &Registry{demo.ConnectAuth(host, user, password)}
}

// Push stores the image described by spec, failing the test on error.
func (r *Registry) Push(t testing.TB, spec Spec) digest.Digest {
	t.Helper()
	d, err := r.Registry.Push(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	return d
}
