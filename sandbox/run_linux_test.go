//go:build linux

package sandbox

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pycontainer/pycontainer/oci"
)

// e2eRootFS is a Debian python3.11-minimal root filesystem for arch (amd64, arm64, armhf)
// under $PYCONTAINER_E2E_ROOTFS, made by e2e/make-python-rootfs.sh. Run mounts it
// read-only, so the tests never change it.
func e2eRootFS(t *testing.T, arch string) string {
	t.Helper()
	base := os.Getenv("PYCONTAINER_E2E_ROOTFS")
	if base == "" {
		t.Skip("PYCONTAINER_E2E_ROOTFS is unset: it names a directory of python root filesystems per architecture (e2e/make-python-rootfs.sh)")
	}
	dir := filepath.Join(base, arch)
	if _, err := os.Stat(filepath.Join(dir, "usr/bin/python3")); err != nil {
		t.Skipf("no python root filesystem for %s: %v", arch, err)
	}
	return dir
}

func needSandbox(t *testing.T) {
	t.Helper()
	if err := Available(); err != nil {
		t.Skip(err)
	}
}

// testEnv is the environment inside. PYTHONDONTWRITEBYTECODE: should Run ever lose its
// read-only mount, python must not litter the shared root filesystem with .pyc files
// before TestRunRootFSReadOnly says so.
var testEnv = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/tmp", "LANG=C.UTF-8", "PYTHONDONTWRITEBYTECODE=1"}

type result struct {
	stdout, stderr string
	err            error
	elapsed        time.Duration
}

// py runs python3 -c code (with args) in rootfs; edit adjusts the spec.
func py(ctx context.Context, rootfs, code string, args []string, edit func(*Spec)) result {
	var stdout, stderr bytes.Buffer
	spec := Spec{RootFS: rootfs, Args: append([]string{"/usr/bin/python3", "-c", code}, args...), Env: testEnv, Dir: "/tmp", Stdout: &stdout, Stderr: &stderr}
	if edit != nil {
		edit(&spec)
	}
	start := time.Now()
	err := Run(ctx, spec)
	return result{stdout.String(), stderr.String(), err, time.Since(start)}
}

func (r result) must(t *testing.T) string {
	t.Helper()
	if r.err != nil {
		t.Fatalf("%v\nstdout: %s\nstderr: %s", r.err, r.stdout, r.stderr)
	}
	return r.stdout
}

func TestAvailableHere(t *testing.T) {
	err := Available()
	t.Logf("Available() = %v", err)
	if os.Geteuid() == 0 && err != nil {
		t.Errorf("as root Available() = %v, want nil", err)
	}
}

// TestRunPlatforms: python3 reports its machine natively (amd64) and through the
// binfmt_misc qemu handlers (arm64, arm/v7).
func TestRunPlatforms(t *testing.T) {
	needSandbox(t)
	for _, tt := range []struct {
		arch     string
		platform oci.Platform
		machine  string
	}{
		{"amd64", oci.Platform{OS: "linux", Architecture: "amd64"}, "x86_64"},
		{"arm64", oci.Platform{OS: "linux", Architecture: "arm64"}, "aarch64"},
		{"armhf", oci.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}, "armv7l"},
	} {
		t.Run(tt.arch, func(t *testing.T) {
			rootfs := e2eRootFS(t, tt.arch)
			how, err := Emulation(tt.platform)
			if err != nil {
				t.Skip(err)
			}
			start := py(t.Context(), rootfs, "pass", nil, nil)
			start.must(t)
			r := py(t.Context(), rootfs, "import platform; print(platform.machine())", nil, nil)
			if got := strings.TrimSpace(r.must(t)); got != tt.machine {
				t.Errorf("platform.machine() = %q, want %q", got, tt.machine)
			}
			t.Logf("%s (%+v): python3 -c pass in %v, platform.machine() in %v", tt.platform, how, start.elapsed.Round(time.Millisecond), r.elapsed.Round(time.Millisecond))
		})
	}
}

