package build

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/pycontainer/pycontainer/internal/cmdenv"
	"github.com/pycontainer/pycontainer/oci"
	"github.com/pycontainer/pycontainer/registry"
)

// Where dependencies go in the image: their own prefix, put on PYTHONPATH and PATH, so
// they never mix with the base image's packages and any base interpreter finds them.
const (
	DepsRoot = "/opt/pycontainer"
	DepsSite = DepsRoot + "/site-packages"
	DepsBin  = DepsRoot + "/bin"
)

// DepsOptions are the pip options that pass through to resolution.
type DepsOptions struct {
	Requirements   string   // a requirements file (hashes make pip verify them)
	IndexURL       string   // --index-url
	ExtraIndexURLs []string // --extra-index-url
	FindLinks      []string // --find-links: a wheelhouse directory or page
	NoIndex        bool
	AllowSdist     bool // build packages without a wheel from their sdists, for each platform

	// builtWheels is a directory of wheels built from sdists for the platform resolved:
	// one more --find-links, and the linux_ARCH tag pip wheel gives them accepted.
	builtWheels string
}

// dependencySource says where the project's dependencies are declared: a requirements
// file (the flag's, else requirements.txt), else [project.dependencies]. It returns the
// file to hand pip ("" when none) and a label for messages.
func dependencySource(o *Options, tmp string) (string, string, error) {
	if o.Deps.Requirements != "" {
		if _, err := os.Stat(o.Deps.Requirements); err != nil {
			return "", "", fmt.Errorf("--requirements %s: %w", o.Deps.Requirements, err)
		}
		return o.Deps.Requirements, o.Deps.Requirements, nil
	}
	if p := filepath.Join(o.Context, "requirements.txt"); fileExists(p) {
		return p, "requirements.txt", nil
	}
	if len(o.Project.Dependencies) > 0 {
		p := filepath.Join(tmp, "project-dependencies.txt")
		if err := os.WriteFile(p, []byte(strings.Join(o.Project.Dependencies, "\n")+"\n"), 0o644); err != nil {
			return "", "", err
		}
		return p, "[project.dependencies]", nil
	}
	return "", "", nil
}

func fileExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

// pythonVersion reads the base interpreter's X.Y: PYTHON_VERSION in the config (as the
// official images set it), else the tag (python:3.12-slim).
func pythonVersion(base *registry.Image, baseTag string) (string, error) {
	for _, e := range base.Config.Config.Env {
		if v, ok := strings.CutPrefix(e, "PYTHON_VERSION="); ok {
			if m := majorMinor.FindString(v); m != "" {
				return m, nil
			}
		}
	}
	if m := majorMinor.FindString(baseTag); m != "" {
		return m, nil
	}
	return "", fmt.Errorf("cannot tell the Python version of the base image (no PYTHON_VERSION in its config, no version in its tag)")
}

// wheelArch is each platform's machine name in wheel tags.
var wheelArch = map[string]string{
	"amd64": "x86_64", "arm64": "aarch64", "arm": "armv7l", "386": "i686",
	"ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64",
}

// wheelMachine is p's machine name in wheel tags (x86_64, armv7l), "" when none.
func wheelMachine(p oci.Platform) string {
	arch := wheelArch[p.Architecture]
	if p.Architecture == "arm" && p.Variant != "v7" {
		arch = "armv6l"
	}
	return arch
}

// wheelPlatforms lists the platform tags a target accepts, newest first: manylinux
// (glibc) or musllinux (alpine), down to the oldest tag of the architecture.
func wheelPlatforms(p oci.Platform, baseTag string) ([]string, error) {
	arch := wheelMachine(p)
	if arch == "" || p.OS != "linux" {
		return nil, fmt.Errorf("no Python wheels exist for %s", oci.PlatformString(p))
	}
	if strings.Contains(baseTag, "alpine") {
		return []string{"musllinux_1_2_" + arch, "musllinux_1_1_" + arch}, nil
	}
	glibc := 28 // a base of unknown age: manylinux_2_28 is widely satisfied
	switch {
	case strings.Contains(baseTag, "bullseye"):
		glibc = 31 // Debian 11
	case strings.Contains(baseTag, "bookworm"), strings.Contains(baseTag, "slim"), versionTag.MatchString(baseTag):
		glibc = 36 // Debian 12, what python:X.Y and python:X.Y-slim are built on
	}
	var tags []string
	for v := glibc; v >= 17; v-- {
		tags = append(tags, fmt.Sprintf("manylinux_2_%d_%s", v, arch))
	}
	tags = append(tags, "manylinux2014_"+arch)
	if arch == "x86_64" || arch == "i686" {
		tags = append(tags, "manylinux2010_"+arch, "manylinux1_"+arch)
	}
	if p.Architecture == "arm" {
		tags = append(tags, "linux_"+arch) // piwheels, for Raspberry Pi
	}
	return tags, nil
}

