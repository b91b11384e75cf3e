package build

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/regclient/regclient/types/ref"

	"github.com/pycontainer/pycontainer/oci"
	"github.com/pycontainer/pycontainer/registry"
)

// compileJob is one sdist to compile for one platform.
type compileJob struct {
	Platform oci.Platform
	Sdist    string          // host path of the .tar.gz / .zip, alone in its directory
	OutDir   string          // host path, empty; the wheel lands here
	Builder  ref.Ref         // pinned by digest (the platform's manifest digest)
	Manifest *registry.Image // the builder's manifest for Platform (layers, config)
	Log      io.Writer       // the compiler's output, line by line
	Blobs    blobSource      // the builder's registry, for a compiler that reads its layers
	Cache    *oci.Store      // the shared cache; nil with --no-cache
}

// compiler is one place sdists compile: the engine-less sandbox, docker or podman.
type compiler interface {
	Name() string                       // as --sdist-compiler names it
	How(p oci.Platform) (string, error) // "native", "emulated", "docker", "podman"; error: unusable here, why
	Compile(ctx context.Context, job compileJob) error
}

// remedy is a compiler's How error that also says, in a few words, what would make the
// compiler usable here: the missing-wheel table's TO BUILD HERE column.
type remedy interface {
	error
	Remedy() string
}

// unusable is a How error with its remedy.
type unusable struct{ why, fix string }

func (u *unusable) Error() string  { return u.why }
func (u *unusable) Remedy() string { return u.fix }

// sdistLogTail is how many lines of a failed compile's log its error shows.
const sdistLogTail = 10

// sdistRounds bounds how often one platform's resolution goes back to pip with newly
// built wheels: a built package may need packages that have no wheel either.
const sdistRounds = 4

// sdists builds wheels from sdists for a build with --allow-sdist: per missing
// package and platform, it fetches the sdist on the host, compiles it in the builder
// image through the first usable compiler, checks the wheel's binaries for the platform
// and caches it.
type sdists struct {
	o         *Options
	sink      Sink
	baseRef   ref.Ref
	source    blobSource // the build's client, for a builder in the base's registry
	connect   func(ref.Ref, *oci.Store) blobSource
	cache     *oci.Store // nil: compiled wheels are not kept
	compilers []compiler
	tmp       string

	mu         sync.Mutex
	builder    *builderImage
	builderErr error
	seq        int // numbers the sdists' directories in tmp
	planned    int // compiles a dry run left to a build
}

// dryRunPlanned says whether a dry run left a compile to the build.
func (s *sdists) dryRunPlanned() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.planned > 0
}

// resolveBuilder reads the builder image's index once, the first time a package needs
// compiling: a build whose wheels all exist asks nothing of it.
func (s *sdists) resolveBuilder(ctx context.Context) (*builderImage, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.builder != nil || s.builderErr != nil {
		return s.builder, s.builderErr
	}
	r, err := builderFor(s.o.BuilderImage, s.baseRef)
	if err != nil {
		s.builderErr = err
		return nil, err
	}
	// One client per build: the base's reaches the sibling, in the same registry; a
	// builder elsewhere needs its own registry's settings and login.
	source := s.source
	if r.Registry != s.baseRef.Registry {
		source = s.connect(r, s.cache)
	}
	ix, err := source.Index(ctx, r)
	if err != nil {
		s.builderErr = fmt.Errorf("builder image %s: %w", r.CommonName(), err)
		return nil, s.builderErr
	}
	s.builder = &builderImage{ref: r, index: ix, source: source}
	return s.builder, nil
}

// pinnedBuilder is the builder the build resolved, for the plan; nil when none was.
func (s *sdists) pinnedBuilder() *builderImage {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.builder
}

