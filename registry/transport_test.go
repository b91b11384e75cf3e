package registry

import (
	"bytes"
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	digest "github.com/opencontainers/go-digest"
	"github.com/regclient/regclient/types/errs"
)

// blobOrigin answers GETs of one blob as a registry would, honouring Range unless told
// otherwise, and records the Range of each.
type blobOrigin struct {
	blob   []byte
	answer func(rng string) (status int, contentRange string, body []byte) // nil: honour Range
	ranges []string
}

func (o *blobOrigin) RoundTrip(req *http.Request) (*http.Response, error) {
	rng := req.Header.Get("Range")
	o.ranges = append(o.ranges, rng)
	status, cr, body := http.StatusOK, "", o.blob
	if o.answer != nil {
		status, cr, body = o.answer(rng)
	} else if from, ok := strings.CutPrefix(rng, "bytes="); ok {
		first, _, _ := strings.Cut(from, "-")
		n, _ := strconv.Atoi(first)
		status, body = http.StatusPartialContent, o.blob[n:]
		cr = fmt.Sprintf("bytes %d-%d/%d", n, len(o.blob)-1, len(o.blob))
	}
	h := http.Header{"Content-Length": {strconv.Itoa(len(body))}}
	if cr != "" {
		h.Set("Content-Range", cr)
	}
	return &http.Response{StatusCode: status, Status: http.StatusText(status), Header: h, ContentLength: int64(len(body)),
		Body: io.NopCloser(bytes.NewReader(body)), Request: req}, nil
}

func TestResumeRoundTrip(t *testing.T) {
	blob := []byte("0123456789abcdefghij")
	d := digest.FromBytes(blob)
	const from = 8
	tests := []struct {
		name       string
		path       string
		rangeSent  string // the request's own Range
		answer     func(rng string) (int, string, []byte)
		wantRanges []string
		wantStatus int
		wantBody   string
		resumed    bool
	}{
		{name: "206 from the kept bytes", wantRanges: []string{"bytes=8-"}, wantStatus: 200, wantBody: string(blob), resumed: true},
		{name: "Range ignored", answer: func(string) (int, string, []byte) { return 200, "", blob },
			wantRanges: []string{"bytes=8-"}, wantStatus: 200, wantBody: string(blob)},
		{name: "416", answer: func(rng string) (int, string, []byte) {
			if rng != "" {
				return 416, "", nil
			}
			return 200, "", blob
		}, wantRanges: []string{"bytes=8-", ""}, wantStatus: 200, wantBody: string(blob)},
		{name: "206 from another byte", answer: func(rng string) (int, string, []byte) {
			if rng != "" {
				return 206, fmt.Sprintf("bytes 4-%d/%d", len(blob)-1, len(blob)), blob[4:]
			}
			return 200, "", blob
		}, wantRanges: []string{"bytes=8-", ""}, wantStatus: 200, wantBody: string(blob)},
		{name: "error status passes through", answer: func(string) (int, string, []byte) { return 503, "", []byte("later") },
			wantRanges: []string{"bytes=8-"}, wantStatus: 503, wantBody: "later"},
		{name: "regclient's own Range untouched", rangeSent: "bytes=12-20",
			wantRanges: []string{"bytes=12-20"}, wantStatus: 206, wantBody: string(blob[12:])},
		{name: "another path untouched", path: "/v2/library/python/manifests/3.11",
			wantRanges: []string{""}, wantStatus: 200, wantBody: string(blob)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			origin := &blobOrigin{blob: blob, answer: tt.answer}
			rs := &resume{digest: d, from: from, size: int64(len(blob)), kept: bytes.NewReader(blob[:from])}
			path := tt.path
			if path == "" {
				path = "/v2/library/python/blobs/" + d.String()
			}
			req, _ := http.NewRequestWithContext(withResume(context.Background(), rs), http.MethodGet, "http://registry.test"+path, nil)
			if tt.rangeSent != "" {
				req.Header.Set("Range", tt.rangeSent)
			}
			var resp *http.Response
			var err error
			if rs.applies(req) {
				resp, err = rs.roundTrip(origin, req)
			} else {
				resp, err = origin.RoundTrip(req)
			}
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantStatus || string(body) != tt.wantBody {
				t.Errorf("answer %d %q, want %d %q", resp.StatusCode, body, tt.wantStatus, tt.wantBody)
			}
			if resp.StatusCode == 200 && (resp.ContentLength != int64(len(blob)) || resp.Header.Get("Content-Length") != strconv.Itoa(len(blob)) || resp.Header.Get("Content-Range") != "") {
				t.Errorf("a 200 with Content-Length %d (header %q) and Content-Range %q, want the whole blob's and none",
					resp.ContentLength, resp.Header.Get("Content-Length"), resp.Header.Get("Content-Range"))
			}
			if strings.Join(origin.ranges, "|") != strings.Join(tt.wantRanges, "|") {
				t.Errorf("the origin got Range %q, want %q", origin.ranges, tt.wantRanges)
			}
			if rs.resumed() != tt.resumed {
				t.Errorf("resumed() = %v, want %v", rs.resumed(), tt.resumed)
			}
		})
	}
}