// wheel is one downloaded wheel file.
type wheel struct {
	Path    string
	Name    string // normalised project name
	Version string
	Pure    bool // py3-none-any: the same file for every platform
}

var (
	majorMinor = regexp.MustCompile(`^(\d+)\.(\d+)`)
	versionTag = regexp.MustCompile(`^\d+(\.\d+)*$`) // 3.11, 3.11.9: Debian's default flavour
)

var wheelFile = regexp.MustCompile(`^([^-]+)-([^-]+)(?:-\d[^-]*)?-([^-]+)-([^-]+)-([^-]+)\.whl$`)

func parseWheel(p string) (wheel, bool) {
	m := wheelFile.FindStringSubmatch(filepath.Base(p))
	if m == nil {
		return wheel{}, false
	}
	return wheel{Path: p, Name: strings.ToLower(strings.ReplaceAll(m[1], "_", "-")), Version: m[2], Pure: m[5] == "any"}, true
}

// NoWheelError says which packages have no wheel for which platforms.
type NoWheelError struct {
	Failures []WheelFailure
	Source   string
	// Why, with --allow-sdist, is each compiler's reason it cannot run here.
	Why []string
}

// WheelFailure is one package that pip found no wheel of for one platform.
type WheelFailure struct {
	Platform string
	Package  string
	Versions string // what the index does have, as pip reported it
	Tags     []string
	Python   string
	// BuildHere, with --allow-sdist, says what would let this machine compile the package
	// for the platform (no compiler could run here).
	BuildHere string
}

func (e *NoWheelError) Error() string {
	f := e.Failures[0]
	msg := fmt.Sprintf("no wheel of %s for %s (Python %s)", f.Package, f.Platform, f.Python)
	if len(e.Failures) > 1 {
		msg += fmt.Sprintf(", and %d more package/platform pairs", len(e.Failures)-1)
	}
	return msg + "; nothing was built"
}

// Detail is the table of failures and what to do.
func (e *NoWheelError) Detail() string {
	var b strings.Builder
	fmt.Fprintf(&b, "  dependencies from %s\n", e.Source)
	buildHere := slices.ContainsFunc(e.Failures, func(f WheelFailure) bool { return f.BuildHere != "" })
	if buildHere {
		fmt.Fprintf(&b, "  %-14s %-24s %-40s %s\n", "PLATFORM", "PACKAGE", "INDEX HAS", "TO BUILD HERE")
	} else {
		fmt.Fprintf(&b, "  %-14s %-24s %s\n", "PLATFORM", "PACKAGE", "INDEX HAS")
	}
	for _, f := range e.Failures {
		has := f.Versions
		if has == "" {
			has = "no wheel for these tags"
		}
		if buildHere {
			fmt.Fprintf(&b, "  %-14s %-24s %-40s %s\n", f.Platform, f.Package, has, f.BuildHere)
		} else {
			fmt.Fprintf(&b, "  %-14s %-24s %s\n", f.Platform, f.Package, has)
		}
	}
	f := e.Failures[0]
	if len(f.Tags) > 0 {
		fmt.Fprintf(&b, "  looked for    cp%s/abi3/none wheels tagged %s … %s\n", strings.ReplaceAll(f.Python, ".", ""), f.Tags[0], f.Tags[len(f.Tags)-1])
	}
	if buildHere {
		for i, why := range e.Why {
			label := "no compiler  "
			if i > 0 {
				label = "             "
			}
			fmt.Fprintf(&b, "  %s %s\n", label, why)
		}
		b.WriteString("  what to do    make one of TO BUILD HERE so, and build again: the sdists compile for each platform;\n")
		b.WriteString("                or pin a version that ships a wheel for the platform;\n")
		b.WriteString("                or drop the platform from --platform")
		return b.String()
	}
	b.WriteString("  what to do    pin a version that ships a wheel for the platform;\n")
	b.WriteString("                or --allow-sdist to build it from source, for the platform, in the builder image;\n")
	b.WriteString("                or drop the platform from --platform")
	return b.String()
}

