package registry

import (
	"net/http"
	"testing"
	"time"
)

func TestRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		status int
		header string
		want   time.Duration
	}{
		{http.StatusTooManyRequests, "1", time.Second},
		{http.StatusTooManyRequests, "0.5", 500 * time.Millisecond},
		{http.StatusServiceUnavailable, "3", 3 * time.Second},
		{http.StatusTooManyRequests, "86400", maxRetryAfter},
		{http.StatusTooManyRequests, "Wed, 21 Oct 2026 07:28:00 GMT", 0}, // a date: regclient waits none either
		{http.StatusTooManyRequests, "-5", 0},
		{http.StatusTooManyRequests, "", 0},
		{http.StatusOK, "1", 0},
		{http.StatusInternalServerError, "1", 0},
	} {
		resp := &http.Response{StatusCode: tc.status, Header: http.Header{}}
		if tc.header != "" {
			resp.Header.Set("Retry-After", tc.header)
		}
		if got := retryAfter(resp); got != tc.want {
			t.Errorf("%d Retry-After %q: %s, want %s", tc.status, tc.header, got, tc.want)
		}
	}
	if got := retryAfter(nil); got != 0 {
		t.Errorf("no answer: %s, want 0", got)
	}
}
