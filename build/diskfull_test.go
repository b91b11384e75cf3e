package build

import (
	"errors"
	"io/fs"
	"os"
	"strings"
	"syscall"
	"testing"
)

func TestExplainDiskFull(t *testing.T) {
	o := &Options{Output: "dist/image", CacheDir: "/home/me/.cache/pycontainer"}
	full := func(path string) error {
		return &fs.PathError{Op: "write", Path: path, Err: syscall.ENOSPC}
	}
	tests := []struct {
		name string
		err  error
		want string // the message starts so; "" means unchanged
	}{
		{"the output", full("dist/image/.pycontainer-tmp/blob-1"), "the disk holding dist/image is full"},
		{"the cache", full("/home/me/.cache/pycontainer/tmp/blob-1"), "the disk holding the cache /home/me/.cache/pycontainer is full"},
		{"a rename into the output", &os.LinkError{Op: "rename", Old: "dist/image/.pycontainer-tmp/x", New: "dist/image/index.json", Err: syscall.ENOSPC}, "the disk holding dist/image is full"},
		{"a sibling named like the output", full("dist/image2/x"), ""},
		{"another disk", full("/tmp/x"), ""},
		{"another error", &fs.PathError{Op: "write", Path: "dist/image/x", Err: syscall.EIO}, ""},
		{"no error", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := explainDiskFull(tt.err, o)
			if tt.want == "" {
				if got != tt.err {
					t.Errorf("got %v, want the error unchanged", got)
				}
				return
			}
			if !strings.HasPrefix(got.Error(), tt.want) || !errors.Is(got, syscall.ENOSPC) || !strings.HasSuffix(got.Error(), tt.err.Error()) {
				t.Errorf("got %q, want it to start %q and keep the cause", got, tt.want)
			}
		})
	}
}
