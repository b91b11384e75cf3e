package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// pythonEnv is the environment for pip in tests: offline, quiet, no user or site pip
// configuration that could point it at an index.
func pythonEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); !strings.HasPrefix(k, "PIP_") && k != "PYTHONPATH" && k != "VIRTUAL_ENV" {
			env = append(env, kv)
		}
	}
	return append(env, "PIP_CONFIG_FILE="+os.DevNull, "PIP_DISABLE_PIP_VERSION_CHECK=1", "PIP_NO_INPUT=1", "PIP_NO_INDEX=1")
}

// needPip skips without python3 and its pip.
func needPip(t *testing.T) {
	t.Helper()
	if err := exec.CommandContext(t.Context(), "python3", "-m", "pip", "--version").Run(); err != nil {
		t.Skipf("python3 -m pip is unavailable: %v", err)
	}
}

// glibcPlatforms are the manylinux tags pip accepts on a host with glibc 2.minor, as
// packaging lists them, newest first.
func glibcPlatforms(arch string, minor int) []string {
	var out []string
	for m := minor; m >= 5; m-- {
		out = append(out, fmt.Sprintf("manylinux_2_%d_%s", m, arch))
	}
	for alias, m := range map[string]int{"manylinux2014": 17, "manylinux2010": 12, "manylinux1": 5} {
		if minor >= m {
			out = append(out, alias+"_"+arch)
		}
	}
	return out
}

// musl12Platforms are the tags pip accepts on a musl 1.2 host (Alpine 3.13 and later).
func musl12Platforms(arch string) []string {
	return []string{"musllinux_1_2_" + arch, "musllinux_1_1_" + arch, "musllinux_1_0_" + arch}
}

// pip itself, told the platforms a host of each kind reports, picks that host's wheel
// from the release, or none where no release binary runs.
func TestPipPicksEachHostsWheel(t *testing.T) {
	dir := release(t)
	needPip(t)
	hosts := []struct {
		name      string
		platforms []string
		want      string // a target, "" for no wheel
	}{
		{"Debian 12 x86_64", glibcPlatforms("x86_64", 36), "linux/amd64"},
		{"CentOS 7 x86_64", glibcPlatforms("x86_64", 17), "linux/amd64"},
		{"Debian 12 aarch64", glibcPlatforms("aarch64", 36), "linux/arm64"},
		{"Raspberry Pi OS armv7l", glibcPlatforms("armv7l", 36), "linux/arm/v7"},
		{"Alpine x86_64", musl12Platforms("x86_64"), "linux/amd64"},
		{"Alpine aarch64", musl12Platforms("aarch64"), "linux/arm64"},
		{"Alpine armv7l", musl12Platforms("armv7l"), "linux/arm/v7"},
		{"macOS 14 arm64", []string{"macosx_14_0_arm64"}, "darwin/arm64"},
		{"macOS 12 x86_64", []string{"macosx_12_0_x86_64"}, "darwin/amd64"},
		{"Windows x64", []string{"win_amd64"}, "windows/amd64"},
		{"macOS 11 arm64 (Go 1.26 needs 12)", []string{"macosx_11_0_arm64"}, ""},
		{"CentOS 6 x86_64 (glibc 2.12)", glibcPlatforms("x86_64", 12), ""},
		{"Linux i686", glibcPlatforms("i686", 36), ""},
		{"Windows x86", []string{"win32"}, ""},
	}
	for _, h := range hosts {
		t.Run(h.name, func(t *testing.T) {
			t.Parallel()
			dest := t.TempDir()
			args := []string{"-m", "pip", "download", "--find-links", dir, "--only-binary=:all:", "--no-deps",
				"--python-version", "3.11", "--dest", dest}
			for _, p := range h.platforms {
				args = append(args, "--platform", p)
			}
			cmd := exec.CommandContext(t.Context(), "python3", append(args, "pycontainer-build")...)
			cmd.Env = pythonEnv()
			out, err := cmd.CombinedOutput()
			got, _ := filepath.Glob(filepath.Join(dest, "*.whl"))
			switch {
			case h.want == "" && (err == nil || len(got) > 0):
				t.Errorf("pip picked %v for a host no release binary runs on", got)
			case h.want == "":
			case err != nil:
				t.Errorf("pip download: %v\n%s", err, out)
			default:
				i := slices.IndexFunc(targets, func(tg target) bool { return tg.String() == h.want })
				if len(got) != 1 || filepath.Base(got[0]) != wheelName("0.1.0", targets[i]) {
					t.Errorf("pip picked %v; want %s", got, wheelName("0.1.0", targets[i]))
				}
			}
		})
	}
}

