package ui

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/pycontainer/pycontainer/oci"
)

// The text and JSON reports of `pycontainer inspect`.

// WriteFindings writes what --verify found, or that it found nothing.
func WriteFindings(w io.Writer, findings []oci.Finding) {
	fmt.Fprintln(w)
	if len(findings) == 0 {
		fmt.Fprintln(w, "verify: ok (every blob matches its digest, platforms agree, binaries match their platform, no host virtualenv)")
		return
	}
	fmt.Fprintf(w, "verify: %d problem(s)\n", len(findings))
	for _, f := range findings {
		fmt.Fprintf(w, "  %s\n", Sanitize(f.String()))
	}
}

// WriteInspectSummary writes what a layout holds as text. Each line is sanitized:
// names, env, labels and history come from whoever made the image.
func WriteInspectSummary(w io.Writer, s *oci.Summary) {
	line := func(format string, args ...any) { fmt.Fprintln(w, Sanitize(fmt.Sprintf(format, args...))) }
	for i, img := range s.Images {
		if i > 0 {
			fmt.Fprintln(w)
		}
		c := img.Config
		line("%s  %s", oci.PlatformString(img.Platform()), img.Digest)
		for _, p := range img.Problems {
			line("  problem:    %s", p)
		}
		line("  name:       %s", img.DisplayName())
		line("  config:     architecture=%s os=%s variant=%s", c.Architecture, c.OS, c.Variant)
		if c.Created != nil {
			line("  created:    %s", c.Created.UTC().Format(time.RFC3339))
		}
		line("  entrypoint: %q", c.Config.Entrypoint)
		line("  cmd:        %q", c.Config.Cmd)
		line("  workdir:    %s", c.Config.WorkingDir)
		line("  user:       %s", c.Config.User)
		for _, e := range c.Config.Env {
			line("  env:        %s", e)
		}
		for _, k := range slices.Sorted(maps.Keys(c.Config.Labels)) { // sorted: a map's order changes run to run
			line("  label:      %s=%s", k, c.Config.Labels[k])
		}
		line("  layers:     %d (%s)", len(img.Layers), HumanBytes(img.LayersSize()))
		for i, l := range img.Layers {
			line("    %2d %s %10s", i+1, l.Digest, HumanBytes(l.Size))
		}
		for _, h := range c.History {
			line("  history:    %s", h.CreatedBy)
		}
	}
	if s.Attestations > 0 {
		fmt.Fprintln(w)
		line("+ %d attestation manifest(s): SBOMs and provenance of the images, not images", s.Attestations)
	}
	if absent := absentPlatforms(s); len(absent) > 0 {
		fmt.Fprintln(w)
		line("+ listed by the index but not in %s: %s", s.Dir, strings.Join(absent, ", "))
	}
	if s.DockerLoad != nil && len(s.Images) > 1 {
		fmt.Fprintln(w)
		line("+ docker load of %s gets %s (by its manifest.json); pycontainer save --platform gives another", s.Dir, oci.PlatformString(s.DockerLoad.Platform()))
	}
}

// inspectJSON is the schema of `inspect --json`.
type inspectJSON struct {
	Dir          string        `json:"dir"`
	Images       []imageJSON   `json:"images"`
	Attestations int           `json:"attestations"`
	Absent       []string      `json:"absent"`
	DockerLoad   string        `json:"docker_load"` // the platform docker load gets, "" when no manifest.json says
	Verified     bool          `json:"verified"`
	Findings     []findingJSON `json:"findings"`
}

type imageJSON struct {
	Platform      string            `json:"platform"`
	IndexPlatform string            `json:"index_platform,omitempty"`
	Digest        string            `json:"digest"`
	RefName       string            `json:"ref_name,omitempty"`
	Name          string            `json:"name,omitempty"`
	Also          []string          `json:"also,omitempty"`
	Architecture  string            `json:"architecture"`
	OS            string            `json:"os"`
	Variant       string            `json:"variant,omitempty"`
	Created       *time.Time        `json:"created,omitempty"`
	Entrypoint    []string          `json:"entrypoint"`
	Cmd           []string          `json:"cmd"`
	Workdir       string            `json:"workdir"`
	User          string            `json:"user"`
	Env           []string          `json:"env"`
	Labels        map[string]string `json:"labels"`
	Layers        []layerJSON       `json:"layers"`
	History       []historyJSON     `json:"history"`
	Problems      []string          `json:"problems"`
}

type layerJSON struct {
	Digest    string `json:"digest"`
	Size      int64  `json:"size"`
	MediaType string `json:"media_type"`
}

type historyJSON struct {
	Created    *time.Time `json:"created,omitempty"`
	CreatedBy  string     `json:"created_by"`
	EmptyLayer bool       `json:"empty_layer"`
}

type findingJSON struct {
	Platform string `json:"platform"`
	Layer    string `json:"layer,omitempty"`
	File     string `json:"file,omitempty"`
	Problem  string `json:"problem"`
}

// WriteInspectJSON writes a layout's summary, and what --verify found when verified, as
// the schema in the README.
func WriteInspectJSON(w io.Writer, s *oci.Summary, findings []oci.Finding, verified bool) error {
	out := inspectJSON{Dir: s.Dir, Attestations: s.Attestations, Absent: absentPlatforms(s), Verified: verified, Images: []imageJSON{}, Findings: []findingJSON{}}
	for _, img := range s.Images {
		out.Images = append(out.Images, inspectImage(img))
	}
	if s.DockerLoad != nil {
		out.DockerLoad = oci.PlatformString(s.DockerLoad.Platform())
	}
	for _, f := range findings {
		out.Findings = append(out.Findings, findingJSON{Platform: f.Platform, Layer: f.Layer, File: f.File, Problem: f.Problem})
	}
	enc := json.NewEncoder(SanitizeJSON(w)) // the image's strings, escaped for a terminal
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return fmt.Errorf("writing the summary of %s as JSON: %w", s.Dir, err)
	}
	return nil
}

func inspectImage(img oci.ImageSummary) imageJSON {
	c := img.Config
	j := imageJSON{
		Platform: oci.PlatformString(img.Platform()), Digest: img.Digest.String(), RefName: img.RefName, Name: img.Name, Also: img.Also,
		Architecture: c.Architecture, OS: c.OS, Variant: c.Variant, Created: c.Created,
		Entrypoint: c.Config.Entrypoint, Cmd: c.Config.Cmd, Workdir: c.Config.WorkingDir, User: c.Config.User,
		Env: c.Config.Env, Labels: c.Config.Labels, Layers: []layerJSON{}, History: []historyJSON{}, Problems: img.Problems,
	}
	if img.IndexPlatform != nil {
		j.IndexPlatform = oci.PlatformString(*img.IndexPlatform)
	}
	if j.Problems == nil {
		j.Problems = []string{}
	}
	for _, l := range img.Layers {
		j.Layers = append(j.Layers, layerJSON{Digest: l.Digest.String(), Size: l.Size, MediaType: l.MediaType})
	}
	for _, h := range c.History {
		j.History = append(j.History, historyJSON{Created: h.Created, CreatedBy: h.CreatedBy, EmptyLayer: h.EmptyLayer})
	}
	return j
}

// absentPlatforms are the platforms of the images an index lists that the layout lacks.
func absentPlatforms(s *oci.Summary) []string {
	out := []string{}
	for _, d := range s.Absent {
		p := "unknown platform " + d.Digest.String()
		if d.Platform != nil {
			p = oci.PlatformString(oci.NormalizePlatform(*d.Platform))
		}
		out = append(out, p)
	}
	return out
}
