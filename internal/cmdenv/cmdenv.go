// Package cmdenv is what a command reads from the process that runs it: the
// environment, the working directory, the standard streams and the clock. Commands
// take one Env instead of reading os's globals, so tests give each its own and run
// side by side.
package cmdenv

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Env is one command's view of its process. Its zero value reads the process's own
// environment, directory and clock (streams are nil).
type Env struct {
	// Environ is the environment as KEY=value lines (os.Environ's form); a later line
	// for a key overrides an earlier one. Subprocesses (pip) get it. nil is the
	// process's; an empty, non-nil list is an empty environment.
	Environ []string
	// Dir is the working directory relative paths are read against. "" is the
	// process's own.
	Dir    string
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Now is the clock. nil is time.Now.
	Now func() time.Time
}

// OS is the process's own environment, directory, streams and clock. Its Dir is "":
// paths stay as the user wrote them, relative to the process's directory.
func OS() Env {
	return Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}
}

// Getenv is the value of key in e's environment, "" when unset.
func (e Env) Getenv(key string) string {
	if e.Environ == nil {
		return os.Getenv(key)
	}
	for i := len(e.Environ) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(e.Environ[i], "="); ok && k == key {
			return v
		}
	}
	return ""
}

// Variables is e's environment as KEY=value lines, for a subprocess.
func (e Env) Variables() []string {
	if e.Environ == nil {
		return os.Environ()
	}
	return e.Environ
}

// With is e with the variables of kv (KEY=value lines) set over its own.
func (e Env) With(kv ...string) Env {
	e.Environ = append(append([]string{}, e.Variables()...), kv...)
	return e
}

// Path is p read against e's working directory: absolute as it is, relative put under
// Dir ("" leaves it to the process's own directory). It is not cleaned: "link/.."
// must go where the system takes it, through the link, as it would from Dir.
func (e Env) Path(p string) string {
	if p == "" || filepath.IsAbs(p) || e.Dir == "" {
		return p
	}
	return strings.TrimSuffix(e.Dir, string(filepath.Separator)) + string(filepath.Separator) + p
}

// Rel is p as a message shows it: relative to e's working directory when it lies
// inside it (dist/image), else as it is.
func (e Env) Rel(p string) string {
	if e.Dir == "" || !filepath.IsAbs(p) {
		return p
	}
	rel, err := filepath.Rel(e.Dir, p)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return p
	}
	return rel
}

// Clock is e's clock, time.Now when none was given.
func (e Env) Clock() time.Time {
	if e.Now == nil {
		return time.Now()
	}
	return e.Now()
}
