//go:build !unix

package oci

import "testing"

// needLocks skips a test that needs one lock to exclude another: there are no advisory
// locks here (lock_other.go), every lock is granted.
func needLocks(t *testing.T) {
	t.Helper()
	t.Skip("no advisory file locks on this OS: every lock is granted (lock_other.go)")
}
