//go:build !(linux || darwin)

package oci

import "errors"

// removeSeal fails: without extended attributes no file carries a seal (seal_other.go).
func removeSeal(string) error { return errors.New("no extended attributes on this system") }
