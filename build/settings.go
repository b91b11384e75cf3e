package build

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
)

// Settings is one layer of configuration: pyproject's [tool.pycontainer], a config file,
// the environment or the flags a user typed. A nil field is "not set here" and never
// overrides a lower layer. Each field is one row of the settings table.
type Settings struct {
	Source string // where these settings came from, for messages

	// [build]
	Tag           *string
	BaseImage     *string
	Platforms     []string
	IncludeDeps   *bool
	Push          *bool
	Context       *string
	Output        *string
	Reproducible  *bool
	Env           map[string]string
	Labels        map[string]string
	Workdir       *string
	Entrypoint    []string
	Cmd           []string
	User          *string
	Ports         []string
	DryRun        *bool
	NoCache       *bool
	Pull          *string
	Strict        *bool
	BuilderImage  *string
	SdistCompiler *string
	// [pip]
	Requirements   *string
	IndexURL       *string
	ExtraIndexURLs []string
	FindLinks      []string
	NoIndex        *bool
	AllowSdist     *bool
	// [registry]
	RegistryURL  *string
	Insecure     []string
	InsecureBase *bool
	Mirrors      map[string]string
	// [build] too: how the build is shown
	Progress *string
	Verbose  *bool
}

// valueKind is how a setting is written in each layer.
type valueKind int

const (
	kindString   valueKind = iota // a string
	kindBool                      // a boolean; true/false, 1/0 in the environment
	kindList                      // a string or list of strings; a flag repeats, the environment separates by commas
	kindCommand                   // a list of words: a JSON array or words on a flag, a list or a string of words in a file
	kindKeyValue                  // KEY=VALUE pairs: a table in a file, a repeated flag, comma-separated in the environment
)

// setting is one knob of a build, named once for every layer that can set it: the flag
// of `pycontainer build`, the key in pycontainer.toml (and [tool.pycontainer]) and the
// environment variable. Adding a setting is a Settings field, a row here, and its use in
// Resolve.
type setting struct {
	flag, short string
	table, key  string // [table] key of pycontainer.toml
	aliases     []string
	env         string
	kind        valueKind
	def         string // the flag's default, for --help; the value itself is Resolve's
	usage       string
	numbers     bool     // a list that takes integers too (ports = [8000])
	choices     []string // the values a string may take, when only some may
	path        bool     // a path: relative to the file that names it, and inside the project
	field       func(*Settings) any
}

