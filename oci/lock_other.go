//go:build !unix

package oci

// lockDir is a no-op where flock is not available.
func lockDir(string) (func() error, error) { return func() error { return nil }, nil }

// lockBlobs is a no-op where flock is not available.
func lockBlobs(string, bool) (func() error, bool, error) {
	return func() error { return nil }, true, nil
}
