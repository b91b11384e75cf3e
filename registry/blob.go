package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
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

// ResumableSink is a BlobSink that keeps what a failed attempt wrote, so the next
// attempt, of this FetchBlob or of a later one, asks the registry only for the rest.
// oci.Partial is one, in the shared cache.
type ResumableSink interface {
	BlobSink
	// Resume starts an attempt after the bytes earlier attempts kept: it returns how
	// many there are (0: the writer starts the blob), a reader of them, and the writer
	// for the bytes that follow them.
	Resume() (kept int64, keptBytes io.ReaderAt, w io.Writer, err error)
	// Keep ends a failed attempt, keeping its bytes for the next Resume.
	Keep()
}

var _ ResumableSink = (*oci.Partial)(nil)

// BlobProgress is told how a blob transfer goes; either func may be nil.
type BlobProgress struct {
	// Read is told of the bytes of the blob that arrived, as counts to add up to where
	// the transfer stands: every chunk, the kept bytes a transfer resumes from (once),
	// and a negative count when an attempt starts again from an earlier byte.
	Read func(n int64)
	// Resumed is told when an attempt continues after the bytes an earlier one kept
	// (from > 0), or starts over from byte 0 although bytes were kept (startsOver): the
	// registry ignored the range asked for.
	Resumed func(from int64, startsOver bool)
}

// FetchBlob copies blob d of repository r into sink, retrying with backoff on the faults
// regclient itself does not retry (a 5xx status, a body that fails its digest, a stall).
// With a ResumableSink, an attempt after a failed one asks only for the bytes the sink
// does not hold yet (`Range: bytes=N-`), and so does a later FetchBlob with a sink on the
// same cache; the digest is still checked over the whole blob, and a failed check
// discards the kept bytes too.
func (c *Client) FetchBlob(ctx context.Context, r ref.Ref, d descriptor.Descriptor, sink BlobSink, progress BlobProgress) error {
	t := &blobTransfer{c: c, r: r, d: d, sink: sink, progress: progress}
	err := c.withRetry(ctx, func() error {
		err := t.attempt(ctx)
		if err != nil {
			if rs, ok := sink.(ResumableSink); ok && keepable(err) {
				rs.Keep()
			} else {
				sink.Abort()
				t.read(-t.at)
			}
		}
		return err
	})
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errs.ErrSizeLimitExceeded):
		return oversized(r, "blob", d, err)
	}
	return c.describe(r, fmt.Errorf("fetch blob %s: %w", d.Digest, err))
}

// oversized says that the registry sent more bytes than blob d's descriptor announces
// (describeError's size message is a manifest's).
func oversized(r ref.Ref, what string, d descriptor.Descriptor, err error) error {
	return fmt.Errorf("%s: the registry sent more than the %d bytes the manifest announces for %s %s; refusing it%.0w", r.CommonName(), d.Size, what, d.Digest, err)
}

// keepable reports whether the bytes an attempt wrote before failing with err may be
// resumed from: not when the blob failed its digest or ran past its size, as any of
// them may be the damaged one.
func keepable(err error) bool {
	return !errors.Is(err, errs.ErrDigestMismatch) && !errors.Is(err, errDigest) && !errors.Is(err, errs.ErrSizeLimitExceeded)
}

// blobTransfer is one FetchBlob.
type blobTransfer struct {
	c        *Client
	r        ref.Ref
	d        descriptor.Descriptor
	sink     BlobSink
	progress BlobProgress
	at       int64 // where progress.Read has the transfer
}

func (t *blobTransfer) read(n int64) {
	t.at += n
	if t.progress.Read != nil && n != 0 {
		t.progress.Read(n)
	}
}

func (t *blobTransfer) resumed(from int64, startsOver bool) {
	if t.progress.Resumed != nil {
		t.progress.Resumed(from, startsOver)
	}
}

// attempt is one try at the blob; on failure the caller keeps or discards what the
// sink holds.
func (t *blobTransfer) attempt(ctx context.Context) error {
	var (
		w         io.Writer
		kept      int64
		keptBytes io.ReaderAt
		err       error
	)
	if rs, ok := t.sink.(ResumableSink); ok {
		kept, keptBytes, w, err = rs.Resume()
	} else {
		w, err = t.sink.Begin()
	}
	if err != nil {
		return err
	}
	actx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	life := newLifeline(t.c.stallTimeout, cancel)
	defer life.stop()
	gctx := withLifeline(withExpected(actx, t.d), life)
	var res *resume
	if kept > 0 {
		res = &resume{digest: t.d.Digest, from: kept, size: t.d.Size, kept: keptBytes}
		gctx = withResume(gctx, res)
	}
	rdr, err := t.c.rc.BlobGet(gctx, t.r, t.d)
	if err == nil {
		err = t.copy(rdr, w, kept, res, func() { life.touch(0) })
		rdr.Close()
	}
	if err == nil {
		return t.sink.Commit()
	}
	if cause := context.Cause(actx); errors.Is(cause, errStalled) {
		err = cause
	}
	return asStall(err)
}

// asStall makes a blob request that got no headers in time a stall, retried like one
// (the transport marks it not retryable, for the small requests regclient makes).
func asStall(err error) error {
	var late *NoAnswerError
	if errors.As(err, &late) {
		return fmt.Errorf("%w: %s", errStalled, late)
	}
	return err
}

// copy writes regclient's body to the sink. The body starts with the kept bytes when the
// registry honoured the range, else at byte 0 and the sink starts over. regclient's
// reader hashes the whole body and fails the read at its end if the digest does not
// match.
func (t *blobTransfer) copy(rdr io.Reader, w io.Writer, kept int64, res *resume, alive func()) error {
	var start int64
	switch {
	case res != nil && res.resumed():
		start = kept
		t.resumed(kept, false)
	case res != nil:
		var err error
		if w, err = t.sink.Begin(); err != nil {
			return err
		}
		t.resumed(0, true)
	}
	t.read(start - t.at)
	// The sink holds the kept bytes already: they are read only to be hashed.
	if _, err := io.CopyN(progressWriter(func(int64) { alive() }), rdr, start); err != nil {
		return err
	}
	// One byte more than announced is enough to know the registry sends too many: the
	// sink never holds more than that.
	rest := t.d.Size - start
	buf := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(buf)
	// writerOnly: a file's ReadFrom would copy through a 32 KiB buffer of its own, two
	// system calls per 32 KiB, where the buffer given here is 1 MiB.
	n, err := io.CopyBuffer(writerOnly{w}, io.TeeReader(io.LimitReader(rdr, rest+1), progressWriter(func(n int64) {
		t.read(n)
		alive()
	})), *buf)
	if err == nil && n > rest {
		err = fmt.Errorf("%w [expected %d, received more]", errs.ErrSizeLimitExceeded, t.d.Size)
	}
	return err
}

// copyBuffers holds the 1 MiB buffers downloads are copied through, reused rather than
// allocated (and cleared, and collected) for each.
var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 1<<20); return &b }}

// writerOnly hides a writer's ReadFrom from io.CopyBuffer.
type writerOnly struct{ io.Writer }

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
	case errors.Is(err, errResumeLost):
		return true // the next attempt asks afresh
	case errors.Is(err, errs.ErrNotFound), errors.Is(err, errs.ErrHTTPUnauthorized), errors.Is(err, errs.ErrSizeLimitExceeded):
		return false
	case errors.Is(err, errs.ErrNotRetryable):
		return false // nothing listens there, or the name does not exist
	case errors.Is(err, errs.ErrRetryLimitExceeded):
		return false // regclient asked as often as it may (a registry that keeps answering 429)
	}
	return true
}
