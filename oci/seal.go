package oci

import (
	_ "crypto/sha512" // sha512 digests are valid OCI: go-digest verifies them only when it is linked
	"io"
	"io/fs"
	"os"
	"time"

	digest "github.com/opencontainers/go-digest"
	"github.com/regclient/regclient/types/descriptor"
)

// A blob's bytes are hashed when they arrive (or regclient hashed them on the way), and
// the file is then sealed: an extended attribute on the file itself records the digest
// with the file's device, inode, size and modification time. A later build trusts a
// sealed blob at the cost of a stat and one attribute read, and hashes it again when
// anything the seal records changed. A hard link shares its inode and so its seal: a
// layout's base layers linked from the cache are trusted without hashing either.
//
// Only seals on files this user owns are trusted: a file of another user of a shared
// cache could have been rewritten by them in place, seal and all. Where extended
// attributes are not available, nothing is sealed and every check hashes.

// sealAttr is the extended attribute holding a blob file's seal.
const sealAttr = "user.pycontainer.verified"

// sealMargin is how far in the past a sealed file's modification time must lie: a
// write within the same tick of the file system's clock (a second on some) would leave
// the time unchanged, so a file is sealed with a time at least this old, and any later
// write moves it forward.
const sealMargin = 2 * time.Second

// blobState is what checkBlob found at a blob's path.
type blobState int

const (
	blobAbsent blobState = iota // no file, not a regular file, or of another size
	blobGood                    // the bytes match the digest
	blobBad                     // the size is right, the bytes are not
)

// checkBlob reports whether the file at path holds want's blob, by its seal or else by
// hashing it (and then sealing it). A size of 0 or less matches any size. With touch,
// the file is marked as used now (for pruning the cache by least recent use), its seal
// kept valid. Symbolic links are never followed.
func checkBlob(path string, want descriptor.Descriptor, touch bool) blobState {
	if want.Digest.Validate() != nil {
		return blobAbsent
	}
	f, err := openNoFollow(path)
	if err != nil {
		return blobAbsent
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() || (want.Size > 0 && fi.Size() != want.Size) {
		return blobAbsent
	}
	if !isSealed(f, fi, want.Digest) {
		v := want.Digest.Verifier()
		if _, err := io.CopyBuffer(v, f, CopyBuffer(fi.Size())); err != nil {
			return blobAbsent
		}
		if !v.Verified() {
			return blobBad
		}
		if !touch {
			seal(f, want.Digest)
		}
	}
	if touch {
		markUsed(f)
		seal(f, want.Digest)
	}
	return blobGood
}

// seal records that f's bytes match d: the caller verified them. It is best effort: a
// file left unsealed is hashed when next checked.
func seal(f *os.File, d digest.Digest) {
	fi, err := f.Stat()
	if err != nil {
		return
	}
	if time.Since(fi.ModTime()) < sealMargin {
		if setTimes(f, time.Now().Add(-sealMargin)) != nil {
			return
		}
		if fi, err = f.Stat(); err != nil {
			return
		}
	}
	writeSeal(f, fi, d)
}

// markUsed sets f's times to now (less sealMargin, see seal): Prune keeps the most
// recently used blobs.
func markUsed(f *os.File) {
	_ = setTimes(f, time.Now().Add(-sealMargin))
}

// isSealed reports whether f (described by fi) carries a seal for d that still holds.
func isSealed(f *os.File, fi fs.FileInfo, d digest.Digest) bool {
	want, ok := sealValue(fi, d)
	if !ok {
		return false
	}
	got, ok := readSeal(f)
	return ok && got == want
}

// removeIfSame removes path if it is still the file fi describes: a blob that failed
// its digest is dropped, but not one another process put there since.
func removeIfSame(path string, fi fs.FileInfo) {
	if now, err := os.Lstat(path); err == nil && os.SameFile(now, fi) {
		_ = os.Remove(path)
	}
}
