package e2e

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"debug/elf"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/pycontainer/pycontainer/internal/testbase"
)

// Issue 20: `build --include-deps --allow-sdist` compiles a package published only as an
// sdist for every target platform, inside the base's builder image (python:3.11 beside
// python:3.11-slim), with no container engine: natively for amd64, under binfmt_misc's
// qemu for arm64 and arm/v7.
//
// The bases: PYCONTAINER_E2E_ROOTFS holds the slim root filesystems (amd64/, arm64/,
// armhf/) and the builder ones (builder-amd64/, …), all made by e2e/make-python-rootfs.sh
// (PYCONTAINER_E2E_BUILDER=1 for the builders; .ci/run makes both). The package is
// e2e/testdata/fastanswer, made into fastanswer-1.0.tar.gz here: a C extension whose
// answer() is 42, and a setup.py that records where it ran (see its docstring).

// sdistCompilerEnv forces the Docker compiler (name to align with build/sdist.go).
const sdistCompilerEnv = "PYCONTAINER_SDIST_COMPILER"

// sdistFixtureFiles are the fixture's files, as the sdist holds them under fastanswer-1.0/.
var sdistFixtureFiles = []string{"PKG-INFO", "pyproject.toml", "setup.py", "fastanswer/__init__.py", "fastanswer/_answer.c"}

// makeSdist writes dir/fastanswer-1.0.tar.gz from e2e/testdata/fastanswer plus extra
// files (name → content, relative to the sdist's top directory), byte for byte the same
// for the same input, and returns its path.
func makeSdist(t *testing.T, dir string, extra map[string]string) string {
	t.Helper()
	files := map[string][]byte{}
	for _, name := range sdistFixtureFiles {
		b, err := os.ReadFile(filepath.Join("testdata", "fastanswer", filepath.FromSlash(name)))
		if err != nil {
			t.Fatal(err)
		}
		files[name] = b
	}
	for name, content := range extra {
		files[name] = []byte(content)
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	mtime := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, d := range []string{"fastanswer-1.0/", "fastanswer-1.0/fastanswer/"} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: 0o755, ModTime: mtime, Format: tar.FormatUSTAR}); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range names {
		h := &tar.Header{Typeflag: tar.TypeReg, Name: "fastanswer-1.0/" + name, Mode: 0o644, Size: int64(len(files[name])), ModTime: mtime, Format: tar.FormatUSTAR}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(files[name]); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "fastanswer-1.0.tar.gz")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSdistFixture checks the sdist itself: the layout pip's sdist handling expects
// (NAME-VERSION/ with PKG-INFO and pyproject.toml), the same bytes every time.
func TestSdistFixture(t *testing.T) {
	a := makeSdist(t, t.TempDir(), nil)
	b := makeSdist(t, t.TempDir(), nil)
	ab, _ := os.ReadFile(a)
	bb, _ := os.ReadFile(b)
	if !bytes.Equal(ab, bb) {
		t.Error("two sdists of the same fixture differ")
	}
	zr, err := gzip.NewReader(bytes.NewReader(ab))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	seen := map[string]bool{}
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		seen[h.Name] = true
	}
	for _, name := range sdistFixtureFiles {
		if !seen["fastanswer-1.0/"+name] {
			t.Errorf("the sdist lacks fastanswer-1.0/%s (has %v)", name, seen)
		}
	}
}

// builderBases returns, of the given architectures, those with both a slim and a
// builder root filesystem whose targets compile here (natively, or through an enabled
// binfmt_misc qemu handler), with the two rootfs maps for testbase.Spec; it skips the
// test when none is left.
func builderBases(t *testing.T, of []arch, tools ...string) (present []arch, slim, builder map[string]string) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("the engine-less sdist compile runs on Linux hosts only")
	}
	withSlim, slim := pythonBases(t, of, 1, tools...)
	root := os.Getenv("PYCONTAINER_E2E_ROOTFS")
	builder = map[string]string{}
	for _, a := range withSlim {
		dir := filepath.Join(root, "builder-"+a.deb)
		if _, err := os.Stat(filepath.Join(dir, "usr", "bin", "gcc")); err != nil {
			t.Logf("no builder-%s rootfs with gcc in %s (PYCONTAINER_E2E_BUILDER=1 bash e2e/make-python-rootfs.sh %s %s): %s not tested", a.deb, root, a.deb, dir, a.flag())
			delete(slim, a.platform.String())
			continue
		}
		if why := compileGap(a); why != "" {
			t.Logf("%s is not tested: %s", a.flag(), why)
			delete(slim, a.platform.String())
			continue
		}
		present = append(present, a)
		builder[a.platform.String()] = dir
	}
	if len(present) == 0 {
		t.Skipf("no architecture has both a slim and a builder-* rootfs under %s that can compile here", root)
	}
	return present, slim, builder
}

