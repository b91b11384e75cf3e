package build

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// builtinExcludes never belong in an image unless a .dockerignore re-includes them with
// "!": version control, caches, build output.
var builtinExcludes = []string{
	".hg", ".svn",
	"**/__pycache__", "**/*.pyc", "**/*.pyo",
	".venv", "venv", ".tox", ".nox", ".pytest_cache", ".mypy_cache", ".ruff_cache",
	"dist", "build", "**/*.egg-info",
	"**/.DS_Store",
	".dockerignore", ".containerignore",
}

// secretPatterns name files that may hold secrets. Each applies at any depth (a nested
// repository's .git/config holds a token as well as the top one), is left out by
// default and named in the build output, and comes back only through a "!" line that
// names it (see secretRule). .git is one: its config can hold a token in a remote's URL.
// Every *.pem and *.key is one, certificates included: a PEM bundle often holds the
// chain and then the key, so its first bytes say nothing, and a certificate left out
// fails loudly at the first TLS handshake with the build having said which line brings
// it back, while a key that went in is out for good.
var secretPatterns = []string{
	"**/.git", "**/.env", "**/.env.*",
	"**/.ssh", "**/id_rsa", "**/id_dsa", "**/id_ecdsa", "**/id_ed25519", "**/id_ecdsa_sk", "**/id_ed25519_sk",
	"**/*.ppk", "**/*.pem", "**/*.key",
	"**/.npmrc", "**/.pypirc", "**/.netrc", "**/.git-credentials",
	"**/.aws", "**/.docker/config.json", "**/.kube/config", "**/.config/gh/hosts.yml",
}

// File is one entry of the app layer, relative to the context.
type File struct {
	Rel  string // slash-separated path relative to the context
	Abs  string
	Mode fs.FileMode
	Size int64
	Link string // symlink target, stored as is
	// ModTime is kept for builds that are not reproducible.
	ModTime time.Time
}

// Selection is the result of walking a build context.
type Selection struct {
	Files    []File
	Excluded []PathNote // notable exclusions (virtualenvs, special files, secrets), for the user
	// Included names each secret that went in because a "!" line asked for it, with
	// the line, so it never goes in without a word.
	Included []PathNote
}

// SelectFiles walks the context and returns the files that go into the app layer, in
// path order. outputs are paths (such as the output layout) left out by path: each is
// the directory itself, never a pattern, so "out*" leaves out out*/ and keeps outline.py.
func SelectFiles(context string, outputs ...string) (*Selection, error) {
	w, err := newContextWalk(context, outputs)
	if err != nil {
		return nil, err
	}
	if err := filepath.WalkDir(context, w.visit); err != nil {
		return nil, err
	}
	slices.SortFunc(w.sel.Files, func(a, b File) int { return strings.Compare(a.Rel, b.Rel) })
	return w.sel, nil
}

// contextWalk is one walk of a build context: the rules that select its files, and
// what it selected so far.
type contextWalk struct {
	context    string
	pm         *patternmatcher.PatternMatcher // built-in, secret and user patterns
	secrets    *secretRule
	ignoreName string   // the ignore file that was read, as messages name it
	skip       []string // the outputs, left out by path
	sel        *Selection
	// roots maps each directory walked that lies in a secret to the outermost secret
	// holding it; includedSecret marks the secret directories that went in, so what
	// went in is named once, at its top.
	roots          map[string]string
	includedSecret map[string]bool
}

// newContextWalk reads the context's ignore file and sets up the rules of its walk.
func newContextWalk(context string, outputs []string) (*contextWalk, error) {
	patterns := append(slices.Clone(builtinExcludes), secretPatterns...)
	ignoreName := ".dockerignore"
	var user []string
	for _, name := range []string{".containerignore", ".dockerignore"} {
		u, err := readIgnoreFile(filepath.Join(context, name))
		if err != nil {
			return nil, err
		}
		if u != nil {
			user, ignoreName = u, name
			break // like podman: .containerignore wins over .dockerignore
		}
	}
	patterns = append(patterns, user...)
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		return nil, fmt.Errorf("ignore patterns: %w", err)
	}
	secrets, err := newSecretRule(user, ignoreName)
	if err != nil {
		return nil, err
	}
	skip, err := outputPaths(context, outputs)
	if err != nil {
		return nil, err
	}
	return &contextWalk{context: context, pm: pm, secrets: secrets, ignoreName: ignoreName, skip: skip,
		sel: &Selection{}, roots: map[string]string{}, includedSecret: map[string]bool{}}, nil
}

