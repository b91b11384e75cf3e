// Package e2e builds the seed's demo app on real Python base images (python3.11 from
// Debian's packages for amd64, arm64 and armhf), served by the Distribution registry on
// loopback, and runs each result on its own architecture: amd64 under chroot, arm64 and
// arm/v7 under qemu-user-static.
//
// The bases come from e2e/make-python-rootfs.sh, which .ci/run calls; point
// PYCONTAINER_E2E_ROOTFS at the directory holding amd64/, arm64/ and armhf/.
//
// engines_test.go loads and runs the same builds in the real engines: Docker (a daemon
// runs here without iptables or a bridge: scripts/dockerd.sh starts one, .ci/run sets
// PYCONTAINER_E2E_DOCKER_HOST to it), Podman, and umoci + runc; arm64 and arm/v7 under
// qemu through binfmt_misc.
package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pycontainer/pycontainer/internal/testbase"
)

type arch struct {
	deb      string // Debian's name, the rootfs directory
	platform testbase.Platform
	qemu     string // qemu-user-static binary, "" to run natively under chroot
	machine  string // what platform.machine() prints inside
}

// flag is the arch's --platform value: linux/amd64, linux/arm64, linux/arm/v7.
func (a arch) flag() string { return normPlatform(a.platform.String()) }

var arches = []arch{
	{"amd64", testbase.Platform{OS: "linux", Architecture: "amd64"}, "", "x86_64"},
	{"arm64", testbase.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}, "qemu-aarch64-static", "aarch64"},
	{"armhf", testbase.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}, "qemu-arm-static", "armv7l"},
}

// pythonBases finds the root filesystems e2e/make-python-rootfs.sh built (under
// PYCONTAINER_E2E_ROOTFS) for the given architectures, skipping the test when the
// tools are missing or fewer than need bases exist.
func pythonBases(t *testing.T, of []arch, need int, tools ...string) ([]arch, map[string]string) {
	t.Helper()
	root := os.Getenv("PYCONTAINER_E2E_ROOTFS")
	if root == "" {
		t.Skip("PYCONTAINER_E2E_ROOTFS is not set: build the bases with e2e/make-python-rootfs.sh (.ci/run does)")
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed", tool)
		}
	}
	var present []arch
	rootfs := map[string]string{}
	for _, a := range of {
		dir := filepath.Join(root, a.deb)
		if _, err := os.Stat(filepath.Join(dir, "usr", "bin", "python3")); err != nil {
			t.Logf("no %s base in %s; that architecture is not tested", a.deb, dir)
			continue
		}
		present = append(present, a)
		rootfs[a.platform.String()] = dir
	}
	if len(present) < need {
		t.Skipf("needs %d python root filesystems under %s, found %d", need, root, len(present))
	}
	return present, rootfs
}

func TestDemoRunsOnEveryArchitecture(t *testing.T) {
	present, rootfs := pythonBases(t, arches, 1, "umoci", "go")

	host := testbase.StartDistribution(t)
	reg := testbase.Connect(host)
	var plats []testbase.Platform
	for _, a := range present {
		plats = append(plats, a.platform)
	}
	reg.Push(t, testbase.Spec{Repo: "library/python", Tag: "3.11-slim", Platforms: plats, RootFS: rootfs, Attestation: true})
	checkBaseIndex(t, host, len(plats))

	bin := buildBinary(t)
	work := demoProject(t)

	for _, a := range present {
		t.Run(a.deb, func(t *testing.T) {
			goarch := a.platform.Architecture
			want := a.flag()
			cmd := exec.Command(bin, "build", "--tag", "cross-platform-demo:"+goarch, "--platform", want, "--base-image", "python:3.11-slim", "--verbose")
			cmd.Dir = work
			cmd.Env = append(os.Environ(), "PYCONTAINER_REGISTRY_MIRROR=docker.io="+host)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("build: %v\n%s", err, out)
			}
			layout := filepath.Join(work, "dist", "image")
			bundle := filepath.Join(t.TempDir(), "bundle")
			if out, err := exec.Command("umoci", "unpack", "--rootless", "--image", layout+":"+goarch, bundle).CombinedOutput(); err != nil {
				t.Fatalf("umoci unpack: %v\n%s", err, out)
			}
			if out, err := exec.Command(bin, "inspect", "--verify", "--progress", "plain", layout).CombinedOutput(); err != nil {
				t.Errorf("inspect --verify on the %s image: %v\n%s", want, err, out)
			}
			got := runBundle(t, bundle, a)
			t.Logf("the %s image printed:\n%s", want, got)
			for _, w := range []string{"Python 3.11", "Platform: " + a.machine, "System: Linux"} {
				if !strings.Contains(got, w) {
					t.Errorf("the app printed\n%s\nwhich lacks %q", got, w)
				}
			}
		})
	}
}

