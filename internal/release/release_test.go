package main

import (
	"bytes"
	"context"
	"debug/buildinfo"
	"debug/elf"
	"debug/macho"
	"debug/pe"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

const (
	testVersion = "v0.1.0"
	testCommit  = "0123456789abcdef0123456789abcdef01234567"
)

// shared is one release of every target, built once for the tests that read it.
var shared struct {
	once sync.Once
	dir  string
	err  error
}

// testLicense is the shared release's -license: pip must install a PEP 639 wheel too.
const testLicense = "LicenseRef-test"

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

// buildRelease runs the command's work for tgs into out, as `go run ./internal/release
// -version v0.1.0 -commit … -license LicenseRef-test -out out` does.
func buildRelease(ctx context.Context, out string, tgs []target) error {
	root, err := filepath.Abs("../..")
	if err != nil {
		return err
	}
	opts := options{Version: testVersion, Out: out, Commit: testCommit, Targets: tgs, Root: root, License: testLicense, Modified: zipEpoch}
	return run(ctx, opts, io.Discard)
}

// release is the shared release's directory; it compiles every target, so -short skips.
func release(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds pycontainer for every release target; -short skips it")
	}
	shared.once.Do(func() {
		if shared.dir, shared.err = os.MkdirTemp("", "pycontainer-release-test-"); shared.err == nil {
			shared.err = buildRelease(t.Context(), filepath.Join(shared.dir, "release"), targets)
		}
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return filepath.Join(shared.dir, "release")
}

// Every wheel's file name declares its target's tags, its WHEEL says the same, its RECORD
// is right, Python's zipfile finds it sound, and it carries the target's release binary.
func TestReleaseWheels(t *testing.T) {
	dir := release(t)
	_, pyErr := exec.LookPath("python3")
	for _, tg := range targets {
		path := filepath.Join(dir, wheelName("0.1.0", tg))
		if got := fileTags(t, path); !slices.Equal(got, tg.Platforms) {
			t.Errorf("%s: file name tags %v; want %v", tg, got, tg.Platforms)
		}
		checkWheel(t, path, tg)
		bin, err := os.ReadFile(filepath.Join(dir, tg.binaryName(testVersion)))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(readWheel(t, path)["pycontainer_build-0.1.0.data/scripts/pycontainer"+tg.exe()], bin) {
			t.Errorf("%s: the wheel's script is not the release binary", tg)
		}
		if pyErr != nil {
			continue
		}
		out, err := exec.CommandContext(t.Context(), "python3", "-m", "zipfile", "-t", path).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Done testing") || strings.Contains(string(out), "corrupted") {
			t.Errorf("python3 -m zipfile -t %s: %v\n%s", filepath.Base(path), err, out)
		}
	}
	if pyErr != nil {
		t.Log("python3 is missing: python3 -m zipfile -t not run")
	}
}

// Each binary is for its target, read from its header (ELF, Mach-O, PE) and from the
// build information Go records in it: static, trimmed, stamped with the release.
func TestReleaseBinaries(t *testing.T) {
	dir := release(t)
	for _, tg := range targets {
		data, err := os.ReadFile(filepath.Join(dir, tg.binaryName(testVersion)))
		if err != nil {
			t.Fatal(err)
		}
		switch tg.GOOS {
		case "linux":
			checkELF(t, tg, data)
		case "darwin":
			checkMachO(t, tg, data)
		case "windows":
			checkPE(t, tg, data)
		}
		checkBuildInfo(t, tg, data)
	}
}

func checkELF(t *testing.T, tg target, data []byte) {
	t.Helper()
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("%s: not ELF: %v", tg, err)
	}
	machine := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64, "arm": elf.EM_ARM}[tg.GOARCH]
	class := map[bool]elf.Class{true: elf.ELFCLASS32, false: elf.ELFCLASS64}[tg.GOARCH == "arm"]
	if f.Machine != machine || f.Class != class {
		t.Errorf("%s: ELF machine %v, class %v; want %v, %v", tg, f.Machine, f.Class, machine, class)
	}
	// Static: no dynamic loader, so one binary runs on glibc and musl (the musllinux tag).
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("%s: the binary is dynamically linked (%v)", tg, p.Type)
		}
	}
}

func checkMachO(t *testing.T, tg target, data []byte) {
	t.Helper()
	f, err := macho.NewFile(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("%s: not Mach-O: %v", tg, err)
	}
	cpu := map[string]macho.Cpu{"arm64": macho.CpuArm64, "amd64": macho.CpuAmd64}[tg.GOARCH]
	if f.Cpu != cpu || f.Type != macho.TypeExec {
		t.Errorf("%s: Mach-O cpu %v, type %v; want %v, executable", tg, f.Cpu, f.Type, cpu)
	}
	// The wheel's macosx_X_Y tag must be the binary's own minimum macOS: lower, and pip
	// installs a binary that macOS refuses to start; higher, and it refuses hosts that could run it.
	const lcBuildVersion = 0x32
	for _, l := range f.Loads {
		raw := l.Raw()
		if len(raw) >= 16 && binary.LittleEndian.Uint32(raw) == lcBuildVersion {
			minos := binary.LittleEndian.Uint32(raw[12:])
			want := fmt.Sprintf("macosx_%d_%d_", minos>>16, (minos>>8)&0xff)
			if !strings.HasPrefix(tg.Platforms[0], want) {
				t.Errorf("%s: the binary needs macOS %d.%d; the wheel's tag is %s", tg, minos>>16, (minos>>8)&0xff, tg.Platforms[0])
			}
			return
		}
	}
	t.Errorf("%s: no LC_BUILD_VERSION, the minimum macOS is unknown", tg)
}

