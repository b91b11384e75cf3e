package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// childArg0 marks the re-executed binary as the sandbox's child. argv[0] rather than an
// environment variable, so the child's environment holds nothing of the caller's.
const childArg0 = "pycontainer-sandbox-child"

// The child's extra descriptors: the spec comes in on one, a setup error goes out on the
// other, which is close-on-exec so the parent reads EOF once the command has started.
const (
	specFD = 3
	errFD  = 4
)

// defaultPath is the PATH a command name is looked up in when Spec.Env has none.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// childSpec is Spec as the child gets it: validated, host paths absolute.
type childSpec struct {
	RootFS string
	Args   []string
	Env    []string
	Dir    string
	Binds  []Bind
}

// IsChild says whether this process is Run's re-executed child, which must call ChildMain
// before anything else.
func IsChild() bool {
	return len(os.Args) == 1 && os.Args[0] == childArg0
}

// Run runs spec: always in new mount, PID, IPC, UTS and network namespaces, and, when not
// root, a user namespace with the caller mapped to root. The root filesystem is RootFS,
// bound read-only (nosuid, nodev) and made the root with pivot_root, so no other host path
// is reachable; /tmp is a new tmpfs, /proc a new proc (with /proc/sys and the like
// read-only), /dev a tmpfs with null, zero, full, random and urandom bound from the host.
// The command runs as root inside, with Docker's default capabilities less mknod and raw
// sockets, no_new_privs set and no descriptor but stdin (/dev/null), stdout and stderr.
//
// ctx's end kills the PID namespace's init, which takes the whole process tree with it,
// and Run returns once it is gone. A command that exits non-zero gives an error wrapping
// its *exec.ExitError; a failure to set the sandbox up says which step failed.
func Run(ctx context.Context, spec Spec) error {
	cs, err := validate(spec)
	if err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	data, err := json.Marshal(cs)
	if err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	specR, specW, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	defer specW.Close()
	errR, errW, err := os.Pipe()
	if err != nil {
		specR.Close()
		return fmt.Errorf("sandbox: %w", err)
	}
	defer errR.Close()

	cmd := exec.CommandContext(ctx, "/proc/self/exe")
	cmd.Args = []string{childArg0}
	cmd.Env = []string{}
	cmd.Stdout, cmd.Stderr = spec.Stdout, spec.Stderr
	cmd.ExtraFiles = []*os.File{specR, errW}
	cmd.SysProcAttr = sysProcAttr()
	// Killing init ends the tree, and with it every writer of the output pipes; the
	// delay only guards against a kernel that keeps one open anyway.
	cmd.WaitDelay = 5 * time.Second
	err = cmd.Start()
	specR.Close()
	errW.Close()
	if err != nil {
		return fmt.Errorf("sandbox: starting the child (namespaces refused? see sandbox.Available): %w", err)
	}
	go func() {
		// The child reads the spec first thing; if it died instead, the write fails
		// with EPIPE and Wait says why.
		_, _ = specW.Write(data)
		specW.Close()
	}()
	setupErr, _ := io.ReadAll(errR)
	err = cmd.Wait()
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("sandbox: %s: %w", spec.Args[0], context.Cause(ctx))
	case len(setupErr) > 0:
		return fmt.Errorf("sandbox: setting up %s: %s", cs.RootFS, setupErr)
	case err != nil:
		return fmt.Errorf("sandbox: %s: %w", spec.Args[0], err)
	}
	return nil
}

func sysProcAttr() *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWPID | syscall.CLONE_NEWIPC | syscall.CLONE_NEWUTS | syscall.CLONE_NEWNET,
		// If this process dies, so does the sandbox's init and with it the tree.
		Pdeathsig: syscall.SIGKILL,
	}
	if uid := os.Geteuid(); uid != 0 {
		a.Cloneflags |= syscall.CLONE_NEWUSER
		a.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: uid, Size: 1}}
		a.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}}
		a.GidMappingsEnableSetgroups = false
	}
	return a
}

