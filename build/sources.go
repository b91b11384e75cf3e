package build

import (
	"context"
	"io"
	"slices"

	"github.com/regclient/regclient/types/descriptor"
	"github.com/regclient/regclient/types/ref"

	"github.com/pycontainer/pycontainer/oci"
	"github.com/pycontainer/pycontainer/registry"
)

// blobSource is where the base image comes from: its index, each platform's manifest
// and config, its layers, and the repository's tags for a diagnosis. A
// *registry.Client is one; a test's can hold an image in memory.
type blobSource interface {
	registry.IndexReader
	ImageManifest(ctx context.Context, r ref.Ref, d descriptor.Descriptor) (*registry.Image, error)
	ImageConfig(ctx context.Context, r ref.Ref, img *registry.Image) error
	FetchBlob(ctx context.Context, r ref.Ref, d descriptor.Descriptor, sink registry.BlobSink, progress registry.BlobProgress) error
}

var _ blobSource = (*registry.Client)(nil)

// layerStore is where base layers are downloaded to: the output layout (layoutStore),
// or before it is open the shared cache (cacheStore).
type layerStore interface {
	// Cached brings d into the store from what is on disk already, the layout itself or
	// the cache, and reports whether it was there (and, if so, whether that failed).
	Cached(d descriptor.Descriptor) (bool, error)
	// Receiver takes a download of d; Received, after the download succeeded, puts it
	// in the store.
	Receiver(d descriptor.Descriptor) registry.BlobSink
	Received(d descriptor.Descriptor) error
}

// blobStore is where a build puts blobs: the output layout, with the shared cache
// behind it (layoutStore).
type blobStore interface {
	layerStore
	// NewBlobWriter starts a blob the build writes (a layer); PutJSON stores a config,
	// a manifest or an index.
	NewBlobWriter() (*oci.BlobWriter, error)
	PutJSON(ctx context.Context, mediaType string, v any) (descriptor.Descriptor, error)
}

// layoutStore is the output layout with the shared cache behind it (nil: none).
// Downloads go to the cache, then into the layout, so the next build of any project
// finds them; there, what a failed download got is kept and resumed.
type layoutStore struct {
	layout *oci.Layout
	cache  *oci.Store
}

func (s layoutStore) Cached(d descriptor.Descriptor) (bool, error) {
	if s.layout.HasBlob(d) {
		return true, nil
	}
	if s.cache != nil && s.cache.Has(d) {
		return true, s.cache.LinkInto(s.layout, d)
	}
	return false, nil
}

func (s layoutStore) Receiver(d descriptor.Descriptor) registry.BlobSink {
	if s.cache != nil {
		return s.cache.Partial(d)
	}
	return &blobSink{newWriter: s.layout.NewBlobWriter, want: d}
}

func (s layoutStore) Received(d descriptor.Descriptor) error {
	if s.cache != nil {
		return s.cache.LinkInto(s.layout, d)
	}
	return nil
}

func (s layoutStore) NewBlobWriter() (*oci.BlobWriter, error) { return s.layout.NewBlobWriter() }

func (s layoutStore) PutJSON(ctx context.Context, mediaType string, v any) (descriptor.Descriptor, error) {
	return s.layout.PutJSON(ctx, mediaType, v)
}

// blobSink stores one blob download attempt in the layout, verified on commit.
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

// Connect is a registry client with the options' connection settings for r's registry,
// caching in the shared cache: what browsing an index (registry.FetchIndex) and a
// diagnosis (registry.DiagnoseAll) read through.
func (o *Options) Connect(r ref.Ref) *registry.Client { return o.client(r, o.store()) }

// client is a registry client with the options' connection settings for r's registry,
// caching in store (nil: no cache).
func (o *Options) client(r ref.Ref, store *oci.Store) *registry.Client {
	ro := o.registryOptions(r)
	ro.Store = store
	return registry.New(ro)
}

// buildClient is the one client a build reaches registries with. With --push it is also
// the push's: the target's registry and login are set up with the base's, and a
// registry with token auth is asked for the push scopes from the first token exchange,
// so neither the push nor a second client pays for more.
func (o *Options) buildClient(r ref.Ref, store *oci.Store) *registry.Client {
	if !o.Push || o.DryRun {
		return o.client(r, store)
	}
	target, err := PushTarget(o)
	if err != nil || !o.sharesClient(r, target) {
		return o.client(r, store) // prepare refuses a bad target before any request
	}
	ro := o.pushOptions(r, target)
	ro.Store = store
	return registry.New(ro)
}

// sharesClient reports whether a build's pulls of base and its push to target can go
// through one client. Not when the push has a login of its own (REGISTRY_*,
// GITHUB_TOKEN) for the registry the base comes from (or its mirror): that login is the
// push's, and the pulls keep the one docker's config gives them.
func (o *Options) sharesClient(base, target ref.Ref) bool {
	if registry.CredentialFor(target.Registry, o.Process.Getenv).User == "" {
		return true
	}
	return target.Registry != base.Registry && target.Registry != o.Mirrors[base.Registry]
}

// pushOptions are the connection settings of a build that pushes to target.
func (o *Options) pushOptions(base, target ref.Ref) registry.Options {
	ro := o.registryOptions(base, target.Registry)
	ro.Credentials = map[string]registry.Credential{target.Registry: registry.CredentialFor(target.Registry, o.Process.Getenv)}
	ro.Push = []ref.Ref{target}
	return ro
}

// registryOptions are the options' connection settings for the base image's registry
// and any others named.
func (o *Options) registryOptions(base ref.Ref, others ...string) registry.Options {
	insecure := o.Insecure
	if o.InsecureBase {
		insecure = append(slices.Clone(insecure), base.Registry)
	}
	return registry.Options{Insecure: insecure, Mirrors: o.Mirrors, Registries: append([]string{base.Registry}, others...),
		Pull: o.Pull, StallTimeout: o.StallTimeout, DockerConfig: registry.DockerConfigPath(o.Process.Getenv),
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