// TestRunBinds: a read-only bind can be read and not written, a writable one carries a
// file out to the host.
func TestRunBinds(t *testing.T) {
	needSandbox(t)
	rootfs := e2eRootFS(t, "amd64")
	in, out := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(in, "data.txt"), []byte("hello from the host"), 0o644)
	cfg := filepath.Join(t.TempDir(), "cfg.txt")
	os.WriteFile(cfg, []byte("a single file"), 0o644)
	code := `
import errno
def attempt(what, f):
    try:
        f(); print(what, "written")
    except OSError as e:
        print(what, errno.errorcode[e.errno])
print(open("/tmp/in/data.txt").read())
print(open("/tmp/etc/cfg.txt").read())
attempt("in", lambda: open("/tmp/in/new", "w"))
attempt("in-existing", lambda: open("/tmp/in/data.txt", "a"))
attempt("cfg", lambda: open("/tmp/etc/cfg.txt", "w"))
open("/tmp/out/result.txt", "w").write("made inside")
`
	got := py(t.Context(), rootfs, code, nil, func(s *Spec) {
		s.Binds = []Bind{{Host: in, Inside: "/tmp/in"}, {Host: out, Inside: "/tmp/out", Writable: true}, {Host: cfg, Inside: "/tmp/etc/cfg.txt"}}
	}).must(t)
	want := "hello from the host\na single file\nin EROFS\nin-existing EROFS\ncfg EROFS\n"
	if got != want {
		t.Errorf("inside printed\n%s\nwant\n%s", got, want)
	}
	if b, err := os.ReadFile(filepath.Join(out, "result.txt")); err != nil || string(b) != "made inside" {
		t.Errorf("the file written inside reads %q on the host (%v), want %q", b, err, "made inside")
	}
	if _, err := os.Stat(filepath.Join(in, "new")); err == nil {
		t.Error("a file appeared in the read-only bind")
	}
}

// TestRunRootFSReadOnly: nothing inside can change the root filesystem; /tmp is a tmpfs
// of its own that leaves no trace in the image's /tmp. The shared e2e root filesystem
// only gets harmless attempts (new names, removed again should one ever succeed); the
// destructive ones (append, chmod, remove) aim at a private copy.
func TestRunRootFSReadOnly(t *testing.T) {
	needSandbox(t)
	shared := e2eRootFS(t, "amd64")
	probe := ".pycontainer-sandbox-probe-" + marker(t)
	t.Cleanup(func() {
		for _, p := range []string{"usr/" + probe, "etc/" + probe} {
			if os.Remove(filepath.Join(shared, p)) == nil {
				t.Errorf("%s was created in the shared root filesystem (removed again)", p)
			}
		}
	})
	code := `
import errno, os, sys
probe = sys.argv[1]
def attempt(what, f):
    try:
        f(); print(what, "written")
    except OSError as e:
        print(what, errno.errorcode[e.errno])
attempt("create", lambda: open("/usr/" + probe, "w"))
attempt("mkdir", lambda: os.mkdir("/etc/" + probe))
open("/tmp/scratch", "w").write("x")
print("tmp", open("/tmp/scratch").read())
`
	got := py(t.Context(), shared, code, []string{probe}, nil).must(t)
	if want := "create EROFS\nmkdir EROFS\ntmp x\n"; got != want {
		t.Errorf("inside the shared root filesystem printed\n%s\nwant\n%s", got, want)
	}
	if _, err := os.Lstat(filepath.Join(shared, "tmp/scratch")); err == nil {
		t.Error("tmp/scratch appeared in the root filesystem's own /tmp")
	}

	rootfs := filepath.Join(t.TempDir(), "rootfs")
	if out, err := exec.Command("cp", "-a", shared, rootfs).CombinedOutput(); err != nil {
		t.Fatalf("copying the root filesystem: %v: %s", err, out)
	}
	before := snapshot(t, rootfs)
	code = `
import errno, os
def attempt(what, f):
    try:
        f(); print(what, "written")
    except OSError as e:
        print(what, errno.errorcode[e.errno])
attempt("append", lambda: open("/etc/passwd", "a").write("pwned"))
attempt("chmod", lambda: os.chmod("/usr/bin/python3.11", 0o777))
attempt("remove", lambda: os.remove("/etc/passwd"))
attempt("rename", lambda: os.rename("/etc/group", "/etc/group.old"))
attempt("dev", lambda: open("/dev/pwned", "w"))
`
	got = py(t.Context(), rootfs, code, nil, nil).must(t)
	if want := "append EROFS\nchmod EROFS\nremove EROFS\nrename EROFS\ndev EROFS\n"; got != want {
		t.Errorf("inside printed\n%s\nwant\n%s", got, want)
	}
	if after := snapshot(t, rootfs); !maps.Equal(before, after) {
		t.Errorf("the root filesystem changed:\nbefore %v\nafter  %v", before, after)
	}
}

