//go:build !unix

package oci

// Windows, the one release target that is not unix, has no flock, and these locks are
// not implemented with LockFileEx yet: every lock is granted at once (tryLockFile in
// partial_lock_other.go too). What that costs there, with builds running side by side:
// a second build writing the same --output is not refused with ErrLayoutBusy; a build's
// garbage collection does not wait for a reader (ReadLock, inspect --verify); two
// downloads of one blob into a shared cache may share its partial file; Prune tells a
// temporary file a build still writes from a leftover by its age alone. One build at a
// time per output directory and cache, as a CI job runs them, is safe.
// TestLocksRelease holds here; TestLocksExclude and the tests that call needLocks are
// unix only.

// lockDir is a no-op where flock is not available.
func lockDir(string) (func() error, error) { return func() error { return nil }, nil }

// lockBlobs is a no-op where flock is not available.
func lockBlobs(string, bool) (func() error, bool, error) {
	return func() error { return nil }, true, nil
}