func validate(spec Spec) (childSpec, error) {
	cs := childSpec{Args: spec.Args, Env: spec.Env, Dir: spec.Dir}
	if spec.RootFS == "" {
		return cs, errors.New("no root filesystem")
	}
	root, err := filepath.Abs(spec.RootFS)
	if err != nil {
		return cs, err
	}
	if fi, err := os.Stat(root); err != nil {
		return cs, fmt.Errorf("root filesystem: %w", err)
	} else if !fi.IsDir() {
		return cs, fmt.Errorf("root filesystem %s is not a directory", root)
	}
	cs.RootFS = root
	if len(spec.Args) == 0 || spec.Args[0] == "" {
		return cs, errors.New("no command")
	}
	if cs.Dir == "" {
		cs.Dir = "/"
	}
	if !path.IsAbs(cs.Dir) {
		return cs, fmt.Errorf("working directory %q is not absolute", spec.Dir)
	}
	for _, b := range spec.Binds {
		if b.Host == "" {
			return cs, fmt.Errorf("bind to %s: no host path", b.Inside)
		}
		inside := path.Clean(b.Inside)
		if !strings.HasPrefix(inside, "/tmp/") {
			return cs, fmt.Errorf("bind %s: inside path %q is not under /tmp", b.Host, b.Inside)
		}
		host, err := filepath.Abs(b.Host)
		if err != nil {
			return cs, err
		}
		if _, err := os.Stat(host); err != nil {
			return cs, fmt.Errorf("bind to %s: %w", inside, err)
		}
		cs.Binds = append(cs.Binds, Bind{Host: host, Inside: inside, Writable: b.Writable})
	}
	// Parents before children, so a bind inside another lands on top of it.
	slices.SortStableFunc(cs.Binds, func(a, b Bind) int {
		return strings.Count(a.Inside, "/") - strings.Count(b.Inside, "/")
	})
	return cs, nil
}

// ChildMain is the sandbox's init before the command: it reads the spec Run sent, sets up
// the mounts, makes RootFS the root, drops capabilities and execs the command, which then
// is the PID namespace's init. It never returns: a failure is sent back to Run and the
// process exits.
func ChildMain() {
	errPipe := os.NewFile(errFD, "sandbox-errors")
	syscall.CloseOnExec(errFD)
	// child only returns on failure; Run reports what the pipe says.
	fmt.Fprint(errPipe, child())
	os.Exit(125)
}

func child() error {
	f := os.NewFile(specFD, "sandbox-spec")
	if f == nil {
		return errors.New("no spec descriptor: ChildMain runs only when Run starts it")
	}
	var cs childSpec
	err := json.NewDecoder(f).Decode(&cs)
	f.Close()
	if err != nil {
		return fmt.Errorf("reading the spec: %w", err)
	}
	if err := mounts(cs); err != nil {
		return err
	}
	if err := pivot(cs.RootFS); err != nil {
		return err
	}
	if err := unix.Chdir(cs.Dir); err != nil {
		return fmt.Errorf("working directory %s: %w", cs.Dir, err)
	}
	if err := dropPrivileges(); err != nil {
		return err
	}
	prog, err := lookPath(cs.Args[0], cs.Env)
	if err != nil {
		return err
	}
	// Nothing the caller had open may reach the command; the error pipe closes on
	// exec too, which tells Run the command started.
	if err := unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		if err := cloexecAll(); err != nil {
			return err
		}
	}
	err = unix.Exec(prog, cs.Args, cs.Env)
	if errors.Is(err, unix.ENOEXEC) {
		return fmt.Errorf("exec %s: %w (the image's platform doesn't run on this host: see sandbox.Emulation)", prog, err)
	}
	return fmt.Errorf("exec %s: %w", prog, err)
}

func mount(src, dst, fstype string, flags uintptr, data string) error {
	if err := unix.Mount(src, dst, fstype, flags, data); err != nil {
		what := fstype
		if what == "" {
			what = src
		}
		return fmt.Errorf("mounting %s on %s: %w", what, dst, err)
	}
	return nil
}

// mounts builds the sandbox's tree under RootFS, still seen from the host's root.
func mounts(cs childSpec) error {
	r := cs.RootFS
	// Nothing mounted here may propagate back to the host's mount namespace.
	if err := mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return err
	}
	_ = unix.Sethostname([]byte("sandbox")) // the host's name stays the host's
	// RootFS becomes a mount of its own: pivot_root needs one, and it can be read-only
	// while its directory on the host stays writable.
	if err := mount(r, r, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return err
	}
	if err := mount("tmpfs", filepath.Join(r, "tmp"), "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=1777"); err != nil {
		return err
	}
	if err := devices(filepath.Join(r, "dev")); err != nil {
		return err
	}
	if err := procfs(filepath.Join(r, "proc")); err != nil {
		return err
	}
	for _, b := range cs.Binds {
		if err := bind(r, b); err != nil {
			return err
		}
	}
	return remountBind(r, r, false)
}

