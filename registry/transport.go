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
	"github.com/regclient/regclient/types/descriptor"
	"github.com/regclient/regclient/types/errs"
)

// transport is the http.RoundTripper every request of regclient goes through. It adds
// what regclient has no option for:
//   - every request has a deadline (Options.StallTimeout, else defaultAnswerTimeout;
//     see requestKind for what it covers): a registry that accepts the connection and
//     never answers fails the request instead of hanging the build;
//   - a token server's answer is capped at maxAuthAnswer bytes;
//   - a dial that cannot heal (connection refused, no such host) is marked
//     errs.ErrNotRetryable, so regclient gives up after one more attempt instead of
//     backing off for seconds, and withRetry does not try again;
//   - a blob GET whose context carries a resume asks for the bytes after the kept ones
//     and answers regclient with the whole blob (see resume.roundTrip);
//   - a request made for a blob attempt pauses its lifeline while on the wire, and an
//     answer's Retry-After extends it (see lifeline);
//   - a registry's 401 challenge is widened with the scopes a push needs (see
//     widenChallenge), so the first token carries them;
//   - a registry with CA certificates in docker's certs.d directory gets its own
//     http.Transport that trusts them. regclient sets them up only on the
//     *http.Transport it is given, which all hosts share, so each host would overwrite
//     the last one's; given this RoundTripper instead it leaves TLS to it.
//
// Plain HTTP needs nothing here: regclient picks the URL's scheme per host.
type transport struct {
	certDir string        // docker's certs.d; "" trusts the system's roots only
	answer  time.Duration // each request's deadline
	base    *http.Transport
	scopes  map[string][]string // by host[:port]: what its challenges are widened with

	mu    sync.Mutex
	hosts map[string]http.RoundTripper // by host[:port], for https
}

func newTransport(certDir string, answer time.Duration) *transport {
	if answer <= 0 {
		answer = defaultAnswerTimeout
	}
	return &transport{certDir: certDir, answer: answer, base: newHTTPTransport(), hosts: map[string]http.RoundTripper{}}
}

// maxIdlePerHost is how many idle connections to one registry are kept for the next
// requests: as many as a build has in flight to it (Options.MaxRequests), where
// net/http's default of 2 closed the others after each burst and dialled (and shook
// hands with TLS) again for the next.
const maxIdlePerHost = 16

// newHTTPTransport is http.DefaultTransport with a dial that marks errors that cannot
// heal, keeping maxIdlePerHost idle connections per registry.
func newHTTPTransport() *http.Transport {
	t := &http.Transport{Proxy: http.ProxyFromEnvironment, ForceAttemptHTTP2: true}
	if dt, ok := http.DefaultTransport.(*http.Transport); ok {
		t = dt.Clone()
	}
	t.MaxIdleConnsPerHost = maxIdlePerHost
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
	kind := requestKind(req)
	ctx, cancel := context.WithCancelCause(req.Context())
	late := &NoAnswerError{Host: req.URL.Host, After: t.answer, Auth: kind == authRequest}
	dl := &deadline{fire: func() { cancel(late) }}
	req = req.WithContext(ctx)
	if kind == uploadRequest {
		// A body takes as long as it takes to send, but must keep moving; once sent,
		// the answer may take a while: committing a large layer (an object store copies
		// it) can take minutes.
		late.After = t.answer * uploadAnswerFactor
		touch := func() { dl.touch(late.After) }
		req.Body = &sendingBody{ReadCloser: req.Body, read: touch}
		if getBody := req.GetBody; getBody != nil {
			req.GetBody = func() (io.ReadCloser, error) {
				b, err := getBody()
				if err != nil {
					return nil, err
				}
				return &sendingBody{ReadCloser: b, read: touch}, nil
			}
		}
		touch()
	} else {
		dl.start(t.answer)
	}
	var resp *http.Response
	var err error
	if life := lifelineOf(ctx); life != nil {
		life.sending()
		defer func() { life.answered(resp) }()
	}
	if rs, ok := req.Context().Value(resumeKey{}).(*resume); ok && rs.applies(req) {
		resp, err = rs.roundTrip(rt, req)
	} else {
		resp, err = rt.RoundTrip(req)
	}
	if err != nil {
		dl.stop()
		if cause := context.Cause(ctx); errors.Is(cause, errNoAnswer) {
			err = late.marked()
		}
		cancel(nil)
		return nil, err
	}
	if resp.StatusCode == http.StatusUnauthorized {
		widenChallenge(resp.Header, t.scopes[req.URL.Host])
	}
	if kind == blobRequest || kind == uploadRequest || req.Method == http.MethodHead {
		// A blob's body has the stall watchdog of FetchBlob; an upload's answer, and a
		// HEAD's, is empty.
		dl.stop()
	}
	if err := overAnnounced(req, resp); err != nil {
		resp.Body.Close()
		cancel(nil)
		return nil, err
	}
	body := &answerBody{ReadCloser: resp.Body, ctx: ctx, cancel: cancel, dl: dl, late: late}
	if kind == authRequest {
		if resp.ContentLength > maxAuthAnswer {
			resp.Body.Close()
			dl.stop()
			cancel(nil)
			return nil, &AuthAnswerTooLargeError{Host: req.URL.Host, Size: resp.ContentLength}
		}
		body.limit = maxAuthAnswer
	}
	resp.Body = body
	return resp, nil
}

