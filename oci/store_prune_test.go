package oci

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// pruneFixture is a store holding one entry of each kind Prune weighs, each of a size of
// its own, and what killed builds leave beside them.
type pruneFixture struct {
	s     *Store
	paths map[string]string // entry name → its path in the store
	sizes map[string]int64
}

const (
	testRootFSHex = "1111111111111111111111111111111111111111111111111111111111111111"
	testWheelKey  = "2222222222222222222222222222222222222222222222222222222222222222/linux-arm-v7/3333333333333333333333333333333333333333333333333333333333333333"
)

func writeTestFile(t *testing.T, p string, size int, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, bytes.Repeat([]byte("x"), size), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

// writeTestRootFS writes an unpacked image at dir: a setuid file, a 0555 directory with
// a file in it; size bytes of files in all.
func writeTestRootFS(t *testing.T, dir string) int64 {
	writeTestFile(t, filepath.Join(dir, "usr", "bin", "su"), 3000, 0o4755|os.ModeSetuid)
	writeTestFile(t, filepath.Join(dir, "usr", "lib", "ro", "lib.so"), 2000, 0o444)
	if err := os.Symlink("/etc/passwd", filepath.Join(dir, "usr", "lib", "ro", "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, "usr", "lib", "ro"), 0o555); err != nil {
		t.Fatal(err)
	}
	return 5000
}

// newPruneFixture makes the store; used gives each entry's last use, hours ago.
func newPruneFixture(t *testing.T, hoursAgo map[string]int) *pruneFixture {
	s := openTestStore(t)
	t.Cleanup(func() { _ = RemoveTree(s.Dir()) }) // before TempDir's own RemoveAll
	f := &pruneFixture{s: s, paths: map[string]string{}, sizes: map[string]int64{}}
	for name, size := range map[string]int{"blob-a": 100, "blob-b": 200, "blob-c": 400} {
		d, err := s.PutBytes(bytes.Repeat([]byte(name), size/len(name)))
		if err != nil {
			t.Fatal(err)
		}
		f.paths[name], f.sizes[name] = s.Path(d), int64(size/len(name)*len(name))
	}
	f.paths["rootfs"] = filepath.Join(s.Dir(), "rootfs", testRootFSHex)
	f.sizes["rootfs"] = writeTestRootFS(t, f.paths["rootfs"])
	f.paths["wheel"] = filepath.Join(s.Dir(), "built-wheels", filepath.FromSlash(testWheelKey), "fast-1.0-cp311-cp311-linux_armv7l.whl")
	f.sizes["wheel"] = 800
	writeTestFile(t, f.paths["wheel"], 800, 0o644)
	for name, h := range hoursAgo {
		at := time.Now().Add(-time.Duration(h) * time.Hour)
		if err := os.Chtimes(f.paths[name], at, at); err != nil {
			t.Fatal(err)
		}
	}

	// A killed build's unpacking, an hour and more ago: removed whatever the limit.
	stale := filepath.Join(s.Dir(), "rootfs", ".unpack-killed")
	writeTestRootFS(t, filepath.Join(stale, "rootfs"))
	old := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	// One unpacking now, and a wheel being cached: neither counted nor removed.
	writeTestFile(t, filepath.Join(s.Dir(), "rootfs", ".unpack-now", "rootfs", "bin", "sh"), 10, 0o755)
	writeTestFile(t, filepath.Join(filepath.Dir(f.paths["wheel"]), ".tmp-now"), 10, 0o600)
	return f
}

func (f *pruneFixture) total(names ...string) int64 {
	var n int64
	for _, name := range names {
		n += f.sizes[name]
	}
	return n
}

// TestPruneBuilderEntries: builders' root filesystems and built wheels are pruned with
// the blobs, least recently used first whatever their kind, each one entry of its files'
// size; a killed build's unpacking goes whatever the limit.
func TestPruneBuilderEntries(t *testing.T) {
	all := []string{"blob-a", "blob-b", "blob-c", "rootfs", "wheel"}
	// Each entry's last use, hours ago: the rootfs the oldest, then a blob, the wheel...
	rootfsOldest := map[string]int{"rootfs": 10, "blob-a": 9, "wheel": 8, "blob-b": 7, "blob-c": 6}
	// ...or the blobs the oldest, the rootfs and wheel the most recent.
	blobsOldest := map[string]int{"blob-a": 10, "blob-b": 9, "blob-c": 8, "wheel": 7, "rootfs": 6}
	const sumAll = 100 - 100%6 + 200 - 200%6 + 400 - 400%6 + 5000 + 800
	for _, tt := range []struct {
		name     string
		hoursAgo map[string]int
		limit    int64
		removed  []string
	}{
		{"everything fits", rootfsOldest, 1 << 30, nil},
		{"exactly fits", rootfsOldest, sumAll, nil},
		{"one byte over: the oldest, a rootfs", rootfsOldest, sumAll - 1, []string{"rootfs"}},
		{"the rootfs then a blob then the wheel", rootfsOldest, 700, []string{"rootfs", "blob-a", "wheel"}},
		{"one byte over: the oldest, a blob", blobsOldest, sumAll - 1, []string{"blob-a"}},
		{"the blobs before the recent wheel and rootfs", blobsOldest, 5800, []string{"blob-a", "blob-b", "blob-c"}},
		{"only the rootfs left", blobsOldest, 5000, []string{"blob-a", "blob-b", "blob-c", "wheel"}},
		{"prune 0 empties all", rootfsOldest, 0, all},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newPruneFixture(t, tt.hoursAgo)
			if got := f.total(all...); got != sumAll {
				t.Fatalf("fixture holds %d bytes, want %d", got, sumAll)
			}
			res, err := f.s.Prune(tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			var kept []string
			for _, name := range all {
				if !slices.Contains(tt.removed, name) {
					kept = append(kept, name)
				}
			}
			staleSize := int64(5000)
			want := PruneResult{
				Removed: len(tt.removed) + 1, RemovedBytes: f.total(tt.removed...) + staleSize,
				Kept: len(kept), KeptBytes: f.total(kept...),
			}
			want.RootFS.removed(staleSize)
			for _, name := range all {
				c := want.count(map[string]entryKind{"rootfs": kindRootFS, "wheel": kindWheel}[name])
				if slices.Contains(tt.removed, name) {
					c.removed(f.sizes[name])
				} else {
					c.kept(f.sizes[name])
				}
			}
			if res != want {
				t.Errorf("Prune(%d) = %+v\nwant %+v", tt.limit, res, want)
			}
			if res.RemovedBytes+res.KeptBytes != sumAll+staleSize {
				t.Errorf("removed %d + kept %d bytes, want the %d there were", res.RemovedBytes, res.KeptBytes, sumAll+staleSize)
			}
			for _, name := range all {
				_, err := os.Lstat(f.paths[name])
				if gone := err != nil; gone != slices.Contains(tt.removed, name) {
					t.Errorf("%s: gone %v (%v), want gone %v", name, gone, err, !gone)
				}
			}
			left, _ := os.ReadDir(filepath.Join(f.s.Dir(), "rootfs"))
			var names []string
			for _, e := range left {
				names = append(names, e.Name())
			}
			wantLeft := []string{".unpack-now"}
			if !slices.Contains(tt.removed, "rootfs") {
				wantLeft = append(wantLeft, testRootFSHex)
			}
			if !slices.Equal(names, wantLeft) {
				t.Errorf("rootfs/ holds %v, want %v", names, wantLeft)
			}
			// The wheel's key directories stay while the wheel being cached is in them.
			if _, err := os.Stat(filepath.Join(filepath.Dir(f.paths["wheel"]), ".tmp-now")); err != nil {
				t.Errorf("the wheel being cached: %v", err)
			}
		})
	}
}

// TestPruneWheelKeyDirs: removing a built wheel removes its key directories as they
// empty, and a stale temporary wheel goes with them.
func TestPruneWheelKeyDirs(t *testing.T) {
	s := openTestStore(t)
	wheels := filepath.Join(s.Dir(), "built-wheels")
	whl := filepath.Join(wheels, filepath.FromSlash(testWheelKey), "fast-1.0-cp311-cp311-linux_armv7l.whl")
	writeTestFile(t, whl, 10, 0o644)
	killed := filepath.Join(wheels, "4444", "linux-amd64", "5555", ".tmp-killed")
	writeTestFile(t, killed, 7, 0o600)
	old := time.Now().Add(-2 * time.Hour)
	os.Chtimes(killed, old, old)
	res, err := s.Prune(0)
	if err != nil {
		t.Fatal(err)
	}
	if res.Wheels != (PruneCount{Removed: 2, RemovedBytes: 17}) || res.Removed != 2 {
		t.Errorf("Prune(0) = %+v, want the wheel and the stale temporary one removed", res)
	}
	if left, err := os.ReadDir(wheels); err != nil || len(left) != 0 {
		t.Errorf("built-wheels/ holds %v (%v), want it empty", left, err)
	}
}

// TestPruneKeepsRootFSInUse: a builder's root filesystem a build holds (UseDir) is kept,
// even by prune 0; released, it goes. One Prune took is gone for UseDir.
func TestPruneKeepsRootFSInUse(t *testing.T) {
	needLocks(t)
	s := openTestStore(t)
	t.Cleanup(func() { _ = RemoveTree(s.Dir()) })
	dir := filepath.Join(s.Dir(), "rootfs", testRootFSHex)
	writeTestRootFS(t, dir)
	old := time.Now().Add(-time.Hour)
	os.Chtimes(dir, old, old)
	release, err := UseDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dir); err != nil || time.Since(fi.ModTime()) > time.Minute {
		t.Errorf("UseDir did not mark %s used: %v", dir, err)
	}
	res, err := s.Prune(0)
	if err != nil {
		t.Fatal(err)
	}
	if res.RootFS != (PruneCount{Kept: 1, KeptBytes: 5000}) {
		t.Errorf("Prune(0) while in use = %+v, want the rootfs kept", res)
	}
	release()
	if res, err = s.Prune(0); err != nil || res.RootFS != (PruneCount{Removed: 1, RemovedBytes: 5000}) {
		t.Errorf("Prune(0) once released = %+v, %v; want the rootfs removed", res, err)
	}
	if left, _ := os.ReadDir(filepath.Join(s.Dir(), "rootfs")); len(left) != 0 {
		t.Errorf("rootfs/ holds %v, want it empty", left)
	}
	if _, err := UseDir(dir); !os.IsNotExist(err) {
		t.Errorf("UseDir of a pruned rootfs: %v, want not exist", err)
	}
}