// snapshot is the modes, sizes and mtimes of the paths the writes above aim at.
func snapshot(t *testing.T, rootfs string) map[string]string {
	s := map[string]string{}
	for _, p := range []string{".", "usr", "etc", "tmp", "dev", "etc/passwd", "etc/group", "usr/bin/python3.11"} {
		fi, err := os.Lstat(filepath.Join(rootfs, p))
		if err != nil {
			t.Fatal(err)
		}
		s[p] = fmt.Sprint(fi.Mode(), fi.Size(), fi.ModTime().UnixNano())
	}
	return s
}

func marker(t *testing.T) string {
	b := make([]byte, 8)
	rand.Read(b)
	return "pycontainer-sandbox-test-" + hex.EncodeToString(b)
}

// TestRunSeesNoHost: secrets planted in the caller's home and environment, the host's
// /root and processes, and a descriptor the caller left open are all out of reach.
func TestRunSeesNoHost(t *testing.T) {
	needSandbox(t)
	rootfs := e2eRootFS(t, "amd64")
	secret := marker(t)
	home := t.TempDir()
	for _, p := range []string{".ssh/id_rsa", ".docker/config.json"} {
		os.MkdirAll(filepath.Join(home, filepath.Dir(p)), 0o700)
		if err := os.WriteFile(filepath.Join(home, p), []byte(secret), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("HOME", home)
	t.Setenv("PYCONTAINER_TEST_SECRET", secret)
	// A descriptor without close-on-exec, as a careless parent might leave one.
	fd, err := syscall.Open(filepath.Join(home, ".ssh/id_rsa"), syscall.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	code := `
import json, os, sys
secret, home = sys.argv[1].encode(), sys.argv[2]
res = {"env": dict(os.environ), "root": sorted(os.listdir("/root")), "hostname": os.uname().nodename,
       "procs": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
       "fds": sorted(int(f) for f in os.listdir("/proc/self/fd")),
       "home": [p for p in (home + "/.ssh/id_rsa", home + "/.docker/config.json", home) if os.path.exists(p)],
       "mounts": open("/proc/self/mounts").read().splitlines(),
       "status": dict(l.split(":\t", 1) for l in open("/proc/self/status").read().splitlines() if ":\t" in l)}
found = []
for top in os.listdir("/"):
    if top in ("proc", "sys"):
        continue
    for d, dirs, files in os.walk("/" + top):
        for f in files:
            p = os.path.join(d, f)
            try:
                if not os.path.islink(p) and os.path.isfile(p) and os.path.getsize(p) < 4 << 20 and secret in open(p, "rb").read():
                    found.append(p)
            except OSError:
                pass
res["found"] = found
# The classic way out of a bare chroot: a second chroot below, then climb past it.
os.makedirs("/tmp/jail", exist_ok=True)
fd = os.open("/", os.O_RDONLY)
os.chroot("/tmp/jail")
os.fchdir(fd)
for _ in range(64):
    os.chdir("..")
os.chroot(".")
res["escaped"] = [p for p in (home, home + "/.ssh/id_rsa") if os.path.exists(p)]
print(json.dumps(res))
`
	out := py(t.Context(), rootfs, code, []string{secret, home}, nil).must(t)
	var res struct {
		Env               map[string]string
		Root, Home, Found []string
		Escaped           []string
		Hostname          string
		Procs, Fds        []int
		Mounts            []string
		Status            map[string]string
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	wantEnv := map[string]string{}
	for _, kv := range testEnv {
		k, v, _ := strings.Cut(kv, "=")
		wantEnv[k] = v
	}
	if !maps.Equal(res.Env, wantEnv) {
		t.Errorf("environment inside %v, want exactly %v", res.Env, wantEnv)
	}
	if len(res.Escaped) > 0 {
		t.Errorf("a chroot escape reached the host: %v", res.Escaped)
	}
	if len(res.Home) > 0 || len(res.Found) > 0 {
		t.Errorf("host secrets visible inside: home paths %v, files holding the secret %v", res.Home, res.Found)
	}
	imageRoot, _ := os.ReadDir(filepath.Join(rootfs, "root"))
	var want []string
	for _, e := range imageRoot {
		want = append(want, e.Name())
	}
	if !slices.Equal(res.Root, want) && !(len(res.Root) == 0 && len(want) == 0) {
		t.Errorf("/root inside lists %v, want the image's %v", res.Root, want)
	}
	if !slices.Equal(res.Procs, []int{1}) {
		t.Errorf("/proc inside shows processes %v, want only the command itself as 1", res.Procs)
	}
	if !slices.Equal(res.Fds, []int{0, 1, 2, 3}) { // 3 is listdir's own
		t.Errorf("descriptors inside %v, want stdin, stdout, stderr (and listdir's)", res.Fds)
	}
	if res.Hostname == "" || res.Hostname == must(os.Hostname()) {
		t.Errorf("hostname inside %q is the host's", res.Hostname)
	}
	for _, field := range []string{"CapEff", "CapPrm", "CapBnd"} {
		caps, err := strconv.ParseUint(strings.TrimSpace(res.Status[field]), 16, 64)
		if err != nil {
			t.Fatalf("%s: %q: %v", field, res.Status[field], err)
		}
		for _, c := range []struct {
			bit  uint
			name string
		}{{21, "CAP_SYS_ADMIN"}, {2, "CAP_DAC_READ_SEARCH"}, {16, "CAP_SYS_MODULE"}, {27, "CAP_MKNOD"}, {17, "CAP_SYS_RAWIO"}, {19, "CAP_SYS_PTRACE"}} {
			if caps&(1<<c.bit) != 0 {
				t.Errorf("%s %s holds %s", field, res.Status[field], c.name)
			}
		}
	}
	if nnp := strings.TrimSpace(res.Status["NoNewPrivs"]); nnp != "1" {
		t.Errorf("NoNewPrivs %q, want 1", nnp)
	}
	readOnly := map[string]bool{}
	for _, m := range res.Mounts {
		if f := strings.Fields(m); len(f) >= 4 {
			readOnly[f[1]] = slices.Contains(strings.Split(f[3], ","), "ro")
		}
	}
	for _, m := range []string{"/", "/proc/sys", "/proc/sysrq-trigger", "/dev"} {
		if _, err := os.Stat(m); err != nil {
			continue // this kernel has none (sysrq-trigger needs CONFIG_MAGIC_SYSRQ)
		}
		if !readOnly[m] {
			t.Errorf("%s is not mounted read-only inside: %v", m, res.Mounts)
		}
	}
}

func must[T any](v T, _ error) T { return v }

// TestRunNoNetwork: a listener on the host's loopback can't be reached, nor anything else.
func TestRunNoNetwork(t *testing.T) {
	needSandbox(t)
	rootfs := e2eRootFS(t, "amd64")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan struct{}, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			accepted <- struct{}{}
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	code := `
import socket, sys
for host, port in (("127.0.0.1", int(sys.argv[1])), ("1.1.1.1", 53)):
    s = socket.socket()
    s.settimeout(3)
    try:
        s.connect((host, port)); print(host, "connected")
    except OSError as e:
        print(host, "failed")
print([name for _, name in socket.if_nameindex()])
`
	got := py(t.Context(), rootfs, code, []string{strconv.Itoa(port)}, nil).must(t)
	if want := "127.0.0.1 failed\n1.1.1.1 failed\n['lo']\n"; got != want {
		t.Errorf("inside printed\n%s\nwant\n%s", got, want)
	}
	select {
	case <-accepted:
		t.Error("the host's listener accepted a connection from inside")
	case <-time.After(100 * time.Millisecond):
	}
}

// TestRunCancelKillsTree: ctx's end kills the command, its child and an orphaned
// grandchild (reparented to the command, the namespace's init), all ignoring SIGTERM;
// Run returns promptly and no process of the tree is left on the host.
func TestRunCancelKillsTree(t *testing.T) {
	needSandbox(t)
	rootfs := e2eRootFS(t, "amd64")
	out := t.TempDir()
	mark := marker(t)
	code := `
import os, signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
pids = [os.getpid()]
c = os.fork()
if c == 0:
    while True: time.sleep(0.1)
a = os.fork()
if a == 0:
    b = os.fork()
    if b == 0:
        while True: time.sleep(0.1)
    open("/tmp/out/orphan", "w").write(str(b))
    os._exit(0)
os.waitpid(a, 0)
pids += [c, int(open("/tmp/out/orphan").read())]
open("/tmp/out/pids.tmp", "w").write(" ".join(map(str, pids)))
os.rename("/tmp/out/pids.tmp", "/tmp/out/pids")
while True: time.sleep(0.1)
`
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan result, 1)
	go func() {
		done <- py(ctx, rootfs, code, []string{mark}, func(s *Spec) { s.Binds = []Bind{{Host: out, Inside: "/tmp/out", Writable: true}} })
	}()
	var nsPids []string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if b, err := os.ReadFile(filepath.Join(out, "pids")); err == nil {
			nsPids = strings.Fields(string(b))
			break
		}
		select {
		case r := <-done:
			t.Fatalf("Run returned before the tree was up: %v\n%s", r.err, r.stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the tree never wrote its pids")
		}
	}
	host := hostPids(t, mark)
	if len(host) != 3 {
		t.Fatalf("found %d host processes of the tree (%v), want 3 (namespace pids %v)", len(host), host, nsPids)
	}
	var inner []string
	for _, p := range host {
		inner = append(inner, nsPid(t, p))
	}
	slices.Sort(inner)
	slices.Sort(nsPids)
	if !slices.Equal(inner, nsPids) {
		t.Errorf("the host processes have namespace pids %v, the tree wrote %v", inner, nsPids)
	}
	start := time.Now()
	cancel()
	var r result
	select {
	case r = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run didn't return within 10s of the cancel")
	}
	took := time.Since(start)
	t.Logf("Run returned %v after the cancel: %v", took.Round(time.Millisecond), r.err)
	if took > 3*time.Second {
		t.Errorf("Run took %v to return after the cancel, want < 3s", took)
	}
	if !errors.Is(r.err, context.Canceled) {
		t.Errorf("Run = %v, want context.Canceled", r.err)
	}
	for _, p := range host {
		if _, err := os.Stat("/proc/" + p); err == nil {
			t.Errorf("process %s of the tree survived: %s", p, must(os.ReadFile("/proc/"+p+"/status")))
		}
	}
	if left := hostPids(t, mark); len(left) > 0 {
		t.Errorf("processes of the tree survived: %v", left)
	}
}

const callerEnv = "PYCONTAINER_SANDBOX_CALLER_MARK"

// TestRunDiesWithCaller: when the process that called Run is killed outright, with no
// chance to cancel, the sandbox's tree dies with it (Pdeathsig on the namespace's init).
func TestRunDiesWithCaller(t *testing.T) {
	needSandbox(t)
	e2eRootFS(t, "amd64")
	mark := marker(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	caller := exec.Command(exe, "-test.run", "^TestRunCallerHelper$", "-test.count=1")
	caller.Env = append(os.Environ(), callerEnv+"="+mark)
	if err := caller.Start(); err != nil {
		t.Fatal(err)
	}
	defer caller.Process.Kill()
	var tree []string
	for deadline := time.Now().Add(30 * time.Second); len(tree) < 2; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the tree never started: %v", tree)
		}
		tree = hostPids(t, mark)
	}
	caller.Process.Kill()
	caller.Wait()
	start := time.Now()
	for hostPids(t, mark) != nil {
		if time.Since(start) > 5*time.Second {
			t.Fatalf("the tree %v outlived its caller by 5s", hostPids(t, mark))
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("the tree %v was gone %v after its caller", tree, time.Since(start).Round(time.Millisecond))
}

// TestRunCallerHelper is the caller TestRunDiesWithCaller kills.
func TestRunCallerHelper(t *testing.T) {
	mark := os.Getenv(callerEnv)
	if mark == "" {
		t.Skip("runs only under TestRunDiesWithCaller")
	}
	code := "import os, time\nos.fork()\nwhile True: time.sleep(0.1)"
	r := py(context.Background(), e2eRootFS(t, "amd64"), code, []string{mark}, nil)
	t.Fatalf("Run returned: %v", r.err)
}

// hostPids lists the host's processes whose command line holds mark.
func hostPids(t *testing.T, mark string) []string {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var pids []string
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		if b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline"); err == nil && bytes.Contains(b, []byte(mark)) {
			pids = append(pids, e.Name())
		}
	}
	return pids
}

// nsPid is the innermost namespace's pid of host process pid.
func nsPid(t *testing.T, pid string) string {
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[0] == "NSpid:" {
			return f[len(f)-1]
		}
	}
	t.Fatalf("no NSpid in /proc/%s/status", pid)
	return ""
}

func TestRunErrors(t *testing.T) {
	needSandbox(t)
	rootfs := e2eRootFS(t, "amd64")
	hostDir := t.TempDir()
	tests := []struct {
		name string
		spec Spec
		want string
		exit int // the exit status an *exec.ExitError must carry
	}{
		{name: "no root filesystem", spec: Spec{Args: []string{"/bin/true"}}, want: "no root filesystem"},
		{name: "missing root filesystem", spec: Spec{RootFS: filepath.Join(hostDir, "nope"), Args: []string{"/bin/true"}}, want: "root filesystem: stat"},
		{name: "no command", spec: Spec{RootFS: rootfs}, want: "no command"},
		{name: "bind outside /tmp", spec: Spec{RootFS: rootfs, Args: []string{"/bin/true"}, Binds: []Bind{{Host: hostDir, Inside: "/etc/x"}}}, want: `inside path "/etc/x" is not under /tmp`},
		{name: "bind climbing out of /tmp", spec: Spec{RootFS: rootfs, Args: []string{"/bin/true"}, Binds: []Bind{{Host: hostDir, Inside: "/tmp/../etc"}}}, want: "is not under /tmp"},
		{name: "bind over /tmp itself", spec: Spec{RootFS: rootfs, Args: []string{"/bin/true"}, Binds: []Bind{{Host: hostDir, Inside: "/tmp"}}}, want: "is not under /tmp"},
		{name: "bind of a missing host path", spec: Spec{RootFS: rootfs, Args: []string{"/bin/true"}, Binds: []Bind{{Host: filepath.Join(hostDir, "nope"), Inside: "/tmp/x"}}}, want: "bind to /tmp/x"},
		{name: "bind of no host path", spec: Spec{RootFS: rootfs, Args: []string{"/bin/true"}, Binds: []Bind{{Inside: "/tmp/x"}}}, want: "bind to /tmp/x: no host path"},
		{name: "relative inside path", spec: Spec{RootFS: rootfs, Args: []string{"/bin/true"}, Binds: []Bind{{Host: hostDir, Inside: "tmp/x"}}}, want: "is not under /tmp"},
		{name: "relative working directory", spec: Spec{RootFS: rootfs, Args: []string{"/bin/true"}, Dir: "tmp"}, want: "not absolute"},
		{name: "missing working directory", spec: Spec{RootFS: rootfs, Args: []string{"/usr/bin/python3"}, Dir: "/nope"}, want: "working directory /nope: no such file"},
		{name: "missing command", spec: Spec{RootFS: rootfs, Args: []string{"/usr/bin/nope"}}, want: "exec /usr/bin/nope: no such file"},
		{name: "command not in PATH", spec: Spec{RootFS: rootfs, Args: []string{"nope"}, Env: []string{"PATH=/usr/bin"}}, want: "nope: not found in PATH /usr/bin"},
		{name: "non-zero exit, name looked up in PATH", spec: Spec{RootFS: rootfs, Args: []string{"python3", "-c", "import sys; sys.exit(3)"}, Env: []string{"PATH=/usr/bin"}}, want: "python3: exit status 3", exit: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Run(t.Context(), tt.spec)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Run = %v, want an error saying %q", err, tt.want)
			}
			var exit *exec.ExitError
			if got := errors.As(err, &exit); got != (tt.exit != 0) || (got && exit.ExitCode() != tt.exit) {
				t.Errorf("Run = %v: exit error %v, want exit status %d", err, got, tt.exit)
			}
		})
	}
}

