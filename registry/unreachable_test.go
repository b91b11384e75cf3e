package registry

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/regclient/regclient/types/errs"
	"github.com/regclient/regclient/types/ref"

	"github.com/pycontainer/pycontainer/internal/faultproxy"
	"github.com/pycontainer/pycontainer/internal/testbase"
)

func TestUnreachable(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	tests := []struct {
		err  error
		want bool
	}{
		{refused, true},
		{fmt.Errorf("wrapped: %w", refused), true},
		{&net.DNSError{Err: "no such host", Name: "nowhere.invalid", IsNotFound: true}, true},
		{&net.DNSError{Err: "i/o timeout", Name: "slow.example", IsTimeout: true}, false},
		{&net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, false},
		{context.DeadlineExceeded, false},
	}
	for _, tt := range tests {
		if got := unreachable(tt.err); got != tt.want {
			t.Errorf("unreachable(%v) = %v, want %v", tt.err, got, tt.want)
		}
		if got := retryable(permanent{tt.err}); got {
			t.Errorf("withRetry would retry %v marked permanent", tt.err)
		}
	}
	if p := (permanent{refused}); p.Error() != refused.Error() || !errors.Is(p, errs.ErrNotRetryable) || !errors.Is(p, syscall.ECONNREFUSED) {
		t.Errorf("permanent changes the message or the chain: %q", p)
	}
}

// TestRefusedFailsAtOnce: a registry nobody listens on is reported in a second, in one
// sentence, not after regclient's and withRetry's backoff (11 s before).
func TestRefusedFailsAtOnce(t *testing.T) {
	addr := testbase.ClosedPort(t)
	c := New(Options{Registries: []string{addr}})
	r, _ := ref.New(addr + "/library/python:3.11-slim")
	start := time.Now()
	_, err := c.Index(context.Background(), r)
	took := time.Since(start)
	if err == nil {
		t.Fatal("no error from a closed port")
	}
	want := "cannot reach registry " + addr + " for " + addr + "/library/python:3.11-slim: dial tcp " + addr + ": connect: connection refused"
	if err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	if took > 2*time.Second {
		t.Errorf("took %s to report a refused connection", took)
	}
}

