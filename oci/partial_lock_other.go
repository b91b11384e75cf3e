//go:build !unix

package oci

import "os"

// tryLockFile always succeeds where flock is not available.
func tryLockFile(*os.File) (bool, error) { return true, nil }

// renameLocked closes f and gives its file the name dst (an open file cannot be renamed
// on every system).
func renameLocked(f *os.File, dst string) error {
	f.Close()
	return os.Rename(f.Name(), dst)
}

// removeLocked closes f and removes its file.
func removeLocked(f *os.File) error {
	f.Close()
	return os.Remove(f.Name())
}
