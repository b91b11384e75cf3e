package cli

import (
	"context"
	"fmt"

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
				if err := ui.WritePlatformsJSON(stdout, indexes, ui.PlatformsCheck{Wanted: wanted, Missing: missing}, all, oci.DetectHost()); err != nil {
					return err
				}
			} else if len(indexes) == 1 {
				ui.WritePlatformTable(stdout, indexes[0], all, oci.DetectHost())
			} else {
				ui.WritePlatformMatrix(stdout, indexes, all)
			}
			if len(missing) == 0 {
				return nil
			}
			// All but the last here, the last as the command's error: in the order asked.
			last := len(missing) - 1
			if !asJSON {
				for _, m := range missing[:last] {
					fmt.Fprintf(stderr, "Error: %s\n%s\n", ui.Sanitize(m.Err.Error()), ui.SanitizeLines(m.Err.Detail()))
				}
			}
			return sanitizedNoMatch{missing[last].Err}
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

// missingPlatform is the report's own type, so that the check goes to ui as it is.
type missingPlatform = ui.MissingPlatform

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
			out = append(out, missingPlatform{Image: ix.Ref.CommonName(), Err: e})
		}
	}
	return out
}