// checkBaseIndex reads the base index back from the registry as a client would: it must
// list every platform plus the attestation, arm64 with variant v8 as on Docker Hub.
func checkBaseIndex(t *testing.T, host string, platforms int) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+host+"/v2/library/python/manifests/3.11-slim", nil)
	req.Header.Set("Accept", "application/vnd.oci.image.index.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var idx struct {
		Manifests []struct {
			Platform struct{ Architecture, Variant string }
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&idx); err != nil {
		t.Fatal(err)
	}
	if len(idx.Manifests) != 2*platforms {
		t.Errorf("base index has %d entries, want %d platforms and an attestation each", len(idx.Manifests), platforms)
	}
	for _, m := range idx.Manifests {
		if m.Platform.Architecture == "arm64" && m.Platform.Variant != "v8" {
			t.Errorf("arm64 entry has variant %q, want v8 as Docker Hub's images have", m.Platform.Variant)
		}
	}
}

// TestVerifyCatchesForeignSharedObject builds an arm64 image whose app carries an
// x86-64 shared object (as a copied virtualenv would) and expects inspect --verify to
// fail naming the file.
func TestVerifyCatchesForeignSharedObject(t *testing.T) {
	root := os.Getenv("PYCONTAINER_E2E_ROOTFS")
	if root == "" {
		t.Skip("PYCONTAINER_E2E_ROOTFS is not set")
	}
	matches, _ := filepath.Glob(filepath.Join(root, "amd64", "usr", "lib", "x86_64-linux-gnu", "libz.so.*"))
	if len(matches) == 0 {
		t.Skip("no x86-64 libz in the amd64 rootfs")
	}
	so, err := os.ReadFile(matches[0])
	if err != nil {
		t.Fatal(err)
	}
	host := testbase.StartDistribution(t)
	reg := testbase.Connect(host)
	reg.Push(t, testbase.Spec{Repo: "library/python", Tag: "3.11-slim", Platforms: testbase.PythonPlatforms})
	bin := buildBinary(t)
	work := t.TempDir()
	for name, data := range map[string][]byte{"app.py": []byte("print(1)\n"), "libs/_native.cpython-311-x86_64-linux-gnu.so": so} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(work, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(work, name), data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(bin, "build", "--platform", "linux/arm64", "--base-image", host+"/library/python:3.11-slim", "--progress", "plain")
	cmd.Dir = work
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "warning: linux/arm64: /app/libs/_native.cpython-311-x86_64-linux-gnu.so") {
		t.Errorf("the build did not warn about the x86-64 .so:\n%s", out)
	}
	verify := exec.Command(bin, "inspect", "--verify", "--progress", "plain")
	verify.Dir = work
	out, err = verify.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "/app/libs/_native.cpython-311-x86_64-linux-gnu.so") || !strings.Contains(string(out), "an ELF binary for amd64, not linux/arm64") {
		t.Errorf("inspect --verify: err %v\n%s", err, out)
	}
}