// resolve takes over a platform's resolution that left packages without a wheel: it
// builds each (or finds it built before), then has pip resolve again with the built
// wheels beside the others, until nothing is missing. It returns the failures no
// compiler here can build, each saying what would make it buildable.
func (s *sdists) resolve(ctx context.Context, reqFile string, p oci.Platform, py, baseTag, dir string, fails []WheelFailure) ([]wheel, []WheelFailure, error) {
	built := dir + "-built"
	if err := os.MkdirAll(built, 0o755); err != nil {
		return nil, nil, err
	}
	tried := map[string]bool{}
	for round := 1; ; round++ {
		var unbuildable []WheelFailure
		for _, f := range dedupe(fails) {
			if tried[f.Package] {
				return nil, nil, fmt.Errorf("pip took no wheel of %s for %s though one was built from its sdist: its tags do not fit the platform", f.Package, f.Platform)
			}
			tried[f.Package] = true
			left, err := s.wheelFor(ctx, p, f, built)
			if err != nil {
				return nil, nil, err
			}
			if left != nil {
				unbuildable = append(unbuildable, *left)
			}
		}
		if len(unbuildable) > 0 {
			return nil, unbuildable, nil
		}
		if s.dryRunPlanned() {
			return nil, nil, nil // the wheels to come are not built; the dry run has said so
		}
		if round > sdistRounds {
			return nil, nil, fmt.Errorf("%s: packages built from source kept needing more packages without wheels (%d rounds); build wheels for them first", oci.PlatformString(p), sdistRounds)
		}
		o := *s.o
		o.Deps.builtWheels = built
		next := fmt.Sprintf("%s-round%d", dir, round)
		if err := os.MkdirAll(next, 0o755); err != nil {
			return nil, nil, err
		}
		wheels, more, err := downloadAll(ctx, &o, reqFile, p, py, baseTag, next)
		if err != nil || len(more) == 0 {
			return wheels, nil, err
		}
		fails = more
	}
}

// dedupe drops repeated failures of one package (downloadAll asks again after a
// package it cannot drop from the requirements, a dependency of another).
func dedupe(fails []WheelFailure) []WheelFailure {
	seen := map[string]bool{}
	return slices.DeleteFunc(slices.Clone(fails), func(f WheelFailure) bool {
		dup := seen[f.Package]
		seen[f.Package] = true
		return dup
	})
}

// wheelFor puts a wheel of failure f's package for platform p into built: the one an
// earlier build compiled, from the cache, else one compiled now. When no compiler can
// run here it returns f, its BuildHere saying what would make one.
func (s *sdists) wheelFor(ctx context.Context, p oci.Platform, f WheelFailure, built string) (*WheelFailure, error) {
	plat := oci.PlatformString(p)
	b, err := s.resolveBuilder(ctx)
	if err != nil {
		return nil, err
	}
	img, pinned, err := b.image(ctx, p)
	if err != nil {
		return nil, err
	}
	in, err := s.workDir("sdist")
	if err != nil {
		return nil, err
	}
	sdist, err := s.fetchSdist(ctx, f.Package, f.Python, in)
	if err != nil {
		return nil, err
	}
	name, version := sdistName(filepath.Base(sdist))
	sum, err := fileSHA256(sdist)
	if err != nil {
		return nil, err
	}
	keyDir := ""
	if s.cache != nil {
		keyDir = filepath.Join(s.cache.Dir(), "built-wheels", sum, strings.ReplaceAll(plat, "/", "-"), img.Descriptor.Digest.Encoded())
		if whl, ok := cachedWheel(keyDir); ok {
			if err := linkOrCopy(whl, filepath.Join(built, filepath.Base(whl))); err != nil {
				return nil, err
			}
			s.sink(SdistCompiled{Platform: plat, Package: name, Wheel: filepath.Base(whl), Cached: true})
			return nil, nil
		}
	}
	c, how, why := s.pick(p)
	if c == nil {
		f.BuildHere = why
		return &f, nil
	}
	if s.o.DryRun {
		// A dry run resolves; it compiles nothing (that may take minutes) and says so.
		s.sink(Warning{Message: fmt.Sprintf("dry run: %s %s has no wheel for %s; a build compiles it from its sdist (%s) in %s", name, version, plat, how, b.ref.CommonName())})
		s.mu.Lock()
		s.planned++
		s.mu.Unlock()
		return nil, nil
	}
	out, err := s.workDir("wheel")
	if err != nil {
		return nil, err
	}
	s.sink(SdistCompiling{Platform: plat, Package: name, Version: version, How: how, Builder: b.ref.CommonName()})
	start := time.Now()
	if err := s.compile(ctx, c, how, compileJob{Platform: p, Sdist: sdist, OutDir: out, Builder: pinned, Manifest: img, Blobs: b.source, Cache: s.cache}, name, version); err != nil {
		return nil, err
	}
	whl, err := builtWheel(out, name, plat)
	if err != nil {
		return nil, err
	}
	if err := verifyWheel(whl, p); err != nil {
		return nil, err
	}
	if keyDir != "" {
		if whl, err = cacheWheel(whl, keyDir); err != nil {
			return nil, err
		}
	}
	if err := linkOrCopy(whl, filepath.Join(built, filepath.Base(whl))); err != nil {
		return nil, err
	}
	s.sink(SdistCompiled{Platform: plat, Package: name, Wheel: filepath.Base(whl), Elapsed: time.Since(start)})
	return nil, nil
}

