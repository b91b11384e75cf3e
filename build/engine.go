package build

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/regclient/regclient/types/descriptor"

	"github.com/pycontainer/pycontainer/internal/cmdenv"
	"github.com/pycontainer/pycontainer/oci"
)

// engineCompilers are the container engines an sdist can compile in, in the order
// asked: docker, then podman.
func engineCompilers(process cmdenv.Env) []compiler {
	return []compiler{&engineCompiler{name: "docker", process: process}, &engineCompiler{name: "podman", process: process}}
}

// engineInfoTimeout bounds `docker info`: a daemon that does not answer is no engine.
const engineInfoTimeout = 20 * time.Second

// engineCompiler compiles in a container of the builder image, run by docker or podman
// (whichever of them is name), found on the PATH of the build's environment.
type engineCompiler struct {
	name    string
	process cmdenv.Env

	once sync.Once
	bin  string
	err  error
}

func (e *engineCompiler) Name() string { return e.name }

// How says whether the engine runs here: its binary on PATH, and `info` answered (a
// docker whose daemon is down, a podman machine that is stopped, are not). It asks
// once per build.
func (e *engineCompiler) How(oci.Platform) (string, error) {
	e.once.Do(e.check)
	return e.name, e.err
}

func (e *engineCompiler) fix() string {
	if runtime.GOOS == "darwin" || runtime.GOOS == "windows" {
		return "Docker Desktop or a Podman machine"
	}
	return "docker or podman that runs"
}

func (e *engineCompiler) check() {
	bin, err := lookPath(e.name, e.process.Getenv("PATH"))
	if err != nil {
		e.err = &unusable{why: fmt.Sprintf("%s: not found on PATH", e.name), fix: e.fix()}
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), engineInfoTimeout)
	defer cancel()
	e.bin = bin
	if out, err := e.output(ctx, "info"); err != nil {
		e.bin, e.err = "", &unusable{why: fmt.Sprintf("%s info failed (%v): %s", e.name, err, out), fix: e.fix()}
	}
}

// Compile runs pip wheel in a container of the builder, pinned by digest, with no
// network: the sdist's directory read-only at /tmp/in, the wheel out at /tmp/out.
func (e *engineCompiler) Compile(ctx context.Context, job compileJob) error {
	if _, err := e.How(job.Platform); err != nil {
		return err
	}
	var id [6]byte
	_, _ = rand.Read(id[:])
	name := "pycontainer-sdist-" + hex.EncodeToString(id[:])
	args := []string{"run", "--rm", "--name", name, "--platform", oci.PlatformString(job.Platform), "--network", "none",
		"-e", "HOME=/tmp", "-e", "PIP_NO_CACHE_DIR=1", "-e", "PIP_DISABLE_PIP_VERSION_CHECK=1", "-e", wheelEpoch,
		"-v", filepath.Dir(job.Sdist) + ":/tmp/in:ro", "-v", job.OutDir + ":/tmp/out"}
	if e.name == "docker" && os.Getuid() > 0 {
		// docker's daemon runs as root: the wheel would be root's on this side. (Rootless
		// podman maps the container's root to this user already.)
		args = append(args, "--user", fmt.Sprintf("%d:%d", os.Getuid(), os.Getgid()))
	}
	image, err := e.builderImage(ctx, job)
	if err != nil {
		return err
	}
	args = append(append(args, "--pull", "never", image), pipWheel(job.Sdist)...)
	fmt.Fprintf(job.Log, "$ %s %s\n", e.name, strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, e.bin, args...)
	cmd.Env = e.process.Variables()
	cmd.Stdout, cmd.Stderr = job.Log, job.Log
	cmd.WaitDelay = pipWaitDelay
	err = cmd.Run()
	if ctx.Err() != nil {
		// Killing the client leaves the container running in the daemon: remove it.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), engineInfoTimeout)
		defer cancel()
		rm := exec.CommandContext(rctx, e.bin, "rm", "-f", name)
		rm.Env = e.process.Variables()
		_ = rm.Run()
		return context.Cause(ctx)
	}
	if err != nil {
		return fmt.Errorf("%s run: %w", e.name, err)
	}
	return nil
}

