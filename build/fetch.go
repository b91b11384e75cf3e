package build

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
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
// temporary directory that done removes once the build has read them. Each base layer's
// download starts as soon as its platform's manifest names it (p.layers), while the
// rest of the build goes on.
func fetch(ctx context.Context, p *plan, sink Sink) (done func(), err error) {
	p.layers = newLayerFetcher(ctx, p.source, p.baseRef, p.early(), sink)
	done = p.layers.stop
	if err := fetchBases(ctx, p.source, p.baseRef, p.index, p.targets, p.layers); err != nil {
		return done, err
	}
	if !p.o.IncludeDeps {
		return done, nil
	}
	tmp, removeTmp, err := tempDir("pycontainer-wheels-")
	done = func() { p.layers.stop(); removeTmp() }
	if err != nil {
		return done, err
	}
	if p.o.Deps.AllowSdist {
		p.sdists = &sdists{o: p.o, sink: sink, baseRef: p.baseRef, source: p.source, connect: p.world.connect,
			cache: p.cache, compilers: p.world.compilers, tmp: tmp}
	}
	var source string
	if p.wheels, source, err = resolveDeps(ctx, p.o, p.sdists, p.targets, p.baseRef.Tag, tmp); err != nil {
		return done, err
	}
	if source == "" {
		sink(Warning{Message: "--include-deps: the project declares no dependencies (no requirements.txt, no [project.dependencies]); nothing to install"})
	}
	return done, nil
}

// early is where base layers may be downloaded before the layout is open: the shared
// cache, the layout linking them from it later. A dry run downloads none, and without
// a cache they wait for the layout.
func (p *plan) early() layerStore {
	if p.o.DryRun || p.cache == nil {
		return nil
	}
	return cacheStore{cache: p.cache, layout: p.o.Output}
}

// tempDir makes a directory for the build's downloads and the function that removes it.
func tempDir(pattern string) (string, func(), error) {
	dir, err := os.MkdirTemp("", pattern)
	if err != nil {
		return "", func() {}, err
	}
	return dir, func() { os.RemoveAll(dir) }, nil
}

