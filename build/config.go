package build

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

// ConfigError is a problem in a configuration file, located by file and line.
type ConfigError struct {
	File string
	Line int
	Msg  string
}

func (e *ConfigError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// LoadConfigFile reads a pycontainer.toml. Unknown keys are returned as warnings; a
// key of the wrong type or a TOML syntax error is a *ConfigError.
func LoadConfigFile(path string) (Settings, []string, error) {
	return loadConfigFile(path, path)
}

// loadConfigFile is LoadConfigFile naming the file shown in its messages.
func loadConfigFile(path, shown string) (Settings, []string, error) {
	data, err := readProjectFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return Settings{}, nil, fmt.Errorf("config file %s does not exist: check the --config path", shown)
		}
		return Settings{}, nil, fmt.Errorf("config file: %w", err)
	}
	var doc map[string]any
	if _, err := decodeTOML(shown, data, &doc, nil); err != nil {
		return Settings{}, nil, err
	}
	s, warnings, err := settingsOf(shown, data, doc, nil, false)
	if err != nil {
		return Settings{}, warnings, err
	}
	s.Source = filepath.Base(path)
	// Its paths as the user would write them (messages quote them); loadLayers reads
	// them against the working directory.
	relativeTo(&s, filepath.Dir(shown))
	return s, warnings, nil
}

// decodeTOML decodes data strictly into v. Keys v has no field for become warnings
// "file:line: unknown key a.b" — only those under prefix when prefix is set, so the rest
// of a pyproject.toml belongs to other tools.
func decodeTOML(path string, data []byte, v any, prefix []string) ([]string, error) {
	dec := toml.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	var strict *toml.StrictMissingError
	if errors.As(err, &strict) {
		var warnings []string
		for _, e := range strict.Errors {
			if len(e.Key()) < len(prefix) || !slices.Equal(e.Key()[:len(prefix)], prefix) {
				continue
			}
			line, _ := e.Position()
			warnings = append(warnings, fmt.Sprintf("%s:%d: unknown key %q (ignored)", path, line, strings.Join(e.Key(), ".")))
		}
		return warnings, nil
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		line, _ := de.Position()
		msg := de.Error()
		if len(de.Key()) > 0 {
			msg = fmt.Sprintf("%s: %s", strings.Join(de.Key(), "."), msg)
		}
		return nil, &ConfigError{File: path, Line: line, Msg: strings.TrimPrefix(msg, "toml: ")}
	}
	if err != nil {
		return nil, &ConfigError{File: path, Msg: err.Error()}
	}
	return nil, nil
}

// settingsOf reads the settings tables of doc: a whole pycontainer.toml, or pyproject's
// [tool.pycontainer] at prefix, where build keys may also stand in the table itself
// (bareBuild; [tool.pycontainer.build] then wins). Keys no setting has are warnings.
func settingsOf(path string, data []byte, doc map[string]any, prefix []string, bareBuild bool) (Settings, []string, error) {
	var s Settings
	var warnings []string
	read := func(table string, t map[string]any, at []string) error {
		for _, k := range slices.Sorted(maps.Keys(t)) {
			key := append(slices.Clone(at), k)
			st, ok := lookupSetting(table, k)
			if !ok {
				warnings = append(warnings, fmt.Sprintf("%s:%d: unknown key %q (ignored)", path, keyLine(data, key), strings.Join(key, ".")))
				continue
			}
			v, err := st.parseTOML(t[k])
			if err != nil {
				return &ConfigError{File: path, Line: keyLine(data, key), Msg: fmt.Sprintf("%s: %v", strings.Join(key, "."), err)}
			}
			st.set(&s, v)
		}
		return nil
	}
	bare := map[string]any{}
	for k, v := range doc {
		if !slices.Contains(settingTables, k) {
			bare[k] = v
		}
	}
	if bareBuild {
		if err := read("build", bare, prefix); err != nil {
			return s, warnings, err
		}
	} else if err := read("", bare, prefix); err != nil { // no setting has table "": each is unknown
		return s, warnings, err
	}
	for _, table := range settingTables {
		v, ok := doc[table]
		if !ok {
			continue
		}
		key := append(slices.Clone(prefix), table)
		t, ok := v.(map[string]any)
		if !ok {
			return s, warnings, &ConfigError{File: path, Line: keyLine(data, key), Msg: fmt.Sprintf("%s: expected a table, found %s", strings.Join(key, "."), tomlTypeName(v))}
		}
		if err := read(table, t, key); err != nil {
			return s, warnings, err
		}
	}
	return s, warnings, nil
}

