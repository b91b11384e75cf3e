package registry

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	digest "github.com/opencontainers/go-digest"
	"github.com/regclient/regclient/types/errs"
)

// transport is the http.RoundTripper every request of regclient goes through. It adds
// what regclient has no option for:
//   - a dial that cannot heal (connection refused, no such host) is marked
//     errs.ErrNotRetryable, so regclient gives up after one more attempt instead of
//     backing off for seconds, and withRetry does not try again;
//   - a blob GET whose context carries a resume asks for the bytes after the kept ones
//     and answers regclient with the whole blob (see resume.roundTrip);
//   - a registry with CA certificates in docker's certs.d directory gets its own
//     http.Transport that trusts them. regclient sets them up only on the
//     *http.Transport it is given, which all hosts share, so each host would overwrite
//     the last one's; given this RoundTripper instead it leaves TLS to it.
//
// Plain HTTP needs nothing here: regclient picks the URL's scheme per host.
type transport struct {
	certDir string // docker's certs.d; "" trusts the system's roots only
	base    *http.Transport

	mu    sync.Mutex
	hosts map[string]http.RoundTripper // by host[:port], for https
}

func newTransport(certDir string) *transport {
	return &transport{certDir: certDir, base: newHTTPTransport(), hosts: map[string]http.RoundTripper{}}
}

// newHTTPTransport is http.DefaultTransport with a dial that marks errors that cannot
// heal.
func newHTTPTransport() *http.Transport {
	t := &http.Transport{Proxy: http.ProxyFromEnvironment, ForceAttemptHTTP2: true}
	if dt, ok := http.DefaultTransport.(*http.Transport); ok {
		t = dt.Clone()
	}
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := d.DialContext(ctx, network, addr)
		if err != nil && unreachable(err) {
			err = permanent{err}
		}
		return conn, err
	}
	return t
}

// unreachable reports a dial error that trying again will not fix: nothing listens
// there, or the name does not exist.
func unreachable(err error) bool {
	var dnsErr *net.DNSError
	return errors.Is(err, syscall.ECONNREFUSED) || errors.As(err, &dnsErr) && dnsErr.IsNotFound
}

// permanent marks err as not worth retrying; its message is err's alone.
type permanent struct{ err error }

func (p permanent) Error() string   { return p.err.Error() }
func (p permanent) Unwrap() []error { return []error{p.err, errs.ErrNotRetryable} }

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	rt := t.forHost(req.URL.Scheme, req.URL.Host)
	if rs, ok := req.Context().Value(resumeKey{}).(*resume); ok && rs.applies(req) {
		return rs.roundTrip(rt, req)
	}
	return rt.RoundTrip(req)
}

