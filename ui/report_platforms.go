package ui

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/pycontainer/pycontainer/build"
	"github.com/pycontainer/pycontainer/oci"
	"github.com/pycontainer/pycontainer/registry"
)

// The text and JSON reports of `pycontainer platforms`. The host is a parameter, not
// detected here, so that the same index renders the same everywhere (the goldens).

// MissingPlatform is a platform a --check asked for that an image's index lacks.
type MissingPlatform struct {
	Image string
	Err   *build.NoMatchError
}

// PlatformsCheck is what a --check asked for and what it found missing. With no
// Wanted, no check was asked and the JSON has no "check" member.
type PlatformsCheck struct {
	Wanted  []build.RequestedPlatform
	Missing []MissingPlatform
}

// platformRows are an index's entries in display order, attestations last and only
// when asked for.
func platformRows(ix *registry.Index, all bool) []registry.Entry {
	var out, att []registry.Entry
	for _, e := range ix.Entries {
		switch {
		case !e.Attestation:
			out = append(out, e)
		case all:
			att = append(att, e)
		}
	}
	return append(out, att...)
}

func entryLabel(e registry.Entry) string {
	if e.Attestation {
		return "attestation"
	}
	return oci.PlatformString(e.Platform)
}

// WritePlatformTable writes an index's entries as a table, with how each runs on host;
// what the index says is sanitized (it comes from the registry).
func WritePlatformTable(w io.Writer, ix *registry.Index, all bool, host oci.Host) {
	kind := "index"
	if ix.Single {
		kind = "single-platform image"
	}
	fmt.Fprintf(w, "%s  %s %s\n", Sanitize(ix.Ref.CommonName()), kind, Sanitize(ix.Digest.String()))
	hasOSVersion := false
	for _, e := range ix.Entries {
		hasOSVersion = hasOSVersion || (e.Descriptor.Platform != nil && e.Descriptor.Platform.OSVersion != "")
	}
	header := fmt.Sprintf("%-16s %-16s", "PLATFORM", "INDEX SAYS")
	if hasOSVersion { // 16: Windows' versions are 15 characters, 10.0.20348.2340
		header += fmt.Sprintf(" %-16s", "OS.VERSION")
	}
	fmt.Fprintf(w, "%s %-12s %9s %6s  %s\n", header, "DIGEST", "SIZE", "LAYERS", "ON THIS MACHINE ("+oci.PlatformString(host.Platform)+")")
	for _, e := range platformRows(ix, all) {
		raw, osVersion, note := "", "", ""
		if e.Descriptor.Platform != nil {
			raw, osVersion = Sanitize(oci.PlatformString(*e.Descriptor.Platform)), Sanitize(e.Descriptor.Platform.OSVersion)
		}
		if e.Attestation {
			note = "not an image (signatures, SBOM)"
			if ref := e.Descriptor.Annotations["vnd.docker.reference.digest"]; ref != "" {
				note = AttestationLabel(ix, e)
			}
		} else {
			note = host.HowRuns(e.Platform).Note
		}
		line := fmt.Sprintf("%-16s %-16s", Sanitize(entryLabel(e)), raw)
		if hasOSVersion {
			line += fmt.Sprintf(" %-16s", osVersion)
		}
		fmt.Fprintln(w, Sanitize(fmt.Sprintf("%s %-12s %9s %6s  %s", line, oci.ShortHex(e.Descriptor.Digest.String()), SizeOrDash(e.Size), CountOrDash(e.Layers), note)))
	}
}

