package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	digest "github.com/opencontainers/go-digest"
	"github.com/regclient/regclient/types/descriptor"
	"github.com/regclient/regclient/types/errs"
	"github.com/regclient/regclient/types/manifest"
	"github.com/regclient/regclient/types/mediatype"
	v1 "github.com/regclient/regclient/types/oci/v1"
	"github.com/regclient/regclient/types/ref"
	"golang.org/x/sync/errgroup"

	"github.com/pycontainer/pycontainer/oci"
)

// Bounds on what a registry may announce, so a broken or hostile one cannot make a build
// hold gigabytes in memory or fill the disk: the size of a manifest or config, the
// number of layers and index entries, the size of one layer.
const (
	maxManifestSize = 8 << 20
	maxLayers       = 1000
	maxEntries      = 10000
	maxLayerSize    = 64 << 30
)

// Entry is one manifest of an index with its platform.
type Entry struct {
	Platform    oci.Platform
	Descriptor  descriptor.Descriptor
	Attestation bool // an attestation manifest (unknown/unknown), never a build candidate
	// Size (compressed bytes of config and layers) and Layers are known after Details.
	Size   int64
	Layers int
}

// Index is a base image as the registry offers it: an OCI index, a Docker manifest list,
// or a single image manifest (one entry, its platform read from the config).
type Index struct {
	Ref       ref.Ref
	Digest    digest.Digest
	MediaType string
	Single    bool
	Entries   []Entry
}

// Platforms lists the platforms of the index's images, attestations left out.
func (ix *Index) Platforms() []oci.Platform {
	var out []oci.Platform
	for _, e := range ix.Entries {
		if !e.Attestation {
			out = append(out, e.Platform)
		}
	}
	return out
}

// Find returns the image entry for platform p, matched after normalisation (arm64/v8 is
// arm64; arm/v7 never stands in for arm/v6), or false.
func (ix *Index) Find(p oci.Platform) (Entry, bool) {
	for _, e := range ix.Entries {
		if !e.Attestation && oci.SamePlatform(e.Platform, p) {
			return e, true
		}
	}
	return Entry{}, false
}

// Index fetches the index (or single manifest) r points to: one GET of the tag, or with
// a cache that knows the tag, one HEAD to see where it points and nothing more for
// content cached before. A tag
// or repository the registry does not have is an error saying which, with the tags
// nearest the one asked for (errors.Is(err, errs.ErrNotFound)).
func (c *Client) Index(ctx context.Context, r ref.Ref) (*Index, error) {
	d, raw, err := c.resolve(ctx, r)
	if err != nil {
		return nil, c.notFound(ctx, r, err)
	}
	m, err := c.manifestFrom(ctx, r, d, raw)
	if err != nil {
		if r.Digest != "" { // else the tag was found, and then its manifest was not
			err = c.notFound(ctx, r, err)
		}
		return nil, err
	}
	if c.store != nil && r.Digest == "" {
		if err := c.store.SetRef(r.CommonName(), d); err != nil {
			return nil, fmt.Errorf("remember %s in the cache: %w", r.CommonName(), err)
		}
	}
	ix := &Index{Ref: r, Digest: m.GetDescriptor().Digest, MediaType: manifest.GetMediaType(m)}
	switch mm := m.(type) {
	case manifest.Indexer:
		w := indexWalk{c: c, r: r, seen: map[digest.Digest]bool{ix.Digest: true}}
		if ix.Entries, err = w.entries(ctx, mm, 0); err != nil {
			return nil, err
		}
	case manifest.Imager:
		ix.Single = true
		img, err := c.Image(ctx, r, m.GetDescriptor())
		if err != nil {
			return nil, err
		}
		ix.Entries = []Entry{{Platform: printablePlatform(oci.NormalizePlatform(img.Config.Platform)), Descriptor: m.GetDescriptor()}}
	default:
		return nil, fmt.Errorf("%s is a %s, not an image or an index", r.CommonName(), printable(ix.MediaType))
	}
	return ix, nil
}

// indexWalk lists the manifests of an index. OCI lets an index list indexes; their
// entries stand in their place. Every index is fetched by digest and checked against it,
// so a registry cannot answer a nested index with an outer one and make the walk loop;
// seen skips an index listed twice, and oci.MaxIndexNesting and maxNestedIndexes bound
// the rest.
type indexWalk struct {
	c      *Client
	r      ref.Ref
	seen   map[digest.Digest]bool
	listed int // entries of every index so far
}

const maxNestedIndexes = 64

