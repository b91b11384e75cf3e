package build

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	digest "github.com/opencontainers/go-digest"

	"github.com/pycontainer/pycontainer/internal/cmdenv"
	"github.com/pycontainer/pycontainer/oci"
	"github.com/pycontainer/pycontainer/registry"
)

// Options is everything a build needs, resolved from defaults, pyproject.toml,
// pycontainer.toml and flags.
type Options struct {
	Context    string
	Output     string
	Tag        string
	BaseImage  string
	BaseSource string // where BaseImage came from
	// BaseDigest pins BaseImage to the index with this digest: the one the app showed,
	// so a tag that moves between browsing and building does not change the base.
	BaseDigest  digest.Digest
	Platforms   []RequestedPlatform
	IncludeDeps bool
	Push        bool
	// Reproducible fixes timestamps (SOURCE_DATE_EPOCH or the base image's creation
	// time) so equal inputs give equal bytes.
	Reproducible bool
	// Created overrides the timestamp of a reproducible build (SOURCE_DATE_EPOCH).
	Created     *time.Time
	Workdir     string
	Entrypoint  []string
	Cmd         []string
	User        string
	Ports       []string
	Env         map[string]string
	Labels      map[string]string
	RegistryURL string
	Insecure    []string
	// InsecureBase reaches the base image's registry over plain HTTP.
	InsecureBase bool
	Mirrors      map[string]string
	DryRun       bool
	// KeepGoing lets the other platforms finish when one fails (the index is still only
	// written when all succeed), so an interactive user can retry the failed one.
	KeepGoing bool
	// NoCache bypasses the shared content cache; CacheDir is where it lives and
	// CacheMaxBytes bounds it (least recently used blobs go first).
	NoCache       bool
	CacheDir      string
	CacheMaxBytes int64
	// StallTimeout cuts off a blob download that receives nothing for this long
	// (PYCONTAINER_STALL_TIMEOUT, default one minute).
	StallTimeout time.Duration
	// Pull says when to ask the registry where the base tag points: always (default),
	// missing or never (offline, from the cache).
	Pull string
	// Deps are the pip options for --include-deps.
	Deps DepsOptions
	// BuilderImage is where --allow-sdist compiles sdists; "" is the base image's full
	// sibling (builderFor).
	BuilderImage string
	// SdistCompiler picks where sdists compile: "" or auto asks the sandbox, docker and
	// podman in that order; sandbox, docker or podman asks only that one.
	SdistCompiler string
	// Progress is how the build is shown (auto, plain or json) and Verbose whether in
	// detail: the command's renderer reads them.
	Progress string
	Verbose  bool
	// Strict turns what the post-build check finds (binaries of another architecture, a
	// host virtualenv) from warnings into an error that keeps the previous image.
	Strict bool

	Project  Project
	Warnings []string // configuration warnings, reported when the build starts
	// Process is the environment pip and the credential lookups see, the working
	// directory and the clock: the command's, the process's own when zero.
	Process cmdenv.Env
}

// RequestedPlatform is a platform the user asked for, with the raw text and its origin.
type RequestedPlatform = registry.PlatformRequest

// Request is a build the terminal app asks for: the base image the user browsed, pinned
// to the index that was on screen, and the platforms picked from it.
type Request struct {
	Base        string        // as typed, e.g. 127.0.0.1:5000/library/python:3.11-slim
	IndexDigest digest.Digest // the index shown; "" builds whatever the tag names then
	Platforms   []RequestedPlatform
}

// For is o building r instead of the base image and platforms it was resolved with.
func (o *Options) For(r Request) *Options {
	c := *o
	if r.Base != o.BaseImage {
		c.BaseSource = "picked in the app"
	}
	c.BaseImage, c.BaseDigest, c.Platforms = r.Base, r.IndexDigest, r.Platforms
	return &c
}

// DefaultCacheMaxBytes bounds the shared cache unless PYCONTAINER_CACHE_MAX_SIZE says otherwise.
const DefaultCacheMaxBytes = 10 << 30

// CacheMaxBytes is the bound PYCONTAINER_CACHE_MAX_SIZE sets on the shared cache, else
// DefaultCacheMaxBytes. 0 means no bound.
func CacheMaxBytes(getenv func(string) string) (int64, error) {
	v := getenv("PYCONTAINER_CACHE_MAX_SIZE")
	if v == "" {
		return DefaultCacheMaxBytes, nil
	}
	n, err := ParseSize(v)
	if err != nil {
		return 0, fmt.Errorf("PYCONTAINER_CACHE_MAX_SIZE: %w", err)
	}
	return n, nil
}