// WritePlatformMatrix shows several images side by side: one row per platform, one
// column per image.
func WritePlatformMatrix(w io.Writer, indexes []*registry.Index, all bool) {
	var rows []string
	seen := map[string]bool{}
	cells := map[string]map[int]string{}
	for i, ix := range indexes {
		for _, e := range platformRows(ix, all) {
			label := Sanitize(entryLabel(e))
			if !seen[label] {
				seen[label] = true
				rows = append(rows, label)
				cells[label] = map[int]string{}
			}
			if e.Attestation {
				cells[label][i] = "yes"
			} else {
				cells[label][i] = "✓ " + SizeOrDash(e.Size)
			}
		}
	}
	widths := make([]int, len(indexes))
	names := make([]string, len(indexes))
	for i, ix := range indexes {
		names[i] = Sanitize(shortName(ix.Ref.CommonName()))
		widths[i] = max(len([]rune(names[i])), 12)
	}
	// Each line without the last column's padding: trailing blanks only get in the way
	// of a copy or a diff.
	line := func(first string, cell func(i int) string) {
		var b strings.Builder
		fmt.Fprintf(&b, "%-16s", first)
		for i := range indexes {
			fmt.Fprintf(&b, "  %-*s", widths[i], cell(i))
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
	line("PLATFORM", func(i int) string { return names[i] })
	for _, r := range rows {
		line(r, func(i int) string {
			if c := cells[r][i]; c != "" {
				return c
			}
			return "–"
		})
	}
}

// shortName drops Docker Hub's implicit parts: docker.io/library/python:3.11 -> python:3.11.
func shortName(name string) string {
	name = strings.TrimPrefix(name, "docker.io/")
	return strings.TrimPrefix(name, "library/")
}

// platformsJSON is the schema of `platforms --json`.
type platformsJSON struct {
	Images []platformsImageJSON `json:"images"`
	Check  *platformsCheckJSON  `json:"check,omitempty"`
}

type platformsImageJSON struct {
	Image     string              `json:"image"`
	Digest    string              `json:"digest"`
	MediaType string              `json:"media_type"`
	Single    bool                `json:"single_manifest"`
	Platforms []platformEntryJSON `json:"platforms"`
}

type platformEntryJSON struct {
	Platform      string `json:"platform"`
	IndexPlatform string `json:"index_platform"`
	OS            string `json:"os"`
	Architecture  string `json:"architecture"`
	Variant       string `json:"variant,omitempty"`
	OSVersion     string `json:"os_version,omitempty"`
	Digest        string `json:"digest"`
	Size          int64  `json:"size"`
	Layers        int    `json:"layers"`
	Attestation   bool   `json:"attestation"`
	Native        bool   `json:"native"`
	Host          string `json:"host"`
}

type platformsCheckJSON struct {
	Platforms []string           `json:"platforms"`
	OK        bool               `json:"ok"`
	Missing   []checkMissingJSON `json:"missing"`
}

type checkMissingJSON struct {
	Image       string   `json:"image"`
	Platform    string   `json:"platform"`
	Available   []string `json:"available"`
	Suggestions []string `json:"suggestions"`
}

// WritePlatformsJSON writes the indexes, and the check when one was asked, as the
// schema in the README, with how each entry runs on host.
func WritePlatformsJSON(w io.Writer, indexes []*registry.Index, check PlatformsCheck, all bool, host oci.Host) error {
	w = SanitizeJSON(w) // the index's strings, escaped for a terminal; they decode the same
	var doc platformsJSON
	for _, ix := range indexes {
		doc.Images = append(doc.Images, platformsImage(ix, all, host))
	}
	if len(check.Wanted) > 0 {
		doc.Check = platformsCheck(check)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("writing the platforms as JSON: %w", err)
	}
	return nil
}

func platformsImage(ix *registry.Index, all bool, host oci.Host) platformsImageJSON {
	img := platformsImageJSON{Image: ix.Ref.CommonName(), Digest: ix.Digest.String(), MediaType: ix.MediaType, Single: ix.Single, Platforms: []platformEntryJSON{}}
	for _, e := range platformRows(ix, all) {
		p := e.Platform
		j := platformEntryJSON{Platform: entryLabel(e), IndexPlatform: oci.PlatformString(p), OS: p.OS, Architecture: p.Architecture, Variant: p.Variant,
			Digest: e.Descriptor.Digest.String(), Size: e.Size, Layers: e.Layers, Attestation: e.Attestation}
		if e.Descriptor.Platform != nil {
			j.IndexPlatform, j.OSVersion = oci.PlatformString(*e.Descriptor.Platform), e.Descriptor.Platform.OSVersion
		}
		if !e.Attestation {
			how := host.HowRuns(p)
			j.Native, j.Host = how.Native, how.Note
		}
		img.Platforms = append(img.Platforms, j)
	}
	return img
}

func platformsCheck(check PlatformsCheck) *platformsCheckJSON {
	c := &platformsCheckJSON{OK: len(check.Missing) == 0, Missing: []checkMissingJSON{}}
	for _, wnt := range check.Wanted {
		c.Platforms = append(c.Platforms, wnt.String())
	}
	for _, m := range check.Missing {
		j := checkMissingJSON{Image: m.Image, Platform: m.Err.Requested.String(), Available: []string{}, Suggestions: []string{}}
		for _, p := range m.Err.Available {
			j.Available = append(j.Available, oci.PlatformString(p))
		}
		if d := m.Err.Diagnosis; d != nil {
			for _, s := range d.Siblings {
				j.Suggestions = append(j.Suggestions, s.Ref)
			}
		}
		c.Missing = append(c.Missing, j)
	}
	return c
}
