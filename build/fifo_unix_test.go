//go:build unix

package build

import (
	"syscall"
	"testing"
)

// mkfifo creates a named pipe at path: a file whose read blocks until someone writes.
func mkfifo(t *testing.T, path string) {
	t.Helper()
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		t.Fatal(err)
	}
}