// defaultAnswerTimeout is how long a request waits for its whole answer (a blob's, for
// its headers) when Options.StallTimeout is not set: pip's default socket timeout.
// regclient tries a request that got no answer once more (or its mirror's registry),
// so a registry that never answers fails in twice this.
const defaultAnswerTimeout = 15 * time.Second

// uploadAnswerFactor: an upload waits this many answer timeouts for the registry to
// take the next bytes of its body, and for its answer once the body is sent.
const uploadAnswerFactor = 10

// maxAuthAnswer caps a token server's answer: a token is a few KB, and regclient
// decodes the whole answer into memory (a 50 MB one took 404 MB).
const maxAuthAnswer = 1 << 20

// errNoAnswer marks a request a registry or its token server did not answer in time.
var errNoAnswer = errors.New("no answer in time")

// NoAnswerError is a request that got no answer (a blob's: no headers) in time.
type NoAnswerError struct {
	Host  string
	After time.Duration
	Auth  bool // a token server's
}

func (e *NoAnswerError) Error() string {
	if e.Auth {
		return fmt.Sprintf("token server %s sent no answer in %s", e.Host, e.After)
	}
	return fmt.Sprintf("%s sent no answer in %s", e.Host, e.After)
}

func (e *NoAnswerError) Unwrap() error { return errNoAnswer }

// marked is e as regclient should see it. A registry's request is marked not
// retryable, so regclient tries it once more (or the mirror's registry) rather than five
// times, and withRetry not at all. A token request is not: regclient then answers with
// the request's error instead of an older "authentication required".
func (e *NoAnswerError) marked() error {
	if e.Auth {
		return e
	}
	return permanent{e}
}

// AuthAnswerTooLargeError is a token server's answer over maxAuthAnswer bytes.
type AuthAnswerTooLargeError struct {
	Host string
	Size int64 // announced; -1 when the answer only grew past the cap
}

func (e *AuthAnswerTooLargeError) Error() string {
	return fmt.Sprintf("token server %s sent an answer over %d MiB (a token is a few KB); refusing it", e.Host, maxAuthAnswer>>20)
}

// Kinds of request, for their deadlines.
const (
	smallRequest  = iota // a manifest, a config, a tag list, a ping, a HEAD: the whole answer in time
	authRequest          // a token: the whole answer in time, and capped
	blobRequest          // a blob's GET: its headers in time; its body has FetchBlob's stall watchdog
	uploadRequest        // a request with a body: the body taken, then its answer's headers, in time
)

// wholeAnswerKey marks a context whose blob GETs are small requests (withWholeAnswer).
type wholeAnswerKey struct{}

// withWholeAnswer makes the blob GETs made with ctx small requests: their whole answer,
// body too, must come in time. A config is a few KB.
func withWholeAnswer(ctx context.Context) context.Context {
	return context.WithValue(ctx, wholeAnswerKey{}, true)
}