// fetchBases reads every target's base manifest and config up front (dependency
// resolution needs each platform's Python version before anything is built), and starts
// each layer's download as soon as its manifest is read.
func fetchBases(ctx context.Context, source blobSource, baseRef ref.Ref, index *registry.Index, targets []target, layers *layerFetcher) error {
	g, gctx := errgroup.WithContext(ctx)
	for i := range targets {
		t := &targets[i]
		g.Go(func() error {
			base, err := source.ImageManifest(gctx, baseRef, t.entry.Descriptor)
			if err != nil {
				return fmt.Errorf("%s: %w", t.req, err)
			}
			layers.start(base.Manifest.Layers)
			if err := source.ImageConfig(gctx, baseRef, base); err != nil {
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

// layerFetcher brings base layers into the layout: each blob once however many
// platforms share it, at most blobConcurrency downloads at a time across all platforms.
// A download starts as soon as a manifest names the layer (start), into the early
// store, or when assembly asks for it (fetchLayer). Its events are those of the first
// platform that asks for it in assembly, sent in the order a download started then
// would send them: what happened before is told when that platform asks.
type layerFetcher struct {
	source blobSource
	from   ref.Ref    // the base image, whose repository holds the blobs
	early  layerStore // where downloads started before assembly go; nil: none start early
	sink   Sink
	sem    chan struct{}

	ctx    context.Context // of the early downloads; stop ends it
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	fetched map[digest.Digest]*blobFetch
}

func newLayerFetcher(ctx context.Context, source blobSource, from ref.Ref, early layerStore, sink Sink) *layerFetcher {
	ctx, cancel := context.WithCancel(ctx)
	return &layerFetcher{source: source, from: from, early: early, sink: sink, ctx: ctx, cancel: cancel,
		sem: make(chan struct{}, blobConcurrency), fetched: map[digest.Digest]*blobFetch{}}
}

// stop ends the early downloads still going, which only a build that failed before
// assembly leaves (assembly waits for each), and waits until they have.
func (f *layerFetcher) stop() {
	f.cancel()
	f.wg.Wait()
}

// start downloads layers into the early store, each in the background, unless a
// download of it has started already. They take their download slots largest first:
// the largest layer bounds the build's time, so it must not wait behind small ones
// for a slot (on a link of 30 ms per request, it waited a round trip or two).
func (f *layerFetcher) start(layers []descriptor.Descriptor) {
	if f == nil || f.early == nil {
		return
	}
	type pending struct {
		bf *blobFetch
		l  descriptor.Descriptor
	}
	var fresh []pending
	for _, l := range layers {
		if bf, isNew := f.blob(l.Digest, true); isNew {
			fresh = append(fresh, pending{bf, l})
		}
	}
	slices.SortStableFunc(fresh, func(a, b pending) int { return cmp.Compare(b.l.Size, a.l.Size) })
	f.wg.Add(len(fresh))
	go func() {
		for _, p := range fresh {
			// A slot is taken here, in order, and handed to the download.
			slot, err := f.slot(f.ctx, p.l, f.early)
			if !slot || err != nil {
				p.bf.earlyErr = err
				close(p.bf.early)
				f.wg.Done()
				continue
			}
			go func() {
				defer f.wg.Done()
				defer close(p.bf.early)
				defer func() { <-f.sem }()
				p.bf.earlyErr = f.download(f.ctx, p.bf, p.l, f.early)
			}()
		}
	}()
}

// blob is the shared fetch of digest d, and whether this call made it, with an early
// download to come when early is set.
func (f *layerFetcher) blob(d digest.Digest, early bool) (*blobFetch, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if bf, ok := f.fetched[d]; ok {
		return bf, false
	}
	bf := &blobFetch{placed: make(chan struct{})}
	if early {
		bf.early = make(chan struct{})
	}
	f.fetched[d] = bf
	return bf, true
}

// fetchAll brings the base layers of platform plat into store, concurrently; they are
// the first of count layers of its image.
func (f *layerFetcher) fetchAll(ctx context.Context, store layerStore, plat string, layers []descriptor.Descriptor, count int) error {
	g, gctx := errgroup.WithContext(ctx)
	for i, l := range layers {
		g.Go(func() error { return f.fetchLayer(gctx, store, plat, l, i+1, count) })
	}
	return g.Wait()
}

// fetchLayer makes sure a base layer is in store, the layout: the first platform to ask
// places it there, after the early download if one started, and reports it; the others
// wait for it and say whose it was.
func (f *layerFetcher) fetchLayer(ctx context.Context, store layerStore, plat string, l descriptor.Descriptor, index, count int) error {
	bf, _ := f.blob(l.Digest, false)
	done := LayerDone{Platform: plat, Digest: l.Digest.String(), Kind: LayerBase, Index: index, Count: count, Size: l.Size}
	if owner, mine := bf.claim(f.sink, done); !mine {
		select {
		case <-bf.placed:
		case <-ctx.Done():
			return ctx.Err()
		}
		if bf.err != nil {
			return bf.err
		}
		done.Cached, done.SharedWith = !bf.downloaded.Load(), owner
		f.sink(done)
		return nil
	}
	defer close(bf.placed)
	if bf.early != nil {
		select {
		case <-bf.early:
		case <-ctx.Done():
			bf.err = ctx.Err()
			return bf.err
		}
		if bf.err = bf.earlyErr; bf.err != nil {
			return bf.err
		}
	}
	if bf.err = f.obtain(ctx, bf, l, store); bf.err != nil {
		return bf.err
	}
	done.Cached = !bf.downloaded.Load()
	f.sink(done)
	return nil
}

// obtain makes sure layer l is in store, downloading it there unless store finds it
// already (the layout, or the cache it links it from), once a download slot is free.
func (f *layerFetcher) obtain(ctx context.Context, bf *blobFetch, l descriptor.Descriptor, store layerStore) error {
	if slot, err := f.slot(ctx, l, store); !slot || err != nil {
		return err
	}
	defer func() { <-f.sem }()
	return f.download(ctx, bf, l, store)
}

// slot takes a download slot for l unless store has it already: true when the caller
// holds one and must give it back (<-f.sem).
func (f *layerFetcher) slot(ctx context.Context, l descriptor.Descriptor, store layerStore) (bool, error) {
	if ok, err := store.Cached(l); ok {
		return false, err
	}
	select {
	case f.sem <- struct{}{}:
		return true, nil
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// download fetches l into store; the caller holds a slot.
func (f *layerFetcher) download(ctx context.Context, bf *blobFetch, l descriptor.Descriptor, store layerStore) error {
	bf.started()
	err := f.source.FetchBlob(ctx, f.from, l, store.Receiver(l), registry.BlobProgress{Read: bf.onRead, Resumed: bf.resumed})
	if err != nil {
		return err
	}
	bf.downloaded.Store(true)
	return store.Received(l)
}

// blobFetch is one blob's fetch, shared by every platform that needs it.
type blobFetch struct {
	early      chan struct{} // closed when the early download ended; nil: none started
	earlyErr   error
	placed     chan struct{} // closed when the owner's fetchLayer ended, with err
	err        error
	downloaded atomic.Bool // the bytes came from the registry in this build

	// The events: held until a platform claims the blob, then sent as its own.
	mu       sync.Mutex
	owner    *LayerDone // the claiming platform's layer; nil until claimed
	sink     Sink
	progress *progressThrottle
	begun    bool
	read     int64
	resume   *LayerResumed
}

// claim makes the caller the blob's owner unless a platform is already: it returns the
// owner's platform and whether the caller is it. A new owner is told at once what
// happened so far.
func (bf *blobFetch) claim(sink Sink, l LayerDone) (string, bool) {
	bf.mu.Lock()
	defer bf.mu.Unlock()
	if bf.owner != nil {
		return bf.owner.Platform, false
	}
	bf.owner, bf.sink = &l, sink
	bf.progress = newProgressThrottle(progressInterval, func(n int64) {
		sink(LayerProgressed{Platform: l.Platform, Digest: l.Digest, Done: n, Total: l.Size})
	})
	if bf.begun {
		bf.tellStarted()
	}
	if bf.resume != nil {
		bf.tellResumed()
	}
	if bf.read != 0 {
		bf.progress.add(bf.read)
	}
	return l.Platform, true
}

// started is told that the download begins.
func (bf *blobFetch) started() {
	bf.mu.Lock()
	defer bf.mu.Unlock()
	bf.begun = true
	if bf.owner != nil {
		bf.tellStarted()
	}
}

// onRead is told of n bytes that arrived (a negative n: an attempt starts over).
func (bf *blobFetch) onRead(n int64) {
	bf.mu.Lock()
	bf.read += n
	p := bf.progress
	bf.mu.Unlock()
	if p != nil {
		p.add(n)
	}
}

// resumed is told that an attempt continues after kept bytes, or starts over.
func (bf *blobFetch) resumed(from int64, startsOver bool) {
	bf.mu.Lock()
	defer bf.mu.Unlock()
	bf.resume = &LayerResumed{From: from, StartsOver: startsOver}
	if bf.owner != nil {
		bf.tellResumed()
	}
}

// tellStarted and tellResumed send the owner's events; bf.mu is held, which keeps them
// before the progress that follows them.
func (bf *blobFetch) tellStarted() {
	o := bf.owner
	bf.sink(LayerStarted{Platform: o.Platform, Digest: o.Digest, Kind: LayerBase, Index: o.Index, Count: o.Count, Size: o.Size})
}

func (bf *blobFetch) tellResumed() {
	r := *bf.resume
	r.Platform, r.Digest, r.Total = bf.owner.Platform, bf.owner.Digest, bf.owner.Size
	bf.sink(r)
}

// cacheStore is the shared cache as the place base layers are downloaded to before the
// layout is open; layoutStore links them into the layout from there.
type cacheStore struct {
	cache  *oci.Store
	layout string // the output directory
}

func (s cacheStore) Cached(d descriptor.Descriptor) (bool, error) {
	// The layout keeps what an earlier build into it fetched (which the cache may have
	// dropped since): a blob of the right size there needs no download now, and
	// layoutStore checks it when it takes it, looking there first as here.
	if fi, err := os.Stat(oci.BlobPath(s.layout, d.Digest)); err == nil && fi.Mode().IsRegular() && fi.Size() == d.Size {
		return true, nil
	}
	return s.cache.Has(d), nil
}

func (s cacheStore) Receiver(d descriptor.Descriptor) registry.BlobSink { return s.cache.Partial(d) }

func (s cacheStore) Received(descriptor.Descriptor) error { return nil }
