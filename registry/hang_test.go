package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
	"github.com/regclient/regclient/config"
	"github.com/regclient/regclient/types/descriptor"
	"github.com/regclient/regclient/types/errs"
	"github.com/regclient/regclient/types/mediatype"
	"github.com/regclient/regclient/types/ref"

	"github.com/pycontainer/pycontainer/internal/demo"
	"github.com/pycontainer/pycontainer/internal/termtext"
	"github.com/pycontainer/pycontainer/internal/testbase"
)

// TestEveryRequestHasADeadline: a registry, or its token server, that accepts the
// connection and then sends nothing, or stops part way through a manifest, fails the
// request within twice the answer timeout (regclient asks once more), with a sentence
// that says which host and what to do. None of these ended before.
func TestEveryRequestHasADeadline(t *testing.T) {
	const answer = 300 * time.Millisecond
	stalledBody := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.URL.Path, "/manifests/") {
			return // /v2/: 200
		}
		w.Header().Set("Content-Type", mediatype.OCI1ManifestList)
		w.Header().Set("Docker-Content-Digest", "sha256:"+strings.Repeat("a", 64))
		w.Header().Set("Content-Length", "1000")
		if r.Method == http.MethodGet {
			w.Write([]byte(`{"schemaVersion":2,`))
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		}
	}))
	t.Cleanup(stalledBody.Close)
	tests := []struct {
		name, host string
		call       func(*Client, ref.Ref) error
		want       string
	}{
		{"index, never answers", testbase.SilentListener(t), index, "sent no answer within 300ms per request (for "},
		{"ping, never answers", testbase.SilentListener(t), func(c *Client, r ref.Ref) error { return c.Ping(context.Background(), r) }, "sent no answer within 300ms per request"},
		{"tag list, never answers", testbase.SilentListener(t), func(c *Client, r ref.Ref) error { _, err := c.Tags(context.Background(), r); return err }, "sent no answer within 300ms"},
		{"manifest body stops part way", strings.TrimPrefix(stalledBody.URL, "http://"), index, "sent no answer within 300ms"},
		{"token server never answers", testbase.TokenChallenger(t, "http://"+testbase.SilentListener(t)+"/token"), index, "the token server 127.0.0.1:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := New(Options{Registries: []string{tt.host}, StallTimeout: answer})
			r, err := ref.New(tt.host + "/library/python:3.11-slim")
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			done := make(chan error, 1)
			go func() { done <- tt.call(c, r) }()
			select {
			case err = <-done:
			case <-time.After(20 * answer):
				t.Fatalf("no error after %s: the request has no deadline", 20*answer)
			}
			took := time.Since(start)
			t.Logf("in %s: %v", took.Round(10*time.Millisecond), err)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, errNoAnswer) {
				t.Fatalf("error %v, want one saying %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "refused access") {
				t.Errorf("a silent token server reads as a refused login: %v", err)
			}
			if took > 2*answer+2*time.Second {
				t.Errorf("took %s, over twice the %s answer timeout", took, answer)
			}
		})
	}
}

// TestSilentMirrorFallsBack: a mirror that never answers is given up for the registry
// itself after one answer timeout.
func TestSilentMirrorFallsBack(t *testing.T) {
	const answer = 300 * time.Millisecond
	reg := testbase.Start(t)
	reg.Push(t, testbase.Spec{Repo: "library/python", Tag: "3.11-slim", Platforms: testbase.PythonPlatforms[:1]})
	c := New(Options{Registries: []string{reg.Host}, Mirrors: map[string]string{reg.Host: testbase.SilentListener(t)}, StallTimeout: answer})
	r, _ := ref.New(reg.Host + "/library/python:3.11-slim")
	start := time.Now()
	if _, err := c.Index(context.Background(), r); err != nil {
		t.Fatalf("the registry was not tried after its mirror stayed silent: %v", err)
	}
	if took := time.Since(start); took > 4*answer+time.Second {
		t.Errorf("took %s to fall back from a silent mirror", took)
	}
}

func index(c *Client, r ref.Ref) error {
	_, err := c.Index(context.Background(), r)
	return err
}

// TestTokenAnswerCapped: a token server that sends megabytes, announced or streamed, is
// refused after maxAuthAnswer bytes, not decoded into memory whole.
func TestTokenAnswerCapped(t *testing.T) {
	big := `{"token":"` + strings.Repeat("x", 4<<20) + `"}`
	for _, announce := range []bool{true, false} {
		t.Run(fmt.Sprint("Content-Length ", announce), func(t *testing.T) {
			var sent atomic.Int64
			tokens := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if announce {
					w.Header().Set("Content-Length", fmt.Sprint(len(big)))
				}
				for b := []byte(big); len(b) > 0; b = b[min(len(b), 32<<10):] {
					n, err := w.Write(b[:min(len(b), 32<<10)])
					sent.Add(int64(n))
					if err != nil {
						return
					}
				}
			}))
			t.Cleanup(tokens.Close)
			host := testbase.TokenChallenger(t, tokens.URL+"/token")
			c := New(Options{Registries: []string{host}})
			r, _ := ref.New(host + "/library/python:3.11-slim")
			err := index(c, r)
			var tooLarge *AuthAnswerTooLargeError
			if !errors.As(err, &tooLarge) || !strings.Contains(err.Error(), "sent an answer over 1 MiB") || strings.Contains(err.Error(), "refused access") {
				t.Fatalf("error %v, want the token answer refused as too large", err)
			}
		})
	}
}