// ParseSize reads a byte size such as 500MB, 10GB or 2GiB.
func ParseSize(s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	units := []struct {
		suffix string
		mult   int64
	}{{"GIB", 1 << 30}, {"MIB", 1 << 20}, {"KIB", 1 << 10}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseFloat(t, 64)
	// ParseFloat also reads "inf", "nan" and 1e30: no size, and no int64 either.
	if err != nil || n < 0 || math.IsNaN(n) || n*float64(mult) >= math.MaxInt64 {
		return 0, fmt.Errorf("%q is not a size such as 500MB or 10GB", s)
	}
	return int64(n * float64(mult)), nil
}

// DefaultPlatform is built when no platform is given anywhere.
const DefaultPlatform = "linux/amd64"

func mergeMaps(a, b map[string]string) map[string]string {
	if a == nil && b == nil {
		return nil
	}
	out := maps.Clone(a)
	if out == nil {
		out = map[string]string{}
	}
	maps.Copy(out, b)
	return out
}

// Inputs are what a command line hands to Resolve.
type Inputs struct {
	ConfigPath string // --config; empty takes PYCONTAINER_CONFIG, else pycontainer.toml in the context
	Flags      Settings
	// Process is the environment, working directory and clock of the command; the zero
	// value is this process's own. Relative paths typed or exported are read against
	// its directory.
	Process cmdenv.Env
	// Lenient turns a project file that cannot be read (broken TOML, a wrong type) into a
	// warning, its settings left out: for commands that need the registry settings at
	// most (platforms, the app's start, completion), not the project.
	Lenient bool
}

// Resolve layers defaults < pyproject [tool.pycontainer] < pycontainer.toml <
// environment (PYCONTAINER_*) < flags, setting by setting.
func Resolve(in Inputs) (*Options, error) {
	l, err := loadLayers(in)
	if err != nil {
		return nil, err
	}
	o := l.options()
	if err := l.resolveImage(o); err != nil {
		return nil, err
	}
	o.Process = in.Process
	if err := resolveEnvironment(o, in.Process.Getenv); err != nil {
		return nil, err
	}
	return o, nil
}

// layers are the settings of every layer a build reads, and what reading them found.
type layers struct {
	flags, env, file, pyproject Settings
	merged                      Settings
	context                     string
	process                     cmdenv.Env
	project                     Project
	warnings                    []string
}

// loadLayers reads the environment and the project's files: pycontainer.toml (or
// --config), then pyproject.toml in the context, which that file may move.
func loadLayers(in Inputs) (*layers, error) {
	l := &layers{flags: in.Flags, process: in.Process}
	var err error
	if l.env, err = EnvSettings(in.Process.Getenv); err != nil {
		return nil, err
	}
	// The user's own layers: what they typed or exported, their paths read against the
	// working directory. The project's files may not name paths outside the project;
	// these may.
	user := Merge(l.env, in.Flags)
	mapPaths(&user, in.Process.Path)
	lenient := func(err error) error {
		var ce *ConfigError
		if in.Lenient && errors.As(err, &ce) {
			l.warnings = append(l.warnings, err.Error()+" (its settings are left out)")
			return nil
		}
		return err
	}
	// The project is the directory named on the command line (--context), else the
	// current one. A cloned repository's files must not choose what goes into the image
	// or where the build writes (and collects garbage): their paths stay inside it.
	root := cmp.Or(in.Process.Dir, ".")
	if user.Context != nil {
		root = *user.Context
	}
	configPath := in.Process.Path(cmp.Or(in.ConfigPath, in.Process.Getenv("PYCONTAINER_CONFIG")))
	if configPath == "" {
		// Anything by that name: a FIFO or a device is refused by name, not skipped.
		if candidate := filepath.Join(root, "pycontainer.toml"); pathExists(candidate) {
			configPath = candidate
		}
	}
	if configPath != "" {
		s, w, err := loadConfigFile(configPath, in.Process.Rel(configPath))
		l.warnings = append(l.warnings, w...)
		if err = lenient(err); err != nil {
			return nil, err
		}
		l.file = s
	}
	// The context may itself come from the config file; pyproject.toml lives there.
	l.context = root
	if user.Context == nil && l.file.Context != nil {
		if err := confinePath(root, "context", in.Process.Path, l.file); err != nil {
			return nil, err
		}
		l.context = in.Process.Path(*l.file.Context)
	}
	if l.context, err = checkContext(l.context, in.Process.Rel); err != nil {
		return nil, err
	}
	project, py, w, err := loadProject(l.context, in.Process.Rel(l.context))
	l.warnings = append(l.warnings, w...)
	if err = lenient(err); err != nil {
		return nil, err
	}
	l.project, l.pyproject = project, py
	for _, p := range user.paths() {
		if p.key == "context" || p.val != nil {
			continue
		}
		if err := confinePath(root, p.key, in.Process.Path, l.file, l.pyproject); err != nil {
			return nil, err
		}
	}
	mapPaths(&l.file, in.Process.Path)
	mapPaths(&l.pyproject, in.Process.Path)
	l.merged = Merge(Merge(l.pyproject, l.file), user)
	return l, nil
}

func pathExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// checkContext is the build context as the build walks it: a directory, a symlink to
// one resolved (walking the link would list the link alone and build an empty app
// layer), its ignore files regular (a FIFO would block the walk for good).
func checkContext(context string, shown func(string) string) (string, error) {
	if fi, err := os.Stat(context); err != nil || !fi.IsDir() {
		return "", fmt.Errorf("build context %q is not a directory: pass --context DIR with your project's directory", shown(context))
	}
	if fi, err := os.Lstat(context); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		if context, err = filepath.EvalSymlinks(context); err != nil {
			return "", fmt.Errorf("build context: %w", err)
		}
	}
	if err := checkProjectFiles(context, ".containerignore", ".dockerignore"); err != nil {
		return "", err
	}
	return context, nil
}