// parseTOML reads st's value as a TOML document gives it.
func (st setting) parseTOML(v any) (any, error) {
	switch st.kind {
	case kindBool:
		if b, ok := v.(bool); ok {
			return b, nil
		}
		return nil, fmt.Errorf("expected true or false, found %s", tomlTypeName(v))
	case kindList:
		return stringList(v, st.numbers)
	case kindCommand:
		words, err := stringList(v, false)
		if err == nil && len(words) == 1 && strings.ContainsAny(words[0], " \t") {
			words = strings.Fields(words[0]) // entrypoint = "python -m app" is the string form of a list
		}
		return words, err
	case kindKeyValue:
		t, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("expected a table of KEY = \"VALUE\", found %s", tomlTypeName(v))
		}
		out := make(map[string]string, len(t))
		for k, e := range t {
			str, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("%s: expected a string, found %s", k, tomlTypeName(e))
			}
			out[k] = str
		}
		return out, nil
	}
	if str, ok := v.(string); ok {
		return str, st.check(str)
	}
	return nil, fmt.Errorf("expected a string, found %s", tomlTypeName(v))
}

// stringList accepts a string or an array of strings (and of integers when numbers is
// set, for ports = [8000]).
func stringList(v any, numbers bool) ([]string, error) {
	switch t := v.(type) {
	case string:
		return []string{t}, nil
	case int64:
		if numbers {
			return []string{fmt.Sprint(t)}, nil
		}
	case []any:
		out := make([]string, 0, len(t))
		for _, e := range t {
			switch et := e.(type) {
			case string:
				out = append(out, et)
			case int64:
				if !numbers {
					return nil, fmt.Errorf("expected a string or a list of strings, found a number in the list")
				}
				out = append(out, fmt.Sprint(et))
			default:
				return nil, fmt.Errorf("expected a string or a list of strings, found %T in the list", e)
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("expected a string or a list of strings, found %s", tomlTypeName(v))
}

func tomlTypeName(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case []any:
		return "a list"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case map[string]any:
		return "a table"
	}
	return fmt.Sprintf("%T", v)
}

// keyLine finds the line of a dotted key in a TOML document, or of the first table or
// key under it (an unknown table is reported at its header), or 0.
func keyLine(data []byte, key []string) int {
	var p unstable.Parser
	p.Reset(data)
	var table []string
	for p.NextExpression() {
		e := p.Expression()
		var full []string
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			table = nodeKey(e)
			full = table
		case unstable.KeyValue:
			full = append(slices.Clone(table), nodeKey(e)...)
		default:
			continue
		}
		if len(full) >= len(key) && slices.Equal(full[:len(key)], key) {
			it := e.Key()
			if it.Next() {
				return p.Shape(it.Node().Raw).Start.Line
			}
		}
	}
	return 0
}

func nodeKey(n *unstable.Node) []string {
	var parts []string
	it := n.Key()
	for it.Next() {
		parts = append(parts, string(it.Node().Data))
	}
	return parts
}

// pathKey is a setting that names a directory or file on this machine.
type pathKey struct {
	key, flag string
	val       *string
}

// paths lists s's path settings (the table's rows marked path): the one list relativeTo
// and the project-bounds check both walk, so a new path setting cannot miss either.
func (s *Settings) paths() []pathKey {
	var out []pathKey
	for _, st := range settingsTable {
		if st.path {
			out = append(out, pathKey{st.key, st.name(), *st.field(s).(**string)})
		}
	}
	return out
}

// relativeTo makes the paths a config file names relative to the file's directory.
func relativeTo(s *Settings, dir string) {
	mapPaths(s, func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	})
}

