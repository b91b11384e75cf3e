package main

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"
)

const (
	projectName = "pycontainer-build"
	distName    = "pycontainer_build" // the project name as wheel file names spell it
	repoURL     = "https://github.com/pycontainer/pycontainer"
)

// project is what every wheel of a release says about the project.
type project struct {
	Version     string // PEP 440
	Summary     string
	Description string // markdown
	License     string // SPDX expression; empty until the maintainers choose one
	// Modified is every zip entry's time: SOURCE_DATE_EPOCH or 1980-01-01, the zip epoch,
	// so the wheel's bytes depend on nothing but its contents.
	Modified time.Time
}

// wheelName is the wheel's file name, its tags as pip reads them.
func wheelName(version string, t target) string {
	return fmt.Sprintf("%s-%s-py3-none-%s.whl", distName, version, strings.Join(t.Platforms, "."))
}

// wheelEntry is one file in a wheel.
type wheelEntry struct {
	name string
	data []byte
	mode os.FileMode
}

// wheelEntries are the files of the wheel carrying binary for t: the binary as a script
// (pip puts .data/scripts/ on PATH: bin/ or Scripts\), METADATA, WHEEL and RECORD, sorted.
func wheelEntries(p project, t target, binary []byte) []wheelEntry {
	info := distName + "-" + p.Version + ".dist-info/"
	entries := []wheelEntry{
		{distName + "-" + p.Version + ".data/scripts/pycontainer" + t.exe(), binary, 0o755},
		{info + "METADATA", metadata(p), 0o644},
		{info + "WHEEL", wheelFile(t), 0o644},
	}
	entries = append(entries, wheelEntry{info + "RECORD", record(entries, info+"RECORD"), 0o644})
	slices.SortFunc(entries, func(a, b wheelEntry) int { return strings.Compare(a.name, b.name) })
	return entries
}

// metadata is the core metadata: version 2.1, what every pip since 2018 reads, or 2.4 when
// it carries a License-Expression (PEP 639). Without -license there is no license field
// rather than a guess.
func metadata(p project) []byte {
	var b bytes.Buffer
	version := "2.1"
	if p.License != "" {
		version = "2.4"
	}
	fmt.Fprintf(&b, "Metadata-Version: %s\nName: %s\nVersion: %s\nSummary: %s\n", version, projectName, p.Version, p.Summary)
	if p.License != "" {
		fmt.Fprintf(&b, "License-Expression: %s\n", p.License)
	}
	fmt.Fprintf(&b, "Project-URL: Source, %s\nProject-URL: Documentation, %s#readme\n", repoURL, repoURL)
	b.WriteString("Keywords: oci,container,image,docker,build,python\n")
	b.WriteString("Classifier: Environment :: Console\n")
	b.WriteString("Classifier: Topic :: Software Development :: Build Tools\n")
	b.WriteString("Requires-Python: >=3.8\n")
	b.WriteString("Description-Content-Type: text/markdown\n\n")
	b.WriteString(p.Description)
	return b.Bytes()
}

// wheelFile is the WHEEL file: not purelib (the payload is a platform binary), one Tag line
// per tag of the compressed set.
func wheelFile(t target) []byte {
	var b bytes.Buffer
	b.WriteString("Wheel-Version: 1.0\nGenerator: pycontainer internal/release\nRoot-Is-Purelib: false\n")
	for _, p := range t.Platforms {
		fmt.Fprintf(&b, "Tag: py3-none-%s\n", p)
	}
	return b.Bytes()
}

// record is RECORD for entries: path,sha256=<urlsafe base64 without padding>,size; RECORD
// itself has neither hash nor size. No path needs CSV quoting.
func record(entries []wheelEntry, self string) []byte {
	var b bytes.Buffer
	for _, e := range entries {
		sum := sha256.Sum256(e.data)
		fmt.Fprintf(&b, "%s,sha256=%s,%d\n", e.name, base64.RawURLEncoding.EncodeToString(sum[:]), len(e.data))
	}
	fmt.Fprintf(&b, "%s,,\n", self)
	return b.Bytes()
}

// writeWheel writes the wheel of binary for t to path, byte for byte the same every time.
func writeWheel(path string, p project, t target, binary []byte) error {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range wheelEntries(p, t, binary) {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate, Modified: p.Modified}
		h.SetMode(e.mode) // pip makes a script executable from these Unix bits
		w, err := zw.CreateHeader(h)
		if err != nil {
			return fmt.Errorf("wheel %s: %w", path, err)
		}
		if _, err := w.Write(e.data); err != nil {
			return fmt.Errorf("wheel %s: %w", path, err)
		}
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("wheel %s: %w", path, err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write wheel: %w", err)
	}
	return nil
}