// visit decides one path of the context: left out (and said, where a person should
// know), or selected.
func (w *contextWalk) visit(p string, de fs.DirEntry, err error) error {
	if err != nil {
		return w.unreadable(p, de, err)
	}
	if p == w.context {
		return nil
	}
	rel, err := filepath.Rel(w.context, p)
	if err != nil {
		return err
	}
	rel = filepath.ToSlash(rel)
	if slices.ContainsFunc(w.skip, func(out string) bool { return rel == out || strings.HasPrefix(rel, out+"/") }) {
		if de.IsDir() {
			return filepath.SkipDir
		}
		return nil
	}
	excluded, err := w.pm.MatchesOrParentMatches(rel)
	if err != nil {
		return fmt.Errorf("match %s against ignore patterns: %w", rel, err)
	}
	parent := path.Dir(rel)
	root, err := w.secretRoot(rel, parent, excluded)
	if err != nil {
		return err
	}
	if de.IsDir() && root != "" {
		w.roots[rel] = root
	}
	if de.IsDir() {
		// A virtualenv never goes in, whatever its name or the ignore files say: its
		// interpreter links and compiled packages belong to this host.
		if isVirtualenv(p) {
			w.sel.Excluded = append(w.sel.Excluded, PathNote{rel + "/", "a virtualenv: its binaries are built for this host, not the image; use --include-deps"})
			return filepath.SkipDir
		}
	}
	excluded, askedBy, err := w.secretAsked(rel, root, excluded)
	if err != nil {
		return err
	}
	if excluded {
		// A later "!" pattern may re-include something below an excluded directory.
		if de.IsDir() && !w.pm.Exclusions() {
			return filepath.SkipDir
		}
		return nil
	}
	return w.add(p, rel, de, root, askedBy)
}

// unreadable is the error of a path of the context the walk could not read.
func (w *contextWalk) unreadable(p string, de fs.DirEntry, err error) error {
	name := p
	if rel, rerr := filepath.Rel(w.context, p); rerr == nil {
		name = filepath.ToSlash(rel)
	}
	if de != nil && de.IsDir() {
		name += "/"
	}
	return fmt.Errorf("build context: %s cannot be read: %w; fix its permissions or add it to .dockerignore", name, err)
}

// secretRoot is the outermost secret that rel is or lies in; "" for none.
func (w *contextWalk) secretRoot(rel, parent string, excluded bool) (string, error) {
	root := w.roots[parent]
	// Without "!" lines the ignore patterns, which hold the secret ones, leave out
	// every secret: what they let in then needs no second look.
	if root == "" && (excluded || w.pm.Exclusions()) {
		// No directory above is a secret, so a match is rel's own.
		if secret, err := w.secrets.matcher.MatchesOrParentMatches(rel); err != nil {
			return "", fmt.Errorf("match %s against secret patterns: %w", rel, err)
		} else if secret {
			root = rel
		}
	}
	return root, nil
}

// secretAsked settles rel, which lies in the secret root ("" for none): a secret the
// patterns let in stays out unless a "!" line names it (askedBy), and the outermost
// secret left out is said, once. It returns whether rel stays out.
func (w *contextWalk) secretAsked(rel, root string, excluded bool) (out bool, askedBy string, err error) {
	if root != "" && !excluded {
		if askedBy, err = w.secrets.namedBy(rel, root); err != nil || askedBy != "" {
			return false, askedBy, err
		}
		// Brought back by a line naming a folder above it, or a wildcard alone.
		if rel == root {
			why, err := w.secrets.notNamed(rel)
			if err != nil {
				return true, "", err
			}
			w.sel.Excluded = append(w.sel.Excluded, PathNote{rel, why})
		}
		return true, "", nil
	} else if excluded && rel == root {
		// Named once, at the outermost secret, not for each file in it.
		w.sel.Excluded = append(w.sel.Excluded, PathNote{rel, "it may hold secrets; add !" + escapePattern(rel) + " to " + w.ignoreName + " to include it"})
	}
	return excluded, "", nil
}

// add selects rel (at p), and names a secret that went in by the "!" line askedBy at
// the top of what went in.
func (w *contextWalk) add(p, rel string, de fs.DirEntry, root, askedBy string) error {
	info, err := de.Info()
	if err != nil {
		return fmt.Errorf("read build context: %w", err)
	}
	f := File{Rel: rel, Abs: p, Mode: info.Mode(), Size: info.Size(), ModTime: info.ModTime()}
	switch {
	case info.Mode().IsRegular(), info.IsDir():
	case info.Mode()&fs.ModeSymlink != 0:
		if f.Link, err = os.Readlink(p); err != nil {
			return fmt.Errorf("read symlink %s: %w", rel, err)
		}
		f.Size = 0
	default:
		w.sel.Excluded = append(w.sel.Excluded, PathNote{rel, "not a regular file, directory or symlink"})
		return nil
	}
	if root != "" {
		if !w.includedSecret[path.Dir(rel)] {
			w.sel.Included = append(w.sel.Included, PathNote{rel, "it may hold secrets; !" + askedBy + " in " + w.ignoreName + " names it"})
		}
		if de.IsDir() {
			w.includedSecret[rel] = true
		}
	}
	w.sel.Files = append(w.sel.Files, f)
	return nil
}

// secretRule decides whether a secret that the ignore patterns let in was asked for.
// A "!" line asks for a secret when it matches the secret's own path or a path inside
// it, and matches nothing above it: "!src/.env", "!**/.env" and "!.ssh" ask for
// src/.env, src/.env and .ssh/id_rsa; "!src" (alone or after "*") asks for the folder,
// and "!src/*" or "!**" for whatever is there, so neither brings a secret back.
type secretRule struct {
	matcher    *patternmatcher.PatternMatcher // secretPatterns
	asks       []exception
	ignoreName string
}

