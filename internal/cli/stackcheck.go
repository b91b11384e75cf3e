package cli

import (
	"cmp"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/pycontainer/pycontainer/internal/cmdenv"
	"github.com/pycontainer/pycontainer/oci"
	"github.com/pycontainer/pycontainer/registry"
	"github.com/pycontainer/pycontainer/stack"
	"github.com/pycontainer/pycontainer/ui"
)

// runStackCheck checks every image a Compose project (files as args) and the
// Dockerfiles pull, for the target platforms. With --check a miss exits 1.
func runStackCheck(cmd *cobra.Command, env cmdenv.Env, f *platformsFlags, files []string) error {
	if len(files) > 0 && !f.compose {
		return usageError{fmt.Errorf("with --dockerfile, name Dockerfiles with --dockerfile (repeatable), not as arguments")}
	}
	check, err := parseRequests(f.check, "--check")
	if err != nil {
		return err
	}
	asked, err := parseRequests(f.platform, "--platform")
	if err != nil {
		return err
	}
	images, err := stackImages(cmd, env, f, files)
	if err != nil {
		return err
	}
	if len(images) == 0 {
		return errors.New("the files name no image to pull (only builds from scratch or from earlier stages)")
	}
	host := oci.DetectHost()
	opts := registrySettings(cmd, env) // only the registry settings matter here
	opts.InsecureBase = opts.InsecureBase || f.insecure
	targets := stack.Targets{Asked: append(check, asked...), Defaults: defaultTargets(host), Host: host}
	result := stack.RunCheck(cmd.Context(), images, targets, opts.Connect)
	switch {
	case f.asJSON:
		if err := ui.WriteStackJSON(env.Stdout, result); err != nil {
			return err
		}
	case interactive("auto", env):
		// A stack's images are what services run, not bases to build on: no Build.
		services := appServices(opts, env)
		services.Build = nil
		theme := cmd.Flag("theme").Value.String() // the root's --theme, PYCONTAINER_THEME its default
		if err := runApp(cmd.Context(), env, ui.Config{Services: services, Stack: result, Start: ui.ScreenStack, Host: host, Theme: theme}, nil); err != nil {
			return err
		}
	default:
		ui.WriteStackMatrix(env.Stdout, result)
	}
	return stackResult(result, len(check) > 0)
}

// stackImages reads the images of the Compose files (args, else those Docker would
// read here) and of the Dockerfiles, their files named as the user wrote them.
func stackImages(cmd *cobra.Command, env cmdenv.Env, f *platformsFlags, files []string) ([]stack.Image, error) {
	var images []stack.Image
	if f.compose {
		paths := make([]string, len(files))
		for i, file := range files {
			paths[i] = env.Path(file)
		}
		if len(paths) == 0 {
			var err error
			if paths, err = stack.ComposeFiles(cmp.Or(env.Dir, ".")); err != nil {
				return nil, err
			}
		}
		found, err := stack.ReadCompose(cmd.Context(), paths, env.Variables(), f.profiles)
		if err != nil {
			return nil, err
		}
		images = append(images, found...)
	}
	for _, file := range f.dockerfiles {
		found, err := stack.ReadDockerfile(env.Path(file), nil)
		if err != nil {
			return nil, err
		}
		images = append(images, found...)
	}
	showSources(images, env.Rel) // as the user wrote them, whatever directory the command ran in
	return images, nil
}

// showSources names the images' files by shown.
func showSources(images []stack.Image, shown func(string) string) {
	for i := range images {
		s := &images[i].Source
		s.File, s.ComposeFile = shown(s.File), shown(s.ComposeFile)
	}
}

// defaultTargets are what an image is checked for when nothing says: this machine's
// platform (where `docker compose up` runs it) and linux/amd64 (most servers).
func defaultTargets(host oci.Host) []registry.PlatformRequest {
	out := []registry.PlatformRequest{{Platform: host.Platform, Raw: oci.PlatformString(host.Platform), Source: "this machine"}}
	amd64 := oci.Platform{OS: "linux", Architecture: "amd64"}
	if !oci.SamePlatform(host.Platform, amd64) {
		out = append(out, registry.PlatformRequest{Platform: amd64, Raw: "linux/amd64", Source: "the usual server platform"})
	}
	return out
}

// stackResult is the command's outcome: an image that could not be read fails it, and
// with --check so does a missing platform.
func stackResult(c *stack.Check, gate bool) error {
	var unread, missing []string
	for _, r := range c.Rows {
		if r.Err != nil {
			unread = append(unread, r.Image)
		}
		for _, cell := range r.Cells {
			if !cell.Found {
				missing = append(missing, r.Image+" lacks "+cell.Platform.String())
			}
		}
	}
	switch {
	case len(unread) > 0:
		return fmt.Errorf("%d of %d images could not be read: %s", len(unread), len(c.Rows), ui.Sanitize(unread[0])+more(len(unread)))
	case gate && len(missing) > 0:
		return fmt.Errorf("%s: %s", plural(len(missing), "missing platform"), ui.Sanitize(missing[0])+more(len(missing)))
	}
	return nil
}

func more(n int) string {
	if n <= 1 {
		return ""
	}
	return fmt.Sprintf(" (and %d more, above)", n-1)
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
