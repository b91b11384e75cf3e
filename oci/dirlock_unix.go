//go:build unix

package oci

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// holdDir locks directory dir itself: shared (waiting for an exclusive holder, which
// Prune is only for an instant), or exclusive without waiting, ok false when another
// process holds it. The kernel drops the lock if the process dies.
func holdDir(dir string, exclusive bool) (release func(), ok bool, err error) {
	f, err := os.OpenFile(dir, os.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return nil, false, err
	}
	how := unix.LOCK_SH
	if exclusive {
		how = unix.LOCK_EX | unix.LOCK_NB
	}
	if err := unix.Flock(int(f.Fd()), how); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, false, nil
		}
		return nil, false, err
	}
	// Prune renames a directory away while it holds it: a holder that got the lock after
	// that holds a directory with no name in the cache.
	fi, err := f.Stat()
	if err == nil {
		var named os.FileInfo
		if named, err = os.Lstat(dir); err == nil && !os.SameFile(fi, named) {
			err = os.ErrNotExist
		}
	}
	if err != nil {
		f.Close()
		return nil, false, err
	}
	return func() { f.Close() }, true, nil
}