// settingsTable is every setting of a build.
var settingsTable = []setting{
	{flag: "tag", short: "t", table: "build", key: "tag", env: "PYCONTAINER_TAG", usage: "image name and tag, e.g. myapp:amd64 or ghcr.io/org/app:1.0 (default PROJECT:latest)",
		field: func(s *Settings) any { return &s.Tag }},
	{flag: "platform", table: "build", key: "platform", aliases: []string{"platforms"}, env: "PYCONTAINER_PLATFORM", kind: kindList,
		usage: "target platform(s) os/arch[/variant]: comma-separated or repeated (default linux/amd64)", field: func(s *Settings) any { return &s.Platforms }},
	{flag: "base-image", table: "build", key: "base_image", env: "PYCONTAINER_BASE_IMAGE", usage: "base image (default python:X.Y-slim from requires-python, else python:3.11-slim)",
		field: func(s *Settings) any { return &s.BaseImage }},
	{flag: "include-deps", table: "build", key: "include_deps", env: "PYCONTAINER_INCLUDE_DEPS", kind: kindBool, usage: "install the project's dependencies for each target platform",
		field: func(s *Settings) any { return &s.IncludeDeps }},
	{flag: "push", table: "build", key: "push", env: "PYCONTAINER_PUSH", kind: kindBool, usage: "push the image to its registry after building",
		field: func(s *Settings) any { return &s.Push }},
	{flag: "verbose", short: "v", table: "build", key: "verbose", env: "PYCONTAINER_VERBOSE", kind: kindBool, usage: "print more detail",
		field: func(s *Settings) any { return &s.Verbose }},
	{flag: "context", table: "build", key: "context", env: "PYCONTAINER_CONTEXT", def: ".", path: true, usage: "directory of the Python project",
		field: func(s *Settings) any { return &s.Context }},
	{flag: "output", short: "o", table: "build", key: "output", env: "PYCONTAINER_OUTPUT", def: "dist/image", path: true, usage: "OCI image layout directory to write",
		field: func(s *Settings) any { return &s.Output }},
	{flag: "reproducible", table: "build", key: "reproducible", env: "PYCONTAINER_REPRODUCIBLE", kind: kindBool, def: "true", usage: "fixed timestamps: the same inputs give the same bytes",
		field: func(s *Settings) any { return &s.Reproducible }},
	{flag: "env", table: "build", key: "env", env: "PYCONTAINER_ENV", kind: kindKeyValue, usage: "environment variable KEY=VALUE for the image (repeatable)",
		field: func(s *Settings) any { return &s.Env }},
	{flag: "label", table: "build", key: "labels", env: "PYCONTAINER_LABELS", kind: kindKeyValue, usage: "image label KEY=VALUE (repeatable)",
		field: func(s *Settings) any { return &s.Labels }},
	{flag: "workdir", table: "build", key: "workdir", env: "PYCONTAINER_WORKDIR", def: "/app", usage: "directory of the app in the image",
		field: func(s *Settings) any { return &s.Workdir }},
	{flag: "entrypoint", table: "build", key: "entrypoint", env: "PYCONTAINER_ENTRYPOINT", kind: kindCommand, usage: "entrypoint, as words or a JSON array (default from [project.scripts], else main.py/app.py)",
		field: func(s *Settings) any { return &s.Entrypoint }},
	{flag: "cmd", table: "build", key: "cmd", env: "PYCONTAINER_CMD", kind: kindCommand, usage: "default arguments, as words or a JSON array",
		field: func(s *Settings) any { return &s.Cmd }},
	{flag: "user", table: "build", key: "user", env: "PYCONTAINER_USER", usage: "user (name or uid[:gid]) the app runs as",
		field: func(s *Settings) any { return &s.User }},
	{flag: "port", table: "build", key: "ports", env: "PYCONTAINER_PORTS", kind: kindList, numbers: true, usage: "port to expose, e.g. 8000 or 53/udp (repeatable)",
		field: func(s *Settings) any { return &s.Ports }},
	{flag: "dry-run", table: "build", key: "dry_run", env: "PYCONTAINER_DRY_RUN", kind: kindBool, usage: "resolve and print the plan; write nothing",
		field: func(s *Settings) any { return &s.DryRun }},
	{flag: "progress", table: "build", key: "progress", env: "PYCONTAINER_PROGRESS", def: "auto", choices: []string{"auto", "plain", "json"}, usage: "progress output: auto, plain or json",
		field: func(s *Settings) any { return &s.Progress }},
	{flag: "requirements", table: "pip", key: "requirements", env: "PYCONTAINER_REQUIREMENTS", path: true, usage: "with --include-deps: the requirements file (default requirements.txt, else [project.dependencies])",
		field: func(s *Settings) any { return &s.Requirements }},
	{flag: "index-url", table: "pip", key: "index_url", env: "PYCONTAINER_INDEX_URL", usage: "with --include-deps: the package index (pip's --index-url)",
		field: func(s *Settings) any { return &s.IndexURL }},
	{flag: "extra-index-url", table: "pip", key: "extra_index_urls", env: "PYCONTAINER_EXTRA_INDEX_URLS", kind: kindList, usage: "with --include-deps: another package index (repeatable)",
		field: func(s *Settings) any { return &s.ExtraIndexURLs }},
	{flag: "find-links", table: "pip", key: "find_links", env: "PYCONTAINER_FIND_LINKS", kind: kindList, usage: "with --include-deps: a wheelhouse directory or page (repeatable)",
		field: func(s *Settings) any { return &s.FindLinks }},
	{flag: "no-index", table: "pip", key: "no_index", env: "PYCONTAINER_NO_INDEX", kind: kindBool, usage: "with --include-deps: use only --find-links (offline)",
		field: func(s *Settings) any { return &s.NoIndex }},
	{flag: "allow-sdist", table: "pip", key: "allow_sdist", env: "PYCONTAINER_ALLOW_SDIST", kind: kindBool, usage: "with --include-deps: build packages without a wheel for a platform from source, for that platform, in the builder image",
		field: func(s *Settings) any { return &s.AllowSdist }},
	{flag: "builder-image", table: "build", key: "builder_image", env: "PYCONTAINER_BUILDER_IMAGE", usage: "with --allow-sdist: the image sdists compile in, with the base's Python and libc and a compiler (default the base's full sibling: python:3.11-slim → python:3.11)",
		field: func(s *Settings) any { return &s.BuilderImage }},
	{flag: "sdist-compiler", table: "build", key: "sdist_compiler", env: "PYCONTAINER_SDIST_COMPILER", def: "auto", choices: []string{"auto", "sandbox", "docker", "podman"}, usage: "with --allow-sdist: where sdists compile: auto (the engine-less sandbox, else docker, else podman), sandbox, docker or podman",
		field: func(s *Settings) any { return &s.SdistCompiler }},
	{flag: "no-cache", table: "build", key: "no_cache", env: "PYCONTAINER_NO_CACHE", kind: kindBool, usage: "do not use the shared cache of base image blobs",
		field: func(s *Settings) any { return &s.NoCache }},
	{flag: "pull", table: "build", key: "pull", env: "PYCONTAINER_PULL", def: "always", choices: []string{"always", "missing", "never"}, usage: "when to ask the registry where the base tag points: always, missing or never (offline)",
		field: func(s *Settings) any { return &s.Pull }},
	{flag: "strict", table: "build", key: "strict", env: "PYCONTAINER_STRICT", kind: kindBool, usage: "fail (keeping the previous image) when the app layer holds binaries of another architecture or a host virtualenv",
		field: func(s *Settings) any { return &s.Strict }},
	{flag: "insecure", table: "registry", key: "insecure_base", env: "PYCONTAINER_INSECURE_BASE", kind: kindBool, usage: "reach the base image's registry over plain HTTP (loopback registries always are)",
		field: func(s *Settings) any { return &s.InsecureBase }},
	{flag: "registry-mirror", table: "registry", key: "mirrors", env: "PYCONTAINER_REGISTRY_MIRROR", kind: kindKeyValue, usage: "REGISTRY=MIRROR, e.g. docker.io=localhost:5000 (repeatable)",
		field: func(s *Settings) any { return &s.Mirrors }},
	{table: "registry", key: "url", env: "PYCONTAINER_REGISTRY_URL", usage: "where --push sends an image whose --tag names no registry",
		field: func(s *Settings) any { return &s.RegistryURL }},
	{table: "registry", key: "insecure", env: "PYCONTAINER_INSECURE_REGISTRIES", kind: kindList, usage: "registries reached over plain HTTP",
		field: func(s *Settings) any { return &s.Insecure }},
}