// forHost is the transport for host: its own when certs.d holds CA certificates for
// it, else the shared one.
func (t *transport) forHost(scheme, host string) http.RoundTripper {
	if t.certDir == "" || scheme != "https" {
		return t.base
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if rt, ok := t.hosts[host]; ok {
		return rt
	}
	var rt http.RoundTripper = t.base
	if pool := certPool(filepath.Join(t.certDir, host)); pool != nil {
		ht := newHTTPTransport()
		ht.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		rt = ht
	}
	t.hosts[host] = rt
	return rt
}

// certPool is the system's roots and the *.crt files of dir, as docker reads
// certs.d/<host>; nil when dir holds none (or one cannot be read: regclient then falls
// back to the system's roots too).
func certPool(dir string) *x509.CertPool {
	crts, _ := filepath.Glob(filepath.Join(dir, "*.crt"))
	if len(crts) == 0 {
		return nil
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	for _, f := range crts {
		pem, err := os.ReadFile(f)
		if err != nil || !pool.AppendCertsFromPEM(pem) {
			return nil
		}
	}
	return pool
}

// resumeKey is the context key of a *resume.
type resumeKey struct{}

// withResume gives ctx a resume for the blob GETs made with it.
func withResume(ctx context.Context, rs *resume) context.Context {
	return context.WithValue(ctx, resumeKey{}, rs)
}

// resume continues the download of a blob after the bytes an earlier attempt kept: the
// GET asks for `Range: bytes=from-`, and a 206 that starts there becomes, for regclient,
// a 200 whose body is the kept bytes then the network's, as long as the whole blob. Its
// reader hashes every byte and checks the digest as usual, so a damaged kept byte fails
// the download like a damaged network byte.
type resume struct {
	digest digest.Digest
	from   int64 // bytes kept
	size   int64 // of the whole blob
	kept   io.ReaderAt

	mu    sync.Mutex
	state resumeState
}

type resumeState int

const (
	resumeAsked    resumeState = iota // no answer yet
	resumeAnswered                    // a 206 from `from`: regclient reads kept bytes first
	resumeRefused                     // the registry ignored or refused the range: the body starts at byte 0
)

// errResumeLost fails an attempt that regclient restarts from byte 0 after it was
// handed kept bytes, which a body from byte 0 cannot follow. regclient must not retry
// it; FetchBlob's next attempt starts afresh.
var errResumeLost = errors.New("the registry no longer honours the range the transfer resumed with")

// applies reports whether req is the blob's GET, or a redirect of it (to a CDN), with
// no range of its own: regclient sets one when it resumes a cut body itself, in whole-blob
// offsets, and that one passes through untouched.
func (rs *resume) applies(req *http.Request) bool {
	if req.Method != http.MethodGet || req.Header.Get("Range") != "" {
		return false
	}
	for r := req; r != nil; {
		if strings.HasSuffix(r.URL.Path, "/blobs/"+rs.digest.String()) {
			return true
		}
		if r.Response == nil {
			break
		}
		r = r.Response.Request
	}
	return false
}

// resumed reports whether regclient's body starts with the kept bytes; false means it
// starts at byte 0 (the registry ignored the range) or no GET was made.
func (rs *resume) resumed() bool {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.state == resumeAnswered
}

func (rs *resume) roundTrip(rt http.RoundTripper, req *http.Request) (*http.Response, error) {
	rs.mu.Lock()
	state := rs.state
	rs.mu.Unlock()
	if state == resumeRefused {
		return rt.RoundTrip(req)
	}
	ranged := req.Clone(req.Context())
	ranged.Header.Set("Range", "bytes="+strconv.FormatInt(rs.from, 10)+"-")
	resp, err := rt.RoundTrip(ranged)
	if err != nil {
		return nil, err
	}
	switch {
	case resp.StatusCode == http.StatusPartialContent && rs.startsAtFrom(resp.Header.Get("Content-Range")):
		rs.mu.Lock()
		rs.state = resumeAnswered
		rs.mu.Unlock()
		whole := *resp
		whole.Request = req
		whole.StatusCode, whole.Status = http.StatusOK, "200 OK"
		whole.Header = resp.Header.Clone()
		whole.Header.Del("Content-Range")
		whole.Header.Set("Content-Length", strconv.FormatInt(rs.size, 10))
		whole.ContentLength = rs.size
		whole.Body = &resumedBody{Reader: io.MultiReader(&keptReader{r: io.NewSectionReader(rs.kept, 0, rs.from), want: rs.from}, resp.Body), net: resp.Body}
		return &whole, nil
	case resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusPartialContent && resp.StatusCode != http.StatusRequestedRangeNotSatisfiable:
		// An error (401 before a token, 404 on a mirror, 5xx) or a redirect: regclient
		// handles it, and the next GET asks for the range again.
		return resp, nil
	}
	// The registry sent the whole blob, a range other than the one asked for, or
	// refused it (416): from here on the transfer starts at byte 0, unless regclient was
	// handed kept bytes already, which a body from byte 0 cannot follow.
	rs.mu.Lock()
	answered := rs.state == resumeAnswered
	if !answered {
		rs.state = resumeRefused
	}
	rs.mu.Unlock()
	if answered {
		resp.Body.Close()
		return nil, permanent{fmt.Errorf("blob %s: %w", rs.digest, errResumeLost)}
	}
	if resp.StatusCode == http.StatusOK {
		return resp, nil
	}
	resp.Body.Close()
	return rt.RoundTrip(req)
}

// startsAtFrom reports whether a Content-Range header (bytes first-last/size) starts
// at the first byte not kept and runs to the end of the blob.
func (rs *resume) startsAtFrom(cr string) bool {
	spec, ok := strings.CutPrefix(cr, "bytes ")
	if !ok {
		return false
	}
	span, size, ok := strings.Cut(spec, "/")
	if !ok || size != "*" && size != strconv.FormatInt(rs.size, 10) {
		return false
	}
	first, last, ok := strings.Cut(span, "-")
	return ok && first == strconv.FormatInt(rs.from, 10) && last == strconv.FormatInt(rs.size-1, 10)
}

// resumedBody is the kept bytes then the network's; closing it closes the network's.
type resumedBody struct {
	io.Reader
	net io.Closer
}

func (b *resumedBody) Close() error { return b.net.Close() }

// keptReader reads the kept bytes, failing (not ending) if there are fewer than want:
// a kept file cut short must not let the network's bytes slide into its place.
type keptReader struct {
	r    io.Reader
	want int64
	got  int64
}

func (k *keptReader) Read(b []byte) (int, error) {
	n, err := k.r.Read(b)
	k.got += int64(n)
	if err == io.EOF && k.got < k.want {
		err = fmt.Errorf("the kept bytes end at %d of %d: %w", k.got, k.want, io.ErrUnexpectedEOF)
	}
	return n, err
}