// options are the merged settings over the defaults.
func (l *layers) options() *Options {
	s := l.merged
	o := &Options{
		Context: l.context, Output: l.process.Path("dist/image"), Reproducible: true, Workdir: "/app", Pull: "always", Progress: "auto",
		Project: l.project, Warnings: l.warnings,
		Env: s.Env, Labels: s.Labels, Mirrors: s.Mirrors, Insecure: s.Insecure, Entrypoint: s.Entrypoint, Cmd: s.Cmd, Ports: s.Ports,
		Deps: DepsOptions{ExtraIndexURLs: s.ExtraIndexURLs, FindLinks: s.FindLinks},
	}
	for _, v := range []struct {
		dst *string
		src *string
	}{
		{&o.Tag, s.Tag}, {&o.Output, s.Output}, {&o.Workdir, s.Workdir}, {&o.User, s.User}, {&o.RegistryURL, s.RegistryURL},
		{&o.Pull, s.Pull}, {&o.Progress, s.Progress}, {&o.BuilderImage, s.BuilderImage}, {&o.SdistCompiler, s.SdistCompiler}, {&o.Deps.Requirements, s.Requirements}, {&o.Deps.IndexURL, s.IndexURL},
	} {
		if v.src != nil {
			*v.dst = *v.src
		}
	}
	for _, v := range []struct {
		dst *bool
		src *bool
	}{
		{&o.IncludeDeps, s.IncludeDeps}, {&o.Push, s.Push}, {&o.Reproducible, s.Reproducible}, {&o.DryRun, s.DryRun},
		{&o.NoCache, s.NoCache}, {&o.Strict, s.Strict}, {&o.InsecureBase, s.InsecureBase}, {&o.Verbose, s.Verbose},
		{&o.Deps.NoIndex, s.NoIndex}, {&o.Deps.AllowSdist, s.AllowSdist},
	} {
		if v.src != nil {
			*v.dst = *v.src
		}
	}
	return o
}

// source names where setting key came from.
func (l *layers) source(key string) string {
	return sourceOf(key, l.flags, l.env, l.file, l.pyproject)
}

// resolveImage checks the workdir and requirements and picks the base image and the
// platforms, each with where it came from.
func (l *layers) resolveImage(o *Options) error {
	s := l.merged
	if !strings.HasPrefix(o.Workdir, "/") {
		return fmt.Errorf("workdir %q (from %s) must be an absolute path in the image, e.g. /app", o.Workdir, l.source("workdir"))
	}
	if o.IncludeDeps {
		if err := checkProjectFiles(o.Context, "requirements.txt"); err != nil {
			return err
		}
	}
	o.BaseImage, o.BaseSource = DefaultPythonBase(l.project.RequiresPython), "default"
	switch {
	case s.BaseImage != nil && *s.BaseImage != "":
		o.BaseImage, o.BaseSource = *s.BaseImage, l.source("base_image")
	case l.project.RequiresPython != "":
		o.BaseSource = fmt.Sprintf("default for requires-python %q", l.project.RequiresPython)
	}
	raw, source := s.Platforms, l.source("platform")
	if len(raw) == 0 {
		raw, source = []string{DefaultPlatform}, "default"
	}
	seen := map[string]bool{}
	for _, r := range SplitList(raw) {
		p, err := oci.ParsePlatform(r)
		if err != nil {
			return err
		}
		if key := oci.PlatformString(p); !seen[key] {
			seen[key] = true
			o.Platforms = append(o.Platforms, RequestedPlatform{Platform: p, Raw: r, Source: source})
		}
	}
	return nil
}