// settingTables are the tables of pycontainer.toml, in the order the reference lists them.
var settingTables = []string{"build", "pip", "registry"}

// name is how messages call the setting: its flag, else its key.
func (st setting) name() string {
	if st.flag != "" {
		return "--" + st.flag
	}
	return st.table + "." + st.key
}

// lookupSetting finds the setting of table that key (or an alias) names.
func lookupSetting(table, key string) (setting, bool) {
	for _, st := range settingsTable {
		if st.table == table && (st.key == key || slices.Contains(st.aliases, key)) {
			return st, true
		}
	}
	return setting{}, false
}

// isSet reports whether s sets st.
func (st setting) isSet(s *Settings) bool {
	switch p := st.field(s).(type) {
	case **string:
		return *p != nil
	case **bool:
		return *p != nil
	case *[]string:
		return *p != nil
	case *map[string]string:
		return *p != nil
	}
	return false // TestSettingsTable holds every field to the types above
}

// copyTo sets st in dst from src, when src sets it; maps merge key by key.
func (st setting) copyTo(dst *Settings, src Settings) {
	if !st.isSet(&src) {
		return
	}
	switch p := st.field(dst).(type) {
	case **string:
		*p = *st.field(&src).(**string)
	case **bool:
		*p = *st.field(&src).(**bool)
	case *[]string:
		*p = *st.field(&src).(*[]string)
	case *map[string]string:
		*p = mergeMaps(*p, *st.field(&src).(*map[string]string))
	}
}

// check refuses a string outside st's choices; every layer's value passes here.
func (st setting) check(v any) error {
	if str, ok := v.(string); ok && st.choices != nil && !slices.Contains(st.choices, str) {
		return fmt.Errorf("%q: expected %s or %s", str, strings.Join(st.choices[:len(st.choices)-1], ", "), st.choices[len(st.choices)-1])
	}
	return nil
}