// The acceptance test: in a fresh venv, offline, pip installs the host's wheel and
// `pycontainer --version` says the release; pip uninstall removes it again (RECORD).
func TestInstallInFreshVenv(t *testing.T) {
	dir := release(t)
	venv := filepath.Join(t.TempDir(), "venv")
	if out, err := exec.CommandContext(t.Context(), "python3", "-m", "venv", venv).CombinedOutput(); err != nil {
		t.Skipf("python3 -m venv is unavailable: %v\n%s", err, out)
	}
	bin, exe := filepath.Join(venv, "bin"), ""
	if runtime.GOOS == "windows" {
		bin, exe = filepath.Join(venv, "Scripts"), ".exe"
	}
	sh := func(name string, args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(t.Context(), name, args...)
		cmd.Env = pythonEnv()
		out, err := cmd.CombinedOutput()
		t.Logf("$ %s %s\n%s", filepath.Base(name), strings.Join(args, " "), out)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return string(out)
	}
	py := filepath.Join(bin, "python"+exe)
	sh(py, "-m", "pip", "install", "--no-index", "--find-links", dir, "pycontainer-build")
	want := fmt.Sprintf("pycontainer %s (commit %s, %s, %s/%s)\n", testVersion, testCommit[:12], runtime.Version(), runtime.GOOS, runtime.GOARCH)
	for _, args := range [][]string{{"--version"}, {"version"}} {
		if got := sh(filepath.Join(bin, "pycontainer"+exe), args...); got != want {
			t.Errorf("pycontainer %s printed %q; want %q", args[0], got, want)
		}
	}
	meta := sh(py, "-c", `import importlib.metadata as m; d = m.metadata("pycontainer-build"); print(d["Version"], d["License-Expression"], d["Requires-Python"], d.get_all("Project-URL"))`)
	if !strings.Contains(meta, "0.1.0 "+testLicense+" >=3.8 ['Source, https://github.com/pycontainer/pycontainer'") {
		t.Errorf("installed metadata: %s", meta)
	}
	sh(py, "-m", "pip", "uninstall", "--yes", "pycontainer-build")
	if _, err := os.Stat(filepath.Join(bin, "pycontainer"+exe)); !os.IsNotExist(err) {
		t.Errorf("pip uninstall left %s (stat: %v)", filepath.Join(bin, "pycontainer"+exe), err)
	}
}

// pipx (and so `pipx install pycontainer-build`, the README's way for a tool of one's own)
// installs the host's wheel offline into its own venv and links pycontainer into its bin.
func TestPipxInstall(t *testing.T) {
	dir := release(t)
	pipx, err := exec.LookPath("pipx")
	if err != nil {
		t.Skip("pipx is not installed (apt-get install pipx; .ci/run installs it)")
	}
	home := t.TempDir()
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(t.Context(), pipx, args...)
		cmd.Env = append(pythonEnv(), "PIPX_HOME="+filepath.Join(home, "pipx"), "PIPX_BIN_DIR="+filepath.Join(home, "bin"), "HOME="+home)
		out, err := cmd.CombinedOutput()
		t.Logf("$ pipx %s\n%s", strings.Join(args, " "), out)
		if err != nil {
			t.Fatalf("pipx %s: %v", args[0], err)
		}
		return string(out)
	}
	run("install", "--pip-args=--no-index --find-links "+dir, "pycontainer-build")
	bin := filepath.Join(home, "bin", "pycontainer")
	out, err := exec.CommandContext(t.Context(), bin, "--version").CombinedOutput()
	if want := "pycontainer " + testVersion + " "; err != nil || !strings.HasPrefix(string(out), want) {
		t.Errorf("%s --version: %q, %v; want it to start %q", bin, out, err, want)
	}
	run("uninstall", "pycontainer-build")
	if _, err := os.Lstat(bin); !os.IsNotExist(err) {
		t.Errorf("pipx uninstall left %s (lstat: %v)", bin, err)
	}
}