var (
	pipNoMatch  = regexp.MustCompile(`No matching distribution found for ([^\s]+)`)
	pipVersions = regexp.MustCompile(`satisfies the requirement ([^\s]+) \(from versions: ([^)]*)\)`)
)

// pipCommand is how pip is run: PYCONTAINER_PIP (e.g. "uv pip" is not accepted: it has
// no download), else python3 -m pip.
func pipCommand(getenv func(string) string) []string {
	if p := getenv("PYCONTAINER_PIP"); p != "" {
		return strings.Fields(p)
	}
	return []string{"python3", "-m", "pip"}
}

// downloadWheels has pip download, on this host, the wheels reqFile needs on platform p
// with Python version py. No code of the packages runs.
func downloadWheels(ctx context.Context, o *Options, reqFile string, p oci.Platform, py, baseTag, dir string) ([]wheel, *WheelFailure, error) {
	tags, err := wheelPlatforms(p, baseTag)
	if err != nil {
		return nil, nil, err
	}
	if o.Deps.builtWheels != "" {
		// A wheel compiled in the builder is tagged linux_ARCH, as pip wheel tags what
		// auditwheel has not repaired; it is the platform's own, so it fits.
		if own := "linux_" + wheelMachine(p); !slices.Contains(tags, own) {
			tags = append(tags, own)
		}
	}
	pip := pipCommand(o.Process.Getenv)
	args, env := pipDownloadArgs(o.Deps, o.Process, pip[1:], reqFile, p, py, tags, dir)
	// pip's own temporary files (and those of the build backends it runs) go inside the
	// build's temporary directory, removed however the build ends.
	pipTmp := dir + ".tmp"
	if err := os.MkdirAll(pipTmp, 0o700); err != nil {
		return nil, nil, err
	}
	defer os.RemoveAll(pipTmp)
	env = append(env, "TMPDIR="+pipTmp)
	cmd := exec.CommandContext(ctx, pip[0], args...)
	cmd.Env, cmd.Dir = env, o.Process.Dir // a relative --find-links is the user's
	killWithChildren(cmd)
	// A child that left pip's process group cannot hold the build open past WaitDelay.
	cmd.WaitDelay = pipWaitDelay
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return nil, nil, fmt.Errorf("--include-deps needs pip on this machine (%s): install Python 3 with pip, or set PYCONTAINER_PIP", strings.Join(pip, " "))
		}
		f, err := pipFailure(ctx, o.Deps, p, py, tags, stderr.String())
		return nil, f, err
	}
	wheels, err := readWheels(dir)
	return wheels, nil, err
}

// pipDownloadArgs are the arguments (after pip's own command) and the environment of
// `pip download` of reqFile's wheels for platform p, Python py, into dir.
func pipDownloadArgs(d DepsOptions, process cmdenv.Env, pip []string, reqFile string, p oci.Platform, py string, tags []string, dir string) (args, env []string) {
	abi := "cp" + strings.ReplaceAll(py, ".", "")
	args = append(slices.Clone(pip), "download", "--dest", dir, "--disable-pip-version-check", "--progress-bar", "off", "--quiet",
		"--python-version", py, "--implementation", "cp", "--abi", abi, "--abi", "abi3", "--abi", "none")
	// Binary wheels only, on every platform, the host's too: a package without one is
	// built from its sdist for the platform, in the builder image (--allow-sdist), never
	// here with the host's compiler and libraries.
	args = append(args, "--only-binary=:all:")
	for _, t := range tags {
		args = append(args, "--platform", t)
	}
	if d.builtWheels != "" {
		args = append(args, "--find-links", d.builtWheels)
	}
	idx, env := pipIndexOptions(d, process)
	return append(append(args, idx...), "-r", reqFile), env
}