const innerEnv = "PYCONTAINER_SANDBOX_UNPRIVILEGED_OUT"

// TestRunUnprivileged re-runs TestRunUnprivilegedInner as uid 65534 through setpriv, so
// that Run goes through a user namespace with that user mapped to root, and the Unpack
// tests, which then keep no owners.
func TestRunUnprivileged(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to become uid 65534 (as any other user, every Run test here already goes through a user namespace)")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skipf("setpriv (util-linux) is needed to drop to uid 65534: %v", err)
	}
	e2eRootFS(t, "amd64")
	// uid 65534 must reach the binary and the bind: t.TempDir's parents are 0700.
	dir, err := os.MkdirTemp("", "sandbox-unprivileged-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "sandbox.test")
	copyFile(t, exe, bin)
	out := filepath.Join(dir, "out")
	os.Mkdir(out, 0o755)
	if err := os.Chown(out, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), setpriv, "--reuid", "65534", "--regid", "65534", "--clear-groups",
		bin, "-test.run", "^(TestRunUnprivilegedInner|TestUnpack.*)$", "-test.v", "-test.count=1")
	cmd.Env = []string{"PATH=/usr/bin:/bin", innerEnv + "=" + out, "PYCONTAINER_E2E_ROOTFS=" + os.Getenv("PYCONTAINER_E2E_ROOTFS")}
	cmd.Dir = dir
	output, err := cmd.CombinedOutput()
	t.Logf("as uid 65534:\n%s", output)
	if i := bytes.Index(output, []byte("--- SKIP")); i >= 0 {
		t.Skipf("as uid 65534 the test skipped: %s", bytes.TrimSpace(output[bytes.LastIndex(output[:i], []byte("\n    "))+1:i]))
	}
	if err != nil {
		t.Fatalf("as uid 65534: %v", err)
	}
	// Unpack without root too: no owners, and read-only directories written into.
	for _, name := range []string{"TestRunUnprivilegedInner", "TestUnpack", "TestUnpackHostile", "TestUnpackErrors"} {
		if !bytes.Contains(output, []byte("--- PASS: "+name+" ")) {
			t.Errorf("%s didn't pass as uid 65534", name)
		}
	}
	p := filepath.Join(out, "result")
	if b, err := os.ReadFile(p); err != nil || string(b) != "written as uid 0" {
		t.Errorf("%s reads %q (%v), want the file written inside", p, b, err)
	}
	if uid, _ := owner(t, p); uid != 65534 {
		t.Errorf("the file written inside belongs to uid %d on the host, want 65534 (mapped to root inside)", uid)
	}
}

