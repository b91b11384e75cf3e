// Package build is pycontainer's build pipeline: it reads the options and the Python
// project, selects the app's files, resolves the base image for every requested
// platform, writes reproducible layers and assembles the OCI layout. It reports
// everything through one event stream and knows nothing of how that is displayed.
//
// The pipeline reads top-down, one file a stage: prepare.go (options, files, base
// index, platform match: a plan), fetch.go (bases, wheels, base layers), assemble.go
// (layers, configs, manifests, the layout's commit) and publish.go (the push).
package build

import (
	"context"
	"errors"
	"time"

	"github.com/regclient/regclient/types/ref"

	"github.com/pycontainer/pycontainer/oci"
)

// Run builds the image described by o, reporting progress to sink. When ctx stops it,
// the error it returns is also ErrInterrupted.
func Run(ctx context.Context, o *Options, sink Sink) error {
	w := world{
		connect:   func(r ref.Ref, cache *oci.Store) blobSource { return o.buildClient(r, cache) },
		clock:     o.Process.Clock,
		compilers: compilers(o),
	}
	return Interrupted(ctx, explainDiskFull(run(ctx, o, sink, w), o))
}

// world is what a build reaches beyond its options and the project's files: the
// registry the base image comes from, and the clock. Run passes the real ones; a test
// can pass a base image held in memory and a fixed time.
type world struct {
	// connect is the source of the base image r, caching in cache (nil: no cache).
	connect func(r ref.Ref, cache *oci.Store) blobSource
	clock   func() time.Time
	// compilers are where --allow-sdist compiles sdists, asked in order: the first whose
	// How has no error for a platform compiles for it.
	compilers []compiler
}

// run is the pipeline, in the order of the data flow.
func run(ctx context.Context, o *Options, sink Sink, w world) error {
	if sink == nil {
		sink = func(Event) {}
	}
	p, err := prepare(ctx, o, sink, w)
	if err != nil {
		return err
	}
	done, err := fetch(ctx, p, sink)
	defer done()
	if err != nil {
		return err
	}
	sink(p.ready())
	if o.DryRun {
		return nil
	}

	layout, err := oci.OpenLayout(o.Output)
	if err != nil {
		return err
	}
	defer layout.Close() // held through the push, which reads the layout's blobs
	img, err := assemble(ctx, p, layout, sink)
	if err != nil {
		return err
	}
	if o.Push {
		if err := publish(ctx, p, img.manifests, sink); err != nil {
			return err
		}
	}
	sink(p.finished(img, w.clock()))
	return nil
}

// ErrInterrupted is in the chain of every error of a build its context stopped (^C,
// SIGTERM, the terminal closing): the previous image in the output directory is
// unchanged, unless a *PushError says the new one was written.
var ErrInterrupted = errors.New("interrupted; the previous image in the output directory is unchanged")

// InterruptedError is an error of work that its context stopped. Its text is the
// cause's, so what a renderer shows of it does not change; errors.Is finds both the
// cause (context.Canceled) and ErrInterrupted.
type InterruptedError struct{ Err error }

func (e *InterruptedError) Error() string   { return e.Err.Error() }
func (e *InterruptedError) Unwrap() []error { return []error{e.Err, ErrInterrupted} }

// Interrupted marks err as an interruption when ctx has ended: whatever a stopped build
// returns (a cancelled download, a failed write), the cause was the stop. Other errors,
// and nil, pass unchanged.
func Interrupted(ctx context.Context, err error) error {
	if err == nil || ctx.Err() == nil || errors.Is(err, ErrInterrupted) {
		return err
	}
	return &InterruptedError{Err: err}
}

// finished is the event of a build that is done: what it wrote, and how long it took.
func (p *plan) finished(img assembled, now time.Time) Finished {
	fin := Finished{Output: p.o.shown(p.o.Output), Tag: p.tag.full, Duration: now.Sub(p.start)}
	for _, d := range img.manifests {
		fin.Manifests = append(fin.Manifests, d.Digest.String())
		if d.Digest == img.load.Manifest {
			fin.DockerLoad = oci.PlatformString(*d.Platform)
		}
	}
	if len(img.manifests) > 1 {
		fin.Index = img.index.Manifests[0].Digest.String()
	}
	return fin
}
