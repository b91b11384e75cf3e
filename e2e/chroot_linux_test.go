//go:build linux

package e2e

import (
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"testing"
)

// chrootCommand runs exe (a path inside rootfs) with args under chroot(2) into rootfs:
// how the amd64 image runs natively, without a container runtime.
func chrootCommand(t *testing.T, rootfs, exe string, args []string, cwd string) *exec.Cmd {
	t.Helper()
	if runtime.GOARCH != "amd64" || os.Geteuid() != 0 {
		t.Skip("running amd64 under chroot needs root on an amd64 host")
	}
	return &exec.Cmd{Path: exe, Args: args, Dir: cwd, SysProcAttr: &syscall.SysProcAttr{Chroot: rootfs}}
}
