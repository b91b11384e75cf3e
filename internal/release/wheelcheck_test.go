package main

import (
	"archive/zip"
	"crypto/sha256"
	"encoding/base64"
	"encoding/csv"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// readWheel is every file of the wheel at path.
func readWheel(t *testing.T, path string) map[string][]byte {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	out := map[string][]byte{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("%s in %s: %v", f.Name, path, err)
		}
		out[f.Name] = data
	}
	return out
}

// checkWheel checks what pip relies on: RECORD lists every file with its right hash and
// size (and nothing else), WHEEL's tags are the target's, METADATA names the project.
func checkWheel(t *testing.T, path string, tg target) {
	t.Helper()
	files := readWheel(t, path)
	info := "pycontainer_build-" + testProject.Version + ".dist-info/"
	rows, err := csv.NewReader(strings.NewReader(string(files[info+"RECORD"]))).ReadAll()
	if err != nil {
		t.Fatalf("RECORD of %s: %v", path, err)
	}
	listed := map[string]bool{}
	for _, row := range rows {
		name, hash, size := row[0], row[1], row[2]
		listed[name] = true
		data, ok := files[name]
		switch {
		case !ok:
			t.Errorf("%s: RECORD lists %s, which the wheel lacks", path, name)
		case name == info+"RECORD":
			if hash != "" || size != "" {
				t.Errorf("%s: RECORD's own row %v", path, row)
			}
		default:
			sum := sha256.Sum256(data)
			if hash != "sha256="+base64.RawURLEncoding.EncodeToString(sum[:]) || size != strconv.Itoa(len(data)) {
				t.Errorf("%s: RECORD row %v does not match the file", path, row)
			}
		}
	}
	for name := range files {
		if !listed[name] {
			t.Errorf("%s: %s is not in RECORD", path, name)
		}
	}
	var tags []string
	for _, line := range strings.Split(string(files[info+"WHEEL"]), "\n") {
		if tag, ok := strings.CutPrefix(line, "Tag: "); ok {
			tags = append(tags, tag)
		}
	}
	var want []string
	for _, p := range tg.Platforms {
		want = append(want, "py3-none-"+p)
	}
	if !slices.Equal(tags, want) || !strings.Contains(string(files[info+"WHEEL"]), "Root-Is-Purelib: false\n") {
		t.Errorf("%s: WHEEL\n%s", path, files[info+"WHEEL"])
	}
	if m := string(files[info+"METADATA"]); !strings.HasPrefix(m, "Metadata-Version: 2.4\nName: pycontainer-build\nVersion: "+testProject.Version+"\n") || !strings.Contains(m, "\nLicense-Expression: "+testLicense+"\n") {
		t.Errorf("%s: METADATA\n%s", path, files[info+"METADATA"])
	}
}

// fileTags are the platform tags a wheel's file name declares.
func fileTags(t *testing.T, path string) []string {
	t.Helper()
	parts := strings.Split(strings.TrimSuffix(filepath.Base(path), ".whl"), "-")
	if len(parts) != 5 || parts[0] != "pycontainer_build" || parts[2] != "py3" || parts[3] != "none" {
		t.Fatalf("%s is not pycontainer_build-VERSION-py3-none-PLATFORM.whl", path)
	}
	return strings.Split(parts[4], ".")
}