// TestRefusedMirrorFallsBack: a mirror nobody listens on is skipped for the registry
// itself, at once. (Later requests still try the mirror first, after regclient's
// growing backoff for it: 0.4 s, then 0.8 s, as before refusals were marked.)
func TestRefusedMirrorFallsBack(t *testing.T) {
	t.Parallel() // regclient backs off the mirror for later requests: ~3 s
	reg := testbase.Start(t)
	reg.Push(t, testbase.Spec{Repo: "library/python", Tag: "3.11-slim", Platforms: testbase.PythonPlatforms[:1]})
	mirror := testbase.ClosedPort(t)
	c := New(Options{Registries: []string{reg.Host}, Mirrors: map[string]string{reg.Host: mirror}})
	r, _ := ref.New(reg.Host + "/library/python:3.11-slim")
	start := time.Now()
	ix, err := c.Index(context.Background(), r)
	if err != nil {
		t.Fatalf("the registry was not tried after its mirror refused: %v", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("took %s to fall back from a refused mirror", took)
	}
	if _, err := c.Image(context.Background(), r, ix.Entries[0].Descriptor); err != nil {
		t.Errorf("config through the registry: %v", err)
	}
}

// TestTransientFaultsStillRetried: what can heal is still retried by regclient, then by
// withRetry: 5xx, 429 and a reset mid-body, on manifests and blobs.
func TestTransientFaultsStillRetried(t *testing.T) {
	for _, fault := range []faultproxy.Fault{faultproxy.Status500, faultproxy.Status503, faultproxy.TooMany, faultproxy.Reset} {
		t.Run(string(fault), func(t *testing.T) {
			t.Parallel()
			proxy := &faultproxy.Proxy{}
			reg := testbase.StartWith(t, proxy.Wrap)
			reg.Push(t, testbase.Spec{Repo: "library/python", Tag: "t", Platforms: testbase.PythonPlatforms[:1]})
			c := New(Options{Registries: []string{reg.Host}})
			r, _ := ref.New(reg.Host + "/library/python:t")
			// One fault on a manifest (a HEAD, then its GET), two on a blob.
			proxy.Set(faultproxy.Rule{Path: "/manifests/", Fault: fault, Times: 1}, faultproxy.Rule{Method: "GET", Path: "/blobs/", Fault: fault, Times: 2})
			ix, err := c.Index(context.Background(), r)
			if err != nil {
				t.Fatalf("index: %v", err)
			}
			if _, err := c.Image(context.Background(), r, ix.Entries[0].Descriptor); err != nil {
				t.Fatalf("config: %v", err)
			}
			if proxy.Hits() == 0 {
				t.Error("the fault never fired")
			}
		})
	}
}

// TestMissingTagSuggests: a tag the repository lacks is said so, with its nearest tags
// and without the registry's JSON; a repository that does not exist is said so too.
func TestMissingTagSuggests(t *testing.T) {
	reg := testbase.Start(t)
	for _, tag := range []string{"3.11-slim", "3.12-slim", "3.10-slim", "3.11", "latest"} {
		reg.Push(t, testbase.Spec{Repo: "library/python", Tag: tag, Platforms: testbase.PythonPlatforms[:1]})
	}
	c := New(Options{Registries: []string{reg.Host}})
	tests := []struct {
		image string
		want  string
	}{
		{"library/python:3.11-slimm", "image " + reg.Host + "/library/python:3.11-slimm not found: the repository has no tag 3.11-slimm; did you mean 3.11-slim? (or 3.12-slim, 3.10-slim)"},
		{"library/python:3.13", "image " + reg.Host + "/library/python:3.13 not found: the repository has no tag 3.13; did you mean 3.11? (or 3.12-slim, 3.11-slim)"},
		{"library/python:bookworm", "image " + reg.Host + "/library/python:bookworm not found: the repository has no tag bookworm; its nearest tags are latest, 3.12-slim, 3.11-slim"},
		{"nobody/nothing:1", "image " + reg.Host + "/nobody/nothing:1 not found: repository nobody/nothing was not found on " + reg.Host},
	}
	for _, tt := range tests {
		r, err := ref.New(reg.Host + "/" + tt.image)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Index(context.Background(), r)
		if err == nil {
			t.Fatalf("%s: no error", tt.image)
		}
		if !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("%s:\n got %q\nwant %q", tt.image, err, tt.want)
		}
		if !errors.Is(err, errs.ErrNotFound) {
			t.Errorf("%s: errors.Is(err, errs.ErrNotFound) is false", tt.image)
		}
		if strings.ContainsAny(err.Error(), "{}") {
			t.Errorf("%s: the registry's JSON is in the error: %q", tt.image, err)
		}
	}
}

func TestNearestTags(t *testing.T) {
	tags := []string{"3.8", "3.9-slim", "3.10-slim", "3.11-slim", "3.11", "3.12-slim", "3.12", "3.13-slim", "latest", "sha256-abc.sig", "3.11-slim-bookworm"}
	tests := []struct {
		tag  string
		want string
	}{
		{"3.11-slimm", "3.11-slim,3.13-slim,3.12-slim"},
		{"3.14-slim", "3.13-slim,3.12-slim,3.11-slim"},
		{"3.11-SLIM", "3.11-slim,3.13-slim,3.12-slim"},
		{"lates", "latest,3.12,3.11"},
		{"3.11-slim-bookwrm", "3.11-slim-bookworm,3.11-slim,3.13-slim"},
	}
	for _, tt := range tests {
		if got := strings.Join(nearestTags(tt.tag, tags, 3), ","); got != tt.want {
			t.Errorf("nearestTags(%q) = %s, want %s", tt.tag, got, tt.want)
		}
	}
}
