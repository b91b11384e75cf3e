package build

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	digest "github.com/opencontainers/go-digest"
	"github.com/regclient/regclient/types/descriptor"
	"github.com/regclient/regclient/types/mediatype"
	v1 "github.com/regclient/regclient/types/oci/v1"
	"golang.org/x/sync/errgroup"

	"github.com/pycontainer/pycontainer/oci"
)

// assembled is what assembly wrote: each platform's manifest (with its platform), the
// index.json committed, and the image docker load of the layout gets.
type assembled struct {
	manifests []descriptor.Descriptor
	index     v1.Index
	load      oci.DockerLoad
}

// assemble writes the image into layout: the app layer, shared by every platform, the
// dependency layers, then each platform's image concurrently (its base layers, config
// and manifest). Only when all are whole and checked does index.json change.
func assemble(ctx context.Context, p *plan, layout *oci.Layout, sink Sink) (assembled, error) {
	store := layoutStore{layout: layout, cache: p.cache}
	b := &builder{plan: p, sink: sink, store: store}
	added, err := b.addedLayers(ctx)
	if err != nil {
		return assembled{}, err
	}
	manifests, err := b.buildPlatforms(ctx, added)
	if err != nil {
		return assembled{}, err
	}
	if err := b.checkNewLayers(added); err != nil {
		return assembled{}, err
	}
	idx, load, err := b.layoutIndex(ctx, manifests)
	if err != nil {
		return assembled{}, err
	}
	if err := layout.CommitIndex(idx, &load); err != nil {
		return assembled{}, err
	}
	p.pruneCache(sink)
	return assembled{manifests: manifests, index: idx, load: load}, nil
}

// builder writes the plan's blobs into the store.
type builder struct {
	*plan
	sink  Sink
	store blobStore
}

// builtLayer is a layer pycontainer wrote: the app, or dependencies.
type builtLayer struct {
	desc      descriptor.Descriptor
	diffID    digest.Digest
	kind      LayerKind
	createdBy string     // for the config's history
	heads     []fileHead // files a platform check could object to
}

// addedLayers writes the layers pycontainer adds to each platform's base: its
// dependency layers, then the app's, by platform.
func (b *builder) addedLayers(ctx context.Context) (map[string][]builtLayer, error) {
	b.sink(LayerStarted{Kind: LayerApp}) // no platform: the app layer is shared by all
	app, err := b.buildAppLayer(ctx, b.files)
	if err != nil {
		return nil, err
	}
	depLayers, err := b.buildDepLayers(ctx, b.targets, b.wheels)
	if err != nil {
		return nil, err
	}
	added := map[string][]builtLayer{}
	for _, t := range b.targets {
		p := t.req.String()
		added[p] = append(slices.Clone(depLayers[p]), app) // never into depLayers' arrays
	}
	return added, nil
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
	sharedLayer, hasShared, err := b.wheelLayer(ctx, shared, "pure-Python")
	if err != nil {
		return nil, err
	}
	for _, t := range targets {
		p := t.req.String()
		if hasShared {
			out[p] = append(out[p], sharedLayer)
		}
		l, ok, err := b.wheelLayer(ctx, own[p], p)
		if err != nil {
			return nil, err
		}
		if ok {
			out[p] = append(out[p], l)
		}
	}
	return out, nil
}

