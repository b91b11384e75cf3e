//go:build unix

package oci

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// lockDir takes an exclusive advisory lock on the directory itself, so no lock file
// ends up inside the layout. The kernel drops the lock if the process dies.
func lockDir(dir string) (func() error, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w; wait for it to finish or use another --output", ErrLayoutBusy)
		}
		return nil, err
	}
	return f.Close, nil
}