// goarchOf is a's GOARCH.
func goarchOf(a arch) string { return a.platform.Architecture }

// compileGap says why a's binaries cannot run here without an engine, or "".
func compileGap(a arch) string {
	if runtime.GOARCH == goarchOf(a) {
		return ""
	}
	handler := map[string]string{"amd64": "qemu-x86_64", "arm64": "qemu-aarch64", "armhf": "qemu-arm"}[a.deb]
	b, err := os.ReadFile("/proc/sys/fs/binfmt_misc/" + handler)
	if err != nil {
		return "no binfmt_misc handler " + handler + " (apt-get install qemu-user-static binfmt-support)"
	}
	if !strings.HasPrefix(string(b), "enabled") {
		return "the binfmt_misc handler " + handler + " is disabled"
	}
	return ""
}

// sdistWorld is what the subtests share: the registry with the slim and builder bases,
// the binary, and the platforms under test.
type sdistWorld struct {
	host    string
	bin     string
	present []arch
	cache   string // the builds' shared cache, the test's own: never the user's
}

func (w *sdistWorld) platforms() string {
	var flags []string
	for _, a := range w.present {
		flags = append(flags, a.flag())
	}
	return strings.Join(flags, ",")
}

// project writes a project requiring fastanswer==1.0 whose app prints the answer and the
// machine, and a wheelhouse holding only sdist (copied); it returns both directories.
func (w *sdistWorld) project(t *testing.T, parent, sdist string) (work, wheelhouse string) {
	t.Helper()
	work, wheelhouse = filepath.Join(parent, "project"), filepath.Join(parent, "wheelhouse")
	for _, d := range []string{work, wheelhouse} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{
		filepath.Join(work, "app.py"):           "import platform\n\nimport fastanswer\n\nprint(fastanswer.answer(), platform.machine())\n",
		filepath.Join(work, "requirements.txt"): "fastanswer==1.0\n",
	}
	b, err := os.ReadFile(sdist)
	if err != nil {
		t.Fatal(err)
	}
	files[filepath.Join(wheelhouse, filepath.Base(sdist))] = string(b)
	for p, content := range files {
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return work, wheelhouse
}

// build runs `pycontainer build --include-deps --allow-sdist` of work for every platform
// under test with JSON progress, env added to the test's environment; it returns the
// events.
func (w *sdistWorld) build(t *testing.T, work, wheelhouse string, env ...string) []sdistEvent {
	t.Helper()
	cmd := exec.Command(w.bin, "build", "--tag", "sdist-demo:1", "--base-image", w.host+"/library/python:3.11-slim",
		"--platform", w.platforms(), "--include-deps", "--allow-sdist", "--no-index", "--find-links", wheelhouse,
		"--progress", "json")
	cmd.Dir = work
	cmd.Env = append(append(os.Environ(), "PYCONTAINER_CACHE="+w.cache), env...)
	return runBuild(t, cmd)
}

// runBuild runs a build with --progress json and returns its events, failing the test
// (with its output) when it fails.
func runBuild(t *testing.T, cmd *exec.Cmd) []sdistEvent {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	t.Logf("build took %s", time.Since(start).Round(100*time.Millisecond))
	if err != nil {
		t.Fatalf("build: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	var events []sdistEvent
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var ev sdistEvent
		if json.Unmarshal(sc.Bytes(), &ev.fields) != nil {
			continue
		}
		ev.typ, _ = ev.fields["type"].(string)
		events = append(events, ev)
		switch ev.typ {
		case "sdist_compiling", "sdist_compiled", "plan":
			t.Logf("event: %s", sc.Bytes())
		}
	}
	return events
}

// sdistEvent is one line of --progress json.
type sdistEvent struct {
	typ    string
	fields map[string]any
}

func (e sdistEvent) str(key string) string { s, _ := e.fields[key].(string); return s }
func (e sdistEvent) platform() string      { return normPlatform(e.str("platform")) }
func (e sdistEvent) cached() bool          { b, _ := e.fields["cached"].(bool); return b }

// ofType returns the events of type typ.
func ofType(events []sdistEvent, typ string) []sdistEvent {
	var out []sdistEvent
	for _, e := range events {
		if e.typ == typ {
			out = append(out, e)
		}
	}
	return out
}

// checkCompiled checks that fastanswer was compiled once per platform under test, by the
// given way (how: "" for native-or-emulated, else "docker"), nothing from the cache.
func (w *sdistWorld) checkCompiled(t *testing.T, events []sdistEvent, how string) {
	t.Helper()
	compiling := map[string]sdistEvent{}
	for _, e := range ofType(events, "sdist_compiling") {
		compiling[e.platform()] = e
	}
	compiled := ofType(events, "sdist_compiled")
	if len(compiled) != len(w.present) {
		t.Errorf("%d sdist_compiled events, want one per platform (%d)", len(compiled), len(w.present))
	}
	done := map[string]bool{}
	for _, e := range compiled {
		if e.str("package") != "fastanswer" || e.cached() {
			t.Errorf("sdist_compiled %v: want package fastanswer, cached false", e.fields)
		}
		done[e.platform()] = true
	}
	for _, a := range w.present {
		if !done[a.flag()] {
			t.Errorf("no sdist_compiled event for %s", a.flag())
		}
		c, ok := compiling[a.flag()]
		if !ok {
			t.Errorf("no sdist_compiling event for %s", a.flag())
			continue
		}
		want := how
		if want == "" {
			want = "emulated"
			if runtime.GOARCH == goarchOf(a) {
				want = "native"
			}
		}
		if got := c.str("how"); got != want {
			t.Errorf("%s compiled %q, want %q", a.flag(), got, want)
		}
	}
}

// checkImages unpacks each platform's image of work's layout and checks that the
// extension is an ELF of that machine, was compiled on that machine (what setup.py
// recorded) and prints `42 MACHINE`; it returns each platform's build record.
func (w *sdistWorld) checkImages(t *testing.T, work string) map[string]string {
	t.Helper()
	layout := filepath.Join(work, "dist", "image")
	images := map[string]layoutImage{}
	for _, img := range layoutImages(t, layout) {
		images[img.platform] = img
	}
	records := map[string]string{}
	for _, a := range w.present {
		t.Run(a.deb, func(t *testing.T) {
			img, ok := images[a.flag()]
			if !ok {
				t.Fatalf("the layout has no %s image", a.flag())
			}
			bundle := unpackLayoutImage(t, layout, img)
			rootfs := filepath.Join(bundle, "rootfs")
			so := findFile(t, rootfs, func(p string) bool {
				return filepath.Base(filepath.Dir(p)) == "fastanswer" && strings.HasPrefix(filepath.Base(p), "_answer") && strings.HasSuffix(p, ".so")
			})
			f, err := elf.Open(so)
			if err != nil {
				t.Fatalf("the extension in the %s image: %v", a.flag(), err)
			}
			want := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64, "armhf": elf.EM_ARM}[a.deb]
			if f.Machine != want {
				t.Errorf("the %s image's %s is for %s", a.flag(), filepath.Base(so), f.Machine)
			}
			f.Close()
			info, err := os.ReadFile(filepath.Join(filepath.Dir(so), "_build_info.txt"))
			if err != nil {
				t.Fatalf("fastanswer's build record in the %s image: %v", a.flag(), err)
			}
			records[a.flag()] = string(info)
			if !strings.Contains(string(info), "machine "+a.machine+"\n") {
				t.Errorf("fastanswer's setup.py for %s did not run on %s:\n%s", a.flag(), a.machine, info)
			}
			got := runBundle(t, bundle, a)
			if strings.TrimSpace(got) != "42 "+a.machine {
				t.Errorf("the %s image printed %q, want %q", a.flag(), got, "42 "+a.machine)
			}
		})
	}
	return records
}

// findFile returns the one file under root that match accepts, failing the test when
// there is not exactly one.
func findFile(t *testing.T, root string, match func(string) bool) string {
	t.Helper()
	var found []string
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && match(p) {
			found = append(found, p)
		}
		return nil
	})
	if len(found) != 1 {
		t.Fatalf("want one such file under %s, found %v", root, found)
	}
	return found[0]
}