// pipIndexOptions are the arguments and environment that tell pip where packages come
// from: the index URLs, --find-links and --no-index.
func pipIndexOptions(d DepsOptions, process cmdenv.Env) (args, env []string) {
	// Index URLs may hold a token (https://user:TOKEN@host/simple): they go to pip through
	// its environment, which only this user can read, never its argv, which every local
	// user can (ps).
	env = slices.Clone(process.Variables())
	if d.IndexURL != "" {
		env = append(env, "PIP_INDEX_URL="+d.IndexURL)
	}
	env = appendPipList(env, process, "PIP_EXTRA_INDEX_URL", d.ExtraIndexURLs)
	var secretLinks []string
	for _, f := range d.FindLinks {
		if hasUserinfo(f) {
			secretLinks = append(secretLinks, f)
			continue
		}
		args = append(args, "--find-links", f)
	}
	env = appendPipList(env, process, "PIP_FIND_LINKS", secretLinks)
	if d.NoIndex {
		args = append(args, "--no-index")
	}
	return args, env
}

// pipFailure says why pip download for p failed, from what it wrote to stderr: a
// package without a wheel for the platform is a WheelFailure, for the build to report
// with the others; anything else an error.
func pipFailure(ctx context.Context, d DepsOptions, p oci.Platform, py string, tags []string, stderr string) (*WheelFailure, error) {
	if ctx.Err() != nil {
		return nil, fmt.Errorf("pip download for %s: %w", oci.PlatformString(p), context.Cause(ctx))
	}
	// pip says a package has no version at all when it could not reach an index
	// (and, retrying no more, may say nothing else).
	if idx, why, ok := unreachableIndex(ctx, d, stderr); ok {
		return nil, fmt.Errorf("pip could not reach the package index %s for %s (%s): check --index-url, --extra-index-url and the network; nothing was built", idx, oci.PlatformString(p), why)
	}
	if m := pipNoMatch.FindStringSubmatch(stderr); m != nil {
		f := &WheelFailure{Platform: oci.PlatformString(p), Package: m[1], Tags: tags, Python: py}
		if v := pipVersions.FindStringSubmatch(stderr); v != nil && v[2] != "none" {
			f.Versions = "versions " + v[2] + ", none with such a wheel"
		}
		return f, nil
	}
	return nil, fmt.Errorf("pip download for %s failed: %s", oci.PlatformString(p), lastLines(stderr, 3))
}

// readWheels lists the wheels pip downloaded into dir, by name.
func readWheels(dir string) ([]wheel, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var wheels []wheel
	for _, e := range entries {
		if w, ok := parseWheel(filepath.Join(dir, e.Name())); ok {
			wheels = append(wheels, w)
		}
	}
	sort.Slice(wheels, func(i, j int) bool { return wheels[i].Name < wheels[j].Name })
	return wheels, nil
}

// pipWaitDelay bounds how long a cancelled pip's output may keep the build waiting.
const pipWaitDelay = 2 * time.Second

// appendPipList sets pip's list variable name to vals, after any values the
// environment already gives it (as pip adds command-line values to them).
func appendPipList(env []string, process cmdenv.Env, name string, vals []string) []string {
	if len(vals) == 0 {
		return env
	}
	if prev := process.Getenv(name); prev != "" {
		vals = append([]string{prev}, vals...)
	}
	return append(env, name+"="+strings.Join(vals, " "))
}

// hasUserinfo reports whether s is a URL with a user or password in it.
func hasUserinfo(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.User != nil
}

// redactURL is s with any password (or a user alone, which may be a token) masked, for
// messages.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx") // as url.URL.Redacted
	} else {
		u.User = url.User("xxxxx")
	}
	return u.String()
}

// indexDialTimeout bounds the check that an index given on the command line is reachable.
const indexDialTimeout = 5 * time.Second

