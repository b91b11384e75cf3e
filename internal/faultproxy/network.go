package faultproxy

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// Network makes a loopback handler behave as if it stood across a network: every
// request waits Latency (one round trip) before it is answered, and every response
// body is paced at BytesPerSec. On HTTP/1.1 a connection carries one response at a
// time, so the rate is per connection too, as on a real link where each TCP stream
// gets its share. Zero values turn either effect off.
type Network struct {
	Latency     time.Duration
	BytesPerSec int64
}

// Wrap returns h behind the network.
func (n Network) Wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := sleepCtx(r.Context(), n.Latency); err != nil {
			return // the client gave up during the round trip
		}
		if n.BytesPerSec <= 0 {
			h.ServeHTTP(w, r)
			return
		}
		pw := &pacedWriter{ResponseWriter: w, ctx: r.Context(), rate: n.BytesPerSec}
		h.ServeHTTP(pw, r)
	})
}

// Listener returns l whose connections each wait Latency before their first read:
// the TCP handshake's round trip, which loopback otherwise makes free. A client that
// opens a connection per request pays it every time, as it would on a real network.
func (n Network) Listener(l net.Listener) net.Listener {
	if n.Latency <= 0 {
		return l
	}
	return &slowListener{Listener: l, delay: n.Latency}
}

type slowListener struct {
	net.Listener
	delay time.Duration
}

func (l *slowListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &handshakeConn{Conn: c, due: time.Now().Add(l.delay)}, nil
}

// handshakeConn holds its first read until due; later reads are untouched.
type handshakeConn struct {
	net.Conn
	once sync.Once
	due  time.Time
}

func (c *handshakeConn) Read(p []byte) (int, error) {
	c.once.Do(func() { time.Sleep(time.Until(c.due)) })
	return c.Conn.Read(p)
}

// pacedWriter is a token bucket on a response body: byte k of the body leaves no
// earlier than k/rate after the first. Each wait is computed from the time elapsed
// since the body began, not summed from sleeps, so timer overshoot on one chunk is
// paid back on the next and the average rate stays exact even at 50 MB/s.
type pacedWriter struct {
	http.ResponseWriter
	ctx   context.Context
	rate  int64
	start time.Time
	sent  int64
}

// chunk is how many bytes leave between waits: about 2 ms of the rate, so the body
// flows smoothly, within bounds that keep syscalls and timers cheap.
func (w *pacedWriter) chunk() int {
	c := w.rate / 500
	return int(min(max(c, 1<<10), 64<<10))
}

func (w *pacedWriter) Write(p []byte) (int, error) {
	if w.start.IsZero() {
		w.start = time.Now()
	}
	written := 0
	for len(p) > 0 {
		n := min(len(p), w.chunk())
		due := w.start.Add(time.Duration(float64(w.sent+int64(n)) / float64(w.rate) * float64(time.Second)))
		if err := sleepCtx(w.ctx, time.Until(due)); err != nil {
			return written, fmt.Errorf("paced body: %w", err)
		}
		m, err := w.ResponseWriter.Write(p[:n])
		written += m
		w.sent += int64(m)
		if err != nil {
			return written, err
		}
		// Flush each chunk so the client sees the bytes when the link would deliver
		// them, not when the server's buffer fills.
		w.Flush()
		p = p[n:]
	}
	return written, nil
}

// Flush passes through, so a handler that flushes (httputil.ReverseProxy) still can.
func (w *pacedWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *pacedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// sleepCtx waits d, or less if ctx ends first, then returns ctx's error.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
