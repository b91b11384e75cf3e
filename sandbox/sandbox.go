// Package sandbox runs a command inside an unpacked container image without a container
// engine: Unpack turns OCI layers into a root filesystem, Emulation says whether the
// image's platform can run on this host (natively or through a binfmt_misc qemu
// handler), and Run executes a command there in fresh namespaces, with nothing of the
// host visible but the Binds it is given.
//
// Linux does the work. On other systems Run, Available and Emulation return an error
// wrapping errors.ErrUnsupported, so callers can fall back to Docker or Podman.
//
// A program that calls Run must call `if sandbox.IsChild() { sandbox.ChildMain() }` first
// thing in main (and in TestMain of a test binary that calls Run): Run re-executes the
// running binary to set up the namespaces before the command starts.
package sandbox

import "io"

// Layer is one OCI layer blob: its media type (tar, tar+gzip, tar+zstd) and how to open it.
type Layer struct {
	MediaType string
	Open      func() (io.ReadCloser, error)
}

// How says how a platform's binaries run on this host.
type How struct {
	Native      bool   // the host runs them itself
	Handler     string // else the binfmt_misc handler that runs them, e.g. "qemu-aarch64"
	Interpreter string // that handler's interpreter, e.g. /usr/libexec/qemu-binfmt/aarch64-binfmt-P
	FixBinary   bool   // the handler has the F flag: the kernel opened the interpreter already, so it works inside any root filesystem
}

// Bind makes a host file or directory visible inside the sandbox.
type Bind struct {
	Host     string // host path
	Inside   string // must be under /tmp (a fresh tmpfs), so no path of the image is hidden
	Writable bool   // else mounted read-only
}

// Spec is a command to run in a root filesystem.
type Spec struct {
	RootFS string   // an Unpack-ed root filesystem; never written (mounted read-only)
	Args   []string // Args[0] a path inside RootFS (or a name looked up in Env's PATH)
	Env    []string // the whole environment inside; nothing of the host's
	Dir    string   // working directory inside; "/" when empty
	Binds  []Bind
	Stdout io.Writer // nil discards
	Stderr io.Writer // nil discards
}
