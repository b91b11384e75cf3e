//go:build linux || darwin

package oci

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
	"time"

	digest "github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"
)

// openNoFollow opens path for reading unless it is a symbolic link; a FIFO does not
// block the open.
func openNoFollow(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
}

// sealValue is the seal a file described by fi carries when its bytes match d; false
// when its seal cannot be trusted whatever it says (another user owns the file).
func sealValue(fi fs.FileInfo, d digest.Digest) (string, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || int(st.Uid) != os.Geteuid() {
		return "", false
	}
	return fmt.Sprintf("v1 %s dev=%d ino=%d size=%d mtime=%d", d, st.Dev, st.Ino, fi.Size(), fi.ModTime().UnixNano()), true
}

func readSeal(f *os.File) (string, bool) {
	buf := make([]byte, 256)
	n, err := unix.Fgetxattr(int(f.Fd()), sealAttr, buf)
	if err != nil || n <= 0 || n > len(buf) {
		return "", false
	}
	return string(buf[:n]), true
}

func writeSeal(f *os.File, fi fs.FileInfo, d digest.Digest) {
	if v, ok := sealValue(fi, d); ok {
		_ = unix.Fsetxattr(int(f.Fd()), sealAttr, []byte(v), 0)
	}
}

// setTimes sets f's access and modification times to t.
func setTimes(f *os.File, t time.Time) error {
	tv := unix.NsecToTimeval(t.UnixNano())
	return unix.Futimes(int(f.Fd()), []unix.Timeval{tv, tv})
}
