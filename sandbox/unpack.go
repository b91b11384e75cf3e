package sandbox

import (
	"archive/tar"
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// errEscape is what an entry gets whose path (or the symlinks on its way) leads out of
// the root filesystem. Such an entry is refused rather than clamped at the root: no image
// a builder needs is made that way, and a layer that does it is hostile or broken.
var errEscape = errors.New("path leads outside the root filesystem")

const (
	whiteoutPrefix = ".wh."
	whiteoutMeta   = ".wh..wh." // aufs' own files (.wh..wh.plnk, ...) carry nothing of the image
	opaqueMarker   = ".wh..wh..opq"
	maxSymlinks    = 255 // as the kernel's ELOOP limit for a path's symlinks
)

// Unpack applies layers in order into dir (created; must not exist), as the OCI image spec's
// changeset rules say: whiteouts (.wh.NAME) and opaque dirs (.wh..wh..opq), hard links,
// symlinks, modes and modification times; device nodes and FIFOs are skipped. Every write
// goes through an os.Root and every path is resolved inside dir first, symlinks included
// (an absolute symlink means the image's own root, as it will inside the sandbox); an entry
// that would land outside is refused with an error naming it. Owners are kept when running
// as root, else ignored (files then belong to the caller, who is root inside Run's user
// namespace) and directories keep owner write and search permission, so the caller can
// remove the tree with os.RemoveAll. The empty mount points Run needs (/proc, /dev, /tmp) are made when the
// image lacks them, since Run never writes to the tree.
//
// dir itself gets mode 0700: it may hold setuid programs and other users have no business
// in it. On error the partial tree is removed.
func Unpack(ctx context.Context, dir string, layers []Layer) (err error) {
	if err := os.Mkdir(dir, 0o700); err != nil {
		return fmt.Errorf("unpack: %w", err)
	}
	defer func() {
		if err != nil {
			removeTree(dir)
		}
	}()
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("unpack: %w", err)
	}
	defer root.Close()
	u := &unpacker{root: root, dirs: map[string]dirMeta{}, owners: os.Geteuid() == 0}
	for i, l := range layers {
		if err := u.layer(ctx, l); err != nil {
			return fmt.Errorf("unpack into %s: layer %d of %d: %w", dir, i+1, len(layers), err)
		}
	}
	if err := u.mountpoints(); err != nil {
		return fmt.Errorf("unpack into %s: %w", dir, err)
	}
	if err := u.finish(); err != nil {
		return fmt.Errorf("unpack into %s: %w", dir, err)
	}
	return nil
}

// dirMeta is what a directory gets once every layer is in: directories stay 0700 while
// layers are applied so that, without root, a later layer can still write into a
// directory an earlier one made read-only.
type dirMeta struct {
	mode     fs.FileMode
	uid, gid int
	mtime    time.Time
	owned    bool // uid and gid come from a header
}

type unpacker struct {
	root    *os.Root
	owners  bool
	dirs    map[string]dirMeta // every directory made or declared, by resolved path
	touched map[string]bool    // resolved paths this layer wrote or walked through
	skipped map[string]bool    // device nodes and FIFOs not made, so hard links to them are skipped too
}

func (u *unpacker) layer(ctx context.Context, l Layer) error {
	if l.Open == nil {
		return errors.New("layer has no Open")
	}
	rc, err := l.Open()
	if err != nil {
		return fmt.Errorf("opening: %w", err)
	}
	defer rc.Close()
	r, closeR, err := decompress(l.MediaType, rc)
	if err != nil {
		return err
	}
	defer closeR()
	tr := tar.NewReader(r)
	u.touched = map[string]bool{}
	u.skipped = map[string]bool{}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading tar: %w", err)
		}
		if err := u.entry(ctx, hdr, tr); err != nil {
			return fmt.Errorf("entry %q: %w", hdr.Name, err)
		}
	}
}