// wheelLayer writes the layer that installs ws (what names them in its history); false
// when there are none.
func (b *builder) wheelLayer(ctx context.Context, ws []wheel, what string) (builtLayer, bool, error) {
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

// writeLayer writes entries as a layer blob of the store, its files dated by the
// build's rule (buildTime).
func (b *builder) writeLayer(ctx context.Context, entries []layerEntry, kind LayerKind) (builtLayer, error) {
	bw, err := b.store.NewBlobWriter()
	if err != nil {
		return builtLayer{}, err
	}
	defer bw.Abort()
	res, err := writeLayer(bw, entries, b.times.files())
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

// buildPlatforms assembles every platform's image at once, each on its base and the
// layers added for it, and returns their manifests in the order asked. With KeepGoing a
// failed platform lets the others finish; the build fails all the same.
func (b *builder) buildPlatforms(ctx context.Context, added map[string][]builtLayer) ([]descriptor.Descriptor, error) {
	results := make([]descriptor.Descriptor, len(b.targets))
	failed := make([]error, len(b.targets))
	g, gctx := errgroup.WithContext(ctx)
	for i, t := range b.targets {
		g.Go(func() error {
			d, err := b.buildPlatform(gctx, t, added[t.req.String()])
			if err != nil {
				err = fmt.Errorf("%s: %w", t.req, err)
				if gctx.Err() == nil {
					b.sink(PlatformFailed{Platform: t.req.String(), Error: err.Error()})
				}
				if b.o.KeepGoing {
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
		return nil, err
	}
	if err := errors.Join(failed...); err != nil {
		return nil, fmt.Errorf("%w; %s is unchanged", err, b.o.shown(b.o.Output))
	}
	return results, nil
}

// buildPlatform assembles one platform's image: its base layers, then the layers
// pycontainer wrote (dependencies, the app last), its config and its manifest.
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

	if err := b.layers.fetchAll(ctx, b.store, plat, base.Manifest.Layers, count); err != nil {
		return descriptor.Descriptor{}, err
	}
	layers := make([]descriptor.Descriptor, 0, count)
	for _, l := range base.Manifest.Layers {
		layers = append(layers, ociLayer(l))
	}
	for i, l := range added {
		b.sink(LayerDone{Platform: plat, Digest: l.desc.Digest.String(), Kind: l.kind, Index: len(base.Manifest.Layers) + i + 1, Count: count, Size: l.desc.Size})
		layers = append(layers, l.desc)
	}

	cfg := imageConfig(base.Config, b.imageInputs(t.req.Platform, added), b.times.created(base.Config.Created))
	cfgDesc, err := b.store.PutJSON(ctx, mediatype.OCI1ImageConfig, cfg)
	if err != nil {
		return descriptor.Descriptor{}, err
	}
	md, err := b.store.PutJSON(ctx, mediatype.OCI1Manifest, b.manifest(cfgDesc, layers, cfg.Created))
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

// manifest is the image manifest of config and layers, annotated with its base, its
// creation time and the project's name and version.
func (b *builder) manifest(config descriptor.Descriptor, layers []descriptor.Descriptor, created *time.Time) v1.Manifest {
	m := v1.Manifest{
		Versioned: v1.ManifestSchemaVersion,
		MediaType: mediatype.OCI1Manifest,
		Config:    config,
		Layers:    layers,
		Annotations: map[string]string{
			"org.opencontainers.image.base.name": b.baseRef.CommonName(),
			// The digest of what base.name names (the index, for a multi-platform base),
			// as the OCI annotations spec asks: a tool comparing the two can tell whether
			// the tag has moved since.
			"org.opencontainers.image.base.digest": b.index.Digest.String(),
		},
	}
	if created != nil {
		m.Annotations["org.opencontainers.image.created"] = created.Format(time.RFC3339)
	}
	if b.o.Project.Name != "" {
		m.Annotations["org.opencontainers.image.title"] = b.o.Project.Name
	}
	if b.o.Project.Version != "" {
		m.Annotations["org.opencontainers.image.version"] = b.o.Project.Version
	}
	return m
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

// checkNewLayers looks for binaries of another architecture and host virtualenvs in the
// layers pycontainer built (the app, the dependencies): warnings, or with Strict an error before the index is
// replaced. Base layers are the base image's business (pycontainer inspect --verify
// checks them too).
func (b *builder) checkNewLayers(added map[string][]builtLayer) error {
	var findings []oci.Finding
	for _, t := range b.targets {
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
		return fmt.Errorf("--strict: %s (and %d more); %s is unchanged", findings[0], len(findings)-1, b.o.shown(b.o.Output))
	}
	for _, f := range findings {
		b.sink(Warning{Message: f.String()})
	}
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
	nested, err := b.store.PutJSON(ctx, mediatype.OCI1ManifestList, oci.PlatformIndex(results))
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

// pruneCache keeps the shared cache under its size limit, now that this build's blobs
// are in the layout; a cache it cannot trim is a warning, not a failed build.
func (p *plan) pruneCache(sink Sink) {
	if p.cache == nil || p.o.CacheMaxBytes <= 0 {
		return
	}
	if _, err := p.cache.Prune(p.o.CacheMaxBytes); err != nil {
		sink(Warning{Message: fmt.Sprintf("could not keep the cache under %d bytes: %v", p.o.CacheMaxBytes, err)})
	}
}
