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

// platformsFlags are the flags of `pycontainer platforms`.
type platformsFlags struct {
	all, asJSON, insecure, compose bool
	check, platform                []string
	dockerfiles, profiles          []string
}

// stackMode reports whether the command checks a stack (Compose files, Dockerfiles)
// rather than images.
func (f *platformsFlags) stackMode() bool { return f.compose || len(f.dockerfiles) > 0 }

func newPlatformsCommand(env cmdenv.Env) *cobra.Command {
	var f platformsFlags
	cmd := &cobra.Command{
		Use:               "platforms [IMAGE...] | --compose [FILE...] | --dockerfile FILE",
		ValidArgsFunction: completeRecentImages(env),
		Short:             "List the platforms of images, or check a whole Compose stack; --check fails when one is missing",
		Long: `platforms lists what each image's index offers: os/arch/variant, os.version, digest,
compressed size and layer count, and how each runs on this machine. Several images are
shown side by side as a matrix; with none, the project's base image. Attestation entries
(unknown/unknown) are hidden unless --all. --check linux/arm64,linux/arm/v6 exits 1 naming
each missing platform, with a diagnosis and sibling tags that have it (a CI gate).

--compose checks every image a Compose project pulls (the files Docker reads here, or
those named; interpolation from the environment and .env, --profile, extends) and
--dockerfile every FROM of a Dockerfile (ARG defaults, --platform=, stages). The targets
are --check or --platform, else each service's platform:, else this machine's and
linux/amd64. Each miss ends in a next step: a tag of the same version line, the nearest
newer line, the exact line that runs it under emulation, or that nothing runs there.
--json prints the schemas in the README.`,
		Example: `  pycontainer platforms python:3.11-slim
  pycontainer platforms python:3.11-slim python:3.11-alpine
  pycontainer platforms --check linux/amd64,linux/arm64 python:3.11-slim
  pycontainer platforms --compose --check linux/arm64
  pycontainer platforms --dockerfile Dockerfile --platform linux/arm64,linux/amd64`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.stackMode() {
				return runStackCheck(cmd, env, &f, args)
			}
			if len(f.platform) > 0 {
				return usageError{fmt.Errorf("--platform picks the targets of --compose or --dockerfile; for images, --check names the platforms they must have")}
			}
			return runPlatforms(cmd, env, &f, args)
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&f.all, "all", false, "also list attestation entries (marked)")
	fl.BoolVar(&f.asJSON, "json", false, "print JSON")
	fl.StringSliceVar(&f.check, "check", nil, "platforms that must be present (comma-separated or repeated); exit 1 if one is missing")
	fl.BoolVar(&f.insecure, "insecure", false, "reach the images' registries over plain HTTP")
	fl.BoolVar(&f.compose, "compose", false, "check the images of a Compose project: the files named as arguments, else compose.yaml (and the others Docker looks for) here")
	fl.StringSliceVar(&f.dockerfiles, "dockerfile", nil, "check the FROM images of this Dockerfile (repeatable)")
	fl.StringSliceVar(&f.profiles, "profile", nil, "with --compose: Compose profiles to enable (repeatable)")
	fl.StringSliceVar(&f.platform, "platform", nil, "with --compose or --dockerfile: the target platforms (default: each service's platform:, else this machine's and linux/amd64)")
	return cmd
}

// parseRequests reads a platform list flag into requests from that flag.
func parseRequests(raws []string, flag string) ([]build.RequestedPlatform, error) {
	var out []build.RequestedPlatform
	for _, raw := range build.SplitList(raws) {
		p, err := oci.ParsePlatform(raw)
		if err != nil {
			return nil, usageError{fmt.Errorf("%s: %w", flag, err)}
		}
		out = append(out, build.RequestedPlatform{Platform: p, Raw: raw, Source: flag + " flag"})
	}
	return out, nil
}

// runPlatforms lists images' platforms: a table for one, a matrix for several, the
// project's base image for none.
func runPlatforms(cmd *cobra.Command, env cmdenv.Env, f *platformsFlags, images []string) error {
	wanted, err := parseRequests(f.check, "--check")
	if err != nil {
		return err
	}
	opts := registrySettings(cmd, env) // only the registry settings matter here
	opts.InsecureBase = opts.InsecureBase || f.insecure
	if len(images) == 0 {
		images = []string{opts.BaseImage}
		fmt.Fprintf(env.Stderr, "the project's base image %s (from %s)\n", ui.Sanitize(opts.BaseImage), ui.Sanitize(opts.BaseSource))
	}
	indexes, err := fetchIndexes(cmd.Context(), opts, images)
	if err != nil {
		return err
	}
	missing := checkPlatforms(cmd.Context(), opts, indexes, wanted)
	if f.asJSON {
		if err := ui.WritePlatformsJSON(env.Stdout, indexes, ui.PlatformsCheck{Wanted: wanted, Missing: missing}, f.all, oci.DetectHost()); err != nil {
			return err
		}
	} else if len(indexes) == 1 {
		ui.WritePlatformTable(env.Stdout, indexes[0], f.all, oci.DetectHost())
	} else {
		ui.WritePlatformMatrix(env.Stdout, indexes, f.all)
	}
	if len(missing) == 0 {
		return nil
	}
	// All but the last here, the last as the command's error: in the order asked.
	last := len(missing) - 1
	if !f.asJSON {
		for _, m := range missing[:last] {
			fmt.Fprintf(env.Stderr, "Error: %s\n%s\n", ui.Sanitize(m.Err.Error()), ui.SanitizeLines(m.Err.Detail()))
		}
	}
	return sanitizedNoMatch{missing[last].Err}
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