func (w *indexWalk) entries(ctx context.Context, m manifest.Indexer, depth int) ([]Entry, error) {
	descs, err := m.GetManifestList()
	if err != nil {
		return nil, fmt.Errorf("read index of %s: %w", w.r.CommonName(), err)
	}
	if w.listed += len(descs); w.listed > maxEntries {
		return nil, fmt.Errorf("the index of %s lists %d manifests (its nested indexes included); more than %d is not a real image index", w.r.CommonName(), w.listed, maxEntries)
	}
	var out []Entry
	for _, d := range descs {
		// Checked before any request: the registry would only say "not found".
		if err := d.Digest.Validate(); err != nil {
			return nil, fmt.Errorf("the index of %s lists manifest %q, which is not a valid digest (%v): a broken or hostile registry; refusing it", w.r.CommonName(), printable(d.Digest.String()), err)
		}
		if !isIndexManifest(d.MediaType) {
			e := Entry{Descriptor: d}
			if d.Platform != nil {
				e.Platform = printablePlatform(oci.NormalizePlatform(*d.Platform))
				// The index's own spelling is shown too (tables, diagnoses).
				raw := printablePlatform(*d.Platform)
				e.Descriptor.Platform = &raw
			}
			e.Attestation = d.Platform == nil || oci.IsAttestation(d.Platform) ||
				d.Annotations["vnd.docker.reference.type"] != "" ||
				!isImageManifest(d.MediaType)
			out = append(out, e)
			continue
		}
		if w.seen[d.Digest] {
			continue
		}
		w.seen[d.Digest] = true
		switch {
		case depth+1 > oci.MaxIndexNesting:
			return nil, fmt.Errorf("the index of %s nests indexes more than %d deep; refusing it", w.r.CommonName(), oci.MaxIndexNesting)
		case len(w.seen) > maxNestedIndexes+1: // the top index is in seen too
			return nil, fmt.Errorf("the index of %s nests more than %d indexes; refusing it", w.r.CommonName(), maxNestedIndexes)
		}
		nm, err := w.c.manifest(ctx, w.r, d.Digest)
		if err != nil {
			return nil, err
		}
		nested, ok := nm.(manifest.Indexer)
		if !ok {
			return nil, fmt.Errorf("%s: %s is listed as an index but is a %s", w.r.CommonName(), d.Digest, printable(manifest.GetMediaType(nm)))
		}
		sub, err := w.entries(ctx, nested, depth+1)
		if err != nil {
			return nil, err
		}
		out = append(out, sub...)
	}
	return out, nil
}

// Details reads every image manifest of the index, a few at a time, to fill in each
// entry's compressed size and layer count.
func (c *Client) Details(ctx context.Context, ix *Index) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for i := range ix.Entries {
		e := &ix.Entries[i]
		if !isImageManifest(e.Descriptor.MediaType) && !ix.Single {
			continue
		}
		g.Go(func() error {
			m, err := c.manifest(gctx, ix.Ref, e.Descriptor.Digest)
			if err != nil {
				return err
			}
			im, ok := m.(manifest.Imager)
			if !ok {
				return nil
			}
			layers, err := im.GetLayers()
			if err != nil {
				return fmt.Errorf("%s: %w", ix.Ref.CommonName(), err)
			}
			cfg, _ := im.GetConfig()
			e.Size, e.Layers = cfg.Size, len(layers)
			for _, l := range layers {
				e.Size += l.Size
			}
			return nil
		})
	}
	return g.Wait()
}

func isIndexManifest(mt string) bool {
	return mt == mediatype.OCI1ManifestList || mt == mediatype.Docker2ManifestList
}

func isImageManifest(mt string) bool {
	return mt == mediatype.OCI1Manifest || mt == mediatype.Docker2Manifest
}

// Image is an image manifest with its config.
type Image struct {
	Descriptor descriptor.Descriptor
	Manifest   v1.Manifest
	Config     v1.Image
}

// Image fetches the image manifest d of repository r and its config.
func (c *Client) Image(ctx context.Context, r ref.Ref, d descriptor.Descriptor) (*Image, error) {
	img, err := c.ImageManifest(ctx, r, d)
	if err != nil {
		return nil, err
	}
	if err := c.ImageConfig(ctx, r, img); err != nil {
		return nil, err
	}
	return img, nil
}

