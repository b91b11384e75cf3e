package main

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// target is one release binary and the wheel that carries it.
type target struct {
	GOOS, GOARCH, GOARM string
	// Platforms are the wheel's platform tags, a compressed tag set: pip installs the
	// wheel on a host that accepts any one of them.
	Platforms []string
}

// targets are the release's platforms. The binary is static (CGO_ENABLED=0), so one
// Linux binary serves glibc and musl hosts alike: its wheel carries the manylinux tags and
// their musllinux twin. manylinux2014 (CentOS 7, kernel 3.10) is the oldest line whose
// kernel Go still supports (3.2). Go 1.26's linker stamps macOS binaries with a minimum of
// macOS 12.0 (LC_BUILD_VERSION), so an older macosx tag would install a binary that
// cannot start.
var targets = []target{
	{GOOS: "linux", GOARCH: "amd64", Platforms: []string{"manylinux_2_17_x86_64", "manylinux2014_x86_64", "musllinux_1_1_x86_64"}},
	{GOOS: "linux", GOARCH: "arm64", Platforms: []string{"manylinux_2_17_aarch64", "manylinux2014_aarch64", "musllinux_1_1_aarch64"}},
	{GOOS: "linux", GOARCH: "arm", GOARM: "7", Platforms: []string{"manylinux_2_17_armv7l", "manylinux2014_armv7l", "musllinux_1_1_armv7l"}},
	{GOOS: "darwin", GOARCH: "arm64", Platforms: []string{"macosx_12_0_arm64"}},
	{GOOS: "darwin", GOARCH: "amd64", Platforms: []string{"macosx_12_0_x86_64"}},
	{GOOS: "windows", GOARCH: "amd64", Platforms: []string{"win_amd64"}},
}

// String is the target as Go and OCI name it: linux/arm/v7.
func (t target) String() string {
	s := t.GOOS + "/" + t.GOARCH
	if t.GOARM != "" {
		s += "/v" + t.GOARM
	}
	return s
}

// suffix names the target in file names: linux-armv7, windows-amd64.
func (t target) suffix() string {
	s := t.GOOS + "-" + t.GOARCH
	if t.GOARM != "" {
		s += "v" + t.GOARM
	}
	return s
}

// exe is the executable suffix of the target's OS.
func (t target) exe() string {
	if t.GOOS == "windows" {
		return ".exe"
	}
	return ""
}

// binaryName is the release binary's file name: pycontainer-v0.1.0-linux-amd64.
func (t target) binaryName(version string) string {
	return "pycontainer-" + version + "-" + t.suffix() + t.exe()
}

// parseTargets picks targets by name ("linux/amd64,windows/amd64"); "" or "all" is every target.
func parseTargets(s string) ([]target, error) {
	if s == "" || s == "all" {
		return targets, nil
	}
	var out []target
	for _, name := range strings.Split(s, ",") {
		i := slices.IndexFunc(targets, func(t target) bool { return t.String() == strings.TrimSpace(name) })
		if i < 0 {
			return nil, fmt.Errorf("unknown target %q (the release targets: %s)", name, targetNames())
		}
		if !slices.ContainsFunc(out, func(t target) bool { return t.String() == targets[i].String() }) {
			out = append(out, targets[i])
		}
	}
	return out, nil
}

func targetNames() string {
	names := make([]string, len(targets))
	for i, t := range targets {
		names[i] = t.String()
	}
	return strings.Join(names, ", ")
}

// releaseVersionRE is the tag form a release takes: v1.2.3, v1.2.3-rc.1 (alpha, beta, rc only,
// because the wheel's version must be PEP 440 too).
var releaseVersionRE = regexp.MustCompile(`^v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(?:-(alpha|beta|rc)\.(0|[1-9][0-9]*))?$`)

// pythonVersion is a release tag's PEP 440 form: v1.2.3 → 1.2.3, v1.2.3-rc.1 → 1.2.3rc1.
func pythonVersion(v string) (string, error) {
	m := releaseVersionRE.FindStringSubmatch(v)
	if m == nil {
		return "", fmt.Errorf("version %q is not vMAJOR.MINOR.PATCH, optionally with -alpha.N, -beta.N or -rc.N", v)
	}
	out := m[1] + "." + m[2] + "." + m[3]
	if m[4] != "" {
		out += map[string]string{"alpha": "a", "beta": "b", "rc": "rc"}[m[4]] + m[5]
	}
	return out, nil
}
