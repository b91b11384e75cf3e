package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	digest "github.com/opencontainers/go-digest"
	"github.com/regclient/regclient"
	"github.com/regclient/regclient/types/descriptor"
	"github.com/regclient/regclient/types/errs"
	"github.com/regclient/regclient/types/manifest"
	"github.com/regclient/regclient/types/mediatype"
	v1 "github.com/regclient/regclient/types/oci/v1"
	"github.com/regclient/regclient/types/ref"
	"golang.org/x/sync/errgroup"

	"github.com/pycontainer/pycontainer/oci"
)

// How a blob reached the target registry.
const (
	BlobUploaded = "uploaded"
	BlobSkipped  = "skipped" // the registry had it
	BlobMounted  = "mounted" // mounted from the base image's repository
)

// PushReport receives push progress. Methods may be called from several goroutines.
type PushReport interface {
	BlobProgress(d digest.Digest, done, total int64)
	BlobDone(d digest.Digest, size int64, how string)
}

// PushResult sums up a push.
type PushResult struct {
	Target   string        // the tag pushed
	Digest   digest.Digest // of the manifest or index under the tag
	Uploaded int
	Skipped  int
	Mounted  int
	Bytes    int64 // uploaded
}

// Mount names blobs that another repository holds (the base image's layers), which a
// push may mount from there instead of uploading them.
type Mount struct {
	From  ref.Ref
	Blobs map[digest.Digest]bool
}

// Push copies images from the OCI layout at dir to target: every blob the registry
// lacks (mounted from mount's repository when it holds it on the same registry), each
// manifest by digest, then under target's tag the one manifest, or for several an OCI
// index of them all. Uploads stream from the files; nothing is held in memory. A tag
// that names what would be pushed already ends the push at its first request.
func (c *Client) Push(ctx context.Context, dir string, manifests []descriptor.Descriptor, target ref.Ref, mount *Mount, report PushReport) (PushResult, error) {
	res := PushResult{Target: target.CommonName()}
	raws, blobs, err := readManifests(dir, manifests)
	if err != nil {
		return res, err
	}
	tagged, err := taggedDigest(manifests)
	if err != nil {
		return res, err
	}
	// The tag's HEAD is the push's first request: an unreachable registry or a wrong
	// password fails once, clearly, instead of once per blob.
	m, err := c.rc.ManifestHead(ctx, target)
	switch {
	case err == nil && m.GetDescriptor().Digest == tagged:
		// The registry holds a manifest only once it holds all it names.
		for _, d := range blobs {
			res.Skipped++
			report.BlobDone(d.Digest, d.Size, BlobSkipped)
		}
		res.Digest = tagged
		return res, nil
	case err != nil && !errors.Is(err, errs.ErrNotFound):
		return res, c.describe(target, err)
	}
	if mount != nil && mount.From.Registry != target.Registry {
		mount = nil // mounts only work within one registry
	}
	if err := c.pushBlobs(ctx, dir, blobs, target, mount, report, &res); err != nil {
		return res, err
	}
	if len(manifests) == 1 {
		// Put under the tag, the manifest is there by its digest too.
		res.Digest = manifests[0].Digest
		return res, c.putManifest(ctx, target, manifests[0].MediaType, raws[0], false)
	}
	for i, md := range manifests {
		if err := c.putManifest(ctx, target.SetDigest(md.Digest.String()), md.MediaType, raws[i], true); err != nil {
			return res, err
		}
	}
	res.Digest, err = c.PushIndex(ctx, target, manifests)
	return res, err
}

// readManifests reads manifests from the layout at dir, and lists the blobs they name,
// each once.
func readManifests(dir string, manifests []descriptor.Descriptor) ([][]byte, []descriptor.Descriptor, error) {
	var blobs []descriptor.Descriptor
	seen := map[digest.Digest]bool{}
	raws := make([][]byte, len(manifests))
	for i, md := range manifests {
		raw, err := os.ReadFile(oci.BlobPath(dir, md.Digest))
		if err != nil {
			return nil, nil, fmt.Errorf("read manifest %s from %s: %w", md.Digest, dir, err)
		}
		raws[i] = raw
		var m v1.Manifest
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, nil, fmt.Errorf("manifest %s: %w", md.Digest, err)
		}
		for _, d := range append([]descriptor.Descriptor{m.Config}, m.Layers...) {
			if !seen[d.Digest] {
				seen[d.Digest] = true
				blobs = append(blobs, d)
			}
		}
	}
	return raws, blobs, nil
}

// taggedDigest is the digest of what Push puts under the tag: the one manifest, or the
// index of them all.
func taggedDigest(manifests []descriptor.Descriptor) (digest.Digest, error) {
	if len(manifests) == 1 {
		return manifests[0].Digest, nil
	}
	_, d, err := IndexFor(manifests)
	return d, err
}