// TestResumeLost: once regclient was handed kept bytes, a GET it sends again from byte 0
// that is not answered from the kept bytes fails instead of mixing two bodies.
func TestResumeLost(t *testing.T) {
	blob := []byte("0123456789abcdefghij")
	d := digest.FromBytes(blob)
	honour := true
	origin := &blobOrigin{blob: blob, answer: func(rng string) (int, string, []byte) {
		if honour && rng == "bytes=8-" {
			return 206, fmt.Sprintf("bytes 8-%d/%d", len(blob)-1, len(blob)), blob[8:]
		}
		return 200, "", blob
	}}
	rs := &resume{digest: d, from: 8, size: int64(len(blob)), kept: bytes.NewReader(blob[:8])}
	req, _ := http.NewRequestWithContext(withResume(context.Background(), rs), http.MethodGet, "http://registry.test/v2/x/blobs/"+d.String(), nil)
	if _, err := rs.roundTrip(origin, req); err != nil || !rs.resumed() {
		t.Fatalf("first answer: %v, resumed %v", err, rs.resumed())
	}
	honour = false
	_, err := rs.roundTrip(origin, req)
	if !errors.Is(err, errResumeLost) || !errors.Is(err, errs.ErrNotRetryable) || !retryable(err) {
		t.Errorf("error %v: want errResumeLost, not retried by regclient, retried by withRetry", err)
	}
}

// TestResumeKeptCutShort: kept bytes that end early fail the read instead of letting the
// network's bytes take their place.
func TestResumeKeptCutShort(t *testing.T) {
	blob := []byte("0123456789abcdefghij")
	d := digest.FromBytes(blob)
	rs := &resume{digest: d, from: 8, size: int64(len(blob)), kept: bytes.NewReader(blob[:5])}
	req, _ := http.NewRequestWithContext(withResume(context.Background(), rs), http.MethodGet, "http://registry.test/v2/x/blobs/"+d.String(), nil)
	resp, err := rs.roundTrip(&blobOrigin{blob: blob}, req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(resp.Body); err == nil || errors.Is(err, io.EOF) {
		t.Errorf("reading kept bytes cut short gave %v, want an error", err)
	}
}

// TestResumeFollowsRedirect: a registry that redirects blob GETs (to a CDN) gets the
// range asked of the redirected GET too, whose path is the CDN's.
func TestResumeFollowsRedirect(t *testing.T) {
	d := digest.FromString("blob")
	rs := &resume{digest: d, from: 1, size: 4}
	blobGet, _ := http.NewRequest(http.MethodGet, "https://registry.test/v2/x/blobs/"+d.String(), nil)
	cdn, _ := http.NewRequest(http.MethodGet, "https://cdn.test/data?sig=abc", nil)
	if rs.applies(cdn) {
		t.Error("a GET of another URL was taken for the blob's")
	}
	cdn.Response = &http.Response{StatusCode: http.StatusTemporaryRedirect, Request: blobGet}
	if !rs.applies(cdn) {
		t.Error("the blob GET's redirect is not resumed")
	}
}

// TestTransportTrustsCertsDir: a registry whose CA is in certs.d/<host:port> is reached
// over TLS; one without is refused, as docker does. Each host has its own roots.
func TestTransportTrustsCertsDir(t *testing.T) {
	ok := func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }
	trusted := httptest.NewTLSServer(http.HandlerFunc(ok))
	defer trusted.Close()
	other := httptest.NewUnstartedServer(http.HandlerFunc(ok))
	other.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake
	other.StartTLS()
	defer other.Close()
	certDir := t.TempDir()
	host := strings.TrimPrefix(trusted.URL, "https://")
	if err := os.MkdirAll(filepath.Join(certDir, host), 0o755); err != nil {
		t.Fatal(err)
	}
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: trusted.Certificate().Raw})
	if err := os.WriteFile(filepath.Join(certDir, host, "ca.crt"), ca, 0o644); err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Transport: newTransport(certDir, 0)}
	for _, tt := range []struct {
		url  string
		want bool
	}{{trusted.URL, true}, {other.URL, false}, {trusted.URL, true}} {
		resp, err := c.Get(tt.url + "/v2/")
		if err == nil {
			resp.Body.Close()
		}
		if (err == nil) != tt.want {
			t.Errorf("GET %s: %v, want success %v", tt.url, err, tt.want)
		}
	}
}
