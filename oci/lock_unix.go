//go:build unix

package oci

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

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

// lockBlobs takes a lock on dir's blobs/ without waiting: shared for readers of the
// layout, exclusive for the garbage collection of a build. ok is false when another
// process holds a lock that conflicts; with no blobs/ there is nothing to lock.
func lockBlobs(dir string, exclusive bool) (unlock func() error, ok bool, err error) {
	f, err := os.OpenFile(filepath.Join(dir, "blobs"), os.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return func() error { return nil }, true, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("lock %s: %w", dir, err)
	}
	how := unix.LOCK_SH
	if exclusive {
		how = unix.LOCK_EX
	}
	if err := unix.Flock(int(f.Fd()), how|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("lock %s: %w", dir, err)
	}
	return f.Close, true, nil
}
