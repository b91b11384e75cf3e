//go:build unix

package oci

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestWriteFileAtomicHonoursUmask: a new file gets the mode less the umask, as
// os.WriteFile gives it; layout files stay readable by everyone whatever the umask.
func TestWriteFileAtomicHonoursUmask(t *testing.T) {
	old := unix.Umask(0o077)
	defer unix.Umask(old)
	dir := t.TempDir()
	for _, tt := range []struct {
		mode, want os.FileMode
	}{{0o644, 0o600}, {0o600, 0o600}, {0o755, 0o700}} {
		path := filepath.Join(dir, fmt.Sprintf("out-%o.tar", tt.mode))
		if err := WriteFileAtomic(path, dir, tt.mode, func(w io.Writer) error { _, err := w.Write([]byte("x")); return err }); err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != tt.want {
			t.Errorf("mode %o under umask 077: got %v (%v), want %o", tt.mode, fi.Mode().Perm(), err, tt.want)
		}
	}
	l, err := OpenLayout(filepath.Join(dir, "image"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if fi, err := os.Stat(filepath.Join(dir, "image", "oci-layout")); err != nil || fi.Mode().Perm() != blobMode {
		t.Errorf("oci-layout mode %v (%v), want %o", fi.Mode().Perm(), err, blobMode)
	}
}