// ImageManifest fetches the image manifest d of repository r, checked against the
// bounds on layers, without its config: what a caller needs to start the layers'
// downloads while ImageConfig reads the config.
func (c *Client) ImageManifest(ctx context.Context, r ref.Ref, d descriptor.Descriptor) (*Image, error) {
	rd := r.SetDigest(d.Digest.String())
	m, err := c.manifest(ctx, r, d.Digest)
	if err != nil {
		return nil, err
	}
	if _, ok := m.(manifest.Imager); !ok {
		return nil, fmt.Errorf("%s: expected an image manifest, got %s", rd.CommonName(), printable(manifest.GetMediaType(m)))
	}
	om, err := manifest.OCIManifestFromAny(m.GetOrig())
	if err != nil {
		return nil, fmt.Errorf("%s: read manifest: %w", rd.CommonName(), err)
	}
	if len(om.Layers) > maxLayers {
		return nil, fmt.Errorf("%s lists %d layers; more than %d is not a real image", rd.CommonName(), len(om.Layers), maxLayers)
	}
	for _, d := range append([]descriptor.Descriptor{om.Config}, om.Layers...) {
		// Checked before any request: the registry would only say "not found".
		if err := d.Digest.Validate(); err != nil {
			return nil, fmt.Errorf("%s names blob %q, which is not a valid digest (%v): a broken or hostile registry; refusing it", rd.CommonName(), printable(d.Digest.String()), err)
		}
	}
	for _, l := range om.Layers {
		if l.Size < 0 || l.Size > maxLayerSize {
			return nil, fmt.Errorf("%s announces a layer of %d bytes (%s); refusing layers over 64 GiB", rd.CommonName(), l.Size, l.Digest)
		}
	}
	md := m.GetDescriptor()
	if md.Size == 0 {
		md = d
	}
	return &Image{Descriptor: md, Manifest: om}, nil
}

// ImageConfig reads the config of img, an image manifest of repository r, into
// img.Config.
func (c *Client) ImageConfig(ctx context.Context, r ref.Ref, img *Image) error {
	rd := r.SetDigest(img.Descriptor.Digest.String())
	cd := img.Manifest.Config
	if cd.Size > maxManifestSize {
		return fmt.Errorf("%s: config of %d bytes is larger than the %d bytes allowed", rd.CommonName(), cd.Size, maxManifestSize)
	}
	raw, err := c.fetchSmallBlob(ctx, r, cd)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, &img.Config); err != nil {
		return fmt.Errorf("%s: config %s is not valid JSON: %w", rd.CommonName(), cd.Digest, err)
	}
	return nil
}

// fetchSmallBlob reads a small blob (a config) fully, verified against its digest,
// from the cache when it holds it.
func (c *Client) fetchSmallBlob(ctx context.Context, r ref.Ref, d descriptor.Descriptor) ([]byte, error) {
	if c.store != nil && c.store.Has(d) {
		if raw, err := c.store.Read(d.Digest, maxManifestSize); err == nil {
			return raw, nil
		}
	}
	if c.pull == PullNever {
		return nil, fmt.Errorf("config %s of %s is %w (--pull=never)", d.Digest, r.CommonName(), ErrNotCached)
	}
	var raw []byte
	err := c.withRetry(ctx, func() error {
		// A config is small: the transport bounds its whole answer, as a manifest's, once
		// it is sent, and the lifeline the wait before.
		actx, cancel := context.WithCancelCause(ctx)
		defer cancel(nil)
		life := newLifeline(c.stallTimeout, cancel)
		defer life.stop()
		rdr, err := c.rc.BlobGet(withLifeline(withWholeAnswer(actx), life), r, d)
		if err != nil && context.Cause(actx) != nil {
			err = context.Cause(actx)
		}
		if err != nil {
			return asStall(err)
		}
		defer rdr.Close()
		raw, err = io.ReadAll(io.LimitReader(rdr, maxManifestSize+1))
		if err != nil {
			return asStall(err)
		}
		if got := digest.FromBytes(raw); got != d.Digest {
			return fmt.Errorf("%w: expected %s, got %s", errDigest, d.Digest, got)
		}
		return nil
	})
	switch {
	case errors.Is(err, errs.ErrSizeLimitExceeded):
		return nil, oversized(r, "config", d, err)
	case err != nil:
		return nil, c.describe(r, fmt.Errorf("fetch config %s: %w", d.Digest, err))
	}
	if c.store != nil {
		if _, err := c.store.PutBytes(raw); err != nil {
			return nil, err
		}
	}
	return raw, nil
}

// Tags lists the tags of r's repository.
func (c *Client) Tags(ctx context.Context, r ref.Ref) ([]string, error) {
	tl, err := c.rc.TagList(ctx, r)
	if err != nil {
		return nil, c.describe(r, err)
	}
	return tl.GetTags()
}
