package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/regclient/regclient/types/descriptor"
	"github.com/regclient/regclient/types/ref"
	"github.com/spf13/cobra"

	"github.com/pycontainer/pycontainer/internal/cmdenv"
	"github.com/pycontainer/pycontainer/oci"
	"github.com/pycontainer/pycontainer/registry"
)

func newIndexCommand(env cmdenv.Env) *cobra.Command {
	stdout := env.Stdout
	cmd := &cobra.Command{Use: "index", Short: "Work with multi-platform image indexes"}
	var push, insecure bool
	create := &cobra.Command{
		Use:   "create TARGET SOURCE...",
		Short: "Combine single-platform tags into one multi-platform tag",
		Long: `create reads each SOURCE (a tag or digest; an index contributes its images), keeps each
image's platform, skips attestations, refuses two sources of the same platform, and builds one
OCI index. Without --push it prints the index; with --push it copies the sources' images into
TARGET's repository when they live elsewhere and pushes the index under TARGET, so a pull on any
host gets its own architecture. It replaces "docker manifest create" + "docker manifest push".`,
		Example: `  pycontainer index create --push ghcr.io/myorg/myapp:latest ghcr.io/myorg/myapp:amd64 ghcr.io/myorg/myapp:arm64`,
		Args:    usageArgs(cobra.MinimumNArgs(2), "name the target and at least one source"),
		RunE: func(cmd *cobra.Command, args []string) error {
			target, err := registry.ParseReference(args[0])
			if err != nil {
				return usageError{err}
			}
			registries := []string{target.Registry}
			var sources []registryRef
			for _, s := range args[1:] {
				r, err := registry.ParseReference(s)
				if err != nil {
					return usageError{err}
				}
				sources = append(sources, registryRef{raw: s, ref: r})
				registries = append(registries, r.Registry)
			}
			settings := registrySettings(cmd, env)
			insecureHosts := settings.Insecure
			if insecure {
				insecureHosts = registries
			}
			client := registry.New(registry.Options{DockerConfig: registry.DockerConfigPath(env.Getenv), Registries: registries, Insecure: insecureHosts, Mirrors: settings.Mirrors,
				Credentials: map[string]registry.Credential{target.Registry: registry.CredentialFor(target.Registry, env.Getenv)}})

			entries, lines, err := indexEntries(cmd.Context(), client, sources, target, push)
			if err != nil {
				return err
			}
			if len(entries) == 0 {
				return fmt.Errorf("the sources hold no images (only attestations)")
			}
			if !push {
				// Print the very index --push would push, and the digest it would have.
				raw, d, err := registry.IndexFor(entries)
				if err != nil {
					return err
				}
				var pretty bytes.Buffer
				if err := json.Indent(&pretty, raw, "", "  "); err != nil {
					return fmt.Errorf("format index: %w", err)
				}
				fmt.Fprintf(stdout, "%s\nnot pushed (add --push to put it under %s as %s):\n%s\n", pretty.Bytes(), target.CommonName(), d, strings.Join(lines, "\n"))
				return nil
			}
			d, err := client.PushIndex(cmd.Context(), target, entries)
			if err != nil {
				return fmt.Errorf("push %s: %w", target.CommonName(), err)
			}
			fmt.Fprintf(stdout, "Pushed %s@%s:\n%s\n", target.CommonName(), d, strings.Join(lines, "\n"))
			return nil
		},
	}
	create.Flags().BoolVar(&push, "push", false, "push the index (and copy the sources' images into the target repository)")
	create.Flags().BoolVar(&insecure, "insecure", false, "plain HTTP to these registries (loopback registries always use it)")
	cmd.AddCommand(create)
	return cmd
}

// indexEntries reads each source's images (an index contributes all but its
// attestations), refusing two of one platform; with push, those that live elsewhere are
// copied into target's repository. lines say where each came from.
func indexEntries(ctx context.Context, client *registry.Client, sources []registryRef, target ref.Ref, push bool) ([]descriptor.Descriptor, []string, error) {
	var entries []descriptor.Descriptor
	from := map[string]string{} // platform -> source
	var lines []string
	for _, src := range sources {
		ix, err := client.Index(ctx, src.ref)
		if err != nil {
			return nil, nil, err
		}
		for _, e := range ix.Entries {
			if e.Attestation {
				continue
			}
			plat := oci.PlatformString(e.Platform)
			if prev, ok := from[plat]; ok {
				return nil, nil, fmt.Errorf("%s and %s both have %s: an index holds one image per platform", prev, src.raw, plat)
			}
			from[plat] = src.raw
			p := e.Platform
			entries = append(entries, descriptor.Descriptor{MediaType: e.Descriptor.MediaType, Digest: e.Descriptor.Digest, Size: e.Descriptor.Size,
				Platform: &oci.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant, OSVersion: p.OSVersion}})
			lines = append(lines, fmt.Sprintf("  %-16s %s  from %s", plat, e.Descriptor.Digest, src.raw))
			if src.ref.Registry != target.Registry || src.ref.Repository != target.Repository {
				if push {
					if err := client.CopyManifest(ctx, src.ref.SetDigest(e.Descriptor.Digest.String()), target.SetDigest(e.Descriptor.Digest.String())); err != nil {
						return nil, nil, err
					}
				}
			}
		}
	}
	return entries, lines, nil
}

type registryRef struct {
	raw string
	ref ref.Ref
}
