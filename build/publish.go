package build

import (
	"context"
	"fmt"
	"strings"
	"sync"

	digest "github.com/opencontainers/go-digest"
	"github.com/regclient/regclient/types/descriptor"
	"github.com/regclient/regclient/types/ref"

	"github.com/pycontainer/pycontainer/registry"
)

// PushTarget is where --push sends the image: the --tag when it names a registry
// (ghcr.io/org/app:1, localhost:5000/app), else [registry] url with the tag of --tag,
// else the --tag as a Docker Hub name, as docker push would.
func PushTarget(o *Options) (ref.Ref, error) {
	tag, err := parseTag(o.Tag, o.Project.Name)
	if err != nil {
		return ref.Ref{}, err
	}
	if o.Tag != "" && namesRegistry(o.Tag) || o.RegistryURL == "" {
		return registry.ParseReference(tag.full)
	}
	r, err := registry.ParseReference(o.RegistryURL)
	if err != nil {
		return ref.Ref{}, fmt.Errorf("[registry] url: %w", err)
	}
	return r.SetTag(tag.tag), nil
}

// namesRegistry reports whether an image name starts with a registry host, by
// docker's rule: the first component has a dot or a port, or is localhost.
func namesRegistry(name string) bool {
	first, _, found := strings.Cut(name, "/")
	return found && (strings.ContainsAny(first, ".:") || first == "localhost")
}

// publish sends the built images from the layout to the plan's push target, mounting
// base layers from the base image's repository when both are on one registry.
func publish(ctx context.Context, p *plan, manifests []descriptor.Descriptor, sink Sink) error {
	o, target := p.o, p.push
	// The build's own client (Options.buildClient), whose token covers the push.
	client, ok := p.source.(*registry.Client)
	if !ok || !o.sharesClient(p.baseRef, target) { // a base held in memory (a test), or a login of the push's own
		client = registry.New(o.pushOptions(p.baseRef, target))
	}
	sink(PushStarted{Target: target.CommonName(), Manifests: len(manifests)})
	report := &pushReport{sink: sink, throttles: map[digest.Digest]*progressThrottle{}}
	res, err := client.Push(ctx, o.Output, manifests, target, p.baseMount(), report)
	if err != nil {
		return &PushError{Output: o.shown(o.Output), Err: fmt.Errorf("push %s: %w", target.CommonName(), err)}
	}
	sink(Pushed{Target: res.Target, Digest: res.Digest.String(), Uploaded: res.Uploaded, Skipped: res.Skipped, Mounted: res.Mounted, Bytes: res.Bytes})
	return nil
}

// baseMount is what a push may mount from the base image's repository: its layers.
func (p *plan) baseMount() *registry.Mount {
	m := &registry.Mount{From: p.baseRef, Blobs: map[digest.Digest]bool{}}
	for _, t := range p.targets {
		for _, l := range t.base.Manifest.Layers {
			m.Blobs[l.Digest] = true
		}
	}
	return m
}

// PushError is a push that failed after the layout was written: Output holds the new
// image, the registry may hold part of it.
type PushError struct {
	Output string
	Err    error
}

func (e *PushError) Error() string { return e.Err.Error() }
func (e *PushError) Unwrap() error { return e.Err }

// pushReport turns upload progress into events, coalesced like downloads.
type pushReport struct {
	sink      Sink
	mu        sync.Mutex
	throttles map[digest.Digest]*progressThrottle
}

func (p *pushReport) BlobProgress(d digest.Digest, done, total int64) {
	p.mu.Lock()
	t, ok := p.throttles[d]
	if !ok {
		t = newProgressThrottle(progressInterval, func(n int64) {
			p.sink(PushProgressed{Digest: d.String(), Done: n, Total: total})
		})
		p.throttles[d] = t
	}
	p.mu.Unlock()
	t.set(done)
}

func (p *pushReport) BlobDone(d digest.Digest, size int64, how string) {
	p.sink(BlobPushed{Digest: d.String(), Size: size, How: how})
}
