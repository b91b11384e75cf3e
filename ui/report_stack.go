package ui

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/pycontainer/pycontainer/oci"
	"github.com/pycontainer/pycontainer/registry"
	"github.com/pycontainer/pycontainer/stack"
)

// The text and JSON reports of `pycontainer platforms --compose/--dockerfile`: a matrix
// of image × platform, then every miss with where it is named and its next step.

// reportPlaceNames names the places of a row for its first column: services, else stages.
func reportPlaceNames(r stack.Row) string {
	var names []string
	for _, p := range r.Places {
		name := p.Source.Service
		if name == "" {
			name = "stage " + p.Source.Stage
		}
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	return strings.Join(names, ", ")
}

// stackCell is a row's mark for a column: ✓, ✗, or · when the row is not checked for it.
func stackCell(r stack.Row, p registry.PlatformRequest) (stack.Cell, string) {
	for _, c := range r.Cells {
		if oci.SamePlatform(c.Platform.Platform, p.Platform) {
			if c.Found {
				return c, "✓"
			}
			return c, "✗"
		}
	}
	if r.Err != nil {
		return stack.Cell{}, "?"
	}
	return stack.Cell{}, "·"
}

// WriteStackMatrix writes the matrix, then each miss and each image that could not be
// read, with its places and next step. Everything from files and registries is
// sanitized.
func WriteStackMatrix(w io.Writer, c *stack.Check) {
	placeW, imageW := len("SERVICE/STAGE"), len("IMAGE")
	for _, r := range c.Rows {
		placeW = max(placeW, len([]rune(Sanitize(reportPlaceNames(r)))))
		imageW = max(imageW, len([]rune(Sanitize(r.Image))))
	}
	var head strings.Builder
	fmt.Fprintf(&head, "%-*s  %-*s", placeW, "SERVICE/STAGE", imageW, "IMAGE")
	for _, p := range c.Platforms {
		fmt.Fprintf(&head, "  %-*s", max(len(p.String()), 5), p.String())
	}
	fmt.Fprintln(w, strings.TrimRight(head.String(), " "))
	for _, r := range c.Rows {
		var line strings.Builder
		fmt.Fprintf(&line, "%-*s  %-*s", placeW, Sanitize(reportPlaceNames(r)), imageW, Sanitize(r.Image))
		for _, p := range c.Platforms {
			_, mark := stackCell(r, p)
			fmt.Fprintf(&line, "  %-*s", max(len(p.String()), 5), mark)
		}
		fmt.Fprintln(w, strings.TrimRight(line.String(), " "))
	}
	writeStackMisses(w, c)
}

// writeStackMisses says, for every ✗ and every image that could not be read, where it
// is named and what to do.
func writeStackMisses(w io.Writer, c *stack.Check) {
	for _, r := range c.Rows {
		where := stackSources(r)
		if r.Err != nil {
			fmt.Fprintf(w, "\n%s  %s\n  named at %s\n", Sanitize(r.Image), Sanitize(firstLineOf(r.Err.Error())), Sanitize(where))
			continue
		}
		for _, cell := range r.Cells {
			if cell.Found {
				continue
			}
			fmt.Fprintf(w, "\n%s has no %s\n  named at %s\n  next: %s\n", Sanitize(r.Image), cell.Platform, Sanitize(where), Sanitize(cell.Next.Text))
		}
	}
}

func stackSources(r stack.Row) string {
	var out []string
	for _, p := range r.Places {
		out = append(out, p.Source.String())
	}
	return strings.Join(out, "; ")
}

func firstLineOf(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// stackJSON is the schema of `platforms --compose/--dockerfile --json`.
type stackJSON struct {
	Platforms []string         `json:"platforms"`
	Images    []stackImageJSON `json:"images"`
	OK        bool             `json:"ok"` // every image read, every platform found
}

type stackImageJSON struct {
	Image     string            `json:"image"`
	Ref       string            `json:"ref"`
	Digest    string            `json:"digest,omitempty"`
	Sources   []stackSourceJSON `json:"sources"`
	Error     string            `json:"error,omitempty"`
	Available []string          `json:"available"`
	Platforms []stackCellJSON   `json:"platforms"`
}

type stackSourceJSON struct {
	Source   string `json:"source"` // file:line (service or stage), as the text report says
	File     string `json:"file"`
	Line     int    `json:"line"`
	Service  string `json:"service,omitempty"`
	Stage    string `json:"stage,omitempty"`
	Platform string `json:"platform,omitempty"` // what the file asks for it
}

type stackCellJSON struct {
	Platform string         `json:"platform"`
	From     string         `json:"from"` // where the platform was asked for
	Found    bool           `json:"found"`
	Next     *stackNextJSON `json:"next,omitempty"`
}

type stackNextJSON struct {
	Kind string `json:"kind"` // sibling, newer, emulate or nothing
	Ref  string `json:"ref,omitempty"`
	Text string `json:"text"`
}

var nextKinds = map[stack.NextKind]string{stack.NextSibling: "sibling", stack.NextNewer: "newer", stack.NextEmulate: "emulate", stack.NextNothing: "nothing"}

// WriteStackJSON writes the check as one JSON document.
func WriteStackJSON(w io.Writer, c *stack.Check) error {
	doc := stackJSON{Platforms: []string{}, Images: []stackImageJSON{}, OK: c.Missing() == 0}
	for _, p := range c.Platforms {
		doc.Platforms = append(doc.Platforms, p.String())
	}
	for _, r := range c.Rows {
		doc.Images = append(doc.Images, stackImage(r))
	}
	enc := json.NewEncoder(SanitizeJSON(w)) // the files' and registries' strings, escaped for a terminal
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("write the stack report: %w", err)
	}
	return nil
}

func stackImage(r stack.Row) stackImageJSON {
	img := stackImageJSON{Image: r.Image, Ref: r.Ref, Sources: []stackSourceJSON{}, Available: []string{}, Platforms: []stackCellJSON{}}
	for _, p := range r.Places {
		s := p.Source
		img.Sources = append(img.Sources, stackSourceJSON{Source: s.String(), File: s.File, Line: s.Line, Service: s.Service, Stage: s.Stage, Platform: p.Platform})
	}
	if r.Err != nil {
		img.Error = firstLineOf(r.Err.Error())
	}
	if r.Index != nil {
		img.Digest = r.Index.Digest.String()
		for _, p := range r.Index.Platforms() {
			img.Available = append(img.Available, oci.PlatformString(p))
		}
	}
	for _, c := range r.Cells {
		cell := stackCellJSON{Platform: c.Platform.String(), From: c.Platform.Source, Found: c.Found}
		if !c.Found {
			cell.Next = &stackNextJSON{Kind: nextKinds[c.Next.Kind], Ref: c.Next.Ref, Text: c.Next.Text}
		}
		img.Platforms = append(img.Platforms, cell)
	}
	return img
}
