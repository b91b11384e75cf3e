package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/pycontainer/pycontainer/build"
	"github.com/pycontainer/pycontainer/internal/cmdenv"
	"github.com/pycontainer/pycontainer/oci"
	"github.com/pycontainer/pycontainer/ui"
)

func newInspectCommand(env cmdenv.Env, theme *string) *cobra.Command {
	stdout := env.Stdout
	var progress string
	var asJSON, verify bool
	cmd := &cobra.Command{
		Use:   "inspect [DIR | ARCHIVE.tar]",
		Short: "Show what an OCI image layout holds (default dist/image); --verify checks it",
		Long: `inspect shows, per platform, the config's architecture, os and variant, created,
entrypoint and cmd, workdir, user, env, labels, layers and history. It reads a layout
directory, or a tar archive of one in place: what pycontainer save, docker save (Docker 25
and later) and podman save --format oci-archive write.

--verify also checks, and exits 1 when a check fails:
  - every blob it reads (index, manifest, config, layer) matches its digest; a bad one
    is named;
  - each index entry's platform equals its config's platform;
  - ELF binaries and shared objects in the layers are built for the image's platform
    (machine, class, byte order; the hard-float ABI on arm/v6 and arm/v7);
  - no Mach-O or Windows binaries, no pyvenv.cfg, no shebangs pointing at host paths
    such as /Users/... — the marks of a macOS virtualenv copied into a Linux image.`,
		Args: usageArgs(cobra.MaximumNArgs(1), "name one layout directory or archive, e.g. pycontainer inspect dist/image"),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := env.Path("dist/image")
			if len(args) == 1 {
				dir = env.Path(args[0])
			}
			if !asJSON && !verify && interactive(progress, env) {
				opts := &build.Options{Output: dir, Process: env}
				return runApp(cmd.Context(), env, ui.Config{Services: appServices(opts, env), Theme: *theme, Output: dir, Start: ui.ScreenInspect}, saveBeside)
			}
			// A build may commit a new image meanwhile: held, it removes no blob this reads.
			release, err := oci.ReadLock(cmd.Context(), dir)
			if err != nil {
				return err
			}
			defer release()
			s, err := oci.InspectPath(dir)
			if err != nil {
				return err
			}
			var findings []oci.Finding
			if verify {
				if findings, err = s.Verify(); err != nil {
					return err
				}
			}
			if asJSON {
				if err := writeInspectJSON(stdout, s, findings, verify); err != nil {
					return err
				}
			} else {
				printSummary(stdout, s)
				if verify {
					printFindings(stdout, findings)
				}
			}
			return inspectResult(s, findings)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON (schema in the README)")
	cmd.Flags().BoolVar(&verify, "verify", false, "check platforms and binaries; exit 1 on a failed check")
	cmd.Flags().StringVar(&progress, "progress", "auto", "auto (the app on a terminal) or plain (text)")
	return cmd
}

// inspectResult fails when the index and a config disagree or a check found something.
func inspectResult(s *oci.Summary, findings []oci.Finding) error {
	if len(findings) > 0 {
		return fmt.Errorf("%s: verification failed: %s (and %d more)", s.Dir, ui.Sanitize(findings[0].String()), len(findings)-1)
	}
	for _, img := range s.Images {
		if len(img.Problems) > 0 {
			return fmt.Errorf("%s: %s: %s", s.Dir, ui.Sanitize(oci.PlatformString(img.Platform())), ui.Sanitize(img.Problems[0]))
		}
	}
	return nil
}

func printFindings(w io.Writer, findings []oci.Finding) {
	fmt.Fprintln(w)
	if len(findings) == 0 {
		fmt.Fprintln(w, "verify: ok (every blob matches its digest, platforms agree, binaries match their platform, no host virtualenv)")
		return
	}
	fmt.Fprintf(w, "verify: %d problem(s)\n", len(findings))
	for _, f := range findings {
		fmt.Fprintf(w, "  %s\n", ui.Sanitize(f.String()))
	}
}

// printSummary writes what a layout holds as text. Each line is sanitized: names,
// env, labels and history come from whoever made the image.
func printSummary(w io.Writer, s *oci.Summary) {
	line := func(format string, args ...any) { fmt.Fprintln(w, ui.Sanitize(fmt.Sprintf(format, args...))) }
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
		for k, v := range c.Config.Labels {
			line("  label:      %s=%s", k, v)
		}
		line("  layers:     %d (%s)", len(img.Layers), ui.HumanBytes(img.LayersSize()))
		for i, l := range img.Layers {
			line("    %2d %s %10s", i+1, l.Digest, ui.HumanBytes(l.Size))
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

func writeInspectJSON(w io.Writer, s *oci.Summary, findings []oci.Finding, verified bool) error {
	out := inspectJSON{Dir: s.Dir, Attestations: s.Attestations, Absent: absentPlatforms(s), Verified: verified, Images: []imageJSON{}, Findings: []findingJSON{}}
	for _, img := range s.Images {
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
		out.Images = append(out.Images, j)
	}
	if s.DockerLoad != nil {
		out.DockerLoad = oci.PlatformString(s.DockerLoad.Platform())
	}
	for _, f := range findings {
		out.Findings = append(out.Findings, findingJSON{Platform: f.Platform, Layer: f.Layer, File: f.File, Problem: f.Problem})
	}
	enc := json.NewEncoder(ui.SanitizeJSON(w)) // the image's strings, escaped for a terminal
	enc.SetIndent("", "  ")
	return enc.Encode(out)
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