// unreachableIndex tells, after pip found no version of a package, whether that is
// because it could not reach an index: one given by flag that refuses connections or
// does not resolve, else pip's own words of a broken connection. It returns the index
// (credentials masked) and why.
func unreachableIndex(ctx context.Context, d DepsOptions, pipOut string) (string, string, bool) {
	if !strings.Contains(pipOut, "(from versions: none)") || d.NoIndex {
		return "", "", false // an index answered with versions, or none was asked
	}
	var given []string
	if d.IndexURL != "" {
		given = append(given, d.IndexURL)
	}
	given = append(given, d.ExtraIndexURLs...)
	for _, raw := range given {
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			continue
		}
		port := u.Port()
		if port == "" {
			port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
		}
		dctx, cancel := context.WithTimeout(ctx, indexDialTimeout)
		conn, err := (&net.Dialer{}).DialContext(dctx, "tcp", net.JoinHostPort(u.Hostname(), port))
		cancel()
		if err == nil {
			conn.Close()
			continue
		}
		why := err.Error()
		var sys *os.SyscallError
		var op *net.OpError
		switch {
		case errors.As(err, &sys): // "connect: connection refused": the errno's words alone
			why = sys.Err.Error()
		case errors.As(err, &op): // "lookup host: no such host", without "dial tcp"
			why = op.Err.Error()
		}
		return redactURL(raw), why, true
	}
	if why, ok := pipUnreachable(pipOut); ok {
		names := make([]string, len(given))
		for i, g := range given {
			names[i] = redactURL(g)
		}
		if len(names) == 0 {
			return "(pip's default: PyPI, unless pip.conf or PIP_INDEX_URL name another)", why, true
		}
		return strings.Join(names, ", "), why, true
	}
	return "", "", false
}

var (
	pipConnBroken = regexp.MustCompile(`Failed to establish a new connection: ([^'"]+)|(Read timed out|ConnectTimeoutError|NameResolutionError|SSLError|ProxyError)`)
	pipNoFetch    = regexp.MustCompile(`Could not fetch URL \S+: (.+)`)
)

// pipUnreachable reads in pip's output that it could not reach an index, and why.
func pipUnreachable(out string) (string, bool) {
	if m := pipConnBroken.FindStringSubmatch(out); m != nil {
		why := strings.TrimSpace(m[1] + m[2])
		if _, after, ok := strings.Cut(why, "] "); ok { // [Errno 111] Connection refused
			why = after
		}
		return strings.ToLower(why), true
	}
	if m := pipNoFetch.FindStringSubmatch(out); m != nil {
		return strings.TrimSuffix(strings.TrimSpace(m[1]), " - skipping"), true
	}
	return "", false
}

// downloadAll is downloadWheels that, when a package has no wheel, drops it and tries
// again, so the failure table names every package missing on the platform (pip stops
// at the first). It gives up listing after a few.
func downloadAll(ctx context.Context, o *Options, reqFile string, p oci.Platform, py, baseTag, dir string) ([]wheel, []WheelFailure, error) {
	var fails []WheelFailure
	for range 8 {
		wheels, fail, err := downloadWheels(ctx, o, reqFile, p, py, baseTag, dir)
		if err != nil || fail == nil {
			if len(fails) > 0 {
				return nil, fails, err
			}
			return wheels, nil, err
		}
		fails = append(fails, *fail)
		rest, err := dropRequirement(reqFile, fail.Package, dir)
		if err != nil || rest == "" {
			return nil, fails, err
		}
		reqFile = rest
	}
	return nil, fails, nil
}

var reqName = regexp.MustCompile(`^\s*([A-Za-z0-9][A-Za-z0-9._-]*)`)

// dropRequirement writes a copy of reqFile without the requirement for pkg (as pip
// names it, e.g. foo==1.0); "" when nothing is left to resolve.
func dropRequirement(reqFile, pkg, dir string) (string, error) {
	b, err := os.ReadFile(reqFile)
	if err != nil {
		return "", err
	}
	norm := func(s string) string { return strings.ToLower(strings.NewReplacer("_", "-", ".", "-").Replace(s)) }
	drop := norm(reqName.FindString(pkg))
	var kept []string
	left := 0
	for _, line := range strings.Split(string(b), "\n") {
		if m := reqName.FindStringSubmatch(line); m != nil && norm(m[1]) == drop {
			continue
		}
		if m := reqName.FindStringSubmatch(line); m != nil {
			left++
		}
		kept = append(kept, line)
	}
	if left == 0 {
		return "", nil
	}
	out := filepath.Join(dir, "requirements-without-"+drop+".txt")
	return out, os.WriteFile(out, []byte(strings.Join(kept, "\n")), 0o644)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(len(lines)-n, 0):], " / ")
}

