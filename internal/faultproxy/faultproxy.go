// Package faultproxy wraps a registry's HTTP handler and injects faults into matching
// requests: connection resets mid-body, 5xx and 429 answers, truncated or corrupted
// bodies, stalls before or in the middle of a body, and manifests of the wrong media
// type. Tests use it to prove that a build survives transient faults and fails clearly
// on persistent ones.
package faultproxy

import (
	"bytes"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Fault is one kind of misbehaviour.
type Fault string

const (
	Reset          Fault = "connection reset mid-body"
	Status500      Fault = "500 Internal Server Error"
	Status502      Fault = "502 Bad Gateway"
	Status503      Fault = "503 Service Unavailable"
	TooMany        Fault = "429 Too Many Requests with Retry-After"
	Truncate       Fault = "truncated body"
	FlipBytes      Fault = "flipped bytes"
	Stall          Fault = "stall before the body"
	StallMidBody   Fault = "stall mid-body"
	WrongMediaType Fault = "manifest of the wrong media type"
)

// Rule applies a fault to requests whose path contains Path (and whose method is
// Method, when set), Times times; a negative Times applies it forever.
type Rule struct {
	Method string
	Path   string
	Fault  Fault
	Times  int
	// StallFor is how long Stall and StallMidBody wait.
	StallFor time.Duration
}

// Proxy injects faults by rules.
type Proxy struct {
	mu    sync.Mutex
	rules []*Rule
	hits  int
}

// Set replaces the rules.
func (p *Proxy) Set(rules ...Rule) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = nil
	for i := range rules {
		r := rules[i]
		p.rules = append(p.rules, &r)
	}
	p.hits = 0
}

// Hits is how many requests got a fault since the last Set.
func (p *Proxy) Hits() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.hits
}

func (p *Proxy) match(r *http.Request) *Rule {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, rule := range p.rules {
		if rule.Times == 0 || !strings.Contains(r.URL.Path, rule.Path) || (rule.Method != "" && rule.Method != r.Method) {
			continue
		}
		if rule.Times > 0 {
			rule.Times--
		}
		p.hits++
		out := *rule
		return &out
	}
	return nil
}

// Wrap returns h with the faults applied.
func (p *Proxy) Wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rule := p.match(r)
		if rule == nil {
			h.ServeHTTP(w, r)
			return
		}
		switch rule.Fault {
		case Status500, Status502, Status503:
			code, _ := strconv.Atoi(string(rule.Fault)[:3])
			http.Error(w, string(rule.Fault), code)
			return
		case TooMany:
			w.Header().Set("Retry-After", "1")
			http.Error(w, "slow down", http.StatusTooManyRequests)
			return
		case Stall:
			select {
			case <-time.After(rule.StallFor):
			case <-r.Context().Done():
				return
			}
			h.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		switch rule.Fault {
		case WrongMediaType:
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.WriteHeader(rec.Code)
			_, _ = w.Write(body)
		case FlipBytes:
			if len(body) > 0 {
				body = bytes.Clone(body)
				body[len(body)/2] ^= 0xff
			}
			w.WriteHeader(rec.Code)
			_, _ = w.Write(body)
		case StallMidBody:
			// Send half, go quiet for StallFor (a CDN edge that stops mid-transfer), then
			// the rest, unless the client has given up by then.
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.WriteHeader(rec.Code)
			_, _ = w.Write(body[:len(body)/2])
			if f, ok := w.(http.Flusher); ok {
				f.Flush()
			}
			select {
			case <-time.After(rule.StallFor):
				_, _ = w.Write(body[len(body)/2:])
			case <-r.Context().Done():
			}
		case Truncate, Reset:
			// Announce the whole body, send half, then end the connection: a clean close
			// (the body is cut short) or, for Reset, an RST (connection reset by peer).
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.WriteHeader(rec.Code)
			_, _ = w.Write(body[:len(body)/2])
			if f, ok := w.(http.Flusher); ok {
				f.Flush()
			}
			if hj, ok := w.(http.Hijacker); ok {
				if conn, _, err := hj.Hijack(); err == nil {
					if tcp, ok := conn.(*net.TCPConn); ok && rule.Fault == Reset {
						_ = tcp.SetLinger(0) // close sends RST instead of FIN
					}
					conn.Close()
				}
			}
		}
	})
}
