package build

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// builtinExcludes never belong in an image unless a .dockerignore re-includes them with
// "!": version control, caches, build output and secrets.
var builtinExcludes = []string{
	".hg", ".svn",
	"**/__pycache__", "**/*.pyc", "**/*.pyo",
	".venv", "venv", ".tox", ".nox", ".pytest_cache", ".mypy_cache", ".ruff_cache",
	"dist", "build", "**/*.egg-info",
	"**/.DS_Store",
	".dockerignore", ".containerignore",
}

// secretPatterns are left out by default like builtinExcludes, and named in the build
// output, so a user sees what did not go in; a "!" line in .dockerignore re-includes one.
// .git is one: its config can hold a token in a remote's URL.
var secretPatterns = []string{
	".git", "**/.env", "**/.env.*",
	"**/.ssh", "**/id_rsa", "**/id_dsa", "**/id_ecdsa", "**/id_ed25519", "**/*.ppk",
	"**/.npmrc", "**/.pypirc", "**/.netrc", "**/.git-credentials", "**/.aws", "**/.docker/config.json",
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
	Excluded []string // notable exclusions (virtualenvs, special files), for the user
}

// SelectFiles walks the context and returns the files that go into the app layer, in
// path order. ignoreDirs are extra paths (such as the output layout) to leave out.
func SelectFiles(context string, ignoreDirs ...string) (*Selection, error) {
	secrets, err := patternmatcher.New(secretPatterns)
	if err != nil {
		return nil, fmt.Errorf("secret patterns: %w", err)
	}
	patterns := append(slices.Clone(builtinExcludes), secretPatterns...)
	for _, name := range []string{".containerignore", ".dockerignore"} {
		user, err := readIgnoreFile(filepath.Join(context, name))
		if err != nil {
			return nil, err
		}
		if user != nil {
			patterns = append(patterns, user...)
			break // like podman: .containerignore wins over .dockerignore
		}
	}
	absContext, err := filepath.Abs(context)
	if err != nil {
		return nil, fmt.Errorf("build context: %w", err)
	}
	for _, d := range ignoreDirs {
		abs, err := filepath.Abs(d)
		if err != nil {
			continue
		}
		if rel, err := filepath.Rel(absContext, abs); err == nil && rel != "." && !strings.HasPrefix(rel, "..") {
			patterns = append(patterns, filepath.ToSlash(rel))
		}
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		return nil, fmt.Errorf("ignore patterns: %w", err)
	}

	sel := &Selection{}
	err = filepath.WalkDir(context, func(path string, de fs.DirEntry, err error) error {
		if err != nil {
			name := path
			if rel, rerr := filepath.Rel(context, path); rerr == nil {
				name = filepath.ToSlash(rel)
			}
			if de != nil && de.IsDir() {
				name += "/"
			}
			return fmt.Errorf("build context: %s cannot be read: %w; fix its permissions or add it to .dockerignore", name, err)
		}
		if path == context {
			return nil
		}
		rel, err := filepath.Rel(context, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		excluded, err := pm.MatchesOrParentMatches(rel)
		if err != nil {
			return fmt.Errorf("match %s against ignore patterns: %w", rel, err)
		}
		if de.IsDir() {
			// A virtualenv never goes in, whatever its name or the ignore files say: its
			// interpreter links and compiled packages belong to this host.
			if isVirtualenv(path) {
				sel.Excluded = append(sel.Excluded, rel+"/ (a virtualenv: its binaries are built for this host, not the image; use --include-deps)")
				return filepath.SkipDir
			}
		}
		if excluded {
			// Name what is left out for holding secrets (once: for a directory, not its files).
			if secret, _, _ := secrets.MatchesUsingParentResults(rel, patternmatcher.MatchInfo{}); secret {
				sel.Excluded = append(sel.Excluded, rel+" (it may hold secrets; add !"+rel+" to .dockerignore to include it)")
			}
			// A later "!" pattern may re-include something below an excluded directory.
			if de.IsDir() && !pm.Exclusions() {
				return filepath.SkipDir
			}
			return nil
		}
		info, err := de.Info()
		if err != nil {
			return fmt.Errorf("read build context: %w", err)
		}
		f := File{Rel: rel, Abs: path, Mode: info.Mode(), Size: info.Size(), ModTime: info.ModTime()}
		switch {
		case info.Mode().IsRegular(), info.IsDir():
		case info.Mode()&fs.ModeSymlink != 0:
			if f.Link, err = os.Readlink(path); err != nil {
				return fmt.Errorf("read symlink %s: %w", rel, err)
			}
			f.Size = 0
		default:
			sel.Excluded = append(sel.Excluded, rel+" (not a regular file, directory or symlink)")
			return nil
		}
		sel.Files = append(sel.Files, f)
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(sel.Files, func(a, b File) int { return strings.Compare(a.Rel, b.Rel) })
	return sel, nil
}

func readIgnoreFile(path string) ([]string, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	patterns, err := ignorefile.ReadAll(bufio.NewReader(f))
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