// pick is the first compiler usable for p and how it runs there; with none, what would
// make one usable, each compiler's remedy once.
func (s *sdists) pick(p oci.Platform) (compiler, string, string) {
	var fixes []string
	for _, c := range s.compilers {
		how, err := c.How(p)
		if err == nil {
			return c, how, ""
		}
		fix := err.Error()
		if r, ok := errors.AsType[remedy](err); ok && r.Remedy() != "" {
			fix = r.Remedy()
		}
		if !slices.Contains(fixes, fix) {
			fixes = append(fixes, fix)
		}
	}
	if len(fixes) == 0 {
		return nil, "", "no compiler is set up"
	}
	return nil, "", strings.Join(fixes, "; or ")
}

// why lists each compiler's reason it cannot run p here, for the missing-wheel table.
func (s *sdists) why(p oci.Platform) []string {
	var out []string
	for _, c := range s.compilers {
		if _, err := c.How(p); err != nil {
			out = append(out, err.Error())
		}
	}
	return out
}

// workDir is a new directory in the build's temporary directory.
func (s *sdists) workDir(kind string) (string, error) {
	s.mu.Lock()
	s.seq++
	n := s.seq
	s.mu.Unlock()
	dir := filepath.Join(s.tmp, fmt.Sprintf("%s-%d", kind, n))
	return dir, os.MkdirAll(dir, 0o755)
}

// compile runs job on c, its output into a log file under the cache directory, with
// progress events while it runs. A failed compile keeps the log and names it.
func (s *sdists) compile(ctx context.Context, c compiler, how string, job compileJob, name, version string) error {
	plat := oci.PlatformString(job.Platform)
	logDir := filepath.Join(s.o.CacheDir, "sdist-logs")
	if s.o.CacheDir == "" {
		logDir = filepath.Join(os.TempDir(), "pycontainer-sdist-logs")
	}
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return fmt.Errorf("compile %s for %s: %w", name, plat, err)
	}
	logPath := filepath.Join(logDir, fmt.Sprintf("%s-%s-%s.log", name, strings.ReplaceAll(plat, "/", "-"), time.Now().UTC().Format("20060102T150405.000000000")))
	logFile, err := os.Create(logPath)
	if err != nil {
		return fmt.Errorf("compile %s for %s: %w", name, plat, err)
	}
	tail := &lineTail{}
	job.Log = &lockedWriter{w: io.MultiWriter(logFile, tail)}
	start := time.Now()
	stop := s.reportProgress(plat, name, start, tail)
	err = c.Compile(ctx, job)
	stop()
	if cerr := logFile.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err == nil {
		os.Remove(logPath) // the wheel is what a success leaves
		return nil
	}
	if ctx.Err() != nil {
		os.Remove(logPath)
		return fmt.Errorf("compiling %s for %s: %w", name, plat, context.Cause(ctx))
	}
	return &CompileError{Package: name, Version: version, Platform: plat, How: how, Log: logPath, Tail: logTail(logPath, sdistLogTail), Err: err}
}

// sdistProgressInterval spaces progress events: at most four a second.
const sdistProgressInterval = 250 * time.Millisecond

// reportProgress sends SdistProgressed while a compile runs: when its last line
// changes, and at least every second for the time. The returned stop waits until no
// more are sent.
func (s *sdists) reportProgress(plat, name string, start time.Time, tail *lineTail) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(sdistProgressInterval)
		defer t.Stop()
		var shown string
		var lastSent time.Time
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				line := tail.last()
				if line == shown && now.Sub(lastSent) < time.Second {
					continue
				}
				shown, lastSent = line, now
				s.sink(SdistProgressed{Platform: plat, Package: name, Elapsed: now.Sub(start).Round(100 * time.Millisecond), LastLine: line})
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// CompileError is a package that failed to compile from its sdist for a platform. Its
// log is kept, at Log.
type CompileError struct {
	Package, Version, Platform, How string
	Log                             string
	Tail                            []string // the log's last lines
	Err                             error
}