// exception is one "!" line of the ignore file, matched alone.
type exception struct {
	line string // without the "!"
	pm   *patternmatcher.PatternMatcher
	// names is false when the line's last element is wildcards only ("*", "**", "?"):
	// such a line names whatever is there, not a file.
	names bool
}

func newSecretRule(user []string, ignoreName string) (*secretRule, error) {
	m, err := patternmatcher.New(secretPatterns)
	if err != nil {
		return nil, fmt.Errorf("secret patterns: %w", err)
	}
	r := &secretRule{matcher: m, ignoreName: ignoreName}
	for _, line := range user {
		pattern, ok := strings.CutPrefix(line, "!")
		if !ok {
			continue
		}
		pm, err := patternmatcher.New([]string{pattern})
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", ignoreName, line, err)
		}
		r.asks = append(r.asks, exception{line: pattern, pm: pm, names: lastElementNames(pattern)})
	}
	return r, nil
}

// namedBy returns the "!" line that asks for rel, which lies in the secret root, or "".
func (r *secretRule) namedBy(rel, root string) (string, error) {
	for _, x := range r.asks {
		if !x.names {
			continue
		}
		// moby matches a path or any folder above it; matching nothing above root
		// leaves a match at root or below it.
		hit, err := x.pm.MatchesOrParentMatches(rel)
		if err != nil {
			return "", fmt.Errorf("match %s against %s: %w", rel, x.line, err)
		}
		if !hit {
			continue
		}
		// The context itself ("."), for a secret at the top: "!*" and "!.*" match it.
		above, err := x.pm.MatchesOrParentMatches(path.Dir(root))
		if err != nil {
			return "", fmt.Errorf("match %s against %s: %w", root, x.line, err)
		}
		if !above {
			return x.line, nil
		}
	}
	return "", nil
}

// notNamed says why a secret that a "!" line let in stays out, and how to include it.
func (r *secretRule) notNamed(rel string) (string, error) {
	line := ""
	for _, x := range r.asks {
		hit, err := x.pm.MatchesOrParentMatches(rel)
		if err != nil {
			return "", fmt.Errorf("match %s against %s: %w", rel, x.line, err)
		}
		if hit {
			line = x.line // the last one is the one that let it in
		}
	}
	return "it may hold secrets; !" + line + " in " + r.ignoreName + " does not name it: add !" + escapePattern(rel) + " to include it", nil
}

// lastElementNames reports whether a pattern's last element holds a character that is
// not a wildcard or a character class: "*.pem", ".env" and "id_[rd]sa" name files;
// "*", "**" and "?" name whatever is there.
func lastElementNames(pattern string) bool {
	last := pattern[strings.LastIndex(pattern, "/")+1:]
	for i := 0; i < len(last); i++ {
		switch last[i] {
		case '*', '?':
		case '[':
			end := strings.IndexByte(last[i+1:], ']')
			if end < 0 {
				return true
			}
			i += end + 1
		default:
			return true // an escaped character ("\*") is a literal too
		}
	}
	return false
}

// escapePattern makes a path a pattern that matches only that path.
func escapePattern(rel string) string {
	var b strings.Builder
	for _, r := range rel {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// outputPaths returns the outputs that lie inside the context, as slash-separated
// paths relative to it, both as given and with symlinks resolved.
func outputPaths(context string, outputs []string) ([]string, error) {
	absContext, err := filepath.Abs(context)
	if err != nil {
		return nil, fmt.Errorf("build context: %w", err)
	}
	realContext, _ := filepath.EvalSymlinks(absContext)
	var rels []string
	for _, out := range outputs {
		abs, err := filepath.Abs(out)
		if err != nil {
			return nil, fmt.Errorf("output %s: %w", out, err)
		}
		pairs := [][2]string{{absContext, abs}}
		if real, err := filepath.EvalSymlinks(abs); err == nil && realContext != "" {
			pairs = append(pairs, [2]string{realContext, real})
		}
		for _, pair := range pairs {
			rel, err := filepath.Rel(pair[0], pair[1])
			// The context itself is not left out here: writing into it is refused elsewhere.
			if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
				continue
			}
			rels = append(rels, filepath.ToSlash(rel))
		}
	}
	return rels, nil
}

func readIgnoreFile(path string) ([]string, error) {
	// As every project file is read: a regular file, bounded, never a blocking open.
	data, err := readProjectFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	patterns, err := ignorefile.ReadAll(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if patterns == nil {
		patterns = []string{}
	}
	return patterns, nil
}

// isVirtualenv reports whether dir is a Python virtual environment (PEP 405 marks one
// with pyvenv.cfg), whatever its name.
func isVirtualenv(dir string) bool {
	_, err := os.Lstat(filepath.Join(dir, "pyvenv.cfg"))
	return err == nil
}
