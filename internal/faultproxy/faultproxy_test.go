package faultproxy

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
)

// TestTruncateAndResetDiffer: both cut a body in half, but only Reset ends the
// connection with an RST, so a client sees two different failures.
func TestTruncateAndResetDiffer(t *testing.T) {
	body := strings.Repeat("x", 64<<10)
	p := &Proxy{}
	srv := httptest.NewServer(p.Wrap(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, body) })))
	defer srv.Close()
	read := func(f Fault) error {
		p.Set(Rule{Path: "/", Fault: f, Times: 1})
		resp, err := http.Get(srv.URL + "/blob")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		got, err := io.ReadAll(resp.Body)
		if err == nil && len(got) == len(body) {
			t.Fatalf("%s: the whole body arrived", f)
		}
		return err
	}
	if err := read(Truncate); err == nil || !strings.Contains(err.Error(), "unexpected EOF") {
		t.Errorf("truncate: %v, want unexpected EOF", err)
	}
	if err := read(Reset); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("reset: %v, want connection reset by peer", err)
	}
}