func (e *CompileError) Error() string {
	return fmt.Sprintf("compiling %s %s from source for %s (%s) failed: %v; its log is kept at %s; nothing was built", e.Package, e.Version, e.Platform, e.How, e.Err, e.Log)
}

func (e *CompileError) Unwrap() error { return e.Err }

// Detail is the end of the compile's log.
func (e *CompileError) Detail() string {
	if len(e.Tail) == 0 {
		return "  the log is empty"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "  the last %d lines of the log:\n", len(e.Tail))
	for i, l := range e.Tail {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString("    " + l)
	}
	return b.String()
}

// logTail is the last n lines of the file at p; it reads the end only, a compile's log
// may be long.
func logTail(p string, n int) []string {
	f, err := os.Open(p)
	if err != nil {
		return nil
	}
	defer f.Close()
	const window = 64 << 10
	if fi, err := f.Stat(); err == nil && fi.Size() > window {
		f.Seek(fi.Size()-window, io.SeekStart)
	}
	b, _ := io.ReadAll(io.LimitReader(f, window))
	lines := strings.Split(strings.TrimRight(strings.ReplaceAll(string(b), "\r", "\n"), "\n"), "\n")
	lines = slices.DeleteFunc(lines, func(l string) bool { return strings.TrimSpace(l) == "" })
	return lines[max(len(lines)-n, 0):]
}

// lineTail remembers the last complete, non-blank line written to it.
type lineTail struct {
	mu      sync.Mutex
	partial []byte
	line    string
}

func (t *lineTail) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.partial = append(t.partial, b...)
	for {
		i := bytes.IndexAny(t.partial, "\r\n")
		if i < 0 {
			break
		}
		if l := strings.TrimSpace(string(t.partial[:i])); l != "" {
			t.line = l
		}
		t.partial = t.partial[i+1:]
	}
	if len(t.partial) > 4096 { // a line without an end: keep its start
		t.line, t.partial = strings.TrimSpace(string(t.partial[:4096])), nil
	}
	return len(b), nil
}

func (t *lineTail) last() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.line
}

// lockedWriter serialises writes: a compiler may hand it to stdout and stderr at once.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// fetchSdist puts the sdist of spec (as pip names a requirement, e.g. fastcalc==1.0)
// alone into dir: from a --find-links directory when one holds a version spec allows,
// else from the build's indexes and --find-links pages, read as the Simple Repository
// API lists them (PEP 503, PEP 691). No code of the package runs on this host: the
// sdist is chosen by its file name and the index's metadata alone, for the target's
// Python py (its requires-python), and checked against the index's hash.
func (s *sdists) fetchSdist(ctx context.Context, spec, py, dir string) (string, error) {
	r, err := parseRequirement(spec)
	if err != nil {
		return "", err
	}
	if p := s.localSdist(r); p != "" {
		dst := filepath.Join(dir, filepath.Base(p))
		return dst, linkOrCopy(p, dst)
	}
	return newSdistFinder(s.o.Deps, s.o.Process, py).fetch(ctx, r, dir)
}

// localSdist is the sdist r asks for in the local --find-links directories, chosen as
// from an index's page (the highest version r allows; the first directory's between
// equal versions), or "".
func (s *sdists) localSdist(r requirement) string {
	var files []pageFile
	for _, fl := range sdistFindLinks(s.o.Deps, s.o.Process) {
		dir := fl
		if u, err := url.Parse(fl); err == nil && u.Scheme == "file" {
			dir = u.Path
		} else if err == nil && u.Scheme != "" && len(u.Scheme) > 1 {
			continue // a page: the finder reads it
		}
		dir = s.o.Process.Path(dir)
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range entries {
			if isSdist(e.Name()) && e.Type().IsRegular() {
				files = append(files, pageFile{name: e.Name(), url: &url.URL{Path: filepath.Join(dir, e.Name())}})
			}
		}
	}
	if pick, _ := chooseSdist(r, "", files); pick != nil {
		return pick.url.Path
	}
	return ""
}

