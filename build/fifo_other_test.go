//go:build !unix

package build

import "testing"

// mkfifo skips the test: Windows has no named pipes in the file system to trip over.
func mkfifo(t *testing.T, _ string) {
	t.Helper()
	t.Skip("named pipes (FIFOs) in the file system are a unix thing")
}
