package faultproxy

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestNetworkLatency: a request is answered no sooner than one round trip.
func TestNetworkLatency(t *testing.T) {
	const lat = 80 * time.Millisecond
	srv := httptest.NewServer(Network{Latency: lat}.Wrap(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "ok")
	})))
	defer srv.Close()
	for range 2 { // the second rides a reused connection and still pays the round trip
		start := time.Now()
		resp, err := http.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if took := time.Since(start); took < lat {
			t.Errorf("request took %v, want ≥ %v", took, lat)
		}
	}
}

// TestNetworkListenerHandshake: a new connection costs one more round trip, a reused
// one does not.
func TestNetworkListenerHandshake(t *testing.T) {
	const lat = 150 * time.Millisecond
	n := Network{Latency: lat}
	srv := httptest.NewUnstartedServer(n.Wrap(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {})))
	srv.Listener = n.Listener(srv.Listener)
	srv.Start()
	defer srv.Close()
	get := func() time.Duration {
		start := time.Now()
		resp, err := srv.Client().Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return time.Since(start)
	}
	if first := get(); first < 2*lat {
		t.Errorf("first request on a new connection took %v, want ≥ %v", first, 2*lat)
	}
	if second := get(); second >= 2*lat {
		t.Errorf("request on a reused connection took %v, want < %v", second, 2*lat)
	}
}

// TestNetworkPacesBody: 5 MB at 10 MB/s arrives in about half a second. The range is
// wide on purpose: this checks that pacing works, it is not a benchmark.
func TestNetworkPacesBody(t *testing.T) {
	const size = 5_000_000
	body := make([]byte, size)
	srv := httptest.NewServer(Network{BytesPerSec: 10_000_000}.Wrap(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write(body)
	})))
	defer srv.Close()
	start := time.Now()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil || n != size {
		t.Fatalf("read %d bytes, %v; want %d", n, err, size)
	}
	if took := time.Since(start); took < 450*time.Millisecond || took > 2*time.Second {
		t.Errorf("5 MB at 10 MB/s took %v, want 0.45–2 s", took)
	}
}

// TestNetworkCancelStopsBody: when the client goes away mid-body, the paced writer
// fails the handler's next write at once instead of pacing out the rest.
func TestNetworkCancelStopsBody(t *testing.T) {
	done := make(chan error, 1)
	srv := httptest.NewServer(Network{BytesPerSec: 1_000_000}.Wrap(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, err := w.Write(make([]byte, 50_000_000)) // 50 s at this rate
		done <- err
	})))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(resp.Body, make([]byte, 10_000)); err != nil {
		t.Fatal(err)
	}
	cancel()
	resp.Body.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Error("the handler's write succeeded after the client left")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the paced body went on for 2 s after the client left")
	}
}

// TestNetworkListenerOff: without latency the listener is returned as is.
func TestNetworkListenerOff(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if got := (Network{}).Listener(l); got != l {
		t.Error("a zero Network wrapped the listener")
	}
}
