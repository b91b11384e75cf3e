//go:build unix

package oci

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// needLocks lets a test that needs one lock to exclude another run: flock does it here.
func needLocks(*testing.T) {}

// TestLocksExclude: what flock must refuse, without waiting, while another holder
// (another build, another process) has the lock, and what it must allow. The holders
// here are separate opens of the same directory or file, which flock treats as it
// treats separate processes.
func TestLocksExclude(t *testing.T) {
	type lock struct {
		dir       bool // lockDir, the layout's writer lock; else lockBlobs
		exclusive bool // for lockBlobs: a garbage collection; else a reader
	}
	writer, reader, collector := lock{dir: true}, lock{}, lock{exclusive: true}
	tests := []struct {
		name         string
		held, second lock
		granted      bool
	}{
		{"a second writer of the layout", writer, writer, false},
		{"readers together", reader, reader, true},
		{"a collection while a reader holds the blobs", reader, collector, false},
		{"a reader during a collection", collector, reader, false},
		{"two collections", collector, collector, false},
		{"the writer's own collection", writer, collector, true}, // blobs/ is not the layout's directory
		{"a reader while a build writes", writer, reader, true},
	}
	take := func(t *testing.T, dir string, l lock) (func() error, bool) {
		t.Helper()
		if l.dir {
			unlock, err := lockDir(dir)
			if errors.Is(err, ErrLayoutBusy) {
				return nil, false
			}
			if err != nil {
				t.Fatal(err)
			}
			return unlock, true
		}
		unlock, ok, err := lockBlobs(dir, l.exclusive)
		if err != nil {
			t.Fatal(err)
		}
		return unlock, ok
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.Mkdir(filepath.Join(dir, "blobs"), 0o755); err != nil {
				t.Fatal(err)
			}
			unlock, ok := take(t, dir, tt.held)
			if !ok {
				t.Fatal("the first lock was refused")
			}
			again, granted := take(t, dir, tt.second)
			if granted != tt.granted {
				t.Fatalf("second lock granted = %v, want %v", granted, tt.granted)
			}
			if granted {
				again()
			}
			if err := unlock(); err != nil {
				t.Fatal(err)
			}
			// Released, the lock is free for anyone.
			if again, ok := take(t, dir, tt.second); !ok {
				t.Error("the lock stayed taken after it was released")
			} else {
				again()
			}
		})
	}
}

// TestTryLockFileExcludes: one open of a partial download's file holds it; another open
// of the same file is refused until the first is closed.
func TestTryLockFileExcludes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "partial")
	open := func() *os.File {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	first, second := open(), open()
	defer second.Close()
	if ok, err := tryLockFile(first); !ok || err != nil {
		t.Fatalf("first lock: %v %v", ok, err)
	}
	if ok, err := tryLockFile(second); ok || err != nil {
		t.Fatalf("second lock while the first is held: %v %v, want refused", ok, err)
	}
	first.Close()
	if ok, err := tryLockFile(second); !ok || err != nil {
		t.Fatalf("second lock after the first closed: %v %v", ok, err)
	}
}