// requestKind tells a request's kind. regclient asks a token server with a client_id
// (GET) or a form (POST), which no registry API request carries.
func requestKind(req *http.Request) int {
	switch {
	case req.URL.Query().Has("client_id"), strings.HasPrefix(req.Header.Get("Content-Type"), "application/x-www-form-urlencoded"):
		return authRequest
	case req.Body != nil && req.Body != http.NoBody:
		return uploadRequest
	case req.Context().Value(wholeAnswerKey{}) != nil:
		return smallRequest
	case req.Method == http.MethodGet && isBlobGet(req):
		return blobRequest
	}
	return smallRequest
}

// isBlobGet reports whether req is a blob's GET, or a redirect of one (to a CDN).
func isBlobGet(req *http.Request) bool {
	for r := req; r != nil; {
		if p := r.URL.Path; strings.Contains(p, "/blobs/") && !strings.Contains(p, "/blobs/uploads/") {
			return true
		}
		if r.Response == nil {
			break
		}
		r = r.Response.Request
	}
	return false
}

// deadline cancels a request when it fires; start arms it once, touch arms it anew,
// stop disarms it for good.
type deadline struct {
	fire func()

	mu      sync.Mutex
	timer   *time.Timer
	stopped bool
}

func (d *deadline) start(after time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopped || d.timer != nil {
		return
	}
	d.timer = time.AfterFunc(after, d.fire)
}

func (d *deadline) touch(after time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case d.stopped:
	case d.timer == nil:
		d.timer = time.AfterFunc(after, d.fire)
	default:
		d.timer.Reset(after)
	}
}

func (d *deadline) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stopped = true
	if d.timer != nil {
		d.timer.Stop()
	}
}

// sendingBody calls read each time the transport reads the request body: the
// registry took the bytes before.
type sendingBody struct {
	io.ReadCloser
	read func()
}

func (b *sendingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.read()
	return n, err
}

// answerBody is a response body read under its request's deadline, and capped when
// limit > 0. Closing it ends the request's context.
type answerBody struct {
	io.ReadCloser
	ctx    context.Context
	cancel context.CancelCauseFunc
	dl     *deadline
	late   *NoAnswerError
	limit  int64
	read   int64
}

func (b *answerBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.read += int64(n)
	switch {
	case b.limit > 0 && b.read > b.limit:
		return n, &AuthAnswerTooLargeError{Host: b.late.Host, Size: -1}
	case err == io.EOF:
		b.dl.stop()
	case err != nil && errors.Is(context.Cause(b.ctx), errNoAnswer):
		err = b.late.marked()
	}
	return n, err
}

func (b *answerBody) Close() error {
	b.dl.stop()
	err := b.ReadCloser.Close()
	b.cancel(nil)
	return err
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
	return req.Header.Get("Range") == "" && getsBlob(req, rs.digest)
}

// getsBlob reports whether req is the GET of blob d, or a redirect of it (to a CDN).
func getsBlob(req *http.Request, d digest.Digest) bool {
	if req.Method != http.MethodGet {
		return false
	}
	for r := req; r != nil; {
		if strings.HasSuffix(r.URL.Path, "/blobs/"+d.String()) {
			return true
		}
		if r.Response == nil {
			break
		}
		r = r.Response.Request
	}
	return false
}

// expectKey is the context key of the descriptor.Descriptor a blob GET fetches.
type expectKey struct{}

// withExpected tells the transport the size blob d has, so a registry announcing more
// is refused before its body is read.
func withExpected(ctx context.Context, d descriptor.Descriptor) context.Context {
	return context.WithValue(ctx, expectKey{}, d)
}

// overAnnounced is the error for resp when it announces more bytes than the blob its
// request fetches has; nil otherwise. (regclient reports a mismatched Content-Length as
// "retry limit exceeded", after asking five more times.)
func overAnnounced(req *http.Request, resp *http.Response) error {
	d, ok := req.Context().Value(expectKey{}).(descriptor.Descriptor)
	if !ok || resp.StatusCode != http.StatusOK || resp.ContentLength <= d.Size || !getsBlob(req, d.Digest) {
		return nil
	}
	return permanent{fmt.Errorf("%w [expected %d, announced %d]", errs.ErrSizeLimitExceeded, d.Size, resp.ContentLength)}
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