// TestRemoveTree removes read-only directories and never follows a symbolic link.
func TestRemoveTree(t *testing.T) {
	outside := filepath.Join(t.TempDir(), "outside")
	writeTestFile(t, outside, 1, 0o644)
	dir := filepath.Join(t.TempDir(), "tree")
	writeTestRootFS(t, dir)
	if err := os.Symlink(filepath.Dir(outside), filepath.Join(dir, "usr", "out")); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, "usr"), 0o555); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	if err := RemoveTree(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(dir); !os.IsNotExist(err) {
		t.Errorf("%s is still there: %v", dir, err)
	}
	if _, err := os.Stat(outside); err != nil || strings.Contains(outside, dir) {
		t.Errorf("a file a symlink pointed at was removed: %v", err)
	}
}

// TestPruneUnreadableRootFS: a root filesystem whose own directory cannot be read (as
// an unprivileged unpack leaves a 0000 root: 0300) is still removed, and weighed as
// nothing rather than failing the prune.
func TestPruneUnreadableRootFS(t *testing.T) {
	s := openTestStore(t)
	t.Cleanup(func() { _ = RemoveTree(s.Dir()) })
	dir := filepath.Join(s.Dir(), "rootfs", testRootFSHex)
	writeTestRootFS(t, dir)
	if err := os.Chmod(dir, 0o300); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Prune(0); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(dir); !os.IsNotExist(err) {
		t.Errorf("%s is still there: %v", dir, err)
	}
}
