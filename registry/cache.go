package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	digest "github.com/opencontainers/go-digest"
	"github.com/regclient/regclient/types/descriptor"
	"github.com/regclient/regclient/types/errs"
	"github.com/regclient/regclient/types/manifest"
	"github.com/regclient/regclient/types/mediatype"
	"github.com/regclient/regclient/types/ref"
)

// Pull policies: when to ask the registry what a tag points at.
const (
	PullAlways  = "always"  // one manifest request per build (a HEAD once the tag is cached), everything else from the cache
	PullMissing = "missing" // ask only for tags never resolved before
	PullNever   = "never"   // never ask: work offline from the cache
)

// ErrNotCached is returned with --pull=never for content the cache does not hold.
var ErrNotCached = errors.New("not in the cache")

// resolve finds the digest r points at, by the pull policy, and returns the manifest's
// bytes when it read them. A tag the cache knows is checked with a HEAD, which says
// whether it moved without sending what the cache holds; any other is read with one GET
// (a HEAD first would cost a round trip and tell nothing the GET does not).
func (c *Client) resolve(ctx context.Context, r ref.Ref) (digest.Digest, []byte, error) {
	if r.Digest != "" {
		d, err := digest.Parse(r.Digest)
		return d, nil, err
	}
	known := false
	if c.store != nil {
		d, ok := c.store.Ref(r.CommonName())
		switch {
		case ok && c.pull != PullAlways:
			return d, nil, nil
		case !ok && c.pull == PullNever:
			return "", nil, fmt.Errorf("%s is %w (--pull=never): build once with network access, or use --pull=missing", r.CommonName(), ErrNotCached)
		}
		known = ok
	}
	if known {
		m, err := c.rc.ManifestHead(ctx, r)
		if err == nil && m.GetDescriptor().Digest != "" {
			return m.GetDescriptor().Digest, nil, nil
		}
		if final(err) {
			return "", nil, c.describe(r, err) // a GET would not do better
		}
		// Some registries answer HEAD without a digest: read the manifest instead.
	}
	var raw []byte
	// Retried like a manifest read by digest: a registry (or a proxy) can answer once
	// with a body of the wrong media type or cut short.
	err := c.withRetry(ctx, func() error {
		m, err := c.rc.ManifestGet(ctx, r)
		if err != nil {
			return err
		}
		raw, err = m.RawBody()
		return err
	})
	if err != nil {
		return "", nil, c.describe(r, err)
	}
	d := digest.FromBytes(raw)
	if c.store != nil {
		if _, err := c.store.PutBytes(raw); err != nil {
			return "", nil, err
		}
	}
	return d, raw, nil
}

// final reports whether a failed HEAD says all a GET would: nothing listens there, no
// answer came in time, the token server's answer was refused. (Answering a GET after a
// failed token request, regclient says only "unauthorized".)
func final(err error) bool {
	var tooLarge *AuthAnswerTooLargeError
	return errors.Is(err, errs.ErrNotRetryable) || errors.Is(err, errNoAnswer) || errors.As(err, &tooLarge)
}

// manifest returns the manifest d of repository r, from the cache when it holds it.
func (c *Client) manifest(ctx context.Context, r ref.Ref, d digest.Digest) (manifest.Manifest, error) {
	return c.manifestFrom(ctx, r, d, nil)
}

// manifestFrom is manifest with its bytes, when they were read already (raw != nil).
func (c *Client) manifestFrom(ctx context.Context, r ref.Ref, d digest.Digest, raw []byte) (manifest.Manifest, error) {
	if raw == nil && c.store != nil && c.store.Has(descriptor.Descriptor{Digest: d}) {
		raw, _ = c.store.Read(d, maxManifestSize)
	}
	rd := r.SetDigest(d.String())
	if raw == nil {
		if c.pull == PullNever {
			return nil, fmt.Errorf("manifest %s of %s is %w (--pull=never)", d, r.CommonName(), ErrNotCached)
		}
		// Retried: a registry (or a proxy in front of it) can answer once with a body of
		// the wrong media type or cut short; the digest check below decides.
		err := c.withRetry(ctx, func() error {
			m, err := c.rc.ManifestGet(ctx, rd)
			if err != nil {
				return err
			}
			raw, err = m.RawBody()
			return err
		})
		if err != nil {
			return nil, c.describe(rd, err)
		}
		if got := digest.FromBytes(raw); got != d {
			return nil, c.describe(rd, fmt.Errorf("got %s: %w", got, errs.ErrDigestMismatch))
		}
		if c.store != nil {
			if _, err := c.store.PutBytes(raw); err != nil {
				return nil, err
			}
		}
	}
	m, err := manifest.New(manifest.WithRaw(raw), manifest.WithRef(rd),
		manifest.WithDesc(descriptor.Descriptor{MediaType: manifestMediaType(raw), Digest: d, Size: int64(len(raw))}))
	if err != nil {
		return nil, fmt.Errorf("%s: read manifest: %w", rd.CommonName(), err)
	}
	return m, nil
}

// manifestMediaType reads a manifest's media type from its JSON, as registries send
// it in a header that a cached copy no longer has.
func manifestMediaType(raw []byte) string {
	var probe struct {
		MediaType string          `json:"mediaType"`
		Manifests json.RawMessage `json:"manifests"`
	}
	_ = json.Unmarshal(raw, &probe)
	switch {
	case probe.MediaType != "":
		return probe.MediaType
	case probe.Manifests != nil:
		return mediatype.OCI1ManifestList
	}
	return mediatype.OCI1Manifest
}

// RawManifest returns the manifest bytes r points at, straight from the registry.
func (c *Client) RawManifest(ctx context.Context, r ref.Ref) ([]byte, error) {
	m, err := c.rc.ManifestGet(ctx, r)
	if err != nil {
		return nil, c.describe(r, err)
	}
	return m.RawBody()
}
