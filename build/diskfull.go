package build

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// explainDiskFull says which disk filled up, the output's or the cache's, and what to
// do about it; the cause stays at the end.
func explainDiskFull(err error, o *Options) error {
	if !errors.Is(err, syscall.ENOSPC) {
		return err
	}
	var path string
	var pe *fs.PathError
	var le *os.LinkError // a rename into place
	switch {
	case errors.As(err, &pe):
		path = pe.Path
	case errors.As(err, &le):
		path = le.New
	default:
		return err
	}
	switch {
	case o.CacheDir != "" && within(path, o.CacheDir):
		return fmt.Errorf("the disk holding the cache %s is full: free space, run `pycontainer cache prune`, or set PYCONTAINER_CACHE to a directory on another disk: %w", o.CacheDir, err)
	case within(path, o.Output):
		return fmt.Errorf("the disk holding %s is full (the previous image there is unchanged): free space or build into another --output: %w", o.shown(o.Output), err)
	}
	return err
}

// within reports whether path is dir or lies beneath it.
func within(path, dir string) bool {
	p, err1 := filepath.Abs(path)
	d, err2 := filepath.Abs(dir)
	if err1 != nil || err2 != nil {
		return false
	}
	rel, err := filepath.Rel(d, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}
