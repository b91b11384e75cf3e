package main

import (
	"archive/zip"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestPythonVersion(t *testing.T) {
	for in, want := range map[string]string{"v0.1.0": "0.1.0", "v1.20.3": "1.20.3", "v1.0.0-rc.2": "1.0.0rc2", "v2.0.0-alpha.0": "2.0.0a0", "v2.0.0-beta.1": "2.0.0b1"} {
		if got, err := pythonVersion(in); err != nil || got != want {
			t.Errorf("pythonVersion(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "0.1.0", "v1.2", "v01.2.3", "v1.2.3-dev", "v1.2.3-rc1", "v1.2.3+meta", "v1.2.3 "} {
		if got, err := pythonVersion(bad); err == nil {
			t.Errorf("pythonVersion(%q) = %q; want an error", bad, got)
		}
	}
}

func TestParseTargets(t *testing.T) {
	all, err := parseTargets("all")
	if err != nil || len(all) != 6 {
		t.Fatalf("all: %d targets, %v", len(all), err)
	}
	two, err := parseTargets("windows/amd64, linux/arm/v7,windows/amd64")
	if err != nil || len(two) != 2 || two[0].String() != "windows/amd64" || two[1].String() != "linux/arm/v7" {
		t.Fatalf("subset: %v, %v", two, err)
	}
	if _, err := parseTargets("linux/386"); err == nil || !strings.Contains(err.Error(), "linux/arm/v7") {
		t.Errorf("an unknown target: %v; want an error listing the targets", err)
	}
}

func TestSourceDate(t *testing.T) {
	if got, _ := sourceDate(""); !got.Equal(zipEpoch) {
		t.Errorf("no SOURCE_DATE_EPOCH: %v", got)
	}
	if got, _ := sourceDate("1700000000"); !got.Equal(time.Unix(1700000000, 0)) {
		t.Errorf("SOURCE_DATE_EPOCH=1700000000: %v", got)
	}
	if got, _ := sourceDate("0"); !got.Equal(zipEpoch) { // a zip cannot hold 1970
		t.Errorf("SOURCE_DATE_EPOCH=0: %v", got)
	}
	if _, err := sourceDate("yesterday"); err == nil {
		t.Error("SOURCE_DATE_EPOCH=yesterday: no error")
	}
}

func TestParseFlags(t *testing.T) {
	env := func(string) string { return "" }
	if _, err := parseFlags(nil, env, io.Discard); err == nil || !strings.Contains(err.Error(), "-version is required") {
		t.Errorf("no -version: %v", err)
	}
	if _, err := parseFlags([]string{"-version", "v1.0.0", "-commit", "HEAD"}, env, io.Discard); err == nil {
		t.Error("-commit HEAD: no error")
	}
	o, err := parseFlags([]string{"-version", "v1.0.0", "-targets", "linux/amd64", "-out", "x"}, env, io.Discard)
	if err != nil || len(o.Targets) != 1 || o.Out != "x" || !o.Modified.Equal(zipEpoch) {
		t.Errorf("%+v, %v", o, err)
	}
	for _, tc := range []struct {
		license string
		ok      bool
	}{
		{"Apache-2.0", true}, {"MIT OR Apache-2.0", true}, {"(MIT OR Apache-2.0) AND BSD-3-Clause", true},
		{"GPL-2.0-only WITH Classpath-exception-2.0", true}, {"LicenseRef-Acme", true},
		{"Apache License 2.0", false}, {"MIT,Apache-2.0", false}, {"MIT\nName: evil", false},
	} {
		o, err := parseFlags([]string{"-version", "v1.0.0", "-license", tc.license}, env, io.Discard)
		if tc.ok && (err != nil || o.License != tc.license) {
			t.Errorf("-license %q: %+v, %v", tc.license, o.License, err)
		}
		if !tc.ok && (err == nil || !strings.Contains(err.Error(), "not an SPDX license expression")) {
			t.Errorf("-license %q: %v; want an error naming SPDX", tc.license, err)
		}
	}
}

func TestDescribe(t *testing.T) {
	summary, desc, err := describe("# tool\n\nDoes things. Well, and fast.\nSecond line.\n\n## Next\n")
	if err != nil || summary != "Does things." || desc != "Does things. Well, and fast.\nSecond line.\n" {
		t.Errorf("%q %q %v", summary, desc, err)
	}
	if _, _, err := describe("no title here\n"); err == nil {
		t.Error("a README without a title: no error")
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	summary, _, err = describe(string(readme))
	if err != nil || !strings.HasPrefix(summary, "Build OCI container images for Python apps") || strings.Contains(summary, "\n") {
		t.Errorf("the README's summary %q, %v", summary, err)
	}
}

// The file names are what pip matches a host against: spelled out here, not derived.
func TestWheelNames(t *testing.T) {
	want := map[string]string{
		"linux/amd64":   "pycontainer_build-0.1.0-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.musllinux_1_1_x86_64.whl",
		"linux/arm64":   "pycontainer_build-0.1.0-py3-none-manylinux_2_17_aarch64.manylinux2014_aarch64.musllinux_1_1_aarch64.whl",
		"linux/arm/v7":  "pycontainer_build-0.1.0-py3-none-manylinux_2_17_armv7l.manylinux2014_armv7l.musllinux_1_1_armv7l.whl",
		"darwin/arm64":  "pycontainer_build-0.1.0-py3-none-macosx_12_0_arm64.whl",
		"darwin/amd64":  "pycontainer_build-0.1.0-py3-none-macosx_12_0_x86_64.whl",
		"windows/amd64": "pycontainer_build-0.1.0-py3-none-win_amd64.whl",
	}
	binaries := map[string]string{
		"linux/amd64": "pycontainer-v0.1.0-linux-amd64", "linux/arm64": "pycontainer-v0.1.0-linux-arm64",
		"linux/arm/v7": "pycontainer-v0.1.0-linux-armv7", "darwin/arm64": "pycontainer-v0.1.0-darwin-arm64",
		"darwin/amd64": "pycontainer-v0.1.0-darwin-amd64", "windows/amd64": "pycontainer-v0.1.0-windows-amd64.exe",
	}
	for _, tg := range targets {
		if got := wheelName("0.1.0", tg); got != want[tg.String()] {
			t.Errorf("%s: wheel %s; want %s", tg, got, want[tg.String()])
		}
		if got := tg.binaryName("v0.1.0"); got != binaries[tg.String()] {
			t.Errorf("%s: binary %s; want %s", tg, got, binaries[tg.String()])
		}
	}
	if len(want) != len(targets) {
		t.Errorf("%d targets; the table has %d", len(targets), len(want))
	}
}

var testProject = project{Version: "0.1.0", Summary: "A tool.", Description: "A tool.\n", License: testLicense, Modified: zipEpoch}

// A wheel made twice is the same bytes, and its entries have the fixed times and modes.
func TestWheelIsDeterministic(t *testing.T) {
	dir := t.TempDir()
	tg := targets[0]
	bin := []byte("\x7fELF not really a binary")
	a, b := filepath.Join(dir, "a.whl"), filepath.Join(dir, "b.whl")
	for _, p := range []string{a, b} {
		if err := writeWheel(p, testProject, tg, bin); err != nil {
			t.Fatal(err)
		}
	}
	da, _ := os.ReadFile(a)
	db, _ := os.ReadFile(b)
	if !bytes.Equal(da, db) {
		t.Fatal("two wheels of the same binary differ")
	}
	zr, err := zip.OpenReader(a)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
		mode := os.FileMode(0o644)
		if strings.Contains(f.Name, ".data/scripts/") {
			mode = 0o755
		}
		if f.Mode() != mode || !f.Modified.Equal(zipEpoch) {
			t.Errorf("%s: mode %v, time %v; want %v, %v", f.Name, f.Mode(), f.Modified, mode, zipEpoch)
		}
	}
	wantNames := "pycontainer_build-0.1.0.data/scripts/pycontainer pycontainer_build-0.1.0.dist-info/METADATA " +
		"pycontainer_build-0.1.0.dist-info/RECORD pycontainer_build-0.1.0.dist-info/WHEEL"
	if strings.Join(names, " ") != wantNames {
		t.Errorf("entries %v", names)
	}
	checkWheel(t, a, tg)
}

func TestWindowsWheelCarriesAnExe(t *testing.T) {
	p := filepath.Join(t.TempDir(), "w.whl")
	if err := writeWheel(p, testProject, targets[5], []byte("MZ")); err != nil {
		t.Fatal(err)
	}
	if _, ok := readWheel(t, p)["pycontainer_build-0.1.0.data/scripts/pycontainer.exe"]; !ok {
		t.Error("no pycontainer.exe in the Windows wheel")
	}
}

func TestMetadata(t *testing.T) {
	m := string(metadata(project{Version: "1.2.3rc1", Summary: "S.", Description: "Para one.\nline two.\n"}))
	for _, want := range []string{"Metadata-Version: 2.1\n", "Name: pycontainer-build\n", "Version: 1.2.3rc1\n", "Summary: S.\n",
		"Project-URL: Source, https://github.com/pycontainer/pycontainer\n", "Requires-Python: >=3.8\n",
		"Description-Content-Type: text/markdown\n\nPara one.\nline two.\n"} {
		if !strings.Contains(m, want) {
			t.Errorf("METADATA lacks %q:\n%s", want, m)
		}
	}
	if strings.Contains(m, "License") {
		t.Errorf("METADATA without -license names a license:\n%s", m)
	}
	m = string(metadata(project{Version: "1.0", Summary: "S.", License: "Apache-2.0"}))
	if !strings.HasPrefix(m, "Metadata-Version: 2.4\n") || !strings.Contains(m, "\nLicense-Expression: Apache-2.0\n") {
		t.Errorf("METADATA with -license Apache-2.0 (PEP 639 wants version 2.4 and License-Expression):\n%s", m)
	}
}

// A release never goes into a directory that holds files: a stale wheel would join it.
func TestEmptyDir(t *testing.T) {
	dir := t.TempDir()
	if err := emptyDir(filepath.Join(dir, "new", "release")); err != nil {
		t.Fatalf("an absent directory: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "new", "release", "pycontainer_build-0.0.1-py3-none-win_amd64.whl"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := emptyDir(filepath.Join(dir, "new", "release")); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("a directory with a wheel: %v", err)
	}
}