// mapPaths replaces each path setting s holds by f of it. The strings are new: the
// Settings s was merged from keep theirs.
func mapPaths(s *Settings, f func(string) string) {
	for _, st := range settingsTable {
		if !st.path {
			continue
		}
		if v := st.field(s).(**string); *v != nil {
			mapped := f(**v)
			*v = &mapped
		}
	}
}

// maxProjectFileBytes bounds what is read of pyproject.toml, pycontainer.toml, an ignore
// file or requirements.txt: real ones are kilobytes, and a symlink to /dev/zero is endless.
const maxProjectFileBytes = 4 << 20

// readProjectFile reads a file a project supplies, only when it is a regular file (through
// symlinks) of at most maxProjectFileBytes. A FIFO is never opened for a blocking read:
// that read would wait forever, deaf to ^C; a device may never end.
func readProjectFile(path string) ([]byte, error) {
	name := filepath.Base(path)
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if err := checkRegular(path, fi); err != nil {
		return nil, err
	}
	// O_NONBLOCK: if a FIFO replaced the file since the Stat, the open does not wait
	// for a writer; it is then refused below.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	defer f.Close()
	if fi, err = f.Stat(); err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if err := checkRegular(path, fi); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, maxProjectFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if len(data) > maxProjectFileBytes {
		return nil, fmt.Errorf("%s is larger than %d MiB, too large for a project file: check what it is", path, maxProjectFileBytes>>20)
	}
	return data, nil
}

// checkRegular refuses what fi describes unless it is a regular file, in one line that
// says what it is instead.
func checkRegular(path string, fi fs.FileInfo) error {
	if fi.Mode().IsRegular() {
		return nil
	}
	what, why := "not a regular file", ""
	switch m := fi.Mode(); {
	case m.IsDir():
		what = "a directory"
	case m&fs.ModeNamedPipe != 0:
		what, why = "a named pipe (FIFO)", "reading it would block; "
	case m&fs.ModeCharDevice != 0:
		what, why = "a character device", "reading it may never end; "
	case m&fs.ModeDevice != 0:
		what = "a block device"
	case m&fs.ModeSocket != 0:
		what = "a socket"
	}
	if li, err := os.Lstat(path); err == nil && li.Mode()&fs.ModeSymlink != 0 {
		what += " (through a symlink)"
	}
	return fmt.Errorf("%s is %s, not a regular file: %sreplace it with the file itself", path, what, why)
}

// checkProjectFiles refuses, before anything reads them, the files of the context that
// a build reads but that are not regular files.
func checkProjectFiles(context string, names ...string) error {
	for _, name := range names {
		p := filepath.Join(context, name)
		fi, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", p, err)
		}
		if err := checkRegular(p, fi); err != nil {
			return err
		}
	}
	return nil
}

// realPath is p absolute with every symlink in it resolved, like realpath(1), except that
// the part of p that does not exist yet (an output to be made) is kept as written. A
// dangling symlink is followed too: writing through it would create its target.
func realPath(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	sep := string(filepath.Separator)
	rest := strings.Split(abs, sep)
	done := sep
	links := 0
	for len(rest) > 0 {
		name := rest[0]
		rest = rest[1:]
		switch name {
		case "", ".":
			continue
		case "..":
			done = filepath.Dir(done)
			continue
		}
		next := filepath.Join(done, name)
		fi, err := os.Lstat(next)
		if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return "", err
			}
			done = next
			continue
		}
		if links++; links > 255 {
			return "", fmt.Errorf("%s: too many levels of symbolic links", p)
		}
		target, err := os.Readlink(next)
		if err != nil {
			return "", err
		}
		if filepath.IsAbs(target) {
			done = sep
		}
		rest = append(strings.Split(target, sep), rest...)
	}
	return done, nil
}

// insideRoot reports whether path, its symlinks resolved, is root or lies below it, and
// where path leads.
func insideRoot(root, path string) (bool, string, error) {
	r, err := realPath(root)
	if err != nil {
		return false, "", err
	}
	p, err := realPath(path)
	if err != nil {
		return false, "", err
	}
	rel, err := filepath.Rel(r, p)
	if err != nil {
		return false, p, nil
	}
	return rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)), p, nil
}