// resolveEnvironment reads what the environment says beyond the settings: the cache,
// the stall timeout, SOURCE_DATE_EPOCH.
func resolveEnvironment(o *Options, getenv func(string) string) error {
	var err error
	if o.CacheDir, err = oci.DefaultStoreDir(getenv); err != nil {
		o.CacheDir = "" // no cache directory: build without the cache
	}
	if o.CacheMaxBytes, err = CacheMaxBytes(getenv); err != nil {
		return err
	}
	if v := getenv("PYCONTAINER_STALL_TIMEOUT"); v != "" {
		if o.StallTimeout, err = time.ParseDuration(v); err != nil {
			return fmt.Errorf("PYCONTAINER_STALL_TIMEOUT=%q is not a duration such as 30s", v)
		}
	}
	if epoch := getenv("SOURCE_DATE_EPOCH"); epoch != "" {
		secs, err := strconv.ParseInt(epoch, 10, 64)
		if err != nil {
			return fmt.Errorf("SOURCE_DATE_EPOCH=%q is not a number of seconds since 1970", epoch)
		}
		t := time.Unix(secs, 0).UTC()
		o.Created = &t
	}
	return nil
}

// confinePath checks the path setting key where the first of layers that sets it (the
// highest precedence first) names it: it must lead, symlinks followed, into root. The
// layers hold paths as written; resolve reads one against the working directory.
func confinePath(root, key string, resolve func(string) string, layers ...Settings) error {
	for _, l := range layers {
		for _, p := range l.paths() {
			if p.key != key || p.val == nil {
				continue
			}
			ok, real, err := insideRoot(root, resolve(*p.val))
			if err != nil {
				return fmt.Errorf("%s: %s %q: %w", l.Source, key, *p.val, err)
			}
			if ok {
				return nil
			}
			realRoot, _ := realPath(root)
			leads := " is"
			if real != *p.val {
				leads = " leads to " + real + ","
			}
			return &ConfigError{File: l.Source, Msg: fmt.Sprintf("%s %q%s outside the project %s: a project's own files may only name paths inside it; pass %s on the command line to use it",
				key, *p.val, leads, realRoot, p.flag)}
		}
	}
	return nil
}

// shown is the path p as messages show it: relative to the command's working
// directory when inside it, as the user wrote it.
func (o *Options) shown(p string) string { return o.Process.Rel(p) }

// ContextDir is the directory the app layer is read from, absolute and with symlinks
// resolved, for the plan: what goes into the image should never be a guess.
func (o *Options) ContextDir() string {
	if p, err := realPath(o.Context); err == nil {
		return p
	}
	return o.Context
}

// sourceOf names where a setting (by its key) came from: its flag when the user typed
// it, else the first of layers (highest precedence first) that sets it.
func sourceOf(key string, flags Settings, layers ...Settings) string {
	for i, l := range append([]Settings{flags}, layers...) {
		for _, st := range settingsTable {
			if st.key != key || !st.isSet(&l) {
				continue
			}
			if i == 0 {
				return st.name() + " flag"
			}
			return l.Source
		}
	}
	return "default"
}

// SplitList splits comma-separated entries ("linux/amd64,linux/arm64") and drops blanks.
func SplitList(in []string) []string {
	var out []string
	for _, v := range in {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// parseKeyValues parses KEY=VALUE entries into a map.
func parseKeyValues(values []string) (map[string]string, error) {
	if len(values) == 0 {
		return nil, nil
	}
	out := map[string]string{}
	for _, kv := range values {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%q: expected KEY=VALUE", kv)
		}
		out[k] = v
	}
	return out, nil
}

// sortedEnv renders an env map as KEY=VALUE entries in key order, for stable configs.
func sortedEnv(env map[string]string) []string {
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, k+"="+env[k])
	}
	return out
}
