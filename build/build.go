// Package build is pycontainer's build pipeline: it reads the options and the Python
// project, selects the app's files, resolves the base image for every requested
// platform, writes reproducible layers and assembles the OCI layout. It reports
// everything through one event stream and knows nothing of how that is displayed.
package build

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	digest "github.com/opencontainers/go-digest"
	"github.com/regclient/regclient/types/descriptor"
	"github.com/regclient/regclient/types/mediatype"
	v1 "github.com/regclient/regclient/types/oci/v1"
	"github.com/regclient/regclient/types/ref"
	"golang.org/x/sync/errgroup"

	"github.com/pycontainer/pycontainer/oci"
	"github.com/pycontainer/pycontainer/registry"
)

// NoMatchError is returned when the base image has no manifest for a requested platform.
type NoMatchError struct {
	Image     string
	Requested RequestedPlatform
	Available []oci.Platform
	// Attestations counts attestation entries, which are never candidates.
	Attestations int
	// Diagnosis, when set, explains the miss and suggests what would work.
	Diagnosis *Diagnosis
}

func (e *NoMatchError) Error() string {
	return fmt.Sprintf("No matching manifest for platform %s in %s (from %s)", e.Requested, e.Image, e.Requested.Source)
}

// Detail explains the miss, for the lines after the error.
func (e *NoMatchError) Detail() string {
	if e.Diagnosis != nil {
		return e.Diagnosis.Text()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s offers:\n", e.Image)
	for _, p := range e.Available {
		fmt.Fprintf(&b, "  %s\n", oci.PlatformString(p))
	}
	if e.Attestations > 0 {
		noun := "manifest"
		if e.Attestations > 1 {
			noun += "s"
		}
		fmt.Fprintf(&b, "  (and %d attestation %s, unknown/unknown, which are not images)\n", e.Attestations, noun)
	}
	fmt.Fprintf(&b, "Pick one of these with --platform, or use a base image that supports %s.", e.Requested)
	return b.String()
}

// blobConcurrency bounds simultaneous blob downloads across all platforms.
const blobConcurrency = 4

// progressInterval is how often a layer's progress is reported at most.
const progressInterval = 100 * time.Millisecond

// Run builds the image described by o, reporting progress to sink.
func Run(ctx context.Context, o *Options, sink Sink) error {
	return explainDiskFull(run(ctx, o, sink), o)
}

func run(ctx context.Context, o *Options, sink Sink) error {
	start := time.Now()
	if sink == nil {
		sink = func(Event) {}
	}
	for _, w := range o.Warnings {
		sink(Warning{Message: w})
	}
	baseRef, err := registry.ParseReference(o.BaseImage)
	if err != nil {
		return err
	}
	tag, err := parseTag(o.Tag, o.Project.Name)
	if err != nil {
		return err
	}
	var target ref.Ref
	if o.Push {
		if target, err = PushTarget(o); err != nil {
			return err
		}
	}

	// Refused outputs (-o ., -o /, a link in the layout) are said before any download.
	if err := oci.CheckOutput(o.Output); err != nil {
		return err
	}
	sel, err := SelectFiles(o.Context, o.Output)
	if err != nil {
		return err
	}
	lnch, err := resolveLaunch(o, sel)
	if err != nil {
		return err
	}
	if lnch.Warning != "" {
		sink(Warning{Message: lnch.Warning})
	}

	store := o.store()
	client := o.client(baseRef, store)
	index, err := client.Index(ctx, pinned(baseRef, o.BaseDigest))
	if err != nil {
		return err
	}
	index.Ref = baseRef // named as typed; the digest pinned is index.Digest
	targets, err := matchPlatforms(o, index)
	var noMatch *NoMatchError
	if errors.As(err, &noMatch) {
		noMatch.Diagnosis = Diagnose(ctx, o, index, noMatch.Requested)
	}
	if err != nil {
		return err
	}
	if err := fetchBases(ctx, client, baseRef, index, targets); err != nil {
		return err
	}
	var deps map[string][]wheel
	if o.IncludeDeps {
		tmp, err := os.MkdirTemp("", "pycontainer-wheels-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		var source string
		if deps, source, err = resolveDeps(ctx, o, targets, baseRef.Tag, tmp); err != nil {
			return err
		}
		if source == "" {
			sink(Warning{Message: "--include-deps: the project declares no dependencies (no requirements.txt, no [project.dependencies]); nothing to install"})
		}
	}

	plan := PlanReady{
		Base: baseRef.CommonName(), BaseDigest: index.Digest.String(), BaseSource: o.BaseSource,
		Context: o.ContextDir(), Output: o.Output, Tag: tag.full, Entrypoint: lnch.Entrypoint, AppFiles: len(sel.Files),
		Excluded: sel.Excluded, Included: sel.Included, DryRun: o.DryRun,
	}
	if o.Push {
		plan.PushTarget = target.CommonName()
	}
	for _, t := range targets {
		plan.Platforms = append(plan.Platforms, PlatformPlan{
			Platform: t.req.String(), Source: t.req.Source,
			BaseManifest: t.entry.Descriptor.Digest.String(), BasePlatform: basePlatformString(t.entry),
		})
	}
	sink(plan)
	if o.DryRun {
		return nil
	}

	layout, err := oci.OpenLayout(o.Output)
	if err != nil {
		return err
	}
	defer layout.Close()

	b := &builder{
		o: o, sink: sink, client: client, layout: layout, baseRef: baseRef, baseDigest: index.Digest,
		launch: lnch, tag: tag, sem: make(chan struct{}, blobConcurrency), store: store,
		fetched: map[digest.Digest]*blobFetch{},
	}
	sink(LayerStarted{Kind: LayerApp}) // no platform: the app layer is shared by all
	app, err := b.buildAppLayer(ctx, sel)
	if err != nil {
		return err
	}
	depLayers, err := b.buildDepLayers(ctx, targets, deps)
	if err != nil {
		return err
	}
	// What each platform adds to its base: its dependency layers, then the app.
	added := map[string][]builtLayer{}
	for _, t := range targets {
		p := t.req.String()
		added[p] = append(slices.Clone(depLayers[p]), app) // never into depLayers' arrays
	}

	results := make([]descriptor.Descriptor, len(targets))
	failed := make([]error, len(targets))
	g, gctx := errgroup.WithContext(ctx)
	for i, t := range targets {
		g.Go(func() error {
			d, err := b.buildPlatform(gctx, t, added[t.req.String()])
			if err != nil {
				err = fmt.Errorf("%s: %w", t.req, err)
				if gctx.Err() == nil {
					sink(PlatformFailed{Platform: t.req.String(), Error: err.Error()})
				}
				if o.KeepGoing {
					failed[i] = err
					return nil
				}
				return err
			}
			results[i] = d
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if err := errors.Join(failed...); err != nil {
		return fmt.Errorf("%w; %s is unchanged", err, o.Output)
	}
	if err := b.checkNewLayers(targets, added); err != nil {
		return err
	}

	idx, load, err := b.layoutIndex(ctx, results)
	if err != nil {
		return err
	}
	if err := layout.CommitIndex(idx, &load); err != nil {
		return err
	}
	if store != nil && o.CacheMaxBytes > 0 {
		if _, err := store.Prune(o.CacheMaxBytes); err != nil {
			sink(Warning{Message: fmt.Sprintf("could not keep the cache under %d bytes: %v", o.CacheMaxBytes, err)})
		}
	}
	if o.Push {
		if err := b.push(ctx, target, results); err != nil {
			return err
		}
	}
	fin := Finished{Output: o.Output, Tag: tag.full, Duration: time.Since(start)}
	for _, d := range results {
		fin.Manifests = append(fin.Manifests, d.Digest.String())
		if d.Digest == load.Manifest {
			fin.DockerLoad = oci.PlatformString(*d.Platform)
		}
	}
	if len(results) > 1 {
		fin.Index = idx.Manifests[0].Digest.String()
	}
	sink(fin)
	return nil
}

// layoutIndex is the index.json of the built images, and the image manifest.json gives
// `docker load`. One platform's manifest stands in index.json itself, so
// `jq '.manifests[0].platform' dist/image/index.json` prints it. Several platforms' stand
// in one image index under the tag, as buildx's OCI output and the registry have it:
// each tool then picks its own platform (podman pull --platform, skopeo
// --override-arch), where entries sharing a tag leave all but the first out of reach.
// docker load, which takes one image, gets this machine's platform, else one that runs
// natively here, else the first.
func (b *builder) layoutIndex(ctx context.Context, results []descriptor.Descriptor) (v1.Index, oci.DockerLoad, error) {
	idx := v1.Index{Versioned: v1.IndexSchemaVersion, MediaType: mediatype.OCI1ManifestList, Manifests: results}
	load := oci.DockerLoad{Manifest: dockerLoadImage(oci.Host{Platform: oci.HostPlatform()}, results).Digest, RepoTags: []string{b.tag.full}}
	if len(results) == 1 {
		return idx, load, nil
	}
	nested, err := b.layout.PutJSON(ctx, mediatype.OCI1ManifestList, oci.PlatformIndex(results))
	if err != nil {
		return idx, load, err
	}
	nested.Annotations = results[0].Annotations // the tag, which each result carries
	idx.Manifests = []descriptor.Descriptor{nested}
	return idx, load, nil
}

// dockerLoadImage is the image of manifests (each with its platform) that host runs
// best: its own platform, else one it runs natively, else the first.
func dockerLoadImage(host oci.Host, manifests []descriptor.Descriptor) descriptor.Descriptor {
	for _, same := range []func(p oci.Platform) bool{
		func(p oci.Platform) bool { return oci.SamePlatform(p, host.Platform) },
		func(p oci.Platform) bool { return host.HowRuns(p).Native },
	} {
		if i := slices.IndexFunc(manifests, func(d descriptor.Descriptor) bool { return same(*d.Platform) }); i >= 0 {
			return manifests[i]
		}
	}
	return manifests[0]
}

// pinned is r fetched by the index digest d (when set), its tag kept for its name.
func pinned(r ref.Ref, d digest.Digest) ref.Ref {
	if d != "" {
		r.Digest = d.String()
	}
	return r
}

// client is a registry client with the options' connection settings for r's registry,
// caching in store (nil: no cache).
func (o *Options) client(r ref.Ref, store *oci.Store) *registry.Client {
	ro := o.registryOptions(r)
	ro.Store = store
	return registry.New(ro)
}

// registryOptions are the options' connection settings for the base image's registry
// and any others named.
func (o *Options) registryOptions(base ref.Ref, others ...string) registry.Options {
	insecure := o.Insecure
	if o.InsecureBase {
		insecure = append(slices.Clone(insecure), base.Registry)
	}
	return registry.Options{Insecure: insecure, Mirrors: o.Mirrors, Registries: append([]string{base.Registry}, others...),
		Pull: o.Pull, StallTimeout: o.StallTimeout,
		// Every blob download the build starts runs at once, beside a manifest or two.
		MaxRequests: blobConcurrency + 2}
}

// store opens the shared cache, or returns nil with --no-cache or when it cannot be
// opened (the build then goes without it).
func (o *Options) store() *oci.Store {
	if o.NoCache || o.CacheDir == "" {
		return nil
	}
	s, err := oci.OpenStore(o.CacheDir)
	if err != nil {
		return nil
	}
	return s
}

// FetchIndex reads the index of image with each entry's size and layer count, using
// the options' registry settings.
func FetchIndex(ctx context.Context, o *Options, image string) (*registry.Index, error) {
	return fetchIndex(ctx, o, image, true)
}

// FetchPlatforms reads the index of image alone: its platforms, without the per-entry
// manifests FetchIndex reads for sizes (one request instead of one per platform).
func FetchPlatforms(ctx context.Context, o *Options, image string) (*registry.Index, error) {
	return fetchIndex(ctx, o, image, false)
}

func fetchIndex(ctx context.Context, o *Options, image string, details bool) (*registry.Index, error) {
	r, err := registry.ParseReference(image)
	if err != nil {
		return nil, err
	}
	c := o.client(r, o.store())
	ix, err := c.Index(ctx, r)
	if err != nil {
		return nil, err
	}
	if !details {
		return ix, nil
	}
	if err := c.Details(ctx, ix); err != nil {
		return nil, err
	}
	return ix, nil
}

// basePlatformString is the platform as the base index spells it (arm64/v8, say),
// which may differ from the normalised form that was matched.
func basePlatformString(e registry.Entry) string {
	if e.Descriptor.Platform != nil {
		return oci.PlatformString(*e.Descriptor.Platform)
	}
	return oci.PlatformString(e.Platform)
}

type target struct {
	req   RequestedPlatform
	entry registry.Entry
	base  *registry.Image // read by fetchBases
}

func matchPlatforms(o *Options, index *registry.Index) ([]target, error) {
	var out []target
	for _, req := range o.Platforms {
		e, ok := index.Find(req.Platform)
		if !ok {
			ne := &NoMatchError{Image: index.Ref.CommonName(), Requested: req, Available: index.Platforms()}
			for _, e := range index.Entries {
				if e.Attestation {
					ne.Attestations++
				}
			}
			return nil, ne
		}
		out = append(out, target{req: req, entry: e})
	}
	return out, nil
}

// imageTag is the name the built image carries in the layout.
type imageTag struct {
	full string // docker.io/library/myapp:amd64, for io.containerd.image.name
	tag  string // amd64, for org.opencontainers.image.ref.name
}

func parseTag(tag, projectName string) (imageTag, error) {
	if tag == "" {
		name := strings.ToLower(projectName)
		if name == "" {
			name = "app"
		}
		tag = name + ":latest"
	}
	r, err := registry.ParseReference(tag)
	if err != nil {
		return imageTag{}, fmt.Errorf("--tag: %w", err)
	}
	if r.Tag == "" {
		r = r.SetTag("latest")
	}
	return imageTag{full: r.CommonName(), tag: r.Tag}, nil
}

type builder struct {
	o       *Options
	sink    Sink
	client  *registry.Client
	layout  *oci.Layout
	baseRef ref.Ref
	// baseDigest is the digest of the index (or image) baseRef named when it was read.
	baseDigest digest.Digest
	launch     launch
	tag        imageTag
	store      *oci.Store // the shared cache; nil with --no-cache
	sem        chan struct{}

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

// builtLayer is a layer pycontainer wrote: the app, or dependencies.
type builtLayer struct {
	desc      descriptor.Descriptor
	diffID    digest.Digest
	kind      LayerKind
	createdBy string     // for the config's history
	heads     []fileHead // files a platform check could object to
}

// buildAppLayer writes the platform-neutral layer of the context's files, built once
// and shared by every platform.
func (b *builder) buildAppLayer(ctx context.Context, sel *Selection) (builtLayer, error) {
	l, err := b.writeLayer(ctx, appEntries(sel, b.o.Workdir), LayerApp)
	if err != nil {
		return l, fmt.Errorf("app layer: %w", err)
	}
	l.createdBy = fmt.Sprintf("pycontainer build: COPY %d files %s", len(sel.Files), b.o.Workdir)
	return l, nil
}

// buildDepLayers writes the dependency layers: one of the pure wheels every platform
// shares (one digest for all of them), and one per platform of its own wheels.
func (b *builder) buildDepLayers(ctx context.Context, targets []target, deps map[string][]wheel) (map[string][]builtLayer, error) {
	out := map[string][]builtLayer{}
	if len(deps) == 0 {
		return out, nil
	}
	shared, own := splitShared(deps)
	layerOf := func(ws []wheel, what string) (builtLayer, bool, error) {
		if len(ws) == 0 {
			return builtLayer{}, false, nil
		}
		entries, closers, err := wheelEntries(ws)
		defer func() {
			for _, c := range closers {
				c.Close()
			}
		}()
		if err != nil {
			return builtLayer{}, false, err
		}
		l, err := b.writeLayer(ctx, entries, LayerDeps)
		if err != nil {
			return l, false, fmt.Errorf("dependency layer: %w", err)
		}
		names := make([]string, len(ws))
		for i, w := range ws {
			names[i] = w.Name + "==" + w.Version
		}
		l.createdBy = fmt.Sprintf("pycontainer build: install %s %s into %s", what, strings.Join(names, " "), DepsRoot)
		return l, true, nil
	}
	sharedLayer, hasShared, err := layerOf(shared, "pure-Python")
	if err != nil {
		return nil, err
	}
	for _, t := range targets {
		p := t.req.String()
		if hasShared {
			out[p] = append(out[p], sharedLayer)
		}
		l, ok, err := layerOf(own[p], p)
		if err != nil {
			return nil, err
		}
		if ok {
			out[p] = append(out[p], l)
		}
	}
	return out, nil
}

// writeLayer writes entries as a layer blob of the layout, with reproducible times
// unless the build is not reproducible.
func (b *builder) writeLayer(ctx context.Context, entries []layerEntry, kind LayerKind) (builtLayer, error) {
	bw, err := b.layout.NewBlobWriter()
	if err != nil {
		return builtLayer{}, err
	}
	defer bw.Abort()
	var mtime *time.Time
	if b.o.Reproducible {
		t := time.Unix(0, 0).UTC()
		if b.o.Created != nil {
			t = *b.o.Created
		}
		mtime = &t
	}
	res, err := writeLayer(bw, entries, mtime)
	if err != nil {
		return builtLayer{}, err
	}
	if err := ctx.Err(); err != nil {
		return builtLayer{}, err
	}
	d, err := bw.Commit(descriptor.Descriptor{MediaType: mediatype.OCI1LayerGzip})
	if err != nil {
		return builtLayer{}, err
	}
	return builtLayer{desc: d, diffID: res.DiffID, kind: kind, heads: res.Heads}, nil
}

// fetchBases reads every target's base manifest and config up front: dependency
// resolution needs each platform's Python version before anything is built.
func fetchBases(ctx context.Context, client *registry.Client, baseRef ref.Ref, index *registry.Index, targets []target) error {
	g, gctx := errgroup.WithContext(ctx)
	for i := range targets {
		t := &targets[i]
		g.Go(func() error {
			base, err := client.Image(gctx, baseRef, t.entry.Descriptor)
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

// buildPlatform assembles one platform's image: its base layers, then the layers
// pycontainer wrote (dependencies, the app last).
func (b *builder) buildPlatform(ctx context.Context, t target, added []builtLayer) (descriptor.Descriptor, error) {
	plat := t.req.String()
	base := t.base
	count := len(base.Manifest.Layers) + len(added)
	var total int64
	for _, l := range base.Manifest.Layers {
		total += l.Size
	}
	for _, l := range added {
		total += l.desc.Size
	}
	b.sink(PlatformStarted{Platform: plat, Layers: count, Size: total})

	layers := make([]descriptor.Descriptor, len(base.Manifest.Layers))
	g, gctx := errgroup.WithContext(ctx)
	for i, l := range base.Manifest.Layers {
		layers[i] = ociLayer(l)
		g.Go(func() error { return b.fetchLayer(gctx, plat, l, i+1, count) })
	}
	if err := g.Wait(); err != nil {
		return descriptor.Descriptor{}, err
	}
	for i, l := range added {
		b.sink(LayerDone{Platform: plat, Digest: l.desc.Digest.String(), Kind: l.kind, Index: len(base.Manifest.Layers) + i + 1, Count: count, Size: l.desc.Size})
		layers = append(layers, l.desc)
	}

	cfg := b.imageConfig(base, t, added)
	cfgDesc, err := b.layout.PutJSON(ctx, mediatype.OCI1ImageConfig, cfg)
	if err != nil {
		return descriptor.Descriptor{}, err
	}
	m := v1.Manifest{
		Versioned: v1.ManifestSchemaVersion,
		MediaType: mediatype.OCI1Manifest,
		Config:    cfgDesc,
		Layers:    layers,
		Annotations: map[string]string{
			"org.opencontainers.image.base.name": b.baseRef.CommonName(),
			// The digest of what base.name names (the index, for a multi-platform base),
			// as the OCI annotations spec asks: a tool comparing the two can tell whether
			// the tag has moved since.
			"org.opencontainers.image.base.digest": b.baseDigest.String(),
		},
	}
	if cfg.Created != nil {
		m.Annotations["org.opencontainers.image.created"] = cfg.Created.Format(time.RFC3339)
	}
	if b.o.Project.Name != "" {
		m.Annotations["org.opencontainers.image.title"] = b.o.Project.Name
	}
	if b.o.Project.Version != "" {
		m.Annotations["org.opencontainers.image.version"] = b.o.Project.Version
	}
	md, err := b.layout.PutJSON(ctx, mediatype.OCI1Manifest, m)
	if err != nil {
		return descriptor.Descriptor{}, err
	}
	p := t.req.Platform
	md.Platform = &oci.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant}
	md.Annotations = map[string]string{
		"org.opencontainers.image.ref.name": b.tag.tag,
		"io.containerd.image.name":          b.tag.full,
	}
	b.sink(PlatformDone{Platform: plat, Manifest: md.Digest.String(), Config: cfgDesc.Digest.String(), Size: total, Layers: len(layers)})
	return md, nil
}

// checkNewLayers looks for binaries of another architecture and host virtualenvs in the
// layers pycontainer built (the app, the dependencies): warnings, or with Strict an error before the index is
// replaced. Base layers are the base image's business (pycontainer inspect --verify
// checks them too).
func (b *builder) checkNewLayers(targets []target, added map[string][]builtLayer) error {
	var findings []oci.Finding
	for _, t := range targets {
		for _, l := range added[t.req.String()] {
			for _, h := range l.heads {
				if problem := oci.CheckFile(t.req.Platform, h.Name, h.Head); problem != "" {
					findings = append(findings, oci.Finding{Platform: t.req.String(), Layer: l.desc.Digest.String(), File: h.Name, Problem: problem})
				}
			}
		}
	}
	if len(findings) == 0 {
		return nil
	}
	if b.o.Strict {
		return fmt.Errorf("--strict: %s (and %d more); %s is unchanged", findings[0], len(findings)-1, b.o.Output)
	}
	for _, f := range findings {
		b.sink(Warning{Message: f.String()})
	}
	return nil
}

// ociLayer gives a base layer its OCI media type; the bytes (and digest) are unchanged.
func ociLayer(d descriptor.Descriptor) descriptor.Descriptor {
	out := descriptor.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size, Annotations: d.Annotations, URLs: d.URLs}
	switch d.MediaType {
	case mediatype.Docker2LayerGzip:
		out.MediaType = mediatype.OCI1LayerGzip
	case mediatype.Docker2Layer:
		out.MediaType = mediatype.OCI1Layer
	}
	return out
}

// fetchLayer makes sure a base layer is in the layout, downloading it once however
// many platforms share it.
func (b *builder) fetchLayer(ctx context.Context, plat string, l descriptor.Descriptor, index, count int) error {
	b.mu.Lock()
	f, shared := b.fetched[l.Digest]
	if !shared {
		f = &blobFetch{done: make(chan struct{}), platform: plat}
		b.fetched[l.Digest] = f
	}
	b.mu.Unlock()

	done := LayerDone{Platform: plat, Digest: l.Digest.String(), Kind: LayerBase, Index: index, Count: count, Size: l.Size}
	if shared {
		select {
		case <-f.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		if f.err != nil {
			return f.err
		}
		done.Cached, done.SharedWith = f.cached, f.platform
		b.sink(done)
		return nil
	}
	defer close(f.done)
	if b.layout.HasBlob(l) {
		f.cached, done.Cached = true, true
		b.sink(done)
		return nil
	}
	if b.store != nil && b.store.Has(l) {
		f.err = b.store.LinkInto(b.layout, l)
		f.cached, done.Cached = true, true
		if f.err == nil {
			b.sink(done)
		}
		return f.err
	}
	select {
	case b.sem <- struct{}{}:
	case <-ctx.Done():
		f.err = ctx.Err()
		return f.err
	}
	defer func() { <-b.sem }()
	b.sink(LayerStarted{Platform: plat, Digest: l.Digest.String(), Kind: LayerBase, Index: index, Count: count, Size: l.Size})
	progress := newProgressThrottle(progressInterval, func(n int64) {
		b.sink(LayerProgressed{Platform: plat, Digest: l.Digest.String(), Done: n, Total: l.Size})
	})
	// Downloads go to the shared cache, then into the layout, so the next build of any
	// project finds them; there, what a failed download got is kept and resumed.
	var sink registry.BlobSink = &blobSink{newWriter: b.layout.NewBlobWriter, want: l}
	if b.store != nil {
		sink = b.store.Partial(l)
	}
	f.err = b.client.FetchBlob(ctx, b.baseRef, l, sink, registry.BlobProgress{
		Read: progress.add,
		Resumed: func(from int64, startsOver bool) {
			b.sink(LayerResumed{Platform: plat, Digest: l.Digest.String(), From: from, Total: l.Size, StartsOver: startsOver})
		},
	})
	if f.err == nil && b.store != nil {
		f.err = b.store.LinkInto(b.layout, l)
	}
	if f.err != nil {
		return f.err
	}
	b.sink(done)
	return nil
}

// blobSink stores one blob download attempt, verified on commit.
type blobSink struct {
	newWriter func() (*oci.BlobWriter, error)
	want      descriptor.Descriptor
	bw        *oci.BlobWriter
}

func (s *blobSink) Begin() (io.Writer, error) {
	s.Abort()
	bw, err := s.newWriter()
	if err != nil {
		return nil, err
	}
	// regclient's reader checks the digest as the body ends, and FetchBlob commits only
	// after it did: the bytes need not be hashed twice.
	s.bw = bw.Preverified(s.want)
	return s.bw, nil
}

func (s *blobSink) Commit() error {
	_, err := s.bw.Commit(s.want)
	return err
}

func (s *blobSink) Abort() {
	if s.bw != nil {
		s.bw.Abort()
	}
}

// imageConfig derives the new image's config from the base's.
func (b *builder) imageConfig(base *registry.Image, t target, added []builtLayer) v1.Image {
	cfg := base.Config
	p := t.req.Platform
	cfg.Platform = oci.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant, OSVersion: base.Config.OSVersion, OSFeatures: base.Config.OSFeatures}

	created := time.Now().UTC().Truncate(time.Second)
	if b.o.Reproducible {
		switch {
		case b.o.Created != nil:
			created = *b.o.Created
		case base.Config.Created != nil:
			created = base.Config.Created.UTC()
		default:
			created = time.Unix(0, 0).UTC()
		}
	}
	cfg.Created = &created

	c := &cfg.Config
	env := slices.Clone(c.Env)
	setEnv := func(k, v string) {
		for i, e := range env {
			if name, _, _ := strings.Cut(e, "="); name == k {
				env[i] = k + "=" + v
				return
			}
		}
		env = append(env, k+"="+v)
	}
	hasDeps := slices.ContainsFunc(added, func(l builtLayer) bool { return l.kind == LayerDeps })
	pythonPath := slices.Clone(b.launch.PythonPath)
	if hasDeps {
		pythonPath = append(pythonPath, DepsSite)
		setEnv("PATH", DepsBin+":"+cmp.Or(envValue(env, "PATH"), "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"))
	}
	if len(pythonPath) > 0 {
		pp := strings.Join(pythonPath, ":")
		if old := envValue(env, "PYTHONPATH"); old != "" {
			pp += ":" + old
		}
		setEnv("PYTHONPATH", pp)
	}
	for _, kv := range sortedEnv(b.o.Env) {
		k, v, _ := strings.Cut(kv, "=")
		setEnv(k, v)
	}
	c.Env = env
	c.Entrypoint = b.launch.Entrypoint
	c.Cmd = b.o.Cmd // never the base's Cmd: it would become arguments of our entrypoint
	c.WorkingDir = b.o.Workdir
	if b.o.User != "" {
		c.User = b.o.User
	}
	labels := maps.Clone(c.Labels)
	if labels == nil && len(b.o.Labels) > 0 {
		labels = map[string]string{}
	}
	maps.Copy(labels, b.o.Labels)
	c.Labels = labels
	for _, port := range b.o.Ports {
		if c.ExposedPorts == nil {
			c.ExposedPorts = map[string]struct{}{}
		}
		if !strings.Contains(port, "/") {
			port += "/tcp"
		}
		c.ExposedPorts[port] = struct{}{}
	}
	cfg.RootFS.DiffIDs = slices.Clone(cfg.RootFS.DiffIDs)
	cfg.History = slices.Clone(cfg.History)
	for _, l := range added {
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, l.diffID)
		cfg.History = append(cfg.History, v1.History{Created: &created, CreatedBy: l.createdBy, Comment: "pycontainer"})
	}
	return cfg
}

func envValue(env []string, key string) string {
	for _, e := range env {
		if k, v, _ := strings.Cut(e, "="); k == key {
			return v
		}
	}
	return ""
}

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

// push sends the built images to target, mounting base layers from the base image's
// repository when both are on one registry.
func (b *builder) push(ctx context.Context, target ref.Ref, manifests []descriptor.Descriptor) error {
	o := b.o
	ro := o.registryOptions(b.baseRef, target.Registry)
	ro.Credentials = map[string]registry.Credential{target.Registry: registry.CredentialFor(target.Registry, os.Getenv)}
	client := registry.New(ro)
	b.sink(PushStarted{Target: target.CommonName(), Manifests: len(manifests)})
	report := &pushReport{b: b, throttles: map[digest.Digest]*progressThrottle{}}
	base := b.baseRef
	res, err := client.Push(ctx, o.Output, manifests, target, &base, report)
	if err != nil {
		return &PushError{Output: o.Output, Err: fmt.Errorf("push %s: %w", target.CommonName(), err)}
	}
	b.sink(Pushed{Target: res.Target, Digest: res.Digest.String(), Uploaded: res.Uploaded, Skipped: res.Skipped, Mounted: res.Mounted, Bytes: res.Bytes})
	return nil
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
	b         *builder
	mu        sync.Mutex
	throttles map[digest.Digest]*progressThrottle
}

func (p *pushReport) BlobProgress(d digest.Digest, done, total int64) {
	p.mu.Lock()
	t, ok := p.throttles[d]
	if !ok {
		t = newProgressThrottle(progressInterval, func(n int64) {
			p.b.sink(PushProgressed{Digest: d.String(), Done: n, Total: total})
		})
		p.throttles[d] = t
	}
	p.mu.Unlock()
	t.set(done)
}

func (p *pushReport) BlobDone(d digest.Digest, size int64, how string) {
	p.b.sink(BlobPushed{Digest: d.String(), Size: size, How: how})
}
