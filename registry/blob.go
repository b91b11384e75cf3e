package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"github.com/regclient/regclient/types/descriptor"
	"github.com/regclient/regclient/types/errs"
	"github.com/regclient/regclient/types/ref"

	"github.com/pycontainer/pycontainer/oci"
)

// errDigest marks bytes that did not match their digest; such a transfer is retried.
var errDigest = errors.New("digest mismatch")

// errStalled marks a transfer that stopped sending; it is retried.
var errStalled = errors.New("the registry stalled")

// defaultStallTimeout is how long a blob transfer may receive nothing.
const defaultStallTimeout = 60 * time.Second

// blobAttempts bounds how often one blob is tried before the build fails.
const blobAttempts = 5

// BlobSink receives one attempt at a blob. Begin starts a fresh attempt (discarding
// what an earlier one wrote); Commit is called only once all bytes arrived and matched
// the descriptor's digest (regclient's reader checks it when the body ends).
type BlobSink interface {
	Begin() (io.Writer, error)
	Commit() error
	Abort()
}

// FetchBlob copies blob d of repository r into sink, retrying with backoff on the faults
// regclient itself does not retry (a 5xx status, a body that fails its digest). onRead is
// told of every chunk that arrives, and of a restart by a negative count that undoes the
// bytes of a failed attempt.
func (c *Client) FetchBlob(ctx context.Context, r ref.Ref, d descriptor.Descriptor, sink BlobSink, onRead func(n int64)) error {
	err := c.withRetry(ctx, func() error {
		w, err := sink.Begin()
		if err != nil {
			return err
		}
		// A registry that stops sending mid-body would hang the build: an attempt that
		// receives nothing for stallTimeout is cut off and retried.
		actx, cancel := context.WithCancelCause(ctx)
		defer cancel(nil)
		alive := make(chan struct{}, 1)
		go func() {
			t := time.NewTimer(c.stallTimeout)
			defer t.Stop()
			for {
				select {
				case <-actx.Done():
					return
				case <-alive:
					t.Reset(c.stallTimeout)
				case <-t.C:
					cancel(fmt.Errorf("%w: no data for %s", errStalled, c.stallTimeout))
					return
				}
			}
		}()
		var got int64
		rdr, err := c.rc.BlobGet(actx, r, d)
		if err == nil {
			_, err = io.CopyBuffer(w, io.TeeReader(rdr, progressWriter(func(n int64) {
				got += n
				onRead(n)
				select {
				case alive <- struct{}{}:
				default:
				}
			})), oci.CopyBuffer(d.Size))
			// Close checks the digest of what was read.
			if cerr := rdr.Close(); err == nil {
				err = cerr
			}
		}
		if err == nil {
			err = sink.Commit()
		}
		if err != nil {
			sink.Abort()
			if got > 0 {
				onRead(-got)
			}
			if cause := context.Cause(actx); errors.Is(cause, errStalled) {
				err = cause
			}
		}
		return err
	})
	if err != nil {
		return c.describe(r, fmt.Errorf("fetch blob %s: %w", d.Digest, err))
	}
	return nil
}

type progressWriter func(n int64)

func (p progressWriter) Write(b []byte) (int, error) {
	p(int64(len(b)))
	return len(b), nil
}

// withRetry runs op until it succeeds, fails permanently or runs out of attempts.
func (c *Client) withRetry(ctx context.Context, op func() error) error {
	delay := 250 * time.Millisecond
	var err error
	for attempt := 1; ; attempt++ {
		err = op()
		if err == nil || attempt == blobAttempts || !retryable(err) {
			return err
		}
		jitter := time.Duration(rand.Int64N(int64(delay) / 2))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay + jitter):
		}
		delay = min(delay*2, 5*time.Second)
	}
}

// retryable reports whether a failed transfer may succeed when tried again.
func retryable(err error) bool {
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return false
	case errors.Is(err, errs.ErrNotFound), errors.Is(err, errs.ErrHTTPUnauthorized), errors.Is(err, errs.ErrSizeLimitExceeded):
		return false
	}
	return true
}