// decompress picks the decompressor the media type names. An empty media type is
// sniffed, for layers read from places that don't record one.
func decompress(mediaType string, r io.Reader) (io.Reader, func(), error) {
	br := bufio.NewReaderSize(r, 64<<10)
	kind := ""
	switch {
	case strings.HasSuffix(mediaType, "+gzip"), strings.HasSuffix(mediaType, ".tar.gzip"):
		kind = "gzip"
	case strings.HasSuffix(mediaType, "+zstd"), strings.HasSuffix(mediaType, ".tar.zstd"):
		kind = "zstd"
	case strings.HasSuffix(mediaType, ".tar"):
		kind = "tar"
	case mediaType == "":
		magic, _ := br.Peek(4)
		switch {
		case len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b:
			kind = "gzip"
		case len(magic) == 4 && magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd:
			kind = "zstd"
		default:
			kind = "tar"
		}
	default:
		return nil, nil, fmt.Errorf("layer media type %q is not a tar, tar+gzip or tar+zstd", mediaType)
	}
	switch kind {
	case "gzip":
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, fmt.Errorf("layer (%s): %w", mediaType, err)
		}
		return zr, func() { zr.Close() }, nil
	case "zstd":
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, nil, fmt.Errorf("layer (%s): %w", mediaType, err)
		}
		return zr, zr.Close, nil
	}
	return br, func() {}, nil
}

// cleanName turns a tar entry's name into a clean relative path ("." for the root).
// Absolute names and names that climb out with .. are refused: a layer is relative to
// the root by definition, so either means a hostile or broken layer.
func cleanName(name string) (string, error) {
	if name == "" {
		return "", errors.New("empty name")
	}
	if strings.ContainsRune(name, 0) {
		return "", errors.New("name contains NUL")
	}
	if path.IsAbs(name) {
		return "", fmt.Errorf("absolute name: %w", errEscape)
	}
	p := path.Clean(name)
	if p == ".." || strings.HasPrefix(p, "../") {
		return "", errEscape
	}
	return p, nil
}

func join(dir, name string) string {
	if dir == "" || dir == "." {
		return name
	}
	return dir + "/" + name
}

// resolveDir resolves dir (clean, relative) to the directory it names inside the root,
// following symlinks as the image will see them: relative ones from where they are,
// absolute ones from the image's root. Missing directories are made when create is set.
// The result has no symlink in it, so the os.Root calls on it can't be redirected
// (os.Root checks again anyway). "" is the root itself.
func (u *unpacker) resolveDir(dir string, create bool) (string, error) {
	todo := splitPath(dir)
	var done []string
	links := 0
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(done) == 0 {
				return "", errEscape
			}
			done = done[:len(done)-1]
			continue
		}
		cur := join(strings.Join(done, "/"), c)
		fi, err := u.root.Lstat(cur)
		if errors.Is(err, fs.ErrNotExist) && create {
			if err := u.root.Mkdir(cur, 0o700); err != nil {
				return "", fmt.Errorf("making parent %s: %w", cur, err)
			}
			u.dirs[cur] = dirMeta{mode: 0o755} // as other unpackers make missing parents
			u.touched[cur] = true
			done = append(done, c)
			continue
		}
		if err != nil {
			return "", err
		}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			if links++; links > maxSymlinks {
				return "", fmt.Errorf("%s: too many levels of symbolic links", cur)
			}
			target, err := u.root.Readlink(cur)
			if err != nil {
				return "", err
			}
			if path.IsAbs(target) {
				done = nil
			}
			todo = append(splitPath(target), todo...)
		case fi.IsDir():
			u.touched[cur] = true
			done = append(done, c)
		default:
			return "", fmt.Errorf("%s: %w", cur, syscall.ENOTDIR)
		}
	}
	return strings.Join(done, "/"), nil
}

func splitPath(p string) []string {
	return strings.Split(strings.Trim(p, "/"), "/")
}

// resolve resolves a clean entry name to its resolved path: its parent through resolveDir,
// its last component as is (an entry replaces a symlink, it doesn't write through it).
func (u *unpacker) resolve(name string, create bool) (string, string, error) {
	dir, base := path.Split(name)
	parent, err := u.resolveDir(dir, create)
	if err != nil {
		return "", "", err
	}
	return parent, base, nil
}