// devices makes a minimal /dev: a tmpfs with the harmless host devices bound in.
func devices(dev string) error {
	// nodev covers only nodes made on this tmpfs; the binds below are mounts of their own.
	if err := mount("tmpfs", dev, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=755"); err != nil {
		return err
	}
	for _, name := range []string{"null", "zero", "full", "random", "urandom"} {
		p := filepath.Join(dev, name)
		if err := os.WriteFile(p, nil, 0o666); err != nil {
			return fmt.Errorf("/dev/%s: %w", name, err)
		}
		if err := mount("/dev/"+name, p, "", unix.MS_BIND, ""); err != nil {
			return err
		}
	}
	for name, target := range map[string]string{"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2"} {
		if err := os.Symlink(target, filepath.Join(dev, name)); err != nil {
			return fmt.Errorf("/dev/%s: %w", name, err)
		}
	}
	// Python's multiprocessing wants a writable /dev/shm; /dev itself is made read-only.
	shm := filepath.Join(dev, "shm")
	if err := os.Mkdir(shm, 0o755); err != nil {
		return fmt.Errorf("/dev/shm: %w", err)
	}
	if err := mount("tmpfs", shm, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=1777"); err != nil {
		return err
	}
	return mount("", dev, "", unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=755")
}

// procfs mounts a proc of the new PID namespace, with the kernel's global knobs
// read-only or hidden as Docker has them: a process that is root of the host (Run as
// root) could otherwise write /proc/sys/kernel/core_pattern and run anything outside.
func procfs(proc string) error {
	if err := mount("proc", proc, "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return err
	}
	for _, name := range []string{"sys", "sysrq-trigger", "irq", "bus", "fs"} {
		p := filepath.Join(proc, name)
		if _, err := os.Lstat(p); err != nil {
			continue
		}
		if err := mount(p, p, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return err
		}
		if err := mount("", p, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
			return err
		}
	}
	for _, name := range []string{"kcore", "keys", "timer_list", "sched_debug", "kallsyms"} {
		p := filepath.Join(proc, name)
		if _, err := os.Lstat(p); err != nil {
			continue
		}
		if err := mount("/dev/null", p, "", unix.MS_BIND, ""); err != nil {
			return err
		}
	}
	return nil
}

// bind mounts b.Host on b.Inside, on the fresh /tmp tmpfs: its directories are made
// there, where no symlink of the image can redirect them.
func bind(root string, b Bind) error {
	target := filepath.Join(root, b.Inside)
	fi, err := os.Stat(b.Host)
	if err != nil {
		return fmt.Errorf("bind %s: %w", b.Host, err)
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return fmt.Errorf("bind %s: %w", b.Inside, err)
	}
	if fi.IsDir() {
		err = os.Mkdir(target, 0o755)
	} else {
		err = os.WriteFile(target, nil, 0o644)
	}
	if err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("bind %s: %w", b.Inside, err)
	}
	if err := mount(b.Host, target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return err
	}
	return remountBind(b.Host, target, b.Writable)
}

// remountBind makes a bind mount nosuid and nodev, and read-only unless writable. The
// flags the host mount has already are kept: in a user namespace they are locked, and a
// remount that drops one fails.
func remountBind(host, target string, writable bool) error {
	var st unix.Statfs_t
	if err := unix.Statfs(host, &st); err != nil {
		return fmt.Errorf("statfs %s: %w", host, err)
	}
	flags := uintptr(unix.MS_REMOUNT | unix.MS_BIND | unix.MS_NOSUID | unix.MS_NODEV)
	for _, f := range []struct{ st, ms uintptr }{
		{unix.ST_RDONLY, unix.MS_RDONLY},
		{unix.ST_NOEXEC, unix.MS_NOEXEC},
		{unix.ST_NOATIME, unix.MS_NOATIME},
		{unix.ST_NODIRATIME, unix.MS_NODIRATIME},
		{unix.ST_RELATIME, unix.MS_RELATIME},
	} {
		if uintptr(st.Flags)&f.st != 0 {
			flags |= f.ms
		}
	}
	if uintptr(st.Flags)&(unix.ST_NOATIME|unix.ST_RELATIME) == 0 {
		flags |= unix.MS_STRICTATIME
	}
	if !writable {
		flags |= unix.MS_RDONLY
	}
	return mount("", target, "", flags, "")
}