func (w *sdistWorld) verify(t *testing.T, work string) {
	t.Helper()
	if out, err := exec.Command(w.bin, "inspect", "--verify", "--progress", "plain", filepath.Join(work, "dist", "image")).CombinedOutput(); err != nil {
		t.Errorf("inspect --verify: %v\n%s", err, out)
	}
}

// TestSdistCompiledForEveryPlatform: a project whose only dependency is published as an
// sdist with a C extension builds for linux/amd64, linux/arm64 and linux/arm/v7 (those
// with bases here) with no engine; each image prints the extension's answer on its own
// machine; inspect --verify passes; an app-only change compiles nothing; nothing of the
// host (a planted ~/.ssh/id_rsa, ~/.docker/config.json, the project, the environment) is
// readable inside the compile; unprivileged, through a user namespace; and through Docker
// where a daemon runs.
func TestSdistCompiledForEveryPlatform(t *testing.T) {
	present, slim, builder := builderBases(t, arches, "umoci", "go")
	if os.Geteuid() != 0 {
		if out, err := exec.Command("unshare", "--user", "--map-root-user", "--mount", "true").CombinedOutput(); err != nil {
			t.Skipf("neither root nor user namespaces here (unshare --user: %v %s): the engine-less compile cannot run", err, bytes.TrimSpace(out))
		}
	}
	var plats []testbase.Platform
	for _, a := range present {
		plats = append(plats, a.platform)
	}
	host := testbase.StartDistribution(t)
	reg := testbase.Connect(host)
	start := time.Now()
	reg.Push(t, testbase.Spec{Repo: "library/python", Tag: "3.11-slim", Platforms: plats, RootFS: slim})
	reg.Push(t, testbase.Spec{Repo: "library/python", Tag: "3.11", Platforms: plats, RootFS: builder})
	t.Logf("pushed python:3.11-slim and python:3.11 for %d platforms in %s", len(plats), time.Since(start).Round(100*time.Millisecond))
	w := &sdistWorld{host: host, bin: buildBinary(t), present: present, cache: t.TempDir()}
	sdist := makeSdist(t, t.TempDir(), nil)

	var work, wheelhouse string
	projects := t.TempDir() // the next subtest rebuilds the first's project
	ok := t.Run("compile", func(t *testing.T) {
		work, wheelhouse = w.project(t, projects, sdist)
		events := w.build(t, work, wheelhouse)
		w.checkCompiled(t, events, "")
		if plan := ofType(events, "plan"); len(plan) == 1 && !strings.Contains(fmt.Sprint(plan[0].fields), host+"/library/python:3.11") {
			t.Errorf("the plan does not name the builder image %s/library/python:3.11: %v", host, plan[0].fields)
		}
		w.verify(t, work)
		w.checkImages(t, work)
	})

	t.Run("app change compiles nothing", func(t *testing.T) {
		if !ok {
			t.Skip("the first build failed")
		}
		if err := os.WriteFile(filepath.Join(work, "app.py"), []byte("import platform\n\nimport fastanswer\n\n# changed\nprint(fastanswer.answer(), platform.machine())\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		events := w.build(t, work, wheelhouse)
		if c := ofType(events, "sdist_compiling"); len(c) != 0 {
			t.Errorf("the rebuild compiled again: %d sdist_compiling events", len(c))
		}
		cached := map[string]bool{}
		for _, e := range ofType(events, "sdist_compiled") {
			if !e.cached() {
				t.Errorf("the rebuild's sdist_compiled is not cached: %v", e.fields)
			}
			cached[e.platform()] = true
		}
		for _, a := range w.present {
			if !cached[a.flag()] {
				t.Errorf("no sdist_compiled (cached) event for %s", a.flag())
			}
		}
		w.verify(t, work)
		w.checkImages(t, work)
	})

	t.Run("no host secrets inside", func(t *testing.T) {
		testSdistSecrets(t, w)
	})

	t.Run("unprivileged", func(t *testing.T) {
		testSdistUnprivileged(t, w, sdist)
	})

	t.Run("docker", func(t *testing.T) {
		env, why := dockerEngine()
		if why != "" {
			t.Skip(why)
		}
		work, wheelhouse := w.project(t, t.TempDir(), sdist)
		env = append(env, sdistCompilerEnv+"=docker", "PYCONTAINER_CACHE="+t.TempDir())
		events := w.build(t, work, wheelhouse, env...)
		w.checkCompiled(t, events, "docker")
		w.verify(t, work)
		w.checkImages(t, work)
	})
}

// testSdistSecrets builds with a HOME holding a planted ~/.ssh/id_rsa and
// ~/.docker/config.json, a secret in the environment and a secret beside the sdist in the
// wheelhouse; fastanswer's setup.py (given the paths in probe_paths.txt) tries them all,
// from inside and by their host paths, and tries to write a canary file on the host. The
// image's build record must show every one unreadable, and the canary must not exist.
func testSdistSecrets(t *testing.T, w *sdistWorld) {
	parent := t.TempDir()
	home := filepath.Join(parent, "home")
	planted := map[string]string{
		filepath.Join(home, ".ssh", "id_rsa"):             "-----BEGIN OPENSSH PRIVATE KEY-----\nplanted by the e2e test\n-----END OPENSSH PRIVATE KEY-----\n",
		filepath.Join(home, ".docker", "config.json"):     `{"auths":{"registry.invalid":{"auth":"cGxhbnRlZDpzZWNyZXQ="}}}` + "\n",
		filepath.Join(parent, "wheelhouse", "secret.txt"): "planted beside the sdist\n",
	}
	for p, content := range planted {
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	canary := filepath.Join(parent, "canary", "setup-py-ran-here.txt")
	if err := os.MkdirAll(filepath.Dir(canary), 0o777); err != nil {
		t.Fatal(err)
	}
	// What setup.py tries: the planted files as the build's own HOME and root's would
	// hold them, by their host paths, beside the sdist, the project; /tmp/in/ is listed.
	probes := []string{"~/.ssh/id_rsa", "~/.docker/config.json", "/root/.ssh/id_rsa", "/root/.docker/config.json", "/tmp/in/secret.txt",
		filepath.Join(parent, "project", "app.py")}
	var hostPaths []string
	for p := range planted {
		hostPaths = append(hostPaths, p)
	}
	sort.Strings(hostPaths)
	probes = append(probes, hostPaths...)
	sdist := makeSdist(t, t.TempDir(), map[string]string{
		"probe_paths.txt":  strings.Join(append(slices.Clone(probes), "/tmp/in/"), "\n") + "\n",
		"probe_canary.txt": canary + "\n",
	})
	work, wheelhouse := w.project(t, parent, sdist)
	const secretVar = "FASTANSWER_E2E_SECRET_TOKEN"

	// One platform is enough: the native one if present (the same sandbox runs them all).
	one := &sdistWorld{host: w.host, bin: w.bin, present: w.present[:1]}
	events := one.build(t, work, wheelhouse, "HOME="+home, secretVar+"=planted-token")
	one.checkCompiled(t, events, "")
	if b, err := os.ReadFile(canary); err == nil {
		t.Errorf("fastanswer's setup.py ran on the host with the host's files (it wrote %s):\n%s", canary, b)
	}
	records := one.checkImages(t, work)
	record, ok := records[one.present[0].flag()]
	if !ok {
		t.Fatal("no build record")
	}
	t.Logf("what setup.py saw inside the build:\n%s", record)
	for _, line := range strings.Split(record, "\n") {
		switch {
		case strings.HasPrefix(line, "readable "):
			t.Errorf("setup.py could read a host file inside the build: %s", line)
		case strings.HasPrefix(line, "wrote "):
			t.Errorf("setup.py could write the host's canary: %s", line)
		case strings.HasPrefix(line, "env "+secretVar):
			t.Errorf("the host's environment reached the build: %s", line)
		case strings.HasPrefix(line, "home ") && strings.Contains(line, home):
			t.Errorf("the build's HOME is the host's: %s", line)
		case strings.HasPrefix(line, "listed /tmp/in/ "):
			for _, name := range strings.Fields(strings.TrimPrefix(line, "listed /tmp/in/ ")) {
				if !strings.HasSuffix(name, ".tar.gz") && !strings.HasSuffix(name, ".zip") {
					t.Errorf("the build's input holds %s, not only the sdist", name)
				}
			}
		}
	}
	inside := strings.TrimPrefix(recordLine(record, "home "), "home ")
	for _, p := range probes {
		if strings.HasPrefix(p, "~/") {
			p = inside + p[1:]
		}
		if recordLine(record, "unreadable "+p+" (") == "" {
			t.Errorf("the build record does not show %s unreadable", p)
		}
	}
}

// recordLine is the build record's first line that starts with prefix, or "".
func recordLine(record, prefix string) string {
	for _, line := range strings.Split(record, "\n") {
		if strings.HasPrefix(line, prefix) {
			return line
		}
	}
	return ""
}

// testSdistUnprivileged runs the build as an unprivileged user (nobody), through a user
// namespace with that user mapped to root, for the first platform under test; it skips where
// the test cannot switch users or user namespaces are not allowed.
func testSdistUnprivileged(t *testing.T, w *sdistWorld, sdist string) {
	if os.Geteuid() != 0 {
		t.Skip("switching to an unprivileged user needs root (the whole test runs unprivileged already)")
	}
	const uid, gid = 65534, 65534
	if out, err := asUser(exec.Command("unshare", "--user", "--map-root-user", "--mount", "true"), uid, gid).CombinedOutput(); err != nil {
		t.Skipf("user namespaces are not allowed for uid %d here: unshare --user: %v %s", uid, err, bytes.TrimSpace(out))
	}
	// pip on the host, for the unprivileged user: this test's python3 may live in root's home.
	pip := ""
	for _, py := range []string{"/usr/bin/python3", "/usr/local/bin/python3"} {
		if asUser(exec.Command(py, "-m", "pip", "--version"), uid, gid).Run() == nil {
			pip = py + " -m pip"
			break
		}
	}
	if pip == "" {
		t.Skip("no python3 with pip that an unprivileged user can run")
	}
	// A world-traversable directory owned by the user: the binary, project, cache, HOME.
	shared, err := os.MkdirTemp("", "pycontainer-sdist-unpriv-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(shared) })
	if err := os.Chmod(shared, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(shared, "pycontainer")
	b, err := os.ReadFile(w.bin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	work, wheelhouse := w.project(t, shared, sdist)
	for _, d := range []string{"home", "cache"} {
		if err := os.Mkdir(filepath.Join(shared, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := filepath.WalkDir(shared, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	}); err != nil {
		t.Fatal(err)
	}
	// One platform is enough (the native one when present): the user namespace is what
	// differs from the root path; emulation is the same binfmt_misc handler.
	w = &sdistWorld{host: w.host, bin: w.bin, present: w.present[:1]}
	cmd := exec.Command(bin, "build", "--tag", "sdist-demo:1", "--base-image", w.host+"/library/python:3.11-slim",
		"--platform", w.platforms(), "--include-deps", "--allow-sdist", "--no-index", "--find-links", wheelhouse,
		"--progress", "json")
	cmd.Dir = work
	cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + filepath.Join(shared, "home"), "LANG=C.UTF-8",
		"PYCONTAINER_CACHE=" + filepath.Join(shared, "cache"), "PYCONTAINER_PIP=" + pip}
	events := runBuild(t, asUser(cmd, uid, gid))
	w.checkCompiled(t, events, "")
	w.verify(t, work)
	w.checkImages(t, work)
}
