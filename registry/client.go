// Package registry is everything in pycontainer that talks to a container registry. It
// wraps regclient: client setup (credentials, plain HTTP for loopback, mirrors), reading
// an index as a platform table, and blob transfer with progress, retries and digest
// verification.
package registry

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	digest "github.com/opencontainers/go-digest"
	"github.com/regclient/regclient"
	"github.com/regclient/regclient/config"
	"github.com/regclient/regclient/scheme/reg"
	"github.com/regclient/regclient/types/errs"
	"github.com/regclient/regclient/types/ref"

	"github.com/pycontainer/pycontainer/oci"
)

// Options configure a Client.
type Options struct {
	// Insecure lists registries (host[:port]) reached over plain HTTP. Loopback
	// registries always are.
	Insecure []string
	// Mirrors maps a registry to a mirror tried first, e.g. docker.io -> localhost:5000.
	Mirrors map[string]string
	// Registries lists the registries this client will talk to, so their connection
	// settings can be prepared up front.
	Registries []string
	// Store caches manifests, configs and which digest a tag pointed at; nil disables it.
	Store *oci.Store
	// Pull is the pull policy with a store: PullAlways (default), PullMissing, PullNever.
	Pull string
	// Credentials override docker's stored logins for some registries (a push target).
	Credentials map[string]Credential
	// StallTimeout is how long a registry may send nothing. It cuts off a blob transfer
	// that receives nothing for this long (default one minute), which is then retried,
	// and a request that has no whole answer (a blob's GET: no headers) after this long
	// (default 15 s), which regclient tries once more.
	StallTimeout time.Duration
	// MaxRequests bounds the requests in flight to one registry (default regclient's
	// 3). It must leave room for the blob downloads a caller starts at once, or a
	// download it reports as started waits, silent, for another to end.
	MaxRequests int
	// DockerConfig is the docker config.json stored logins are read from (see
	// DockerConfigPath); "" is docker's own lookup in this process's environment.
	DockerConfig string
	// Push names the repositories this client will push to. A registry with token auth
	// is asked for pull and push on them from the first token exchange, so the push
	// does not pay for another.
	Push []ref.Ref
}

// Client talks to registries.
type Client struct {
	rc      *regclient.RegClient
	store   *oci.Store
	pull    string
	sources map[string]string // registry -> where its credential came from
	mirrors map[string]string // registry -> its mirror, named when both fail

	stallTimeout time.Duration
}

// New creates a Client that reads docker's credentials (config.json and credential
// helpers) and retries failed requests with backoff.
func New(opts Options) *Client {
	hosts := map[string]*config.Host{}
	host := func(name string) *config.Host {
		if h, ok := hosts[name]; ok {
			return h
		}
		h := config.HostNewName(name)
		hosts[name] = h
		return h
	}
	plain := map[string]bool{}
	for _, r := range opts.Insecure {
		plain[r] = true
	}
	sources := map[string]string{}
	for reg, cred := range opts.Credentials {
		sources[reg] = cred.Source
		if cred.User != "" {
			host(reg).User, host(reg).Pass = cred.User, cred.Pass
		}
	}
	names := append([]string{}, opts.Registries...)
	for from, to := range opts.Mirrors {
		host(from).Mirrors = append(host(from).Mirrors, to)
		names = append(names, from, to)
	}
	for _, name := range names {
		if plain[name] || IsLoopback(name) {
			host(name).TLS = config.TLSDisabled
		}
		if opts.MaxRequests > 0 {
			host(name).ReqConcurrent = int64(opts.MaxRequests)
		}
	}
	tr := newTransport(regclient.DockerCertDir, opts.StallTimeout)
	tr.scopes = pushScopes(opts.Push)
	creds := regclient.WithDockerCreds()
	if opts.DockerConfig != "" {
		creds = regclient.WithDockerCredsFile(opts.DockerConfig)
	}
	rcOpts := []regclient.Opt{
		creds,
		regclient.WithRetryLimit(5),
		regclient.WithRetryDelay(200*time.Millisecond, 5*time.Second),
		regclient.WithUserAgent("pycontainer"),
		// Not regclient.WithDockerCerts: the transport reads docker's certs.d for the
		// hosts reached over TLS that have a directory there, and for no other (a CA
		// pool costs parsing the system's ~300 roots, 30 ms of a 200 ms build).
		regclient.WithRegOpts(reg.WithHTTPClient(&http.Client{Transport: tr})),
	}
	for _, h := range hosts {
		rcOpts = append(rcOpts, regclient.WithConfigHost(*h))
	}
	pull := opts.Pull
	if pull == "" {
		pull = PullAlways
	}
	stall := opts.StallTimeout
	if stall <= 0 {
		stall = defaultStallTimeout
	}
	return &Client{rc: regclient.New(rcOpts...), store: opts.Store, pull: pull, sources: sources, mirrors: opts.Mirrors, stallTimeout: stall}
}

// checkClient is the client Login checks a password with: this package's transport
// (every request with a deadline, PYCONTAINER_STALL_TIMEOUT's as builds have it;
// docker's certs.d; token answers capped), two retries rather than New's five (a login
// is interactive), and no stored logins.
func checkClient(host config.Host, getenv func(string) string) *regclient.RegClient {
	answer, _ := time.ParseDuration(getenv("PYCONTAINER_STALL_TIMEOUT")) // invalid: the default
	return regclient.New(regclient.WithConfigHost(host), regclient.WithRetryLimit(2), regclient.WithUserAgent("pycontainer"),
		regclient.WithRegOpts(reg.WithHTTPClient(&http.Client{Transport: newTransport(regclient.DockerCertDir, answer)})))
}

