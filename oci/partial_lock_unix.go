//go:build unix

package oci

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// tryLockFile takes an exclusive advisory lock on f without waiting; it reports false
// when another open file holds it. Closing f releases it, and so does the process dying.
func tryLockFile(f *os.File) (bool, error) {
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		if errors.Is(err, unix.EWOULDBLOCK) {
			return false, nil
		}
		return false, err
	}
	return true, nil
}

// renameLocked gives f's file the name dst while f, and its lock, are still open, so no
// other process can take the file between, then closes f.
func renameLocked(f *os.File, dst string) error {
	err := os.Rename(f.Name(), dst)
	f.Close()
	return err
}

// removeLocked removes f's file while f, and its lock, are still open, then closes f.
func removeLocked(f *os.File) error {
	err := os.Remove(f.Name())
	f.Close()
	return err
}