// builderImage makes sure the engine has job's builder and says how run names it: the
// engine has it already, or pulls it; or, when it cannot reach the builder's registry (a
// mirror, a login or a plain-HTTP registry only pycontainer was told of), it loads it
// from the shared cache, as a docker-archive both engines read.
func (e *engineCompiler) builderImage(ctx context.Context, job compileJob) (string, error) {
	ref := job.Builder.CommonName()
	if e.quiet(ctx, "image", "inspect", ref) == nil {
		return ref, nil
	}
	pullErr := e.quiet(ctx, "pull", "--platform", oci.PlatformString(job.Platform), ref)
	if pullErr == nil {
		return ref, nil
	}
	if job.Manifest == nil || ctx.Err() != nil {
		return "", fmt.Errorf("%s pull %s: %w", e.name, ref, pullErr)
	}
	fmt.Fprintf(job.Log, "%s could not pull %s (%v); loading it from pycontainer's cache\n", e.name, ref, pullErr)
	name := "pycontainer-builder:" + job.Manifest.Descriptor.Digest.Encoded()[:12]
	if err := e.load(ctx, job, name); err != nil {
		return "", fmt.Errorf("%s could not pull the builder %s (%v), nor load it from the cache: %w", e.name, ref, pullErr, err)
	}
	return name, nil
}

// quiet runs the engine with args, its output kept for the error only.
func (e *engineCompiler) quiet(ctx context.Context, args ...string) error {
	if out, err := e.output(ctx, args...); err != nil {
		return fmt.Errorf("%w: %s", err, out)
	}
	return nil
}

// output runs the engine with args and returns the last line it wrote.
func (e *engineCompiler) output(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, e.bin, args...)
	cmd.Env = e.process.Variables()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return lastLines(out.String(), 1), err
}

// load brings the builder's config and layers into the cache (verified, as every blob)
// and streams them into `ENGINE load` as a docker-archive naming the image name.
func (e *engineCompiler) load(ctx context.Context, job compileJob, name string) error {
	cache, done, err := sandboxCache(job.Cache)
	if err != nil {
		return err
	}
	defer done()
	m := job.Manifest.Manifest
	for _, d := range append([]descriptor.Descriptor{m.Config}, m.Layers...) {
		if err := fetchIntoCache(ctx, job.Blobs, job, d, cache); err != nil {
			return err
		}
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeDockerArchive(pw, cache, m.Config, m.Layers, name)) }()
	cmd := exec.CommandContext(ctx, e.bin, "load")
	cmd.Env, cmd.Stdin = e.process.Variables(), pr
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	pr.CloseWithError(io.ErrClosedPipe) // ends the writer if load stopped reading
	if err != nil {
		return fmt.Errorf("%s load: %w: %s", e.name, err, lastLines(out.String(), 1))
	}
	return nil
}

// writeDockerArchive writes the image of config and layers (blobs of cache) as the tar
// `docker load` and `podman load` read: manifest.json naming the image, then the blobs
// under blobs/sha256/ (both engines take compressed layers).
func writeDockerArchive(w io.Writer, cache *oci.Store, config descriptor.Descriptor, layers []descriptor.Descriptor, name string) error {
	path := func(d descriptor.Descriptor) string { return "blobs/sha256/" + d.Digest.Encoded() }
	entry := struct {
		Config   string
		RepoTags []string
		Layers   []string
	}{Config: path(config), RepoTags: []string{name}}
	for _, l := range layers {
		entry.Layers = append(entry.Layers, path(l))
	}
	manifest, err := json.Marshal([]any{entry})
	if err != nil {
		return err
	}
	tw := tar.NewWriter(w)
	if err := tw.WriteHeader(&tar.Header{Name: "manifest.json", Mode: 0o644, Size: int64(len(manifest))}); err != nil {
		return err
	}
	if _, err := tw.Write(manifest); err != nil {
		return err
	}
	written := map[string]bool{}
	for _, d := range append([]descriptor.Descriptor{config}, layers...) {
		if written[path(d)] { // a layer twice in one image is one file
			continue
		}
		written[path(d)] = true
		if err := copyBlobInto(tw, cache.Path(d.Digest), path(d), d.Size); err != nil {
			return err
		}
	}
	return tw.Close()
}

func copyBlobInto(tw *tar.Writer, src, name string, size int64) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: size}); err != nil {
		return err
	}
	_, err = io.CopyN(tw, f, size)
	return err
}

// lookPath finds name in the directories of path (the build's PATH, which may not be
// this process's).
func lookPath(name, path string) (string, error) {
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			continue
		}
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: %w", name, exec.ErrNotFound)
}
