package build

import (
	"archive/zip"
	"context"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/regclient/regclient/types/ref"

	"github.com/pycontainer/pycontainer/internal/cmdenv"
	"github.com/pycontainer/pycontainer/internal/testbase"
	"github.com/pycontainer/pycontainer/oci"
)

// elfSO is the header of a shared object for the architecture arch (as in Go's names).
func elfSO(arch string) []byte {
	machine := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[arch]
	b := make([]byte, 128)
	copy(b, "\x7fELF")
	b[4], b[5], b[6] = byte(elf.ELFCLASS64), byte(elf.ELFDATA2LSB), 1
	binary.LittleEndian.PutUint16(b[16:], uint16(elf.ET_DYN))
	binary.LittleEndian.PutUint16(b[18:], uint16(machine))
	return b
}

// fakeCompiler stands in for the builder: it "compiles" an sdist into a wheel holding a
// shared object for the job's platform (or for soArch, when set), as pip wheel in a
// builder image of that platform would.
type fakeCompiler struct {
	how    string
	unfit  error  // How's error: the compiler cannot run here
	soArch string // the architecture of the .so it writes; "" the job's own
	fail   bool   // write a long log and fail
	block  bool   // run until cancelled
	runs   atomic.Int32
	mu     sync.Mutex
	jobs   []compileJob
	inDir  []int // how many files the sdist's directory held, for each job
}

func (f *fakeCompiler) Name() string { return "fake" }

func (f *fakeCompiler) How(oci.Platform) (string, error) { return f.how, f.unfit }

func (f *fakeCompiler) Compile(ctx context.Context, job compileJob) error {
	f.runs.Add(1)
	f.mu.Lock()
	f.jobs = append(f.jobs, job)
	entries, _ := os.ReadDir(filepath.Dir(job.Sdist))
	f.inDir = append(f.inDir, len(entries))
	f.mu.Unlock()
	if f.block {
		fmt.Fprintln(job.Log, "gcc -shared -o _answer.so answer.o")
		<-ctx.Done()
		return ctx.Err()
	}
	if f.fail {
		for i := 1; i <= 15; i++ {
			fmt.Fprintf(job.Log, "log line %d\n", i)
		}
		return errors.New("exit status 1")
	}
	name, version := sdistName(filepath.Base(job.Sdist))
	arch := cmpOr(f.soArch, job.Platform.Architecture)
	machine := map[string]string{"amd64": "x86_64", "arm64": "aarch64"}[job.Platform.Architecture]
	fmt.Fprintln(job.Log, "running bdist_wheel")
	return writeWheel(filepath.Join(job.OutDir, fmt.Sprintf("%s-%s-cp311-cp311-linux_%s.whl", name, version, machine)), map[string][]byte{
		name + "/__init__.py":                        []byte("from ._answer import answer\n"),
		name + "/_answer.cpython-311.so":             elfSO(arch),
		name + "-" + version + ".dist-info/METADATA": []byte("Metadata-Version: 2.1\nName: " + name + "\nVersion: " + version + "\n"),
		name + "-" + version + ".dist-info/WHEEL":    []byte("Wheel-Version: 1.0\nRoot-Is-Purelib: false\nTag: cp311-cp311-linux_" + machine + "\n"),
	})
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func writeWheel(p string, files map[string][]byte) error {
	f, err := os.Create(p)
	if err != nil {
		return err
	}
	zw := zip.NewWriter(f)
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range files {
			if !yield(k) {
				return
			}
		}
	}) {
		w, err := zw.Create(name)
		if err != nil {
			return err
		}
		w.Write(files[name])
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return f.Close()
}

func needPip(t *testing.T) {
	t.Helper()
	if err := exec.Command("python3", "-m", "pip", "--version").Run(); err != nil {
		t.Skip("python3 -m pip is not available; --include-deps delegates resolution to it")
	}
}

// events collects a build's events.
type events struct {
	mu  sync.Mutex
	all []Event
}

func (e *events) sink(ev Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.all = append(e.all, ev)
}

