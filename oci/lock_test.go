package oci

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// TestLocksRelease: on every OS, with flock or without, a lock is granted when nobody
// holds it, released by its unlock, and granted again; readers share the blobs; a layout
// without blobs/ has nothing to lock.
func TestLocksRelease(t *testing.T) {
	dir := t.TempDir()
	if unlock, ok, err := lockBlobs(dir, true); !ok || err != nil {
		t.Fatalf("lockBlobs without blobs/: %v %v", ok, err)
	} else if err := unlock(); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "blobs"), 0o755); err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second round takes what the first released
		unlock, err := lockDir(dir)
		if err != nil {
			t.Fatalf("lockDir: %v", err)
		}
		r1, ok1, err1 := lockBlobs(dir, false)
		r2, ok2, err2 := lockBlobs(dir, false)
		if !ok1 || !ok2 || err1 != nil || err2 != nil {
			t.Fatalf("two readers: %v %v, %v %v", ok1, err1, ok2, err2)
		}
		for _, release := range []func() error{r1, r2, unlock} {
			if err := release(); err != nil {
				t.Fatal(err)
			}
		}
		gc, ok, err := lockBlobs(dir, true)
		if !ok || err != nil {
			t.Fatalf("a collection once the readers left: %v %v", ok, err)
		}
		if err := gc(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestLockedFileRenameAndRemove: a partial download's locked file can be renamed into
// place and removed on every OS (Windows cannot rename an open file: there it is closed
// first).
func TestLockedFileRenameAndRemove(t *testing.T) {
	dir := t.TempDir()
	create := func(name string) *os.File {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := tryLockFile(f); !ok || err != nil {
			t.Fatalf("tryLockFile on a new file: %v %v", ok, err)
		}
		return f
	}
	dst := filepath.Join(dir, "blob")
	if err := renameLocked(create("partial"), dst); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dst); err != nil {
		t.Errorf("renamed file: %v", err)
	}
	gone := create("abandoned")
	if err := removeLocked(gone); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(gone.Name()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("removed file: %v", err)
	}
}
