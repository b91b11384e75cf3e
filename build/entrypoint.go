package build

import (
	"encoding/json"
	"fmt"
	"path"
	"regexp"
	"strings"
)

var dottedName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$`)

// launch is how the image starts the app.
type launch struct {
	Entrypoint []string
	PythonPath []string // directories to put on PYTHONPATH
	Origin     string   // what the entrypoint was derived from, for the plan
	Warning    string
}

// ParseCommand accepts a command as a JSON array (["python", "-m", "app"]) or as words
// split on white space.
func ParseCommand(s string) ([]string, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "[") {
		var out []string
		if err := json.Unmarshal([]byte(s), &out); err != nil {
			return nil, fmt.Errorf("%q is not a JSON array of strings: %w", s, err)
		}
		return out, nil
	}
	return strings.Fields(s), nil
}

// resolveLaunch picks the entrypoint: the explicit one, else the first console script of
// [project.scripts], else __main__.py, main.py or app.py at the top of the context.
func resolveLaunch(o *Options, sel *Selection) (launch, error) {
	if len(o.Entrypoint) > 0 {
		return launch{Entrypoint: o.Entrypoint, Origin: "entrypoint setting"}, nil
	}
	has := map[string]bool{}
	for _, f := range sel.Files {
		has[f.Rel] = true
	}
	if len(o.Project.Scripts) > 0 {
		s := o.Project.Scripts[0]
		if !dottedName.MatchString(s.Module) || (s.Function != "" && !dottedName.MatchString(s.Function)) {
			return launch{}, fmt.Errorf("pyproject.toml [project.scripts] %s = %q is not of the form \"module:function\"", s.Name, s.Module+":"+s.Function)
		}
		l := scriptLaunch(s, o.Workdir, has)
		if l.Warning != "" && !o.IncludeDeps {
			// Nothing else could bring the module: the image would fail on its first start.
			n := countFiles(sel)
			return launch{}, fmt.Errorf("pyproject.toml [project.scripts] %s = %q: module %s is not in the build context %s (%d %s): build the project's directory (--context), or pass --entrypoint to run what the base image holds",
				s.Name, s.Module+":"+s.Function, s.Module, o.ContextDir(), n, plural(n, "file", "files"))
		}
		return l, nil
	}
	for _, name := range []string{"__main__.py", "main.py", "app.py"} {
		if has[name] {
			return launch{Entrypoint: []string{"python3", path.Join(o.Workdir, name)}, Origin: name}, nil
		}
	}
	return launch{}, fmt.Errorf("no entrypoint found in %s: add a [project.scripts] entry to pyproject.toml, a main.py or app.py, or pass --entrypoint", o.shown(o.Context))
}

// scriptLaunch runs a console script entry point the way pip's generated script does:
// import the module, call the function, exit with what it returns.
func scriptLaunch(s Script, workdir string, has map[string]bool) launch {
	l := launch{Origin: fmt.Sprintf("[project.scripts] %s = %q", s.Name, s.Module+":"+s.Function)}
	modPath := strings.ReplaceAll(s.Module, ".", "/")
	found := func(root string) bool {
		// A directory alone is a namespace package (PEP 420).
		return has[path.Join(root, modPath+".py")] || has[path.Join(root, modPath, "__init__.py")] || has[path.Join(root, modPath)] ||
			has[path.Join(root, strings.Split(modPath, "/")[0], "__init__.py")]
	}
	switch {
	case found("."):
		l.PythonPath = []string{workdir}
	case found("src"):
		l.PythonPath = []string{path.Join(workdir, "src")}
	default:
		l.PythonPath = []string{workdir}
		l.Warning = fmt.Sprintf("console script %s: module %s is not in the build context; it must come from the dependencies", s.Name, s.Module)
	}
	call := "_m"
	if s.Function != "" {
		call += "." + s.Function
	}
	code := fmt.Sprintf("import sys; import %s as _m; sys.argv[0] = %q; sys.exit(%s())", s.Module, s.Name, call)
	l.Entrypoint = []string{"python3", "-c", code}
	return l
}

// countFiles counts the regular files of sel, which the error of a missing module quotes:
// 0 says at once that the context was not the project.
func countFiles(sel *Selection) int {
	n := 0
	for _, f := range sel.Files {
		if f.Mode.IsRegular() {
			n++
		}
	}
	return n
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
