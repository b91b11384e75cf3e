package registry

import (
	"context"

	"github.com/regclient/regclient/types/ref"
)

// IndexReader reads indexes and lists tags: what a diagnosis needs of a registry. A
// *Client is one.
type IndexReader interface {
	Index(ctx context.Context, r ref.Ref) (*Index, error)
	Tags(ctx context.Context, r ref.Ref) ([]string, error)
}

// Connect gives the client to reach r's registry with: the caller's connection settings
// (plain HTTP, mirrors, the cache) depend on which registry it is.
type Connect func(r ref.Ref) *Client

// FetchIndex reads the index of image with each entry's size and layer count, through
// the client connect gives for image's registry.
func FetchIndex(ctx context.Context, connect Connect, image string) (*Index, error) {
	return fetchIndex(ctx, connect, image, true)
}

// FetchPlatforms reads the index of image alone: its platforms, without the per-entry
// manifests FetchIndex reads for sizes (one request instead of one per platform).
func FetchPlatforms(ctx context.Context, connect Connect, image string) (*Index, error) {
	return fetchIndex(ctx, connect, image, false)
}

func fetchIndex(ctx context.Context, connect Connect, image string, details bool) (*Index, error) {
	r, err := ParseReference(image)
	if err != nil {
		return nil, err
	}
	c := connect(r)
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
