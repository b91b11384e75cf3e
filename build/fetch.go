package build

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	digest "github.com/opencontainers/go-digest"
	"github.com/regclient/regclient/types/descriptor"
	"github.com/regclient/regclient/types/ref"
	"golang.org/x/sync/errgroup"

	"github.com/pycontainer/pycontainer/oci"
	"github.com/pycontainer/pycontainer/registry"
)

// blobConcurrency bounds simultaneous blob downloads across all platforms.
const blobConcurrency = 4

// progressInterval is how often a layer's progress is reported at most.
const progressInterval = 100 * time.Millisecond

// fetch completes the plan with what must be read before anything is built: every
// platform's base manifest and config, then with --include-deps its wheels, in a
// temporary directory that done removes once the build has read them.
func fetch(ctx context.Context, p *plan, sink Sink) (done func(), err error) {
	done = func() {}
	if err := fetchBases(ctx, p.source, p.baseRef, p.index, p.targets); err != nil {
		return done, err
	}
	if !p.o.IncludeDeps {
		return done, nil
	}
	tmp, done, err := tempDir("pycontainer-wheels-")
	if err != nil {
		return done, err
	}
	var source string
	if p.wheels, source, err = resolveDeps(ctx, p.o, p.targets, p.baseRef.Tag, tmp); err != nil {
		return done, err
	}
	if source == "" {
		sink(Warning{Message: "--include-deps: the project declares no dependencies (no requirements.txt, no [project.dependencies]); nothing to install"})
	}
	return done, nil
}

// tempDir makes a directory for the build's downloads and the function that removes it.
func tempDir(pattern string) (string, func(), error) {
	dir, err := os.MkdirTemp("", pattern)
	if err != nil {
		return "", func() {}, err
	}
	return dir, func() { os.RemoveAll(dir) }, nil
}

// fetchBases reads every target's base manifest and config up front: dependency
// resolution needs each platform's Python version before anything is built.
func fetchBases(ctx context.Context, source blobSource, baseRef ref.Ref, index *registry.Index, targets []target) error {
	g, gctx := errgroup.WithContext(ctx)
	for i := range targets {
		t := &targets[i]
		g.Go(func() error {
			base, err := source.Image(gctx, baseRef, t.entry.Descriptor)
			if err != nil {
				return fmt.Errorf("%s: %w", t.req, err)
			}
			if index.Single && !oci.SamePlatform(base.Config.Platform, t.req.Platform) {
				return fmt.Errorf("base image %s is a single-platform image for %s, not %s", baseRef.CommonName(), oci.PlatformString(oci.NormalizePlatform(base.Config.Platform)), t.req)
			}
			if len(base.Manifest.Layers) != len(base.Config.RootFS.DiffIDs) {
				return fmt.Errorf("base image %s for %s is inconsistent: %d layers but %d diff_ids", baseRef.CommonName(), t.req, len(base.Manifest.Layers), len(base.Config.RootFS.DiffIDs))
			}
			t.base = base
			return nil
		})
	}
	return g.Wait()
}

// layerFetcher brings base layers into the layout while the platforms are assembled:
// each blob once however many platforms share it, at most blobConcurrency at a time.
type layerFetcher struct {
	source blobSource
	from   ref.Ref // the base image, whose repository holds the blobs
	store  blobStore
	sink   Sink
	sem    chan struct{}

	mu      sync.Mutex
	fetched map[digest.Digest]*blobFetch
}

// blobFetch is one download shared by every platform that needs the blob.
type blobFetch struct {
	done     chan struct{}
	err      error
	platform string // the platform that fetched it
	cached   bool
}

func newLayerFetcher(source blobSource, from ref.Ref, store blobStore, sink Sink) *layerFetcher {
	return &layerFetcher{source: source, from: from, store: store, sink: sink,
		sem: make(chan struct{}, blobConcurrency), fetched: map[digest.Digest]*blobFetch{}}
}

// fetchAll brings the base layers of platform plat into the layout, concurrently; they
// are the first of count layers of its image.
func (f *layerFetcher) fetchAll(ctx context.Context, plat string, layers []descriptor.Descriptor, count int) error {
	g, gctx := errgroup.WithContext(ctx)
	for i, l := range layers {
		g.Go(func() error { return f.fetchLayer(gctx, plat, l, i+1, count) })
	}
	return g.Wait()
}

// fetchLayer makes sure a base layer is in the layout, downloading it once however
// many platforms share it.
func (f *layerFetcher) fetchLayer(ctx context.Context, plat string, l descriptor.Descriptor, index, count int) error {
	f.mu.Lock()
	bf, shared := f.fetched[l.Digest]
	if !shared {
		bf = &blobFetch{done: make(chan struct{}), platform: plat}
		f.fetched[l.Digest] = bf
	}
	f.mu.Unlock()

	done := LayerDone{Platform: plat, Digest: l.Digest.String(), Kind: LayerBase, Index: index, Count: count, Size: l.Size}
	if shared {
		select {
		case <-bf.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		if bf.err != nil {
			return bf.err
		}
		done.Cached, done.SharedWith = bf.cached, bf.platform
		f.sink(done)
		return nil
	}
	defer close(bf.done)
	if ok, err := f.store.Cached(l); ok {
		bf.cached, done.Cached, bf.err = true, true, err
		if err == nil {
			f.sink(done)
		}
		return err
	}
	if bf.err = f.download(ctx, plat, l, index, count); bf.err != nil {
		return bf.err
	}
	f.sink(done)
	return nil
}

// download fetches layer l from the base image's repository into the store, reporting
// its progress, once a download slot is free.
func (f *layerFetcher) download(ctx context.Context, plat string, l descriptor.Descriptor, index, count int) error {
	select {
	case f.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-f.sem }()
	f.sink(LayerStarted{Platform: plat, Digest: l.Digest.String(), Kind: LayerBase, Index: index, Count: count, Size: l.Size})
	progress := newProgressThrottle(progressInterval, func(n int64) {
		f.sink(LayerProgressed{Platform: plat, Digest: l.Digest.String(), Done: n, Total: l.Size})
	})
	err := f.source.FetchBlob(ctx, f.from, l, f.store.Receiver(l), registry.BlobProgress{
		Read: progress.add,
		Resumed: func(from int64, startsOver bool) {
			f.sink(LayerResumed{Platform: plat, Digest: l.Digest.String(), From: from, Total: l.Size, StartsOver: startsOver})
		},
	})
	if err != nil {
		return err
	}
	return f.store.Received(l)
}
