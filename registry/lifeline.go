package registry

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// lifeline cuts an attempt at a blob off (its cancel, with errStalled) once it has shown
// no sign of life for a stall timeout: a registry that stops sending mid-body, or a
// regclient that keeps waiting, would hang the build. Signs of life are a body's bytes
// (touch) and the answers the transport receives. While a request is on the wire, the
// transport bounds the wait for its answer and the lifeline is paused: cutting a request
// off in flight would count, for regclient, as a failure of the registry and add to its
// backoff for every request to it, which with several downloads at once spiralled until
// they all failed. An answer asking to retry after a while (a 429's Retry-After) extends
// the next wait by that long, up to maxRetryAfter: regclient waits it out.
type lifeline struct {
	stall  time.Duration
	cancel context.CancelCauseFunc

	mu       sync.Mutex
	timer    *time.Timer
	until    time.Time // no cut before this
	inFlight int       // requests sent and not yet answered
}

// maxRetryAfter bounds how long an answer's Retry-After extends a lifeline.
const maxRetryAfter = time.Minute

func newLifeline(stall time.Duration, cancel context.CancelCauseFunc) *lifeline {
	l := &lifeline{stall: stall, cancel: cancel, until: time.Now().Add(stall)}
	l.timer = time.AfterFunc(stall, l.fire)
	return l
}

func (l *lifeline) fire() {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch wait := time.Until(l.until); {
	case l.inFlight > 0: // answered() rearms it
	case wait > 0:
		l.timer.Reset(wait) // touched since it was set
	default:
		l.cancel(fmt.Errorf("%w: no data for %s", errStalled, l.stall))
	}
}

// touch is a sign of life: no cut for another stall timeout, and extra.
func (l *lifeline) touch(extra time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.extend(extra)
}

// extend puts the cut a stall timeout and extra from now, unless it is later; l.mu is
// held.
func (l *lifeline) extend(extra time.Duration) {
	if u := time.Now().Add(l.stall + extra); u.After(l.until) {
		l.until = u
	}
}

// sending pauses the lifeline while a request is on the wire.
func (l *lifeline) sending() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.inFlight++
}

// answered ends a request's time on the wire; resp, when there is one, may ask for a
// wait before the next.
func (l *lifeline) answered(resp *http.Response) {
	extra := retryAfter(resp)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.inFlight--
	l.extend(extra)
	l.timer.Reset(time.Until(l.until))
}

// stop ends the lifeline with its attempt.
func (l *lifeline) stop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.timer.Stop()
}

// retryAfter is the wait a 429 or 503 asks for in seconds (regclient reads no date
// there either), at most maxRetryAfter; 0 for any other answer.
func retryAfter(resp *http.Response) time.Duration {
	if resp == nil || resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable {
		return 0
	}
	s, err := strconv.ParseFloat(resp.Header.Get("Retry-After"), 64)
	if err != nil || s <= 0 {
		return 0
	}
	return min(time.Duration(s*float64(time.Second)), maxRetryAfter)
}

// lifelineKey is the context key of a *lifeline.
type lifelineKey struct{}

// withLifeline makes the transport tell l of the requests made with ctx.
func withLifeline(ctx context.Context, l *lifeline) context.Context {
	return context.WithValue(ctx, lifelineKey{}, l)
}

func lifelineOf(ctx context.Context) *lifeline {
	l, _ := ctx.Value(lifelineKey{}).(*lifeline)
	return l
}
