package build

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

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
	cmd := exec.CommandContext(ctx, bin, "info")
	cmd.Env = e.process.Variables()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		e.err = &unusable{why: fmt.Sprintf("%s info failed (%v): %s", e.name, err, lastLines(out.String(), 1)), fix: e.fix()}
		return
	}
	e.bin = bin
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
	args = append(append(args, job.Builder.CommonName()), pipWheel(job.Sdist)...)
	fmt.Fprintf(job.Log, "$ %s %s\n", e.name, strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, e.bin, args...)
	cmd.Env = e.process.Variables()
	cmd.Stdout, cmd.Stderr = job.Log, job.Log
	cmd.WaitDelay = pipWaitDelay
	err := cmd.Run()
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
