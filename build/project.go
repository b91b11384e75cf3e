package build

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

// Project is what pycontainer reads of a Python project's pyproject.toml.
type Project struct {
	Name           string
	Version        string
	Description    string
	RequiresPython string
	Dependencies   []string
	// Scripts are [project.scripts] in file order: name = "module:function".
	Scripts []Script
}

// Script is one console script entry point.
type Script struct {
	Name, Module, Function string
}

type pyprojectFile struct {
	Project struct {
		Name           string         `toml:"name"`
		Version        string         `toml:"version"`
		Description    string         `toml:"description"`
		RequiresPython string         `toml:"requires-python"`
		Scripts        map[string]any `toml:"scripts"`
		Dependencies   []string       `toml:"dependencies"`
	} `toml:"project"`
	Tool struct {
		Pycontainer map[string]any `toml:"pycontainer"`
	} `toml:"tool"`
}

// LoadProject reads dir/pyproject.toml. A missing file is an empty project; settings
// come from [tool.pycontainer], with unknown keys there returned as warnings.
func LoadProject(dir string) (Project, Settings, []string, error) {
	return loadProject(dir, dir)
}

// loadProject is LoadProject naming the directory shownDir in its messages.
func loadProject(dir, shownDir string) (Project, Settings, []string, error) {
	path, shown := filepath.Join(dir, "pyproject.toml"), filepath.Join(shownDir, "pyproject.toml")
	data, err := readProjectFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return Project{}, Settings{}, nil, nil
	}
	if err != nil {
		return Project{}, Settings{}, nil, fmt.Errorf("project file: %w", err)
	}
	var f pyprojectFile
	warnings, err := decodeTOML(shown, data, &f, []string{"tool", "pycontainer"})
	if err != nil {
		return Project{}, Settings{}, warnings, err
	}
	p := Project{
		Name: f.Project.Name, Version: f.Project.Version, Description: f.Project.Description,
		RequiresPython: f.Project.RequiresPython, Dependencies: f.Project.Dependencies,
	}
	for _, name := range scriptOrder(data) {
		target, ok := f.Project.Scripts[name].(string)
		if !ok {
			continue
		}
		module, function, _ := strings.Cut(strings.TrimSpace(target), ":")
		// "module:obj.attr [extra]" — extras do not matter for running it.
		function, _, _ = strings.Cut(function, " ")
		p.Scripts = append(p.Scripts, Script{Name: name, Module: strings.TrimSpace(module), Function: strings.TrimSpace(function)})
	}
	var s Settings
	if t := f.Tool.Pycontainer; t != nil {
		var w []string
		s, w, err = settingsOf(shown, data, t, []string{"tool", "pycontainer"}, true)
		warnings = append(warnings, w...)
		if err != nil {
			return p, Settings{}, warnings, err
		}
		relativeTo(&s, shownDir) // as for pycontainer.toml
	}
	s.Source = "pyproject.toml [tool.pycontainer]"
	return p, s, warnings, nil
}

// scriptOrder lists the keys of [project.scripts] in the order the file has them, so
// "the first script" means what the author sees first (TOML tables decode unordered).
func scriptOrder(data []byte) []string {
	var names []string
	var p unstable.Parser
	p.Reset(data)
	var table []string
	for p.NextExpression() {
		e := p.Expression()
		switch {
		case e.Kind == unstable.Table:
			table = nodeKey(e)
		case e.Kind == unstable.KeyValue && len(table) == 2 && table[0] == "project" && table[1] == "scripts":
			names = append(names, strings.Join(nodeKey(e), "."))
		case e.Kind == unstable.KeyValue && len(table) == 1 && table[0] == "project":
			if k := nodeKey(e); len(k) == 2 && k[0] == "scripts" {
				names = append(names, k[1])
			}
		}
	}
	return names
}

var pyVersionRe = regexp.MustCompile(`^\s*(==|~=|>=|>|<=|<|!=)?\s*(\d+)\.(\d+)`)

// DefaultPythonBase picks python:X.Y-slim from requires-python: an exact (==, ~=) or
// lower (>=, >) bound wins; with no usable bound it is python:3.11-slim.
func DefaultPythonBase(requiresPython string) string {
	const fallback = "python:3.11-slim"
	best := ""
	for _, spec := range strings.Split(requiresPython, ",") {
		m := pyVersionRe.FindStringSubmatch(spec)
		if m == nil {
			continue
		}
		major, _ := strconv.Atoi(m[2])
		minor, _ := strconv.Atoi(m[3])
		switch m[1] {
		case "==", "~=", "", ">=":
			best = fmt.Sprintf("%d.%d", major, minor)
		case ">":
			// >3.11 admits 3.11.1, but a user writing it means "newer than 3.11".
			best = fmt.Sprintf("%d.%d", major, minor+1)
		}
		if m[1] == "==" || m[1] == "~=" || m[1] == "" {
			break
		}
	}
	if best == "" || strings.HasPrefix(best, "2.") {
		return fallback
	}
	return "python:" + best + "-slim"
}