func (u *unpacker) entry(ctx context.Context, hdr *tar.Header, body io.Reader) error {
	name, err := cleanName(hdr.Name)
	if err != nil {
		return err
	}
	if name == "." {
		return nil // the root keeps 0700 (see Unpack)
	}
	if base := path.Base(name); strings.HasPrefix(base, whiteoutPrefix) {
		return u.whiteout(name)
	}
	switch hdr.Typeflag {
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		// Nothing inside the sandbox needs them (Run makes /dev), and without root they
		// can't be made anyway.
		if parent, base, err := u.resolve(name, false); err == nil {
			u.skipped[join(parent, base)] = true
		}
		return nil
	case tar.TypeXGlobalHeader:
		return nil
	}
	parent, base, err := u.resolve(name, true)
	if err != nil {
		return err
	}
	p := join(parent, base)
	if hdr.Typeflag == tar.TypeLink {
		// Resolve the target before anything is removed: a link to itself is refused below.
		return u.hardLink(p, hdr)
	}
	isDir := hdr.Typeflag == tar.TypeDir
	if fi, err := u.root.Lstat(p); err == nil {
		if !(isDir && fi.IsDir()) {
			// The new entry replaces the old one, whatever each is; a directory merges
			// with a directory. A file is removed, not truncated, so a hard link to
			// it elsewhere keeps the old content, as in the layer it came from.
			if err := u.remove(p); err != nil {
				return err
			}
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	u.touched[p] = true
	switch hdr.Typeflag {
	case tar.TypeDir:
		if err := u.root.Mkdir(p, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
		u.dirs[p] = dirMeta{mode: hdr.FileInfo().Mode() & modeBits, uid: hdr.Uid, gid: hdr.Gid, owned: true, mtime: hdr.ModTime}
		return nil
	case tar.TypeReg, tar.TypeRegA, tar.TypeGNUSparse: //nolint:staticcheck // TypeRegA still appears in old layers
		f, err := u.root.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		_, err = io.Copy(f, ctxReader{ctx, body})
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("writing %s: %w", p, err)
		}
		return u.meta(p, hdr)
	case tar.TypeSymlink:
		if err := u.root.Symlink(hdr.Linkname, p); err != nil {
			return err
		}
		if u.owners {
			return u.root.Lchown(p, hdr.Uid, hdr.Gid)
		}
		return nil
	}
	return fmt.Errorf("unsupported tar entry type %q", hdr.Typeflag)
}

const modeBits = fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky

// meta gives a regular file its owner (as root), mode and times. chown comes first
// because it clears setuid bits.
func (u *unpacker) meta(p string, hdr *tar.Header) error {
	if u.owners {
		if err := u.root.Lchown(p, hdr.Uid, hdr.Gid); err != nil {
			return err
		}
	}
	if err := u.root.Chmod(p, hdr.FileInfo().Mode()&modeBits); err != nil {
		return err
	}
	// Times matter: Python trusts a .pyc whose recorded source mtime matches the .py,
	// and recompiles every import otherwise (slow under emulation, and the rootfs is
	// read-only so the fresh .pyc is never kept).
	return u.root.Chtimes(p, accessTime(hdr), hdr.ModTime)
}

func accessTime(hdr *tar.Header) time.Time {
	if hdr.AccessTime.IsZero() {
		return hdr.ModTime
	}
	return hdr.AccessTime
}

func (u *unpacker) hardLink(p string, hdr *tar.Header) error {
	target, err := cleanName(hdr.Linkname)
	if err != nil {
		return fmt.Errorf("hard link target %q: %w", hdr.Linkname, err)
	}
	tparent, tbase, err := u.resolve(target, false)
	if err != nil {
		return fmt.Errorf("hard link target %q: %w", hdr.Linkname, err)
	}
	t := join(tparent, tbase)
	if u.skipped[t] {
		u.skipped[p] = true
		return nil
	}
	if t == p {
		return fmt.Errorf("hard link to itself")
	}
	fi, err := u.root.Lstat(t)
	if err != nil {
		return fmt.Errorf("hard link target %q: %w", hdr.Linkname, err)
	}
	if fi.IsDir() {
		return fmt.Errorf("hard link target %q is a directory", hdr.Linkname)
	}
	if _, err := u.root.Lstat(p); err == nil {
		if err := u.remove(p); err != nil {
			return err
		}
	}
	u.touched[p] = true
	return u.root.Link(t, p)
}

func (u *unpacker) whiteout(name string) error {
	dir, base := path.Split(name)
	parent, err := u.resolveDir(dir, false)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return nil // nothing below to hide
	}
	if err != nil {
		return err
	}
	switch {
	case base == opaqueMarker:
		return u.removeUntouched(parent)
	case strings.HasPrefix(base, whiteoutMeta):
		return nil
	}
	hidden := strings.TrimPrefix(base, whiteoutPrefix)
	if hidden == "" || hidden == "." || hidden == ".." {
		return fmt.Errorf("whiteout of %q", hidden)
	}
	p := join(parent, hidden)
	if u.touched[p] {
		return nil // a whiteout hides lower layers only, never its own layer's entry
	}
	return u.remove(p)
}

// removeUntouched empties dir of everything lower layers put there, keeping what this
// layer wrote (an opaque marker may come after its directory's new entries).
func (u *unpacker) removeUntouched(dir string) error {
	d := dir
	if d == "" {
		d = "."
	}
	f, err := u.root.Open(d)
	if err != nil {
		return err
	}
	entries, err := f.ReadDir(-1)
	f.Close()
	if err != nil {
		return err
	}
	for _, e := range entries {
		p := join(dir, e.Name())
		switch {
		case !u.touched[p]:
			if err := u.remove(p); err != nil {
				return err
			}
		case e.IsDir():
			if err := u.removeUntouched(p); err != nil {
				return err
			}
		}
	}
	return nil
}

func (u *unpacker) remove(p string) error {
	if err := u.root.RemoveAll(p); err != nil {
		return fmt.Errorf("removing %s: %w", p, err)
	}
	for d := range u.dirs {
		if d == p || strings.HasPrefix(d, p+"/") {
			delete(u.dirs, d)
		}
	}
	return nil
}

// mountpoints makes the directories Run mounts on when the image has none (a scratch
// image made by hand may lack them); Run itself never writes to the tree.
func (u *unpacker) mountpoints() error {
	for _, m := range []struct {
		name string
		mode fs.FileMode
	}{{"proc", 0o555}, {"dev", 0o755}, {"tmp", 0o777 | fs.ModeSticky}} {
		if _, err := u.root.Lstat(m.name); !errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err := u.root.Mkdir(m.name, 0o700); err != nil {
			return fmt.Errorf("making mount point /%s: %w", m.name, err)
		}
		u.dirs[m.name] = dirMeta{mode: m.mode}
	}
	return nil
}

// finish gives directories their modes, owners and times, deepest first: a parent's
// restrictive mode must not stop its children being reached, and setting a child's
// mode doesn't change its parent's mtime.
func (u *unpacker) finish() error {
	paths := make([]string, 0, len(u.dirs))
	for p := range u.dirs {
		paths = append(paths, p)
	}
	slices.SortFunc(paths, func(a, b string) int {
		return strings.Count(b, "/") - strings.Count(a, "/")
	})
	for _, p := range paths {
		m := u.dirs[p]
		fi, err := u.root.Lstat(p)
		if err != nil || !fi.IsDir() {
			continue // replaced by a file or symlink in a later layer
		}
		if u.owners && m.owned {
			if err := u.root.Lchown(p, m.uid, m.gid); err != nil {
				return err
			}
		}
		mode := m.mode
		if !u.owners {
			// Without root the caller must still be able to remove the tree (os.RemoveAll
			// can't empty a 0555 directory). Inside Run the caller is root, for whom
			// these bits grant nothing new.
			mode |= 0o300
		}
		if err := u.root.Chmod(p, mode); err != nil {
			return err
		}
		if !m.mtime.IsZero() {
			if err := u.root.Chtimes(p, m.mtime, m.mtime); err != nil {
				return err
			}
		}
	}
	return nil
}

// removeTree removes a partial tree, making its directories writable first when a
// plain RemoveAll can't (modes are only set at the very end, but that may fail too).
func removeTree(dir string) {
	if os.RemoveAll(dir) == nil {
		return
	}
	_ = fs.WalkDir(os.DirFS(dir), ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			_ = os.Chmod(filepath.Join(dir, filepath.FromSlash(p)), 0o700)
		}
		return nil
	})
	_ = os.RemoveAll(dir)
}

// ctxReader ends a long copy when ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(b []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(b)
}
