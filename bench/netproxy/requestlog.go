package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
)

// requestLog writes one tab-separated line per request, "METHOD PATH?QUERY STATUS BYTES",
// and "CONN - - -" per new connection.
type requestLog struct {
	mu sync.Mutex
	f  *os.File
}

func openRequestLog(path string) (*requestLog, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("request log: %w", err)
	}
	return &requestLog{f: f}, nil
}

func (l *requestLog) Close() error { return l.f.Close() }

func (l *requestLog) line(method, path string, status int, bytes int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	// A lost log line only skews a count; the proxy keeps serving.
	_, _ = fmt.Fprintf(l.f, "%s\t%s\t%d\t%d\n", method, path, status, bytes)
}

func (l *requestLog) connState(_ net.Conn, s http.ConnState) {
	if s == http.StateNew {
		l.mu.Lock()
		defer l.mu.Unlock()
		_, _ = fmt.Fprintf(l.f, "CONN\t-\t-\t-\n")
	}
}

func (l *requestLog) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(rec, r)
		l.line(r.Method, r.URL.RequestURI(), rec.status, rec.bytes)
	})
}

// statusRecorder remembers the status and counts the body bytes on their way out.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(p []byte) (int, error) {
	n, err := r.ResponseWriter.Write(p)
	r.bytes += int64(n)
	return n, err
}

func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
