package oci

import (
	"cmp"
	"io/fs"
	"math"
	"path"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// TreeLine is one line of a layer's file tree, as FileTree lays it out.
type TreeLine struct {
	Depth int // 0 for entries at the image's root
	// Name is the last element of the path, with anything that is not printable
	// (terminal escapes, invalid UTF-8) escaped as in a Go string: a hostile layer's
	// names cannot drive the terminal.
	Name string
	// Path is the entry's full path as LayerFile has it, unescaped: for finding the
	// entry (FilesUnder), not for display.
	Path string
	// Size is a file's length; a directory's is the sum of the files beneath it.
	Size int64
	Dir  bool
	// Files counts the entries beneath a directory that are not directories.
	Files    int
	Mode     fs.FileMode
	Link     string // a symlink's or hardlink's target, escaped as Name is
	Hardlink bool
	// Deleted marks a whiteout: this layer deletes Path from the layers below.
	Deleted bool
	// Opaque marks a directory this layer replaces: what the layers below hold in it
	// is hidden.
	Opaque bool
	// Collapsed marks a directory whose entries are left out to fit maxLines.
	Collapsed bool
	// More is set on a line that stands for entries left out to fit maxLines: More
	// further entries of the directory above it, of Size bytes.
	More int
}

// FileTree lays out a layer's entries as a tree of at most maxLines lines (maxLines <=
// 0: no limit). Directories come first, then the other entries, each by name, as
// `tree --dirsfirst` and file managers list them: a directory's contents stay together
// and the layer's structure shows before its loose files. Parent directories the tar
// does not list are shown; a later entry of a path replaces an earlier one, as
// extracting the layer would; whiteouts show as deleted entries and opaque
// directories, not as files named ".wh.*".
//
// When the whole tree does not fit, directories are opened breadth first, each with
// all of its entries while they fit, so the lines go to the top of the tree and no
// single large directory hides the rest: the directory that does not fit shows what
// fits and a More line, and directories not opened are Collapsed, with their sizes.
func FileTree(files []LayerFile, maxLines int) []TreeLine {
	root := &treeNode{dir: true}
	for _, f := range files {
		root.add(f)
	}
	root.finish()

	shown := map[*treeNode]int{} // how many entries of an opened directory are shown
	budget := maxLines
	if budget <= 0 {
		budget = math.MaxInt
	}
	for queue := []*treeNode{root}; len(queue) > 0 && budget > 0; queue = queue[1:] {
		n := queue[0]
		k := len(n.kids)
		if k > budget {
			k = budget - 1 // and a More line
		}
		budget -= len(n.kids)
		if k < len(n.kids) {
			budget = 0
		}
		shown[n] = k
		for _, kid := range n.kids[:k] {
			if len(kid.kids) > 0 {
				queue = append(queue, kid)
			}
		}
	}
	var lines []TreeLine
	var emit func(n *treeNode, depth int)
	emit = func(n *treeNode, depth int) {
		k := shown[n]
		for _, kid := range n.kids[:k] {
			_, opened := shown[kid]
			lines = append(lines, kid.line(depth, len(kid.kids) > 0 && !opened))
			if opened {
				emit(kid, depth+1)
			}
		}
		if rest := n.kids[k:]; len(rest) > 0 {
			more := TreeLine{Depth: depth, More: len(rest)}
			for _, kid := range rest {
				more.Size = addSize(more.Size, kid.size)
			}
			lines = append(lines, more)
		}
	}
	if _, opened := shown[root]; opened {
		emit(root, 0)
	}
	return lines
}

// FilesUnder is the entries of files inside directory dir (a TreeLine's Path), with
// their paths relative to it: for showing one directory of a large layer.
func FilesUnder(files []LayerFile, dir string) []LayerFile {
	var out []LayerFile
	prefix := strings.TrimSuffix(dir, "/") + "/"
	for _, f := range files {
		if rel, ok := strings.CutPrefix(f.Path, prefix); ok && rel != "" {
			f.Path = rel
			out = append(out, f)
		}
	}
	return out
}

// treeNode is one path of the tree being built.
type treeNode struct {
	name, path string
	file       LayerFile // as the tar lists it; zero for a directory it only implies
	dir        bool
	deleted    bool // only a whiteout names it
	opaque     bool
	size       int64
	files      int
	children   map[string]*treeNode
	kids       []*treeNode // children in display order, once finished
}

// child is the node of name in n, created as an implied directory when missing.
func (n *treeNode) child(name string) *treeNode {
	if c, ok := n.children[name]; ok {
		return c
	}
	if n.children == nil {
		n.children = map[string]*treeNode{}
	}
	p := name
	if n.path != "" {
		p = n.path + "/" + name
	}
	c := &treeNode{name: name, path: p, dir: true}
	n.children[name] = c
	return c
}

// dirNode is the directory at p ("" is n itself), creating what is missing; a file in
// the way becomes a directory, as the entries beneath it demand.
func (n *treeNode) dirNode(p string) *treeNode {
	if p == "" {
		return n
	}
	for _, name := range strings.Split(p, "/") {
		n = n.child(name)
		if !n.dir || n.deleted {
			n.dir, n.deleted, n.file = true, false, LayerFile{}
		}
	}
	return n
}

func (n *treeNode) add(f LayerFile) {
	dir, base := path.Split(f.Path)
	dir = strings.TrimSuffix(dir, "/")
	if deleted, opaque, ok := f.Whiteout(); ok {
		if opaque {
			n.dirNode(deleted).opaque = true
			return
		}
		parent := n.dirNode(dir)
		if _, exists := parent.children[path.Base(deleted)]; !exists {
			c := parent.child(path.Base(deleted))
			c.dir, c.deleted = false, true
		}
		return
	}
	if strings.HasPrefix(base, whiteoutMeta) {
		return // AUFS's bookkeeping, no file of the image
	}
	c := n.dirNode(dir).child(base)
	c.file, c.deleted = f, false
	// A file replacing a directory that has entries in this same layer would fail to
	// extract; the entries are kept in view rather than lost.
	c.dir = f.Mode.IsDir() || len(c.children) > 0
}

// finish sorts the tree and sums the sizes of directories.
func (n *treeNode) finish() {
	for _, c := range n.children {
		c.finish()
		n.kids = append(n.kids, c)
	}
	slices.SortFunc(n.kids, func(a, b *treeNode) int {
		if a.dir != b.dir {
			if a.dir {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.name, b.name)
	})
	if !n.dir {
		n.size = max(n.file.Size, 0)
		return
	}
	for _, c := range n.kids {
		n.size = addSize(n.size, c.size)
		n.files += c.files
		if !c.dir && !c.deleted {
			n.files++
		}
	}
}

func (n *treeNode) line(depth int, collapsed bool) TreeLine {
	l := TreeLine{
		Depth: depth, Name: displaySafe(n.name), Path: n.path, Size: n.size, Dir: n.dir, Files: n.files,
		Mode: n.file.Mode, Link: displaySafe(n.file.Link), Hardlink: n.file.Hardlink,
		Deleted: n.deleted, Opaque: n.opaque, Collapsed: collapsed,
	}
	if n.dir {
		l.Mode |= fs.ModeDir
	}
	if n.deleted {
		l.Mode = 0
	}
	return l
}

// addSize adds without wrapping round: a hostile layer may state sizes near the
// largest int64.
func addSize(a, b int64) int64 {
	if b > math.MaxInt64-a {
		return math.MaxInt64
	}
	return a + b
}

// displaySafe is s, or s escaped as in a Go string literal when it holds anything
// that is not printable.
func displaySafe(s string) string {
	if !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool { return !strconv.IsPrint(r) }) {
		q := strconv.Quote(s)
		return q[1 : len(q)-1]
	}
	return s
}
