package cli

import (
	"fmt"

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
				return runApp(cmd.Context(), env, ui.Config{Services: appServices(opts, env), Theme: *theme, Output: env.Rel(dir), Start: ui.ScreenInspect}, saveBeside)
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
				if err := ui.WriteInspectJSON(stdout, s, findings, verify); err != nil {
					return err
				}
			} else {
				ui.WriteInspectSummary(stdout, s)
				if verify {
					ui.WriteFindings(stdout, findings)
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