func checkPE(t *testing.T, tg target, data []byte) {
	t.Helper()
	f, err := pe.NewFile(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("%s: not PE: %v", tg, err)
	}
	oh, ok := f.OptionalHeader.(*pe.OptionalHeader64)
	if f.Machine != pe.IMAGE_FILE_MACHINE_AMD64 || !ok || oh.Subsystem != pe.IMAGE_SUBSYSTEM_WINDOWS_CUI {
		t.Errorf("%s: PE machine %#x, optional header %T; want AMD64, a console program", tg, f.Machine, f.OptionalHeader)
	}
}

func checkBuildInfo(t *testing.T, tg target, data []byte) {
	t.Helper()
	info, err := buildinfo.Read(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("%s: no build information: %v", tg, err)
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	want := map[string]string{"GOOS": tg.GOOS, "GOARCH": tg.GOARCH, "CGO_ENABLED": "0", "-trimpath": "true"}
	if tg.GOARM != "" {
		want["GOARM"] = tg.GOARM
	}
	for k, v := range want {
		if settings[k] != v {
			t.Errorf("%s: build setting %s=%q; want %q", tg, k, settings[k], v)
		}
	}
	// Go leaves -ldflags out of the build information of a -trimpath build (it may hold
	// paths), so the -X stamp is looked for in the bytes; the host's binary runs in
	// TestInstallInFreshVenv.
	if !bytes.Contains(data, []byte(testCommit)) || !bytes.Contains(data, []byte(testVersion)) {
		t.Errorf("%s: the binary does not hold the release's version and commit", tg)
	}
	if _, ok := settings["vcs.revision"]; ok || info.Path != "github.com/pycontainer/pycontainer" {
		t.Errorf("%s: main package %s, vcs stamp %q", tg, info.Path, settings["vcs.revision"])
	}
}

// SHA256SUMS lists every file of the release, sorted, in sha256sum's format.
func TestReleaseSums(t *testing.T) {
	dir := release(t)
	sums, err := os.ReadFile(filepath.Join(dir, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, line := range strings.Split(strings.TrimSuffix(string(sums), "\n"), "\n") {
		sum, name, ok := strings.Cut(line, "  ")
		if !ok || len(sum) != 64 {
			t.Fatalf("SHA256SUMS line %q", line)
		}
		names = append(names, name)
	}
	entries, _ := os.ReadDir(dir)
	var files []string
	for _, e := range entries {
		if e.Name() != "SHA256SUMS" {
			files = append(files, e.Name())
		}
	}
	if !slices.IsSorted(names) || !slices.Equal(names, files) || len(files) != 2*len(targets) {
		t.Errorf("SHA256SUMS lists %v; the directory holds %v", names, files)
	}
	if _, err := exec.LookPath("sha256sum"); err == nil {
		cmd := exec.CommandContext(t.Context(), "sha256sum", "--check", "--strict", "SHA256SUMS")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("sha256sum --check: %v\n%s", err, out)
		}
	}
}

// Two releases of the same commit are the same bytes: two runs here, for a Linux and
// the Windows target, and the shared release (all targets at once) agree.
func TestReproducible(t *testing.T) {
	tgs, err := parseTargets("linux/amd64,windows/amd64")
	if err != nil {
		t.Fatal(err)
	}
	all := release(t)
	a, b := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	for _, out := range []string{a, b} {
		if err := buildRelease(t.Context(), out, tgs); err != nil {
			t.Fatal(err)
		}
	}
	sumsA, _ := os.ReadFile(filepath.Join(a, "SHA256SUMS"))
	sumsB, _ := os.ReadFile(filepath.Join(b, "SHA256SUMS"))
	if len(sumsA) == 0 || !bytes.Equal(sumsA, sumsB) {
		t.Fatalf("two runs differ:\n%s\n%s", sumsA, sumsB)
	}
	t.Logf("both runs' SHA256SUMS:\n%s", sumsA)
	sumsAll, _ := os.ReadFile(filepath.Join(all, "SHA256SUMS"))
	for _, line := range strings.Split(strings.TrimSpace(string(sumsA)), "\n") {
		if !strings.Contains(string(sumsAll), line+"\n") {
			t.Errorf("the release of every target has another %q", line)
		}
	}
}