// TestUploadAnswerDeadline: an upload's body takes as long as it takes while it moves,
// so a body that takes longer than the answer timeout to send is not cut; a registry
// that takes the body and never answers is, after uploadAnswerFactor answer timeouts,
// and so is one that stops taking the body.
func TestUploadAnswerDeadline(t *testing.T) {
	const answer = 100 * time.Millisecond
	var answers atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if !answers.Load() {
			<-r.Context().Done()
		}
		w.WriteHeader(http.StatusCreated)
	}))
	t.Cleanup(srv.Close)
	c := &http.Client{Transport: newTransport("", answer)}
	put := func() (time.Duration, error) {
		start := time.Now()
		body := &slowReader{chunks: 6, every: answer} // 6 answer timeouts to send
		req, _ := http.NewRequest(http.MethodPut, srv.URL+"/v2/x/blobs/uploads/1?digest=sha256:1", body)
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		return time.Since(start), err
	}
	answers.Store(true)
	if took, err := put(); err != nil {
		t.Fatalf("a slow upload was cut after %s: %v", took, err)
	}
	answers.Store(false)
	took, err := put()
	var late *NoAnswerError
	if !errors.As(err, &late) || late.After != uploadAnswerFactor*answer {
		t.Fatalf("error %v, want no answer within %s", err, uploadAnswerFactor*answer)
	}
	if want := 6*answer + uploadAnswerFactor*answer; took < want || took > want+2*time.Second {
		t.Errorf("took %s, want about %s (the body, then the answer timeout)", took, want)
	}

	// A registry that takes the connection, then nothing.
	start := time.Now()
	req, _ := http.NewRequest(http.MethodPut, "http://"+testbase.SilentListener(t)+"/v2/x/blobs/uploads/1?digest=sha256:1", io.LimitReader(zeros{}, 1<<30))
	_, err = c.Do(req)
	if !errors.As(err, &late) {
		t.Fatalf("error %v, want no answer", err)
	}
	if took := time.Since(start); took > uploadAnswerFactor*answer+5*time.Second {
		t.Errorf("an upload the registry stopped taking ended after %s", took)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

type slowReader struct {
	chunks int
	every  time.Duration
}

func (s *slowReader) Read(p []byte) (int, error) {
	if s.chunks == 0 {
		return 0, io.EOF
	}
	s.chunks--
	time.Sleep(s.every)
	return copy(p, "0123456789"), nil
}

// TestBlobBodyKeepsTheStallDesign: a blob that streams for longer than the answer
// timeout, never pausing for a stall, arrives whole.
func TestBlobBodyKeepsTheStallDesign(t *testing.T) {
	blob := bytes.Repeat([]byte("layer"), 2000)
	d := descriptor.Descriptor{MediaType: mediatype.OCI1LayerGzip, Digest: digest.FromBytes(blob), Size: int64(len(blob))}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(len(blob)))
		for b := blob; len(b) > 0; b = b[min(len(b), 1000):] {
			w.Write(b[:min(len(b), 1000)])
			w.(http.Flusher).Flush()
			time.Sleep(50 * time.Millisecond) // 10 chunks: 0.5 s, past the 200 ms answer timeout
		}
	}))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	c := New(Options{Registries: []string{host}, StallTimeout: 200 * time.Millisecond})
	r, _ := ref.New(host + "/library/python:3.11-slim")
	sink := &memSink{}
	if err := c.FetchBlob(context.Background(), r, d, sink, BlobProgress{}); err != nil {
		t.Fatalf("a blob streaming past the answer timeout was cut: %v", err)
	}
	if !bytes.Equal(sink.committed, blob) {
		t.Error("the blob arrived changed")
	}
}