var nameSeparators = regexp.MustCompile(`[-_.]+`)

// normName is a project name as PEP 503 compares them: fast_calc is Fast.Calc.
func normName(s string) string {
	return strings.ToLower(nameSeparators.ReplaceAllString(s, "-"))
}

func isSdist(name string) bool {
	return strings.HasSuffix(name, ".tar.gz") || strings.HasSuffix(name, ".zip")
}

// sdistName is the project name and version of an sdist's file name NAME-VERSION.tar.gz.
func sdistName(file string) (string, string) {
	stem := strings.TrimSuffix(strings.TrimSuffix(file, ".tar.gz"), ".zip")
	i := strings.LastIndex(stem, "-")
	if i <= 0 {
		return stem, ""
	}
	return stem[:i], stem[i+1:]
}

func fileSHA256(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("read %s: %w", p, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// cachedWheel is the wheel a key directory of the cache holds, if any.
func cachedWheel(keyDir string) (string, bool) {
	entries, err := os.ReadDir(keyDir)
	if err != nil {
		return "", false
	}
	for _, e := range entries {
		if _, ok := parseWheel(e.Name()); ok && e.Type().IsRegular() {
			p := filepath.Join(keyDir, e.Name())
			_ = oci.TouchUsed(p) // used now: cache prune removes the least recently used first
			return p, true
		}
	}
	return "", false
}

// cacheWheel copies the wheel at p into the cache's keyDir, atomically (a temporary
// file renamed into place), so a build that dies midway or runs beside this one never
// sees half a wheel; it returns the cached path.
func cacheWheel(p, keyDir string) (string, error) {
	if err := os.MkdirAll(keyDir, 0o755); err != nil {
		return "", fmt.Errorf("cache the built wheel: %w", err)
	}
	tmp, err := os.CreateTemp(keyDir, ".tmp-*")
	if err != nil {
		return "", fmt.Errorf("cache the built wheel: %w", err)
	}
	defer os.Remove(tmp.Name()) // gone once renamed
	src, err := os.Open(p)
	if err != nil {
		tmp.Close()
		return "", err
	}
	_, err = io.Copy(tmp, src)
	src.Close()
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	dst := filepath.Join(keyDir, filepath.Base(p))
	if err == nil {
		err = os.Rename(tmp.Name(), dst)
	}
	if err != nil {
		return "", fmt.Errorf("cache the built wheel: %w", err)
	}
	return dst, nil
}

// builtWheel is the one wheel of package name a compile left in dir.
func builtWheel(dir, name, plat string) (string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	var found []string
	for _, e := range entries {
		if w, ok := parseWheel(e.Name()); ok && e.Type().IsRegular() && normName(w.Name) == normName(name) {
			found = append(found, filepath.Join(dir, e.Name()))
		}
	}
	if len(found) != 1 {
		return "", fmt.Errorf("compiling %s for %s left %d wheels of it, not one", name, plat, len(found))
	}
	return found[0], nil
}

// verifyWheel checks the binaries of a built wheel with oci's checks of an image's
// files: an ELF file for another machine (a compile that ran on the host, not the
// target), or a Mach-O or PE binary, is refused.
func verifyWheel(p string, plat oci.Platform) error {
	zr, err := zip.OpenReader(p)
	if err != nil {
		return fmt.Errorf("built wheel %s: %w", filepath.Base(p), err)
	}
	defer zr.Close()
	head := make([]byte, oci.HeadSize)
	for _, f := range zr.File {
		if f.FileInfo().IsDir() {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			return fmt.Errorf("built wheel %s: %s: %w", filepath.Base(p), f.Name, err)
		}
		n, _ := io.ReadFull(rc, head)
		rc.Close()
		if !oci.Worth(f.Name, head[:n]) {
			continue
		}
		if problem := oci.CheckFile(plat, f.Name, head[:n]); problem != "" {
			return fmt.Errorf("the wheel built for %s holds %s, %s; refusing it (is the builder image for %s?)", oci.PlatformString(plat), f.Name, problem, oci.PlatformString(plat))
		}
	}
	return nil
}

// linkOrCopy puts src at dst: a hard link when they share a filesystem, else a copy.
func linkOrCopy(src, dst string) error {
	if err := os.Link(src, dst); err == nil || errors.Is(err, os.ErrExist) {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
