package sandbox

import (
	"runtime"

	"github.com/pycontainer/pycontainer/oci"
)

// Emulation says how platform p runs on this host: Native, or Emulated by the binfmt_misc
// handler named (e.g. "qemu-aarch64", with its interpreter path and flags); or an error
// saying what to install (`apt-get install qemu-user-static binfmt-support`, or mount
// binfmt_misc) when neither. A handler without the F flag is an error too: Run's root
// filesystem doesn't hold the interpreter the kernel would look for.
func Emulation(p oci.Platform) (How, error) {
	return emulation(p, runtime.GOARCH, binfmtDir)
}