// IsLoopback reports whether a registry host[:port] is on this machine, where plain
// HTTP is the norm (a registry started for tests or a local pull-through cache).
func IsLoopback(registry string) bool {
	host := registry
	if h, _, err := net.SplitHostPort(registry); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ParseReference parses an image reference; Docker Hub short names such as
// python:3.11-slim become docker.io/library/python:3.11-slim.
func ParseReference(s string) (ref.Ref, error) {
	r, err := ref.New(s)
	if err != nil {
		return ref.Ref{}, fmt.Errorf("image reference %q is not valid (expected [registry/]repository[:tag][@digest], e.g. python:3.11-slim): %w", s, err)
	}
	if r.Scheme != "reg" {
		return ref.Ref{}, fmt.Errorf("image reference %q is not a registry image (expected [registry/]repository[:tag], e.g. python:3.11-slim)", s)
	}
	if r.Digest != "" {
		// Checked here, before any request: the registry would only say "not found".
		if _, err := digest.Parse(r.Digest); err != nil {
			return ref.Ref{}, fmt.Errorf("image reference %q has an invalid digest %s (%w): a digest is sha256: and 64 lowercase hex digits", s, r.Digest, err)
		}
	}
	return r, nil
}

// DescribeError turns regclient's errors into a sentence a user can act on. It keeps
// the chain for errors.Is.
func DescribeError(r ref.Ref, err error) error {
	return describeError(r, err, "", "")
}

// describe is DescribeError naming where the registry's credential came from.
func (c *Client) describe(r ref.Ref, err error) error {
	return describeError(r, err, c.sources[r.Registry], c.mirrors[r.Registry])
}

func describeError(r ref.Ref, err error, credSource, mirror string) error {
	name := r.CommonName()
	if mirror != "" {
		// regclient falls back from the mirror to the registry itself; the error is the
		// registry's, but the user asked for the mirror and must hear it was tried.
		name += " (tried its mirror " + mirror + " first)"
	}
	// A registry's error body is in regclient's message: it must not reach a terminal raw.
	err = printableErr(err)
	var opErr *net.OpError
	var dnsErr *net.DNSError
	var urlErr *url.Error
	var late *NoAnswerError
	var tooLarge *AuthAnswerTooLargeError
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	// Before the 401 case: regclient reports a failed token request as one.
	case errors.As(err, &late) && late.Auth:
		return fmt.Errorf("the token server %s of registry %s sent no answer within %s (for %s): check that it is up, or wait longer with PYCONTAINER_STALL_TIMEOUT%.0w", late.Host, r.Registry, late.After, name, err)
	case errors.As(err, &late):
		return fmt.Errorf("registry %s sent no answer within %s per request (for %s): check that it is up and reachable, or wait longer with PYCONTAINER_STALL_TIMEOUT%.0w", r.Registry, late.After, name, err)
	case errors.As(err, &tooLarge):
		return fmt.Errorf("the token server %s of registry %s sent an answer over %d MiB (a token is a few KB) for %s: refusing it; check the registry's token service%.0w", tooLarge.Host, r.Registry, maxAuthAnswer>>20, name, err)
	case errors.Is(err, errs.ErrHTTPUnauthorized) || isForbidden(err):
		tried := "credentials tried: " + credSource
		if credSource == "" {
			tried = "credentials tried: docker config, if any"
		}
		fix := "log in with `pycontainer login " + r.Registry + "`"
		switch {
		case credSource == "REGISTRY_USERNAME/REGISTRY_PASSWORD":
			fix = "fix REGISTRY_USERNAME/REGISTRY_PASSWORD (they come before any login)"
		case credSource == "GITHUB_TOKEN":
			fix = "give GITHUB_TOKEN the packages permission"
		}
		return fmt.Errorf("registry %s refused access to %s (401/403; %s): %s or check the repository name: %w", r.Registry, name, tried, fix, errs.ErrHTTPUnauthorized)
	case errors.Is(err, errs.ErrNotFound):
		return fmt.Errorf("image %s not found: check the repository and tag exist on %s: %w", name, r.Registry, err)
	case errors.As(err, &opErr), errors.As(err, &dnsErr), errors.Is(err, syscall.ECONNREFUSED):
		// The innermost network error says what failed (connection refused, no such
		// host), without regclient's retry wrapping around it.
		var netErr error = err
		switch {
		case opErr != nil:
			netErr = opErr
		case dnsErr != nil:
			netErr = dnsErr
		}
		return fmt.Errorf("cannot reach registry %s for %s: %w", r.Registry, name, netErr)
	case errors.As(err, &urlErr):
		return fmt.Errorf("cannot reach registry %s for %s: %w", r.Registry, name, err)
	case errors.Is(err, errs.ErrSizeLimitExceeded):
		// regclient's message repeats the reference; the sentence alone says it.
		return fmt.Errorf("%s: the registry sent a manifest over 8 MB (an image's manifest is a few KB); refusing it: %w", name, errs.ErrSizeLimitExceeded)
	case errors.Is(err, errs.ErrDigestMismatch):
		// regclient's message repeats the digest asked for, which name already holds.
		return fmt.Errorf("%s: the registry answered with other bytes than that digest names (a broken registry, cache or proxy); refusing them: %w", name, errs.ErrDigestMismatch)
	}
	return fmt.Errorf("%s: %w", name, err)
}

// isForbidden recognises a 403. regclient has no sentinel for it: it reports 401 and 403
// alike as errs.ErrHTTPUnauthorized (which extends errs.ErrHTTPStatus) and tells them
// apart only in its text, "[http 403]". Matching that marker, not a bare "403", keeps a
// 500 whose body or digest holds those digits from reading as access denied.
func isForbidden(err error) bool {
	return errors.Is(err, errs.ErrHTTPStatus) && strings.Contains(err.Error(), "[http 403]")
}
