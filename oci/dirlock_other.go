//go:build !unix

package oci

import "os"

// holdDir only checks that dir exists where flock is not available (see lock_other.go):
// there Prune may remove a builder's root filesystem a build is using.
func holdDir(dir string, _ bool) (func(), bool, error) {
	if _, err := os.Lstat(dir); err != nil {
		return nil, false, err
	}
	return func() {}, true, nil
}
