package build

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/regclient/regclient/types/descriptor"

	"github.com/pycontainer/pycontainer/oci"
	"github.com/pycontainer/pycontainer/registry"
	"github.com/pycontainer/pycontainer/sandbox"
)

// wheelEpoch fixes the time of a compiled wheel's zip entries (1980, as in the layers), so
// the same sdist gives the same wheel and the dependency layer stays reproducible.
const wheelEpoch = "SOURCE_DATE_EPOCH=315532800"

// compilers are where o's sdists may compile, in the order asked.
func compilers(o *Options) []compiler {
	all := append([]compiler{&sandboxCompiler{}}, engineCompilers(o.Process)...)
	if o.SdistCompiler == "" || o.SdistCompiler == "auto" {
		return all
	}
	for _, c := range all {
		if c.Name() == o.SdistCompiler {
			return []compiler{c}
		}
	}
	return all // the settings refuse any other name before a build starts
}

func (c *sandboxCompiler) Name() string { return "sandbox" }

// pipWheel is the command that compiles sdist (a host path; its directory is /tmp/in
// inside) into /tmp/out: the builder's own python3 on its PATH (/usr/local/bin in the
// official images, /usr/bin in Debian's), no dependencies, no index and no isolated
// build environment, since nothing inside reaches a network.
func pipWheel(sdist string) []string {
	return []string{"python3", "-m", "pip", "wheel", "--no-deps", "--no-index", "--no-build-isolation",
		"-w", "/tmp/out", "/tmp/in/" + filepath.Base(sdist)}
}

// sandboxCompiler compiles in the builder image's root filesystem, unpacked once per
// manifest into the shared cache, through package sandbox: no engine, natively or under
// the host's binfmt_misc emulator.
type sandboxCompiler struct {
	once      sync.Once
	available error
}

// How says whether the sandbox runs here (root, or user namespaces) and runs p: natively
// or through a registered emulator.
func (c *sandboxCompiler) How(p oci.Platform) (string, error) {
	c.once.Do(func() { c.available = sandbox.Available() })
	if c.available != nil {
		fix := "run as root, or allow user namespaces"
		if errors.Is(c.available, errors.ErrUnsupported) { // not Linux: an engine's VM is the way
			fix = "Docker Desktop or a Podman machine"
		}
		return "", &unusable{why: c.available.Error(), fix: fix}
	}
	how, err := sandbox.Emulation(p)
	if err != nil {
		return "", &unusable{why: err.Error(), fix: "apt-get install qemu-user-static binfmt-support"}
	}
	if how.Native {
		return "native", nil
	}
	return "emulated", nil
}

// Compile runs pip wheel in the builder's root filesystem with the sdist's directory at
// /tmp/in (read-only) and the output at /tmp/out; nothing else of the host is inside.
func (c *sandboxCompiler) Compile(ctx context.Context, job compileJob) error {
	cache, done, err := sandboxCache(job.Cache)
	if err != nil {
		return err
	}
	defer done()
	rootfs, release, err := builderRootFS(ctx, job, cache)
	if err != nil {
		return fmt.Errorf("builder %s for %s: %w", job.Builder.CommonName(), oci.PlatformString(job.Platform), err)
	}
	defer release()
	args := pipWheel(job.Sdist)
	fmt.Fprintf(job.Log, "$ %s  (in %s, sandboxed)\n", strings.Join(args, " "), job.Builder.CommonName())
	return sandbox.Run(ctx, sandbox.Spec{
		RootFS: rootfs,
		Args:   args,
		Env:    builderEnv(job.Manifest.Config.Config.Env),
		Dir:    "/tmp",
		Binds: []sandbox.Bind{
			{Host: filepath.Dir(job.Sdist), Inside: "/tmp/in"},
			{Host: job.OutDir, Inside: "/tmp/out", Writable: true},
		},
		Stdout: job.Log,
		Stderr: job.Log,
	})
}

// sandboxCache is where the builder's layers and root filesystem go: the shared cache,
// or with --no-cache a store of this compile's own, removed by done.
func sandboxCache(shared *oci.Store) (*oci.Store, func(), error) {
	if shared != nil {
		return shared, func() {}, nil
	}
	dir, err := os.MkdirTemp("", "pycontainer-builder-")
	if err != nil {
		return nil, nil, err
	}
	store, err := oci.OpenStore(dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	return store, func() { os.RemoveAll(dir) }, nil
}

// builderEnv is the environment inside: the image's own (its PATH finds its python3),
// then what keeps pip quiet, offline and reproducible, and HOME in the fresh /tmp.
func builderEnv(image []string) []string {
	env := make([]string, 0, len(image)+7)
	hasPath := false
	for _, kv := range image {
		hasPath = hasPath || strings.HasPrefix(kv, "PATH=")
		env = append(env, kv)
	}
	if !hasPath {
		env = append(env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	}
	return append(env, "HOME=/tmp", "PIP_NO_CACHE_DIR=1", "PIP_DISABLE_PIP_VERSION_CHECK=1", "PIP_NO_INPUT=1",
		"PIP_ROOT_USER_ACTION=ignore", "PYTHONDONTWRITEBYTECODE=1", wheelEpoch)
}

// builderRootFS is the builder's root filesystem for job's platform, under the cache's
// rootfs/<manifest digest>, held (oci.UseDir: marked used, kept from cache prune) until
// release: unpacked once, from its layers brought into the cache, into a temporary
// sibling renamed into place, so a reader never sees half of one and two builds
// unpacking at once both end with a whole one.
func builderRootFS(ctx context.Context, job compileJob, cache *oci.Store) (dir string, release func(), err error) {
	dir = filepath.Join(cache.Dir(), "rootfs", job.Manifest.Descriptor.Digest.Encoded())
	if release, err := oci.UseDir(dir); err == nil {
		return dir, release, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", nil, err
	}
	// The compile's log (and so its progress line) says what the first minute goes to.
	fmt.Fprintf(job.Log, "unpacking the builder's %d layers (once per builder image and platform)\n", len(job.Manifest.Manifest.Layers))
	layers := make([]sandbox.Layer, 0, len(job.Manifest.Manifest.Layers))
	for _, l := range job.Manifest.Manifest.Layers {
		if err := fetchIntoCache(ctx, job.Blobs, job, l, cache); err != nil {
			return "", nil, err
		}
		path := cache.Path(l.Digest)
		layers = append(layers, sandbox.Layer{MediaType: l.MediaType, Open: func() (io.ReadCloser, error) { return os.Open(path) }})
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return "", nil, err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".unpack-")
	if err != nil {
		return "", nil, err
	}
	defer oci.RemoveTree(tmp) // what is left of it: all of it when the unpack failed
	staged := filepath.Join(tmp, "rootfs")
	if err := sandbox.Unpack(ctx, staged, layers); err != nil {
		return "", nil, err
	}
	// A rename onto a directory that another build put there first fails; that one is
	// as good (the same layers), and ours goes with tmp.
	_ = os.Rename(staged, dir)
	release, err = oci.UseDir(dir)
	return dir, release, err
}

// fetchIntoCache brings layer l of the builder into cache unless it is there, verified
// against its digest as every download is.
func fetchIntoCache(ctx context.Context, blobs blobSource, job compileJob, l descriptor.Descriptor, cache *oci.Store) error {
	if cache.Has(l) {
		return nil
	}
	if blobs == nil {
		return errors.New("no registry to read the builder's layers from")
	}
	return blobs.FetchBlob(ctx, job.Builder, l, cache.Partial(l), registry.BlobProgress{})
}