// set stores v (already of the kind's Go type) as st's value in s.
func (st setting) set(s *Settings, v any) {
	switch p := st.field(s).(type) {
	case **string:
		str := v.(string)
		*p = &str
	case **bool:
		b := v.(bool)
		*p = &b
	case *[]string:
		*p = v.([]string)
	case *map[string]string:
		*p = v.(map[string]string)
	}
}

// parseText reads st's value from one string, as the environment gives it.
func (st setting) parseText(text string) (any, error) {
	switch st.kind {
	case kindBool:
		b, err := strconv.ParseBool(strings.TrimSpace(text))
		if err != nil {
			return nil, fmt.Errorf("%q is not true or false", text)
		}
		return b, nil
	case kindList:
		return SplitList([]string{text}), nil
	case kindCommand:
		return ParseCommand(text)
	case kindKeyValue:
		return parseKeyValues(SplitList([]string{text}))
	}
	return text, st.check(text)
}

// AddFlags registers every setting that has a flag, as `pycontainer build` takes them.
func AddFlags(fs *pflag.FlagSet) {
	for _, st := range settingsTable {
		if st.flag == "" {
			continue
		}
		usage := fmt.Sprintf("%s [%s] %s, $%s", st.usage, st.table, st.key, st.env)
		switch st.kind {
		case kindBool:
			fs.BoolP(st.flag, st.short, st.def == "true", usage)
		case kindList, kindKeyValue:
			fs.StringArrayP(st.flag, st.short, nil, usage)
		default:
			fs.StringP(st.flag, st.short, st.def, usage)
		}
	}
	fs.StringP("config", "c", "", "config file (default pycontainer.toml in the context, if present; also PYCONTAINER_CONFIG)")
	fs.Bool("no-reproducible", false, "use the current time and file mtimes (reproducible = false)")
}

// FlagSettings is the layer of the flags a user typed: a flag's default never overrides a
// file. It also returns --config.
func FlagSettings(fs *pflag.FlagSet) (Settings, string, error) {
	s := Settings{Source: "flags"}
	for _, st := range settingsTable {
		if st.flag == "" || !fs.Changed(st.flag) {
			continue
		}
		var v any
		var err error
		switch st.kind {
		case kindBool:
			v, err = fs.GetBool(st.flag)
		case kindList:
			v, err = fs.GetStringArray(st.flag)
		case kindKeyValue:
			var raw []string
			if raw, err = fs.GetStringArray(st.flag); err == nil {
				v, err = parseKeyValues(raw)
			}
		case kindCommand:
			var raw string
			if raw, err = fs.GetString(st.flag); err == nil {
				v, err = ParseCommand(raw)
			}
		default:
			if v, err = fs.GetString(st.flag); err == nil {
				err = st.check(v)
			}
		}
		if err != nil {
			return s, "", &FlagError{fmt.Errorf("--%s %w", st.flag, err)}
		}
		st.set(&s, v)
	}
	if fs.Changed("no-reproducible") {
		if fs.Changed("reproducible") {
			return s, "", &FlagError{errors.New("--reproducible and --no-reproducible contradict each other: pass one")}
		}
		no, _ := fs.GetBool("no-reproducible")
		st, _ := lookupSetting("build", "reproducible")
		st.set(&s, !no)
	}
	config, _ := fs.GetString("config")
	return s, config, nil
}

// FlagError is a flag whose value cannot be used: a usage error.
type FlagError struct{ Err error }

func (e *FlagError) Error() string { return e.Err.Error() }
func (e *FlagError) Unwrap() error { return e.Err }

// EnvSettings is the layer of the environment's PYCONTAINER_* variables.
func EnvSettings(getenv func(string) string) (Settings, error) {
	s := Settings{Source: "environment"}
	for _, st := range settingsTable {
		text := getenv(st.env)
		if text == "" {
			continue
		}
		v, err := st.parseText(text)
		if err != nil {
			return s, fmt.Errorf("%s: %w", st.env, err)
		}
		st.set(&s, v)
	}
	return s, nil
}

// Merge overlays top on base: every setting top sets wins; maps merge key by key.
func Merge(base, top Settings) Settings {
	out := base
	for _, st := range settingsTable {
		st.copyTo(&out, top)
	}
	return out
}