func eventsOf[T Event](e *events) []T {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []T
	for _, ev := range e.all {
		if t, ok := ev.(T); ok {
			out = append(out, t)
		}
	}
	return out
}

// sdistWorld is a registry holding python:3.11-slim and its builder python:3.11, a
// project needing a pure wheel and fastcalc (an sdist only, in the wheelhouse), and
// options building it for amd64 and arm64 with --allow-sdist, offline.
type sdistWorld struct {
	o          *Options
	builderIdx string // the builder index's digest
	reg        *testbase.Registry
}

func newSdistWorld(t *testing.T, baseTag string) sdistWorld {
	t.Helper()
	needPip(t)
	reg := testbase.Start(t)
	plats := testbase.PythonPlatforms[:2]
	reg.Push(t, testbase.Spec{Repo: "library/python", Tag: baseTag, Platforms: plats})
	builder := reg.Push(t, testbase.Spec{Repo: "library/python", Tag: "3.11", Platforms: plats, PaddingBytes: 1})
	wh := t.TempDir()
	testbase.MakeWheel(t, wh, "purelib", "1.0", "py3-none-any", map[string][]byte{"purelib/__init__.py": []byte("X = 1\n")})
	// Its contents do not matter: the fake compiler reads only its name.
	if err := os.WriteFile(filepath.Join(wh, "fastcalc-1.0.tar.gz"), []byte("not really a tarball"), 0o644); err != nil {
		t.Fatal(err)
	}
	o := memOptions(t, "linux/amd64", "linux/arm64")
	if err := os.WriteFile(filepath.Join(o.Context, "requirements.txt"), []byte("purelib==1.0\nfastcalc==1.0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	o.BaseImage, o.IncludeDeps = reg.Host+"/library/python:"+baseTag, true
	o.CacheDir = filepath.Join(t.TempDir(), "cache")
	o.Deps = DepsOptions{AllowSdist: true, NoIndex: true, FindLinks: []string{wh}}
	o.Process = cmdenv.Env{Environ: []string{"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}}
	return sdistWorld{o: o, builderIdx: builder.String(), reg: reg}
}

func (w sdistWorld) build(ctx context.Context, compilers ...compiler) (*events, error) {
	ev := &events{}
	world := world{connect: func(r ref.Ref, c *oci.Store) blobSource { return w.o.buildClient(r, c) }, clock: time.Now, compilers: compilers}
	return ev, run(ctx, w.o, ev.sink, world)
}

// TestSdistBuild: a package published only as an sdist is compiled for each platform by
// the first usable compiler, in the builder pinned by digest and named in the plan; its
// wheel lands in the image, passes the image's verification, and a second build takes
// it from the cache, compiling nothing.
func TestSdistBuild(t *testing.T) {
	t.Parallel()
	w := newSdistWorld(t, "3.11-slim")
	unfit := &fakeCompiler{unfit: &unusable{why: "sandbox: no user namespaces", fix: "allow user namespaces"}}
	fake := &fakeCompiler{how: "native"}
	ev, err := w.build(context.Background(), unfit, fake)
	if err != nil {
		t.Fatal(err)
	}
	if fake.runs.Load() != 2 || unfit.runs.Load() != 0 {
		t.Errorf("compiles: %d by the usable compiler, %d by the unusable one; want 2 and 0", fake.runs.Load(), unfit.runs.Load())
	}
	plans := eventsOf[PlanReady](ev)
	if len(plans) != 1 || plans[0].Builder != w.reg.Host+"/library/python:3.11" || plans[0].BuilderDigest != w.builderIdx {
		t.Errorf("plan names builder %q@%q, want %s@%s", plans[0].Builder, plans[0].BuilderDigest, w.reg.Host+"/library/python:3.11", w.builderIdx)
	}
	for i, j := range fake.jobs {
		if j.Builder.Digest != j.Manifest.Descriptor.Digest.String() || j.Builder.Tag != "" {
			t.Errorf("%s: the compile ran %s, not the builder pinned to its manifest %s", oci.PlatformString(j.Platform), j.Builder.CommonName(), j.Manifest.Descriptor.Digest)
		}
		if fake.inDir[i] != 1 {
			t.Errorf("the sdist's directory, which the compile sees, holds %d files, not the sdist alone", fake.inDir[i])
		}
	}
	compiling, compiled := eventsOf[SdistCompiling](ev), eventsOf[SdistCompiled](ev)
	if len(compiling) != 2 || len(compiled) != 2 {
		t.Fatalf("%d compiling and %d compiled events, want 2 each", len(compiling), len(compiled))
	}
	for _, c := range compiling {
		if c.Package != "fastcalc" || c.Version != "1.0" || c.How != "native" || c.Builder != w.reg.Host+"/library/python:3.11" {
			t.Errorf("compiling event %+v", c)
		}
	}
	for _, c := range compiled {
		if c.Cached || !strings.HasPrefix(c.Wheel, "fastcalc-1.0-cp311-cp311-linux_") {
			t.Errorf("compiled event %+v", c)
		}
	}
	findings, err := oci.Verify(w.o.Output)
	if err != nil || len(findings) != 0 {
		t.Errorf("the image does not verify: %v %v", findings, err)
	}
	so := 0
	sum := mustInspect(t, w.o.Output)
	for _, img := range sum.Images {
		for _, l := range img.Layers {
			files, _, err := sum.LayerFiles(context.Background(), l, 10000)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range files {
				if f.Path == "opt/pycontainer/site-packages/fastcalc/_answer.cpython-311.so" {
					so++
				}
			}
		}
	}
	if so != 2 {
		t.Errorf("the built extension is in %d images, want 2", so)
	}

	// The app changes: the wheels come from the cache, nothing compiles.
	if err := os.WriteFile(filepath.Join(w.o.Context, "app.py"), []byte("print('v2')\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ev, err = w.build(context.Background(), unfit, fake)
	if err != nil {
		t.Fatal(err)
	}
	if fake.runs.Load() != 2 || len(eventsOf[SdistCompiling](ev)) != 0 {
		t.Errorf("the second build compiled again (%d compiles)", fake.runs.Load())
	}
	for _, c := range eventsOf[SdistCompiled](ev) {
		if !c.Cached {
			t.Errorf("second build: %+v, want it cached", c)
		}
	}
	if n := len(eventsOf[SdistCompiled](ev)); n != 2 {
		t.Errorf("second build: %d compiled events, want 2 (cached)", n)
	}
}

// TestSdistRefused: what a compile gives that cannot go into the image stops the build,
// nothing cached or written: a .so for another architecture; a failed compile, whose
// log is kept and whose last lines the error shows; no compiler that can run here,
// which the missing-wheel table says how to change.
func TestSdistRefused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		compilers []compiler
		check     func(t *testing.T, w sdistWorld, err error)
	}{
		{"a .so of another architecture", []compiler{&fakeCompiler{how: "docker", soArch: "amd64"}}, func(t *testing.T, w sdistWorld, err error) {
			if err == nil || !strings.Contains(err.Error(), "an ELF binary for amd64, not linux/arm64") || !strings.Contains(err.Error(), "refusing it") {
				t.Errorf("error %v, want the wrong architecture refused", err)
			}
		}},
		{"a failed compile", []compiler{&fakeCompiler{how: "podman", fail: true}}, func(t *testing.T, w sdistWorld, err error) {
			var ce *CompileError
			if !errors.As(err, &ce) {
				t.Fatalf("error %v, want a CompileError", err)
			}
			for _, want := range []string{"fastcalc", ce.Platform, "podman", "exit status 1", ce.Log} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
			if dir := filepath.Join(w.o.CacheDir, "sdist-logs"); filepath.Dir(ce.Log) != dir || !strings.HasPrefix(filepath.Base(ce.Log), "fastcalc-linux-") {
				t.Errorf("log at %s, want in %s, named for the package and platform", ce.Log, dir)
			}
			if b, err := os.ReadFile(ce.Log); err != nil || !strings.Contains(string(b), "log line 15") {
				t.Errorf("the log was not kept: %v", err)
			}
			if want := []string{"log line 6", "log line 15"}; len(ce.Tail) != 10 || ce.Tail[0] != want[0] || ce.Tail[9] != want[1] {
				t.Errorf("tail %q, want log lines 6 … 15", ce.Tail)
			}
			if !strings.Contains(ce.Detail(), "    log line 15") {
				t.Errorf("detail:\n%s", ce.Detail())
			}
		}},
		{"no compiler here", []compiler{
			&fakeCompiler{unfit: &unusable{why: "sandbox: binfmt_misc has no handler for arm64", fix: "apt-get install qemu-user-static binfmt-support"}},
			&fakeCompiler{unfit: &unusable{why: "docker: not found on PATH", fix: "Docker Desktop or a Podman machine"}},
			&fakeCompiler{unfit: &unusable{why: "podman: not found on PATH", fix: "Docker Desktop or a Podman machine"}},
		}, func(t *testing.T, w sdistWorld, err error) {
			var nw *NoWheelError
			if !errors.As(err, &nw) {
				t.Fatalf("error %v, want the missing-wheel table", err)
			}
			detail := nw.Detail()
			for _, want := range []string{"TO BUILD HERE", "fastcalc==1.0", "apt-get install qemu-user-static binfmt-support; or Docker Desktop or a Podman machine",
				"docker: not found on PATH", "binfmt_misc has no handler"} {
				if !strings.Contains(detail, want) {
					t.Errorf("detail lacks %q:\n%s", want, detail)
				}
			}
			if strings.Count(detail, "Docker Desktop") != 1 { // once in its row
				t.Errorf("the same remedy is repeated in a row:\n%s", detail)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newSdistWorld(t, "3.11-slim")
			w.o.Platforms = w.o.Platforms[1:] // arm64 alone: each platform costs pip runs
			_, err := w.build(context.Background(), tt.compilers...)
			tt.check(t, w, err)
			if _, serr := os.Stat(filepath.Join(w.o.Output, "index.json")); serr == nil {
				t.Error("a refused build wrote the image")
			}
			if whls, _ := filepath.Glob(filepath.Join(w.o.CacheDir, "built-wheels", "*", "*", "*", "*.whl")); len(whls) > 0 {
				t.Errorf("a refused build cached wheels: %v", whls)
			}
		})
	}
}

// TestSdistCancel: ctrl+c during a compile stops it, and the build, at once.
func TestSdistCancel(t *testing.T) {
	t.Parallel()
	w := newSdistWorld(t, "3.11-slim")
	w.o.Platforms = w.o.Platforms[1:]
	fake := &fakeCompiler{how: "emulated", block: true}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	ev := &events{}
	go func() {
		world := world{connect: func(r ref.Ref, c *oci.Store) blobSource { return w.o.buildClient(r, c) }, clock: time.Now, compilers: []compiler{fake}}
		done <- run(ctx, w.o, ev.sink, world)
	}()
	deadline := time.Now().Add(3 * time.Minute) // pip resolves first, slowly on a busy machine
	for len(eventsOf[SdistProgressed](ev)) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no progress of the compile")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if p := eventsOf[SdistProgressed](ev)[0]; p.LastLine != "gcc -shared -o _answer.so answer.o" || p.Package != "fastcalc" {
		t.Errorf("progress %+v", p)
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("error %v, want the cancellation", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the build did not stop")
	}
	if logs, _ := filepath.Glob(filepath.Join(w.o.CacheDir, "sdist-logs", "*")); len(logs) != 0 {
		t.Errorf("a cancelled compile left its log: %v", logs)
	}
}

// TestSdistAllWheels: with --allow-sdist and every wheel at hand, no builder is read
// and nothing compiles.
func TestSdistAllWheels(t *testing.T) {
	t.Parallel()
	w := newSdistWorld(t, "3.11-alpine") // an alpine base: no builder to resolve, and none needed
	if err := os.WriteFile(filepath.Join(w.o.Context, "requirements.txt"), []byte("purelib==1.0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fake := &fakeCompiler{how: "native"}
	ev, err := w.build(context.Background(), fake)
	if err != nil {
		t.Fatal(err)
	}
	if p := eventsOf[PlanReady](ev); fake.runs.Load() != 0 || p[0].Builder != "" {
		t.Errorf("compiles %d, builder %q; want none", fake.runs.Load(), p[0].Builder)
	}
	// Needed after all, an alpine base asks for a builder image in one line.
	if err := os.WriteFile(filepath.Join(w.o.Context, "requirements.txt"), []byte("fastcalc==1.0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := w.build(context.Background(), fake); err == nil || !strings.Contains(err.Error(), "has no builder image with a compiler: pass --builder-image") {
		t.Errorf("error %v, want a builder image asked for", err)
	}
}

func TestBuilderFor(t *testing.T) {
	t.Parallel()
	tests := []struct {
		base, given, want, err string
	}{
		{base: "python:3.11-slim", want: "docker.io/library/python:3.11"},
		{base: "python:3.11-slim-bookworm", want: "docker.io/library/python:3.11-bookworm"},
		{base: "127.0.0.1:5000/library/python:3.12-slim", want: "127.0.0.1:5000/library/python:3.12"},
		{base: "python:3.11-alpine", err: "has no builder image with a compiler: pass --builder-image"},
		{base: "python:3.11-slim-alpine", err: "pass --builder-image"},
		{base: "python:3.11", err: "pass --builder-image"},
		{base: "python@sha256:" + strings.Repeat("a", 64), err: "pass --builder-image"},
		{base: "python:3.11-alpine", given: "ghcr.io/me/builder:1", want: "ghcr.io/me/builder:1"},
		{base: "python:3.11-slim", given: "not a reference", err: "--builder-image"},
	}
	for _, tt := range tests {
		base, err := ref.New(tt.base)
		if err != nil {
			t.Fatal(err)
		}
		got, err := builderFor(tt.given, base)
		switch {
		case tt.err != "":
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("builderFor(%q, %q) = %v, %v; want an error saying %q", tt.given, tt.base, got.CommonName(), err, tt.err)
			}
		case err != nil || got.CommonName() != tt.want:
			t.Errorf("builderFor(%q, %q) = %v, %v; want %s", tt.given, tt.base, got.CommonName(), err, tt.want)
		}
	}
}

func mustInspect(t *testing.T, dir string) *oci.Summary {
	t.Helper()
	s, err := oci.Inspect(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// --sdist-compiler picks one compiler; auto (or unset) asks them all, the sandbox first.
func TestCompilersSetting(t *testing.T) {
	for _, tc := range []struct {
		setting string
		want    []string
	}{
		{"", []string{"sandbox", "docker", "podman"}},
		{"auto", []string{"sandbox", "docker", "podman"}},
		{"sandbox", []string{"sandbox"}},
		{"docker", []string{"docker"}},
		{"podman", []string{"podman"}},
	} {
		var got []string
		for _, c := range compilers(&Options{SdistCompiler: tc.setting}) {
			got = append(got, c.Name())
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("--sdist-compiler %q: compilers %v; want %v", tc.setting, got, tc.want)
		}
	}
}

// TestSdistDryRun: a dry run says which packages a build would compile, and where, but
// compiles nothing and caches nothing (a compile may take minutes).
func TestSdistDryRun(t *testing.T) {
	t.Parallel()
	w := newSdistWorld(t, "3.11-slim")
	w.o.DryRun = true
	fake := &fakeCompiler{how: "emulated"}
	ev, err := w.build(context.Background(), fake)
	if err != nil {
		t.Fatal(err)
	}
	if n := fake.runs.Load(); n != 0 || len(eventsOf[SdistCompiling](ev)) != 0 {
		t.Errorf("a dry run compiled %d times", n)
	}
	var said []string
	for _, wn := range eventsOf[Warning](ev) {
		if strings.Contains(wn.Message, "a build compiles it from its sdist (emulated)") {
			said = append(said, wn.Message)
		}
	}
	if len(said) != 2 {
		t.Errorf("the dry run said it would compile for %d platforms, want 2: %q", len(said), said)
	}
	if _, err := os.Stat(filepath.Join(w.o.CacheDir, "built-wheels")); !os.IsNotExist(err) {
		t.Errorf("a dry run cached built wheels (stat: %v)", err)
	}
}