// resolveDeps downloads every platform's wheels before anything is built, so a package
// missing for one platform fails the build with the whole picture.
// With sd (--allow-sdist), a package without a wheel is built from its sdist.
func resolveDeps(ctx context.Context, o *Options, sd *sdists, targets []target, baseTag, tmp string) (map[string][]wheel, string, error) {
	reqFile, source, err := dependencySource(o, tmp)
	if err != nil || reqFile == "" {
		return nil, source, err
	}
	out := make(map[string][]wheel, len(targets))
	failures := make([][]WheelFailure, len(targets))
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(2) // pip is CPU- and network-bound; two at a time suits small machines
	for i, t := range targets {
		g.Go(func() error {
			py, err := pythonVersion(t.base, baseTag)
			if err != nil {
				return fmt.Errorf("%s: %w", t.req, err)
			}
			dir := filepath.Join(tmp, "wheels-"+strings.ReplaceAll(t.req.String(), "/", "-"))
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			wheels, fails, err := downloadAll(gctx, o, reqFile, t.req.Platform, py, baseTag, dir)
			if err == nil && len(fails) > 0 && sd != nil {
				wheels, fails, err = sd.resolve(gctx, reqFile, t.req.Platform, py, baseTag, dir, fails)
			}
			if err != nil {
				return err
			}
			failures[i] = fails
			mu.Lock()
			out[t.req.String()] = wheels
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, source, err
	}
	var fails []WheelFailure
	for _, f := range failures {
		fails = append(fails, f...)
	}
	if len(fails) > 0 {
		e := &NoWheelError{Failures: fails, Source: source}
		if sd != nil {
			p, _ := oci.ParsePlatform(fails[0].Platform)
			e.Why = sd.why(p)
		}
		return nil, source, e
	}
	return out, source, nil
}

// splitShared puts the pure wheels every platform resolved identically into one shared
// set; everything else stays with its platform.
func splitShared(perPlatform map[string][]wheel) (shared []wheel, own map[string][]wheel) {
	count := map[string]int{}
	var first []wheel
	for _, ws := range perPlatform {
		for _, w := range ws {
			if w.Pure {
				count[filepath.Base(w.Path)]++
			}
		}
		if first == nil {
			first = ws
		}
	}
	isShared := func(w wheel) bool { return w.Pure && count[filepath.Base(w.Path)] == len(perPlatform) }
	for _, w := range first {
		if isShared(w) {
			shared = append(shared, w)
		}
	}
	own = map[string][]wheel{}
	for p, ws := range perPlatform {
		own[p] = slices.DeleteFunc(slices.Clone(ws), isShared)
	}
	return shared, own
}

// wheelEntries installs wheels the way pip would, as layer entries: the archive's files
// into site-packages, .data/ scripts and console scripts into bin with a shebang that
// finds the image's python3. Paths that would leave the prefix are refused. The caller
// closes the returned closers after writing the layer.
func wheelEntries(wheels []wheel) ([]layerEntry, []io.Closer, error) {
	files := map[string]layerEntry{}
	var closers []io.Closer
	add := func(e layerEntry) { files[e.Name] = e }
	for _, w := range wheels {
		zr, err := zip.OpenReader(w.Path)
		if err != nil {
			return nil, closers, fmt.Errorf("wheel %s: %w", filepath.Base(w.Path), err)
		}
		closers = append(closers, zr)
		for _, f := range zr.File {
			if f.FileInfo().IsDir() {
				continue
			}
			name := f.Name
			if hasControl(name) {
				return nil, closers, fmt.Errorf("wheel %s: entry %q has a control character in its name; refusing it", filepath.Base(w.Path), name)
			}
			if !safeWheelPath(name) {
				return nil, closers, fmt.Errorf("wheel %s: entry %q leaves the install directory; refusing it", filepath.Base(w.Path), name)
			}
			dest, mode, script, ok := wheelDest(name, f.Mode())
			if !ok {
				continue
			}
			e := layerEntry{Name: dest, Mode: mode, Size: int64(f.UncompressedSize64)}
			e.Open = func() (io.ReadCloser, error) { return f.Open() }
			if script {
				body, err := readZipFile(f)
				if err != nil {
					return nil, closers, err
				}
				body = fixShebang(body)
				e.Size, e.Open = int64(len(body)), bytesOpener(body)
			}
			add(e)
			if strings.HasSuffix(name, ".dist-info/entry_points.txt") {
				body, err := readZipFile(f)
				if err != nil {
					return nil, closers, err
				}
				for _, s := range consoleScripts(body) {
					add(s)
				}
			}
		}
	}
	out, err := withParents(files)
	return out, closers, err
}

// wheelDest is where a wheel's file name goes in the image, with its mode, and whether
// it is a script whose shebang needs fixing; false for what is not installed (headers
// are for compiling, not running).
func wheelDest(name string, zipMode fs.FileMode) (dest string, mode int64, script, ok bool) {
	dest = path.Join(strings.TrimPrefix(DepsSite, "/"), name)
	mode = int64(0o644)
	if zipMode&0o111 != 0 {
		mode = 0o755
	}
	if first, rest, found := strings.Cut(name, "/"); found && strings.HasSuffix(first, ".data") {
		kind, sub, _ := strings.Cut(rest, "/")
		switch kind {
		case "purelib", "platlib":
			dest = path.Join(strings.TrimPrefix(DepsSite, "/"), sub)
		case "scripts":
			dest, mode, script = path.Join(strings.TrimPrefix(DepsBin, "/"), sub), 0o755, true
		case "data":
			dest = path.Join(strings.TrimPrefix(DepsRoot, "/"), sub)
		default:
			return "", 0, false, false
		}
	}
	return dest, mode, script, true
}

// withParents is files with the directories that hold them, so every path has its
// parents with sensible modes, in path order. A path that is both refuses them all.
func withParents(files map[string]layerEntry) ([]layerEntry, error) {
	dirs := map[string]bool{}
	for name := range files {
		for d := path.Dir(name); d != "." && d != "/"; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	var out []layerEntry
	for d := range dirs {
		if _, clash := files[d]; clash {
			return nil, fmt.Errorf("wheels install /%s both as a file and as a directory; refusing them", d)
		}
		out = append(out, layerEntry{Name: d, Dir: true, Mode: 0o755})
	}
	for _, e := range files {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func safeWheelPath(name string) bool {
	if name == "" || strings.HasPrefix(name, "/") || strings.Contains(name, "\\") {
		return false
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return false
		}
	}
	return true
}

// hasControl reports a NUL or other control character, which no file name of a layer
// should hold (tar cannot store a NUL at all).
func hasControl(name string) bool {
	return strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

func readZipFile(f *zip.File) ([]byte, error) {
	rc, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(io.LimitReader(rc, 16<<20))
}

func bytesOpener(b []byte) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
}

// fixShebang points a wheel script's "#!python" at the image's python3.
func fixShebang(body []byte) []byte {
	if !bytes.HasPrefix(body, []byte("#!python")) {
		return body
	}
	_, rest, _ := bytes.Cut(body, []byte("\n"))
	return append([]byte("#!/usr/bin/env python3\n"), rest...)
}

// consoleScripts writes the launchers pip generates for [console_scripts].
func consoleScripts(entryPoints []byte) []layerEntry {
	var out []layerEntry
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(entryPoints))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "[") {
			section = strings.Trim(line, "[]")
			continue
		}
		name, target, ok := strings.Cut(line, "=")
		if section != "console_scripts" || !ok {
			continue
		}
		name, target = strings.TrimSpace(name), strings.TrimSpace(target)
		module, attr, _ := strings.Cut(target, ":")
		attr, _, _ = strings.Cut(strings.TrimSpace(attr), " ")
		if !dottedName.MatchString(strings.TrimSpace(module)) || !dottedName.MatchString(attr) ||
			name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\\") || hasControl(name) {
			continue // not a script a file can be named after and Python can run
		}
		head, _, _ := strings.Cut(attr, ".")
		body := fmt.Sprintf("#!/usr/bin/env python3\nimport re\nimport sys\nfrom %s import %s\nif __name__ == \"__main__\":\n    sys.argv[0] = re.sub(r\"(-script\\.pyw|\\.exe)?$\", \"\", sys.argv[0])\n    sys.exit(%s())\n",
			strings.TrimSpace(module), head, attr)
		out = append(out, layerEntry{Name: path.Join(strings.TrimPrefix(DepsBin, "/"), name), Mode: 0o755, Size: int64(len(body)), Open: bytesOpener([]byte(body))})
	}
	return out
}
