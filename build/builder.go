package build

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/regclient/regclient/types/ref"

	"github.com/pycontainer/pycontainer/oci"
	"github.com/pycontainer/pycontainer/registry"
)

// builderFor is the image sdists compile in for a build from base: --builder-image when
// given, else the base's full sibling, the same tag without "-slim" (python:3.11-slim →
// python:3.11, 3.11-slim-bookworm → 3.11-bookworm): the same Python and libc, with gcc
// and the headers. A base without "-slim" (alpine, or a full image already, or one
// pinned by digest alone) has no sibling the build can name with confidence.
func builderFor(given string, base ref.Ref) (ref.Ref, error) {
	if given != "" {
		r, err := registry.ParseReference(given)
		if err != nil {
			return ref.Ref{}, fmt.Errorf("--builder-image: %w", err)
		}
		return r, nil
	}
	if base.Tag == "" || strings.Contains(base.Tag, "alpine") || !strings.Contains(base.Tag, "-slim") {
		return ref.Ref{}, fmt.Errorf("base image %s has no builder image with a compiler: pass --builder-image (an image with the same Python and libc, and gcc)", base.CommonName())
	}
	return base.SetTag(strings.Replace(base.Tag, "-slim", "", 1)), nil
}

// builderImage is the builder as the build pinned it: its index, read once, and each
// platform's manifest and config as a compile needs them.
type builderImage struct {
	ref    ref.Ref // as named (tag kept, for messages)
	index  *registry.Index
	source blobSource

	mu     sync.Mutex
	images map[string]*registry.Image // by platform
}

// pinned is the builder's reference pinned to its index digest, as the plan names it.
func (b *builderImage) pinned() ref.Ref { return b.ref.SetDigest(b.index.Digest.String()) }

// image is the builder's manifest and config for platform p, and the reference pinned to
// that manifest's digest (what an engine runs).
func (b *builderImage) image(ctx context.Context, p oci.Platform) (*registry.Image, ref.Ref, error) {
	key := oci.PlatformString(p)
	b.mu.Lock()
	defer b.mu.Unlock() // held across the fetch: two platforms' compiles share nothing here
	if img, ok := b.images[key]; ok {
		return img, b.ref.SetDigest(img.Descriptor.Digest.String()), nil
	}
	e, ok := b.index.Find(p)
	if !ok {
		return nil, ref.Ref{}, fmt.Errorf("builder image %s has no image for %s: pass --builder-image with one that has", b.ref.CommonName(), key)
	}
	img, err := b.source.ImageManifest(ctx, b.ref, e.Descriptor)
	if err != nil {
		return nil, ref.Ref{}, fmt.Errorf("builder image %s for %s: %w", b.ref.CommonName(), key, err)
	}
	if err := b.source.ImageConfig(ctx, b.ref, img); err != nil {
		return nil, ref.Ref{}, fmt.Errorf("builder image %s for %s: %w", b.ref.CommonName(), key, err)
	}
	if b.images == nil {
		b.images = map[string]*registry.Image{}
	}
	b.images[key] = img
	return img, b.ref.SetDigest(img.Descriptor.Digest.String()), nil
}