// TestMisleadingMessages: an invalid digest is refused before any request (it read
// "image not found"), and a blob with more bytes than announced says so (it read
// "manifest over 8 MB") and is not kept beyond one byte past its size.
func TestMisleadingMessages(t *testing.T) {
	ctx := context.Background()
	var requested sync.Map // paths asked for
	reg, err := demo.Serve(func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			requested.Store(r.URL.Path, true)
			h.ServeHTTP(w, r)
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	c := New(Options{Registries: []string{reg.Host}})
	for _, s := range []string{"library/python@sha256:" + strings.Repeat("0", 32), "library/python:3.11@sha256:" + strings.Repeat("A", 64), "library/python@md5:" + strings.Repeat("a", 32)} {
		_, err := ParseReference(reg.Host + "/" + s)
		if err == nil || !strings.Contains(err.Error(), "has an invalid digest") || !strings.Contains(err.Error(), "a digest is sha256: and 64 lowercase hex digits") {
			t.Errorf("%s: error %v, want it named an invalid digest", s, err)
		}
	}

	bad := "sha256:0123456789abcdef"
	raw, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": mediatype.OCI1ManifestList, "manifests": []any{
		map[string]any{"mediaType": mediatype.OCI1Manifest, "digest": bad, "size": 100, "platform": map[string]string{"os": "linux", "architecture": "amd64"}},
	}})
	if _, err := reg.PutManifest(ctx, "hostile/img", "bad-digest", mediatype.OCI1ManifestList, raw); err != nil {
		t.Fatal(err)
	}
	r, _ := ref.New(reg.Host + "/hostile/img:bad-digest")
	err = index(c, r)
	if err == nil || !strings.Contains(err.Error(), `lists manifest "`+bad+`", which is not a valid digest`) || strings.Contains(err.Error(), "not found") {
		t.Errorf("error %v, want the index's invalid digest named", err)
	}
	requested.Range(func(k, _ any) bool {
		if strings.Contains(k.(string), bad) {
			t.Errorf("the invalid digest was sent to the registry: %s", k)
		}
		return true
	})

	// A layer the registry sends with more bytes than its descriptor announces.
	layer := []byte("the layer's announced bytes, and then some more")
	d, err := reg.PutBlob(ctx, "hostile/img", layer)
	if err != nil {
		t.Fatal(err)
	}
	d.Size = 10
	sink := &countingSink{}
	err = c.FetchBlob(ctx, r, d, sink, BlobProgress{})
	if err == nil || !strings.Contains(err.Error(), "the registry sent more than the 10 bytes the manifest announces for blob "+d.Digest.String()) || strings.Contains(err.Error(), "manifest over 8 MB") {
		t.Errorf("error %v, want the oversized blob named", err)
	}
	if sink.max > 11 {
		t.Errorf("the sink was given %d bytes of a 10-byte blob", sink.max)
	}
}

// countingSink records the most bytes one attempt wrote.
type countingSink struct {
	n, max int
}

func (s *countingSink) Begin() (io.Writer, error) { s.n = 0; return s, nil }
func (s *countingSink) Write(b []byte) (int, error) {
	s.n += len(b)
	s.max = max(s.max, s.n)
	return len(b), nil
}
func (s *countingSink) Commit() error { return nil }
func (s *countingSink) Abort()        {}

// TestRegistryTextPrintable: what a registry sends (an error body, a platform name) is
// escaped in errors and index entries: no escape sequence, carriage return or newline
// reaches a terminal, and the text stays readable.
func TestRegistryTextPrintable(t *testing.T) {
	const body = "denied\x1b]0;pwned\x07\x1b[2J\rError: all good\n\u202eevil"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/" {
			return
		}
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	c := New(Options{Registries: []string{host}})
	r, _ := ref.New(host + "/library/python:3.11-slim")
	err := index(c, r)
	if err == nil || !termtext.Printable(err.Error()) || !strings.Contains(err.Error(), `denied\x1b]0;pwned\x07\x1b[2J\rError: all good\n\u202eevil`) {
		t.Errorf("error %q, want the body escaped", err)
	}
	if !errors.Is(err, errs.ErrHTTPStatus) {
		t.Errorf("the escaped error lost its chain: %v", err)
	}

	reg := testbase.Start(t)
	ctx := context.Background()
	img := reg.Push(t, testbase.Spec{Repo: "library/python", Tag: "t", Platforms: testbase.PythonPlatforms[:1]})
	raw, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": mediatype.OCI1ManifestList, "manifests": []any{
		map[string]any{"mediaType": mediatype.OCI1Manifest, "digest": img, "size": 1, "platform": map[string]string{"os": "linux", "architecture": "amd64\x1b[2J\nlinux/arm64", "variant": "\u202e"}},
	}})
	if _, err := reg.PutManifest(ctx, "library/python", "ctl", mediatype.OCI1ManifestList, raw); err != nil {
		t.Fatal(err)
	}
	c = New(Options{Registries: []string{reg.Host}})
	r, _ = ref.New(reg.Host + "/library/python:ctl")
	ix, err := c.Index(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ix.Entries[0].Platform, `amd64\x1b[2j\nlinux/arm64`; got.Architecture != want || got.Variant != `\u202e` {
		t.Errorf("platform %+v, want architecture %q and variant %q", got, want, `\u202e`)
	}
}

// TestCheckClientHasDeadlines: the client a login checks with has the transport's
// deadlines (regclient's own has none).
func TestCheckClientHasDeadlines(t *testing.T) {
	host := testbase.SilentListener(t)
	h := config.HostNewName(host)
	h.TLS = config.TLSDisabled
	rc := checkClient(*h, func(k string) string { return map[string]string{"PYCONTAINER_STALL_TIMEOUT": "200ms"}[k] })
	r, _ := ref.New(host + "/library/pycontainer-login-check")
	done := make(chan error, 1)
	go func() { _, err := rc.Ping(context.Background(), r); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, errNoAnswer) {
			t.Errorf("error %v, want no answer", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a login check of a silent registry did not end")
	}
}