// TestRunUnprivilegedInner is TestRunUnprivileged's half that runs as uid 65534.
func TestRunUnprivilegedInner(t *testing.T) {
	out := os.Getenv(innerEnv)
	if out == "" {
		t.Skip("runs only under TestRunUnprivileged, as uid 65534")
	}
	if os.Geteuid() == 0 {
		t.Fatal("meant to run unprivileged, and this is root")
	}
	needSandbox(t)
	rootfs := e2eRootFS(t, "amd64")
	code := `
import errno, os, platform
print(os.getuid(), platform.machine())
try:
    open("/tmp/out/result", "w").close()
    open("/usr/.pycontainer-sandbox-unprivileged-probe", "w")
    os.remove("/usr/.pycontainer-sandbox-unprivileged-probe")
except OSError as e:
    print(errno.errorcode[e.errno])
open("/tmp/out/result", "w").write("written as uid %d" % os.getuid())
`
	got := py(t.Context(), rootfs, code, nil, func(s *Spec) { s.Binds = []Bind{{Host: out, Inside: "/tmp/out", Writable: true}} }).must(t)
	if want := "0 x86_64\nEROFS\n"; got != want {
		t.Errorf("inside printed\n%s\nwant\n%s", got, want)
	}
}

func copyFile(t *testing.T, from, to string) {
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestAvailableMessages(t *testing.T) {
	probeOK := func() error { return nil }
	refused := func() error { return errors.New("operation not permitted") }
	tests := []struct {
		name   string
		euid   int
		sysctl map[string]string
		probe  func() error
		want   string // "" for nil
	}{
		{"root", 0, map[string]string{"user/max_user_namespaces": "0"}, probeOK, ""},
		{"unprivileged, allowed", 1000, map[string]string{"user/max_user_namespaces": "15000", "kernel/unprivileged_userns_clone": "1"}, probeOK, ""},
		{"max_user_namespaces 0", 1000, map[string]string{"user/max_user_namespaces": "0"}, probeOK,
			"unprivileged user namespaces are off (user.max_user_namespaces = 0): run as root, or allow them with sysctl -w user.max_user_namespaces=15000"},
		{"Debian's switch off", 1000, map[string]string{"kernel/unprivileged_userns_clone": "0"}, probeOK,
			"(kernel.unprivileged_userns_clone = 0): run as root, or allow them with sysctl -w kernel.unprivileged_userns_clone=1"},
		{"Ubuntu's AppArmor restriction", 1000, map[string]string{"kernel/apparmor_restrict_unprivileged_userns": "1"}, probeOK,
			"kernel.apparmor_restrict_unprivileged_userns = 1"},
		{"refused by seccomp", 1000, nil, refused, "creating a user namespace was refused (operation not permitted): run as root"},
		{"refused as root", 0, nil, refused, "even as root"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, v := range tt.sysctl {
				os.MkdirAll(filepath.Join(dir, filepath.Dir(name)), 0o755)
				os.WriteFile(filepath.Join(dir, name), []byte(v+"\n"), 0o644)
			}
			err := available(tt.euid, dir, tt.probe)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error saying %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("more than one line: %q", err)
			}
		})
	}
}
