package cli

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/regclient/regclient/types/ref"
	"github.com/spf13/cobra"

	"github.com/pycontainer/pycontainer/internal/cmdenv"
	"github.com/pycontainer/pycontainer/oci"
	"github.com/pycontainer/pycontainer/registry"
	"github.com/pycontainer/pycontainer/ui"
)

func newSaveCommand(env cmdenv.Env) *cobra.Command {
	stdout, stderr := env.Stdout, env.Stderr
	var platform, output, tag string
	cmd := &cobra.Command{
		Use:   "save [DIR | ARCHIVE.tar]",
		Short: "Write one platform of a layout (default dist/image) as a tar for docker load or podman load",
		Long: `save writes one image of an OCI layout as a tar archive that docker load and podman load
read: the image alone as an OCI layout, plus docker's manifest.json (what docker save writes).
An engine loads one image per platform, so a layout of several platforms goes one platform at a
time: --platform picks it; without it, the layout's only platform, else this machine's.
Every blob is checked against its digest on the way.`,
		Example: `  pycontainer save --platform linux/arm64 --tag myapp:arm64 | docker load
  pycontainer save --platform linux/amd64 -o myapp-amd64.tar && podman load -i myapp-amd64.tar`,
		Args: usageArgs(cobra.MaximumNArgs(1), "name one layout directory or archive, e.g. pycontainer save dist/image"),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := env.Path("dist/image")
			if len(args) == 1 {
				dir = env.Path(args[0])
			}
			name, want, err := saveChoice(tag, platform)
			if err != nil {
				return err
			}
			toStdout := output == "" || output == "-"
			if toStdout && isTerminal(stdout) {
				return usageError{fmt.Errorf("refusing to write a tar archive to the terminal: pipe it (pycontainer save | docker load) or add -o FILE")}
			}
			if !toStdout {
				if err := checkSaveTarget(dir, env.Path(output), env.Rel); err != nil {
					return err
				}
			}
			s, err := oci.InspectPath(dir)
			if err != nil {
				return err
			}
			img, note, err := chooseImage(s, want)
			if err != nil {
				return err
			}
			if name != nil {
				img = img.Renamed(name.CommonName(), name.Tag)
			}
			if toStdout {
				if err := s.WriteArchive(cmd.Context(), stdout, img); err != nil {
					return err
				}
			} else if err := saveArchive(cmd.Context(), s, img, env.Path(output)); err != nil {
				return err
			}
			what := fmt.Sprintf("%s %s, %d layers, %s", cmp.Or(img.DisplayName(), "(unnamed)"), oci.PlatformString(img.Platform()), len(img.Layers), ui.HumanBytes(img.LayersSize()))
			if toStdout {
				fmt.Fprintf(stderr, "Saved %s%s\n", what, note)
			} else {
				fmt.Fprintf(stdout, "Saved %s to %s%s; load it with docker load -i %s\n", what, output, note, output)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&platform, "platform", "", "the platform to save, e.g. linux/arm64 (default: the only one, else this machine's)")
	cmd.Flags().StringVar(&tag, "tag", "", "name the image this way in the archive, e.g. myapp:arm64 (default: the name it was built with)")
	cmd.Flags().StringVarP(&output, "output", "o", "", "write to this file instead of standard output")
	return cmd
}

// saveChoice reads --tag and --platform: the name to give the image (nil: its own) and
// the platform to save (nil: the layout's only one, else this machine's).
func saveChoice(tag, platform string) (*ref.Ref, *oci.Platform, error) {
	var name *ref.Ref
	if tag != "" {
		r, err := registry.ParseReference(tag)
		if err != nil {
			return nil, nil, usageError{fmt.Errorf("--tag: %w", err)}
		}
		if r.Digest != "" {
			return nil, nil, usageError{fmt.Errorf("--tag %s: a digest is not a name; give a tag such as myapp:arm64", tag)}
		}
		if r.Tag == "" {
			r = r.SetTag("latest")
		}
		name = &r
	}
	if platform == "" {
		return name, nil, nil
	}
	p, err := oci.ParsePlatform(platform)
	if err != nil {
		return nil, nil, usageError{fmt.Errorf("--platform: %w", err)}
	}
	return name, &p, nil
}

// chooseImage picks the image to save: the one of platform want, else the layout's only
// image, else the one of this machine's platform. note says why when the choice was not
// asked for and the layout had others.
func chooseImage(s *oci.Summary, want *oci.Platform) (oci.ImageSummary, string, error) {
	if len(s.Images) == 0 {
		return oci.ImageSummary{}, "", fmt.Errorf("%s holds no image: build one with pycontainer build", s.Dir)
	}
	var have []string
	for _, img := range s.Images {
		if p := oci.PlatformString(img.Platform()); !slices.Contains(have, p) {
			have = append(have, p)
		}
	}
	note := ""
	if want == nil {
		if len(s.Images) == 1 {
			return s.Images[0], "", nil
		}
		host := oci.HostPlatform()
		want = &host
		note = fmt.Sprintf(" (this machine's platform, of %s; --platform picks another)", strings.Join(have, ", "))
	}
	var found []oci.ImageSummary
	var names []string
	for _, img := range s.Images {
		if oci.SamePlatform(img.Platform(), *want) {
			found = append(found, img)
			names = append(names, cmp.Or(img.DisplayName(), img.Digest.String()))
		}
	}
	switch {
	case len(found) == 1:
		return found[0], note, nil
	case len(found) > 1:
		return oci.ImageSummary{}, "", fmt.Errorf("%s holds %d %s images (%s); save takes a layout with one image per platform",
			s.Dir, len(found), oci.PlatformString(*want), strings.Join(names, ", "))
	case note != "":
		return oci.ImageSummary{}, "", usageError{fmt.Errorf("%s holds %d platforms (%s) and none is this machine's (%s): choose one with --platform",
			s.Dir, len(have), strings.Join(have, ", "), oci.PlatformString(*want))}
	}
	return oci.ImageSummary{}, "", fmt.Errorf("%s has no %s image; it has %s: pass one of them to --platform, or build %s",
		s.Dir, oci.PlatformString(*want), strings.Join(have, ", "), oci.PlatformString(*want))
}

// checkSaveTarget refuses an archive destination inside the layout save reads, or the
// archive it reads: the rename that ends the write would replace what it came from (an
// index.json with a tar, say). Symlinks on the way are resolved; dest itself may be one,
// since the rename replaces the link and not its target. Messages show paths by shown.
func checkSaveTarget(src, dest string, shown func(string) string) error {
	realSrc, err := absReal(src)
	if err != nil {
		return nil // InspectPath says what is wrong with src
	}
	parent, err := absReal(filepath.Dir(dest))
	if err != nil {
		return nil // the write says what is wrong with dest
	}
	realDest := filepath.Join(parent, filepath.Base(dest))
	fi, err := os.Stat(realSrc)
	if err != nil {
		return nil
	}
	if !fi.IsDir() {
		if realDest == realSrc {
			return usageError{fmt.Errorf("-o %s is the archive save reads from: write the new archive to another file", shown(dest))}
		}
		return nil
	}
	if rel, err := filepath.Rel(realSrc, realDest); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return usageError{fmt.Errorf("-o %s is inside the layout %s that save reads, and writing there would destroy it: write the archive outside it, e.g. -o image.tar", shown(dest), shown(src))}
	}
	return nil
}

// absReal is p absolute with its symlinks resolved, so two paths compare whatever way
// each was written.
func absReal(p string) (string, error) {
	r, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "", err
	}
	return filepath.Abs(r)
}

// saveArchive writes img of s as an archive at dest, replacing it only on success and
// keeping the mode of the file it replaces.
func saveArchive(ctx context.Context, s *oci.Summary, img oci.ImageSummary, dest string) error {
	mode := fs.FileMode(0o644)
	if fi, err := os.Stat(dest); err == nil {
		mode = fi.Mode().Perm()
	}
	return oci.WriteFileAtomic(dest, filepath.Dir(dest), mode, func(w io.Writer) error { return s.WriteArchive(ctx, w, img) })
}

// archiveName names an archive of img by its repository and platform:
// myapp-linux-arm-v7.tar.
func archiveName(img oci.ImageSummary) string {
	name := "image"
	if r, err := registry.ParseReference(img.Name); err == nil {
		name = path.Base(r.Repository)
	}
	return name + "-" + strings.ReplaceAll(oci.PlatformString(img.Platform()), "/", "-") + ".tar"
}
