//go:build !linux

package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"

	"github.com/pycontainer/pycontainer/oci"
)

// errNotLinux says why nothing runs: the sandbox is made of Linux namespaces.
var errNotLinux = fmt.Errorf("running in an unpacked image needs Linux namespaces, and this is %s: %w", runtime.GOOS, errors.ErrUnsupported)

// Emulation reports errors.ErrUnsupported: only Linux runs the sandbox.
func Emulation(p oci.Platform) (How, error) {
	return How{}, fmt.Errorf("%s: %w", p, errNotLinux)
}

// Run reports errors.ErrUnsupported: only Linux runs the sandbox.
func Run(ctx context.Context, spec Spec) error {
	return errNotLinux
}

// Available reports errors.ErrUnsupported: only Linux runs the sandbox.
func Available() error {
	return errNotLinux
}

// IsChild is false: Run never starts a child here.
func IsChild() bool { return false }

// ChildMain is never reached here (IsChild is false); it exits in case it is called.
func ChildMain() {
	fmt.Fprintln(os.Stderr, "sandbox:", errNotLinux)
	os.Exit(2)
}
