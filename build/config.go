package build

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

// Settings is one layer of configuration: a config file, pyproject's [tool.pycontainer],
// or the flags a user typed. A nil field is "not set here" and never overrides a lower
// layer.
type Settings struct {
	Source string // where these settings came from, for messages

	BaseImage    *string
	Platforms    []string
	IncludeDeps  *bool
	Reproducible *bool
	Context      *string
	Output       *string
	Workdir      *string
	Entrypoint   []string
	Cmd          []string
	User         *string
	Ports        []string
	Env          map[string]string
	Labels       map[string]string
	RegistryURL  *string
	Insecure     []string
	Mirrors      map[string]string
}

// buildKeys are the keys of [build] in pycontainer.toml and of [tool.pycontainer].
type buildKeys struct {
	BaseImage    *string           `toml:"base_image"`
	Platform     any               `toml:"platform"`
	Platforms    any               `toml:"platforms"`
	IncludeDeps  *bool             `toml:"include_deps"`
	Reproducible *bool             `toml:"reproducible"`
	Context      *string           `toml:"context"`
	Output       *string           `toml:"output"`
	Workdir      *string           `toml:"workdir"`
	Entrypoint   any               `toml:"entrypoint"`
	Cmd          any               `toml:"cmd"`
	User         *string           `toml:"user"`
	Ports        any               `toml:"ports"`
	Env          map[string]string `toml:"env"`
	Labels       map[string]string `toml:"labels"`
}

type registryKeys struct {
	URL      *string           `toml:"url"`
	Insecure any               `toml:"insecure"`
	Mirrors  map[string]string `toml:"mirrors"`
}

type pycontainerFile struct {
	Build    buildKeys    `toml:"build"`
	Registry registryKeys `toml:"registry"`
}

// pyprojectTool is [tool.pycontainer]: the build keys directly, or under a build table
// as in pycontainer.toml, plus a registry table.
type pyprojectTool struct {
	buildKeys
	Build    *buildKeys   `toml:"build"`
	Registry registryKeys `toml:"registry"`
}

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
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return Settings{}, nil, fmt.Errorf("config file %s does not exist: check the --config path", path)
		}
		return Settings{}, nil, fmt.Errorf("read config file: %w", err)
	}
	var f pycontainerFile
	warnings, err := decodeTOML(path, data, &f, nil)
	if err != nil {
		return Settings{}, warnings, err
	}
	s, err := f.Build.settings(path, data, []string{"build"})
	if err != nil {
		return Settings{}, warnings, err
	}
	if err := f.Registry.apply(&s, path, data, []string{"registry"}); err != nil {
		return Settings{}, warnings, err
	}
	s.Source = filepath.Base(path)
	relativeTo(&s, filepath.Dir(path))
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

func (b buildKeys) settings(path string, data []byte, table []string) (Settings, error) {
	s := Settings{
		BaseImage: b.BaseImage, IncludeDeps: b.IncludeDeps, Reproducible: b.Reproducible,
		Context: b.Context, Output: b.Output, Workdir: b.Workdir, User: b.User,
		Env: b.Env, Labels: b.Labels,
	}
	lists := []struct {
		key string
		val any
		dst *[]string
	}{
		{"platform", b.Platform, &s.Platforms},
		{"platforms", b.Platforms, &s.Platforms},
		{"entrypoint", b.Entrypoint, &s.Entrypoint},
		{"cmd", b.Cmd, &s.Cmd},
		{"ports", b.Ports, &s.Ports},
	}
	for _, l := range lists {
		if l.val == nil {
			continue
		}
		v, err := stringList(l.val, l.key == "ports")
		if err != nil {
			key := append(slices.Clone(table), l.key)
			return Settings{}, &ConfigError{File: path, Line: keyLine(data, key), Msg: fmt.Sprintf("%s: %v", strings.Join(key, "."), err)}
		}
		if l.key == "entrypoint" && len(v) == 1 && strings.ContainsAny(v[0], " \t") {
			v = strings.Fields(v[0]) // entrypoint = "python -m app" is the string form of a list
		}
		*l.dst = v
	}
	return s, nil
}

func (r registryKeys) apply(s *Settings, path string, data []byte, table []string) error {
	s.RegistryURL = r.URL
	s.Mirrors = r.Mirrors
	if r.Insecure != nil {
		v, err := stringList(r.Insecure, false)
		if err != nil {
			key := append(slices.Clone(table), "insecure")
			return &ConfigError{File: path, Line: keyLine(data, key), Msg: fmt.Sprintf("%s: %v", strings.Join(key, "."), err)}
		}
		s.Insecure = v
	}
	return nil
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

// keyLine finds the line of a dotted key in a TOML document, or 0.
func keyLine(data []byte, key []string) int {
	var p unstable.Parser
	p.Reset(data)
	var table []string
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table:
			table = nodeKey(e)
		case unstable.KeyValue:
			full := append(slices.Clone(table), nodeKey(e)...)
			if slices.Equal(full, key) {
				it := e.Key()
				if it.Next() {
					return p.Shape(it.Node().Raw).Start.Line
				}
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

// relativeTo makes the paths a config file names relative to the file's directory.
func relativeTo(s *Settings, dir string) {
	for _, p := range []*string{s.Context, s.Output} {
		if p != nil && *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
}