// pivot makes root the root and detaches the host's tree, so that, unlike after a bare
// chroot, no way back to it exists (runc does the same).
func pivot(root string) error {
	oldRoot, err := unix.Open("/", unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	defer unix.Close(oldRoot)
	if err := unix.Chdir(root); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root to %s: %w", root, err)
	}
	if err := unix.Fchdir(oldRoot); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detaching the host's root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	return nil
}

// keptCaps are Docker's default capabilities less CAP_MKNOD and CAP_NET_RAW: what a build
// running as root may need (owners, permissions, setuid for tools that drop to a user).
// Gone in particular are CAP_SYS_ADMIN (no mount, so the read-only binds stay so) and
// CAP_DAC_READ_SEARCH (open_by_handle_at could reach any file of RootFS's filesystem).
var keptCaps = []uintptr{
	unix.CAP_CHOWN, unix.CAP_DAC_OVERRIDE, unix.CAP_FOWNER, unix.CAP_FSETID, unix.CAP_KILL,
	unix.CAP_SETGID, unix.CAP_SETUID, unix.CAP_SETPCAP, unix.CAP_NET_BIND_SERVICE,
	unix.CAP_SYS_CHROOT, unix.CAP_AUDIT_WRITE, unix.CAP_SETFCAP,
}

func dropPrivileges() error {
	var keep [2]uint32
	for _, c := range keptCaps {
		keep[c/32] |= 1 << (c % 32)
	}
	for c := uintptr(0); c < 64; c++ {
		if keep[c/32]&(1<<(c%32)) != 0 {
			continue
		}
		// EINVAL: the kernel has no such capability.
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, c, 0, 0, 0); err != nil && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("dropping capability %d: %w", c, err)
		}
	}
	_ = unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capget: %w", err)
	}
	for i := range data {
		data[i].Effective &= keep[i]
		data[i].Permitted &= keep[i]
		data[i].Inheritable = 0
	}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("no_new_privs: %w", err)
	}
	return nil
}

// cloexecAll is CloseRange's fallback for kernels before 5.11.
func cloexecAll() error {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return fmt.Errorf("closing descriptors: %w", err)
	}
	for _, e := range entries {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
			syscall.CloseOnExec(fd)
		}
	}
	return nil
}

// lookPath finds a command name in the PATH of the command's own environment.
func lookPath(name string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	dirs := defaultPath
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			dirs = v
		}
	}
	for _, d := range filepath.SplitList(dirs) {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: not found in PATH %s", name, dirs)
}

// Available says whether Run can work here (Linux; root, or user namespaces allowed), and if
// not why, in one line, for tests to skip with and for the plan to say.
func Available() error {
	return available(os.Geteuid(), "/proc/sys", probeNamespaces)
}

func available(euid int, sysctl string, probe func() error) error {
	if euid != 0 {
		for _, s := range []struct {
			file, name string
			off        int
			fix        string
		}{
			{"user/max_user_namespaces", "user.max_user_namespaces", 0, "sysctl -w user.max_user_namespaces=15000"},
			{"kernel/unprivileged_userns_clone", "kernel.unprivileged_userns_clone", 0, "sysctl -w kernel.unprivileged_userns_clone=1"},
			{"kernel/apparmor_restrict_unprivileged_userns", "kernel.apparmor_restrict_unprivileged_userns", 1, "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0"},
		} {
			data, err := os.ReadFile(filepath.Join(sysctl, s.file))
			if err != nil {
				continue // the kernel has no such switch
			}
			if v, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && v == s.off {
				return fmt.Errorf("unprivileged user namespaces are off (%s = %d): run as root, or allow them with %s", s.name, v, s.fix)
			}
		}
	}
	if err := probe(); err != nil {
		if euid != 0 {
			return fmt.Errorf("creating a user namespace was refused (%v): run as root, or allow user namespaces (in a container: a seccomp profile permitting unshare)", err)
		}
		return fmt.Errorf("creating namespaces was refused even as root (%v): in a container, run it with CAP_SYS_ADMIN (e.g. --privileged)", err)
	}
	return nil
}

// probeNamespaces clones a process into the namespaces Run uses and has it exec a path
// that doesn't exist: ENOENT means the clone (and the user namespace's ID maps)
// worked, while running nothing at all.
func probeNamespaces() error {
	_, err := syscall.ForkExec("/nonexistent/pycontainer-sandbox-probe", []string{"probe"}, &syscall.ProcAttr{
		Env: []string{}, Sys: sysProcAttr(),
	})
	if errors.Is(err, syscall.ENOENT) {
		return nil
	}
	if err == nil {
		return errors.New("the probe ran")
	}
	return err
}
