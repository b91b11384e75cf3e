package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/pycontainer/pycontainer/build"
	"github.com/pycontainer/pycontainer/internal/cmdenv"
	"github.com/pycontainer/pycontainer/oci"
	"github.com/pycontainer/pycontainer/registry"
	"github.com/pycontainer/pycontainer/ui"
)

func newPlatformsCommand(env cmdenv.Env) *cobra.Command {
	stdout, stderr := env.Stdout, env.Stderr
	var all, asJSON, insecure bool
	var check []string
	cmd := &cobra.Command{
		Use:               "platforms IMAGE [IMAGE...]",
		ValidArgsFunction: completeRecentImages(env),
		Short:             "List the platforms of base images; --check fails when one is missing",
		Long: `platforms lists what each image's index offers: os/arch/variant, os.version, digest,
compressed size and layer count, and how each runs on this machine. Several images are
shown side by side as a matrix. Attestation entries (unknown/unknown) are hidden unless
--all. --check linux/arm64,linux/arm/v6 exits 1 naming each missing platform, with a
diagnosis and sibling tags that have it (a CI gate). --json prints the schema in the README.`,
		Example: `  pycontainer platforms python:3.11-slim
  pycontainer platforms python:3.11-slim python:3.11-alpine
  pycontainer platforms --check linux/amd64,linux/arm64 python:3.11-slim`,
		Args: usageArgs(cobra.MinimumNArgs(1), "name at least one image, e.g. pycontainer platforms python:3.11-slim"),
		RunE: func(cmd *cobra.Command, images []string) error {
			var wanted []build.RequestedPlatform
			for _, raw := range build.SplitList(check) {
				p, err := oci.ParsePlatform(raw)
				if err != nil {
					return usageError{err}
				}
				wanted = append(wanted, build.RequestedPlatform{Platform: p, Raw: raw, Source: "--check flag"})
			}
			opts := registrySettings(cmd, env) // only the registry settings matter here
			opts.InsecureBase = opts.InsecureBase || insecure
			indexes, err := fetchIndexes(cmd.Context(), opts, images)
			if err != nil {
				return err
			}
			missing := checkPlatforms(cmd.Context(), opts, indexes, wanted)
			if asJSON {
				if err := writePlatformsJSON(stdout, indexes, wanted, missing, all); err != nil {
					return err
				}
			} else if len(indexes) == 1 {
				printPlatformTable(stdout, indexes[0], all)
			} else {
				printPlatformMatrix(stdout, indexes, all)
			}
			if len(missing) == 0 {
				return nil
			}
			// All but the last here, the last as the command's error: in the order asked.
			last := len(missing) - 1
			if !asJSON {
				for _, m := range missing[:last] {
					fmt.Fprintf(stderr, "Error: %s\n%s\n", ui.Sanitize(m.err.Error()), ui.SanitizeLines(m.err.Detail()))
				}
			}
			return sanitizedNoMatch{missing[last].err}
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "also list attestation entries (marked)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().StringSliceVar(&check, "check", nil, "platforms that must be present (comma-separated or repeated); exit 1 if one is missing")
	cmd.Flags().BoolVar(&insecure, "insecure", false, "reach the images' registries over plain HTTP")
	return cmd
}

// fetchIndexes reads every image's index, with sizes, concurrently.
func fetchIndexes(ctx context.Context, opts *build.Options, images []string) ([]*registry.Index, error) {
	out := make([]*registry.Index, len(images))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for i, image := range images {
		g.Go(func() error {
			ix, err := registry.FetchIndex(gctx, opts.Connect, image)
			out[i] = ix
			return err
		})
	}
	return out, g.Wait()
}

// sanitizedNoMatch is a missing platform's error as the terminal shows it: the
// diagnosis names the index's platforms in its own spelling.
type sanitizedNoMatch struct{ err *build.NoMatchError }

func (e sanitizedNoMatch) Error() string  { return ui.Sanitize(e.err.Error()) }
func (e sanitizedNoMatch) Detail() string { return ui.SanitizeLines(e.err.Detail()) }
func (e sanitizedNoMatch) Unwrap() error  { return e.err }

type missingPlatform struct {
	image string
	err   *build.NoMatchError
}

// checkPlatforms diagnoses every wanted platform that an index lacks.
func checkPlatforms(ctx context.Context, opts *build.Options, indexes []*registry.Index, wanted []build.RequestedPlatform) []missingPlatform {
	var out []missingPlatform
	for _, ix := range indexes {
		var missing []build.RequestedPlatform
		for _, w := range wanted {
			if _, ok := ix.Find(w.Platform); !ok {
				missing = append(missing, w)
			}
		}
		if len(missing) == 0 {
			continue
		}
		for i, d := range registry.DiagnoseAll(ctx, opts.Connect(ix.Ref), ix, missing) {
			e := &build.NoMatchError{Image: ix.Ref.CommonName(), Requested: missing[i], Available: ix.Platforms(), Diagnosis: d}
			out = append(out, missingPlatform{image: ix.Ref.CommonName(), err: e})
		}
	}
	return out
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

// printPlatformTable writes an index's entries as a table; what the index says is
// sanitized (it comes from the registry).
func printPlatformTable(w io.Writer, ix *registry.Index, all bool) {
	host := oci.DetectHost()
	kind := "index"
	if ix.Single {
		kind = "single-platform image"
	}
	fmt.Fprintf(w, "%s  %s %s\n", ui.Sanitize(ix.Ref.CommonName()), kind, ui.Sanitize(ix.Digest.String()))
	hasOSVersion := false
	for _, e := range ix.Entries {
		hasOSVersion = hasOSVersion || (e.Descriptor.Platform != nil && e.Descriptor.Platform.OSVersion != "")
	}
	header := fmt.Sprintf("%-16s %-16s", "PLATFORM", "INDEX SAYS")
	if hasOSVersion {
		header += fmt.Sprintf(" %-14s", "OS.VERSION")
	}
	fmt.Fprintf(w, "%s %-12s %9s %6s  %s\n", header, "DIGEST", "SIZE", "LAYERS", "ON THIS MACHINE ("+oci.PlatformString(host.Platform)+")")
	for _, e := range platformRows(ix, all) {
		raw, osVersion, note := "", "", ""
		if e.Descriptor.Platform != nil {
			raw, osVersion = ui.Sanitize(oci.PlatformString(*e.Descriptor.Platform)), ui.Sanitize(e.Descriptor.Platform.OSVersion)
		}
		if e.Attestation {
			note = "not an image (signatures, SBOM)"
			if ref := e.Descriptor.Annotations["vnd.docker.reference.digest"]; ref != "" {
				note = ui.AttestationLabel(ix, e)
			}
		} else {
			note = host.HowRuns(e.Platform).Note
		}
		line := fmt.Sprintf("%-16s %-16s", ui.Sanitize(entryLabel(e)), raw)
		if hasOSVersion {
			line += fmt.Sprintf(" %-14s", osVersion)
		}
		fmt.Fprintln(w, ui.Sanitize(fmt.Sprintf("%s %-12s %9s %6s  %s", line, oci.ShortHex(e.Descriptor.Digest.String()), ui.SizeOrDash(e.Size), ui.CountOrDash(e.Layers), note)))
	}
}

// printPlatformMatrix shows several images side by side: one row per platform, one
// column per image.
func printPlatformMatrix(w io.Writer, indexes []*registry.Index, all bool) {
	var rows []string
	seen := map[string]bool{}
	cells := map[string]map[int]string{}
	for i, ix := range indexes {
		for _, e := range platformRows(ix, all) {
			label := ui.Sanitize(entryLabel(e))
			if !seen[label] {
				seen[label] = true
				rows = append(rows, label)
				cells[label] = map[int]string{}
			}
			if e.Attestation {
				cells[label][i] = "yes"
			} else {
				cells[label][i] = "✓ " + ui.SizeOrDash(e.Size)
			}
		}
	}
	widths := make([]int, len(indexes))
	names := make([]string, len(indexes))
	for i, ix := range indexes {
		names[i] = ui.Sanitize(shortName(ix.Ref.CommonName()))
		widths[i] = max(len([]rune(names[i])), 12)
	}
	fmt.Fprintf(w, "%-16s", "PLATFORM")
	for i, n := range names {
		fmt.Fprintf(w, "  %-*s", widths[i], n)
	}
	fmt.Fprintln(w)
	for _, r := range rows {
		fmt.Fprintf(w, "%-16s", r)
		for i := range indexes {
			c := cells[r][i]
			if c == "" {
				c = "–"
			}
			fmt.Fprintf(w, "  %-*s", widths[i], c)
		}
		fmt.Fprintln(w)
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

func writePlatformsJSON(w io.Writer, indexes []*registry.Index, wanted []build.RequestedPlatform, missing []missingPlatform, all bool) error {
	w = ui.SanitizeJSON(w) // the index's strings, escaped for a terminal; they decode the same
	host := oci.DetectHost()
	var doc platformsJSON
	for _, ix := range indexes {
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
		doc.Images = append(doc.Images, img)
	}
	if len(wanted) > 0 {
		c := &platformsCheckJSON{OK: len(missing) == 0, Missing: []checkMissingJSON{}}
		for _, wnt := range wanted {
			c.Platforms = append(c.Platforms, wnt.String())
		}
		for _, m := range missing {
			j := checkMissingJSON{Image: m.image, Platform: m.err.Requested.String(), Available: []string{}, Suggestions: []string{}}
			for _, p := range m.err.Available {
				j.Available = append(j.Available, oci.PlatformString(p))
			}
			if d := m.err.Diagnosis; d != nil {
				for _, s := range d.Siblings {
					j.Suggestions = append(j.Suggestions, s.Ref)
				}
			}
			c.Missing = append(c.Missing, j)
		}
		doc.Check = c
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}
