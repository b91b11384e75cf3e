//go:build linux || darwin

package oci

import "golang.org/x/sys/unix"

// removeSeal takes the seal off the file at path, as a copy that drops extended
// attributes would.
func removeSeal(path string) error { return unix.Removexattr(path, sealAttr) }