// pushBlobs makes every blob available in target's repository, a few at a time, and
// counts how in res.
func (c *Client) pushBlobs(ctx context.Context, dir string, blobs []descriptor.Descriptor, target ref.Ref, mount *Mount, report PushReport, res *PushResult) error {
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for _, d := range blobs {
		g.Go(func() error {
			how, err := c.pushBlob(gctx, dir, d, target, mount, report)
			if err != nil {
				return err
			}
			mu.Lock()
			switch how {
			case BlobSkipped:
				res.Skipped++
			case BlobMounted:
				res.Mounted++
			default:
				res.Uploaded++
				res.Bytes += d.Size
			}
			mu.Unlock()
			report.BlobDone(d.Digest, d.Size, how)
			return nil
		})
	}
	return g.Wait()
}

// IndexFor is the OCI index of manifests exactly as PushIndex pushes it, and as a
// layout keeps it: each image named by its platform alone (oci.PlatformIndex).
func IndexFor(manifests []descriptor.Descriptor) ([]byte, digest.Digest, error) {
	raw, err := json.Marshal(oci.PlatformIndex(manifests))
	if err != nil {
		return nil, "", fmt.Errorf("encode index: %w", err)
	}
	return raw, digest.FromBytes(raw), nil
}

// PushIndex puts an index of manifests already in target's repository under its tag.
func (c *Client) PushIndex(ctx context.Context, target ref.Ref, manifests []descriptor.Descriptor) (digest.Digest, error) {
	raw, d, err := IndexFor(manifests)
	if err != nil {
		return "", err
	}
	return d, c.putManifest(ctx, target, mediatype.OCI1ManifestList, raw, false)
}

func (c *Client) putManifest(ctx context.Context, r ref.Ref, mediaType string, raw []byte, child bool) error {
	m, err := manifest.New(manifest.WithRaw(raw), manifest.WithDesc(descriptor.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(raw), Size: int64(len(raw))}))
	if err != nil {
		return fmt.Errorf("manifest for %s: %w", r.CommonName(), err)
	}
	var opts []regclient.ManifestOpts
	if child {
		opts = append(opts, regclient.WithManifestChild())
	}
	if err := c.rc.ManifestPut(ctx, r, m, opts...); err != nil {
		return c.describe(r, fmt.Errorf("push manifest: %w", err))
	}
	return nil
}

// pushBlob makes blob d available in target's repository. A blob mount names holds is
// mounted at once (one request, whether target holds it already or not); any other is
// looked for first, then uploaded.
func (c *Client) pushBlob(ctx context.Context, dir string, d descriptor.Descriptor, target ref.Ref, mount *Mount, report PushReport) (string, error) {
	if mount != nil && mount.Blobs[d.Digest] {
		if err := c.rc.BlobMount(ctx, mount.From, target, d); err == nil {
			return BlobMounted, nil
		}
	}
	if _, err := c.rc.BlobHead(ctx, target, d); err == nil {
		return BlobSkipped, nil
	}
	f, err := os.Open(oci.BlobPath(dir, d.Digest))
	if err != nil {
		return "", fmt.Errorf("read blob %s: %w", d.Digest, err)
	}
	defer f.Close()
	rdr := &progressReadSeeker{r: f, report: func(n int64) { report.BlobProgress(d.Digest, n, d.Size) }}
	if _, err := c.rc.BlobPut(ctx, target, d, rdr); err != nil {
		return "", c.describe(target, fmt.Errorf("upload blob %s: %w", d.Digest, err))
	}
	return BlobUploaded, nil
}

// progressReadSeeker reports bytes read and stays seekable, so regclient can rewind
// an upload it retries.
type progressReadSeeker struct {
	r      io.ReadSeeker
	done   int64
	report func(done int64)
}

func (p *progressReadSeeker) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.done += int64(n)
	if n > 0 {
		p.report(p.done)
	}
	return n, err
}

func (p *progressReadSeeker) Seek(off int64, whence int) (int64, error) {
	pos, err := p.r.Seek(off, whence)
	if err == nil {
		p.done = pos
	}
	return pos, err
}

// CopyManifest makes the image manifest src (by digest) and its blobs available in
// dst's repository, skipping what is there already.
func (c *Client) CopyManifest(ctx context.Context, src ref.Ref, dst ref.Ref) error {
	if err := c.rc.ImageCopy(ctx, src, dst); err != nil {
		return c.describe(dst, fmt.Errorf("copy %s: %w", src.CommonName(), err))
	}
	return nil
}

// Ping checks that r's registry answers and accepts the client's login.
func (c *Client) Ping(ctx context.Context, r ref.Ref) error {
	if _, err := c.rc.Ping(ctx, r); err != nil {
		return c.describe(r, err)
	}
	return nil
}
