//go:build !linux

package e2e

import (
	"os/exec"
	"testing"
)

// chrootCommand skips: the image's amd64 Linux binaries run natively only on a Linux
// host (SysProcAttr.Chroot does not exist on Windows, and macOS cannot run ELF).
func chrootCommand(t *testing.T, _, _ string, _ []string, _ string) *exec.Cmd {
	t.Helper()
	t.Skip("running an image's binaries under chroot needs a Linux host")
	return nil
}