// demoProject copies the seed's demo app (app.py, pyproject.toml) into a new directory.
func demoProject(t *testing.T) string {
	t.Helper()
	work := t.TempDir()
	for _, f := range []string{"app.py", "pyproject.toml"} {
		b, err := os.ReadFile(filepath.Join("..", "examples", "cross-platform-demo", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(work, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return work
}

func buildBinary(t *testing.T) string {
	t.Helper()
	t.Setenv("PYCONTAINER_CACHE", t.TempDir()) // the binary's runs share an empty cache
	bin := filepath.Join(t.TempDir(), "pycontainer")
	out, err := exec.Command("go", "build", "-o", bin, "..").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// runBundle runs the process an OCI runtime would start from bundle/config.json (what
// umoci derived from our image config): its args, env and cwd.
func runBundle(t *testing.T, bundle string, a arch) string {
	t.Helper()
	var spec struct {
		Process struct {
			Args []string `json:"args"`
			Env  []string `json:"env"`
			Cwd  string   `json:"cwd"`
		} `json:"process"`
	}
	b, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &spec); err != nil {
		t.Fatal(err)
	}
	p := spec.Process
	if len(p.Args) == 0 {
		t.Fatal("the image starts no process")
	}
	rootfs := filepath.Join(bundle, "rootfs")
	exe := lookPathIn(rootfs, p.Args[0], p.Env)
	if exe == "" {
		t.Fatalf("%s not found on the image's PATH", p.Args[0])
	}
	var cmd *exec.Cmd
	if a.qemu == "" {
		cmd = chrootCommand(t, rootfs, exe, p.Args, p.Cwd)
	} else {
		qemu, err := exec.LookPath(a.qemu)
		if err != nil {
			t.Skipf("%s is not installed (apt-get install qemu-user-static)", a.qemu)
		}
		// qemu-user's -L does not redirect every path lookup into rootfs (qemu-arm 7.2
		// misses statx), so the guest gets host paths for what it reads from the image:
		// the interpreter, absolute arguments and PYTHONPATH entries.
		args := []string{qemu, "-L", rootfs, filepath.Join(rootfs, exe)}
		for _, arg := range p.Args[1:] {
			args = append(args, hostPath(rootfs, arg))
		}
		env := make([]string, 0, len(p.Env))
		for _, e := range p.Env {
			if v, ok := strings.CutPrefix(e, "PYTHONPATH="); ok {
				var parts []string
				for _, part := range strings.Split(v, ":") {
					parts = append(parts, hostPath(rootfs, part))
				}
				e = "PYTHONPATH=" + strings.Join(parts, ":")
			}
			env = append(env, e)
		}
		cmd = &exec.Cmd{Path: qemu, Args: args, Dir: filepath.Join(rootfs, p.Cwd), Env: env}
	}
	if cmd.Env == nil {
		cmd.Env = p.Env
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("run %q: %v\n%s", p.Args, err, out)
	}
	return string(out)
}

// hostPath maps an absolute path that exists in the image to where it is on the host.
func hostPath(rootfs, p string) string {
	if !strings.HasPrefix(p, "/") {
		return p
	}
	if _, err := os.Lstat(filepath.Join(rootfs, p)); err != nil {
		return p
	}
	return filepath.Join(rootfs, p)
}

// lookPathIn resolves a command against the image's PATH inside rootfs and returns its
// path as the image sees it.
func lookPathIn(rootfs, name string, env []string) string {
	if strings.HasPrefix(name, "/") {
		return name
	}
	pathVar := "/usr/local/bin:/usr/bin:/bin"
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			pathVar = v
		}
	}
	for _, dir := range strings.Split(pathVar, ":") {
		p := path.Join(dir, name)
		if _, err := os.Stat(filepath.Join(rootfs, p)); err == nil {
			return p
		}
	}
	return ""
}

// TestDiagnosisOnDistribution: the demo catalog on the Distribution registry (an index
// with amd64, arm64/v8, arm/v7 and attestations, an amd64-only tag with siblings that
// have arm64, a single-manifest tag); building arm64 on the amd64-only tag fails with a
// one-line error naming image and platform, lists linux/amd64 and suggests a sibling.
func TestDiagnosisOnDistribution(t *testing.T) {
	host := testbase.StartDistribution(t)
	reg := testbase.Connect(host)
	if err := reg.Seed(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	bin := buildBinary(t)
	work := t.TempDir()
	if err := os.WriteFile(filepath.Join(work, "app.py"), []byte("print(1)\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	image := host + "/demo/legacy-python:3.8"
	cmd := exec.Command(bin, "build", "--platform", "linux/arm64", "--base-image", image, "--progress", "plain")
	cmd.Dir = work
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("build on an amd64-only base: %v\n%s", err, out)
	}
	first, rest, _ := strings.Cut(string(out), "\n")
	if first != "Error: No matching manifest for platform linux/arm64 in "+image+" (from --platform flag)" {
		t.Errorf("first line %q", first)
	}
	for _, want := range []string{"index has  linux/amd64", "try        --base-image " + host + "/demo/legacy-python:3.10"} {
		if !strings.Contains(rest, want) {
			t.Errorf("diagnosis lacks %q:\n%s", want, rest)
		}
	}
	// The single-manifest tag is read as its one platform.
	out, err = exec.Command(bin, "platforms", host+"/demo/legacy-python:3.8-arm64-only").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "single-platform image") || !strings.Contains(string(out), "linux/arm64") {
		t.Errorf("platforms of a single manifest: %v\n%s", err, out)
	}
}
