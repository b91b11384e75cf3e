//go:build unix

package build

import (
	"os/exec"
	"syscall"
)

// killWithChildren runs cmd in a process group of its own, killed whole when cmd's
// context ends: pip runs build backends and resolvers as children, and they die with
// it when the build is cancelled (SIGINT, SIGTERM, SIGHUP).
func killWithChildren(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}
