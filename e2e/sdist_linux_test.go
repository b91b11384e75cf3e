//go:build linux

package e2e

import (
	"os/exec"
	"syscall"
)

// asUser makes cmd run as uid:gid, with no supplementary groups.
func asUser(cmd *exec.Cmd, uid, gid uint32) *exec.Cmd {
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid, Groups: []uint32{}}}
	return cmd
}
