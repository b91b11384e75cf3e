//go:build linux

package build

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pycontainer/pycontainer/internal/cmdenv"
	"github.com/pycontainer/pycontainer/internal/testbase"
	"github.com/pycontainer/pycontainer/oci"
	"github.com/pycontainer/pycontainer/registry"
)

// podmanRootFS is the e2e's amd64 root filesystem (python3.11-minimal, no pip, no gcc).
const podmanRootFS = "/var/cache/pycontainer-e2e/rootfs/amd64"

// fakePipModule stands in for pip in the builder: `python3 -m pip wheel … -w OUT SDIST`
// writes a pure wheel named for the sdist, so the test runs the engine's plumbing (the
// pinned image, the mounts, the output) without a compiler in the image.
const fakePipModule = `import os, sys, zipfile
args = sys.argv[1:]
out, sdist = args[args.index("-w") + 1], args[-1]
print("fake pip: building", os.path.basename(sdist))
open(sdist, "rb").read()
name, version = os.path.basename(sdist)[:-len(".tar.gz")].rsplit("-", 1)
whl = os.path.join(out, f"{name}-{version}-py3-none-any.whl")
with zipfile.ZipFile(whl, "w") as z:
    z.writestr(f"{name}/__init__.py", "ANSWER = 42\n")
    z.writestr(f"{name}-{version}.dist-info/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
print("fake pip: wrote", os.path.basename(whl))
`

// TestPodmanCompile runs the podman compiler for real, offline: the builder is pushed
// to a loopback registry from the e2e root filesystem (with a stand-in pip), pulled
// into a podman store of the test's own, and run by digest with no network.
func TestPodmanCompile(t *testing.T) {
	t.Parallel()
	podman, err := exec.LookPath("podman")
	if err != nil {
		t.Skip("podman is not installed")
	}
	if _, err := os.Stat(filepath.Join(podmanRootFS, "usr/bin/python3")); err != nil {
		t.Skipf("no builder root filesystem at %s (e2e/make-python-rootfs.sh makes it)", podmanRootFS)
	}
	// The settings this machine's podman needs run through a wrapper on PATH, as a
	// user's containers.conf would: the product passes none of them.
	store := t.TempDir()
	bin := t.TempDir()
	// This machine's hard limits on open files and processes are below what podman asks for a container.
	conf := filepath.Join(store, "containers.conf")
	if err := os.WriteFile(conf, []byte("[containers]\ndefault_ulimits = [\"nofile=1024:1024\", \"nproc=1024:1024\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	wrapper := "#!/bin/sh\nCONTAINERS_CONF=" + conf + " exec " + podman + " --root " + store + "/root --runroot " + store + "/run --storage-driver vfs --cgroup-manager cgroupfs --events-backend file --runtime runc \"$@\"\n"
	if err := os.WriteFile(filepath.Join(bin, "podman"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	env := cmdenv.Env{Environ: []string{"PATH=" + bin + ":/usr/bin:/bin", "HOME=" + t.TempDir()}}
	c := &engineCompiler{name: "podman", process: env}
	if _, err := c.How(oci.Platform{OS: "linux", Architecture: "amd64"}); err != nil {
		t.Skipf("podman cannot run here: %v", err)
	}
	t.Cleanup(func() { exec.Command(filepath.Join(bin, "podman"), "system", "reset", "--force").Run() })

	rootfs := filepath.Join(t.TempDir(), "rootfs")
	if out, err := exec.Command("cp", "-a", podmanRootFS, rootfs).CombinedOutput(); err != nil {
		t.Fatalf("copy the root filesystem: %v %s", err, out)
	}
	pipDir := filepath.Join(rootfs, "usr/lib/python3.11/pip")
	if err := os.MkdirAll(pipDir, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(pipDir, "__init__.py"), nil, 0o644)
	if err := os.WriteFile(filepath.Join(pipDir, "__main__.py"), []byte(fakePipModule), 0o644); err != nil {
		t.Fatal(err)
	}
	reg := testbase.Start(t)
	amd64 := testbase.Platform{OS: "linux", Architecture: "amd64"}
	reg.Push(t, testbase.Spec{Repo: "library/python", Tag: "3.11", Platforms: []testbase.Platform{amd64}, RootFS: map[string]string{"linux/amd64": rootfs}})
	r, _ := registry.ParseReference(reg.Host + "/library/python:3.11")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	client := registry.New(registry.Options{Registries: []string{r.Registry}})
	ix, err := client.Index(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	e, _ := ix.Find(oci.Platform{OS: "linux", Architecture: "amd64"})
	pinned := r.SetDigest(e.Descriptor.Digest.String())
	if out, err := exec.CommandContext(ctx, filepath.Join(bin, "podman"), "pull", "--tls-verify=false", pinned.CommonName()).CombinedOutput(); err != nil {
		t.Skipf("podman cannot pull from the loopback registry here: %v %s", err, out)
	}

	in := t.TempDir()
	sdist := filepath.Join(in, "purecalc-1.0.tar.gz")
	os.WriteFile(sdist, []byte("an sdist"), 0o644)
	out := t.TempDir()
	var log strings.Builder
	job := compileJob{Platform: oci.Platform{OS: "linux", Architecture: "amd64"}, Sdist: sdist, OutDir: out, Builder: pinned, Log: &lockedWriter{w: &log}}
	if err := c.Compile(ctx, job); err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	whl, err := builtWheel(out, "purecalc", "linux/amd64")
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	if err := verifyWheel(whl, job.Platform); err != nil {
		t.Error(err)
	}
	if !strings.Contains(log.String(), "fake pip: wrote purecalc-1.0-py3-none-any.whl") {
		t.Errorf("log:\n%s", log.String())
	}
}
