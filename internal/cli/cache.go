package cli

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/pycontainer/pycontainer/build"
	"github.com/pycontainer/pycontainer/internal/cmdenv"
	"github.com/pycontainer/pycontainer/oci"
	"github.com/pycontainer/pycontainer/ui"
)

func newCacheCommand(env cmdenv.Env) *cobra.Command {
	stdout := env.Stdout
	cmd := &cobra.Command{
		Use:   "cache",
		Short: "Manage the shared cache of base image blobs, builder root filesystems and built wheels",
		Long: `Base image manifests, configs and layers are downloaded once per machine into a cache
shared by every project (PYCONTAINER_CACHE, else pycontainer/ under the user cache dir), verified,
and linked into each build's layout. build --allow-sdist keeps there too the builder images'
unpacked root filesystems and the wheels it compiled. Builds keep the cache under
PYCONTAINER_CACHE_MAX_SIZE (default 10GiB) by removing the least recently used entries, of
whichever kind: a blob, a builder's root filesystem (one entry) or a built wheel.`,
	}
	var maxSize string
	var all bool
	prune := &cobra.Command{
		Use:   "prune",
		Short: "Remove least recently used entries until the cache fits --max-size or PYCONTAINER_CACHE_MAX_SIZE (or --all)",
		Args:  usageArgs(cobra.NoArgs, "prune takes flags only"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, err := oci.DefaultStoreDir(env.Getenv)
			if err != nil {
				return err
			}
			var limit int64
			switch {
			case all:
			case maxSize != "":
				if limit, err = build.ParseSize(maxSize); err != nil {
					return usageError{fmt.Errorf("--max-size: %w", err)}
				}
				if limit == 0 {
					return usageError{fmt.Errorf("--max-size 0 would keep nothing: --all empties the cache")}
				}
			default:
				if limit, err = build.CacheMaxBytes(env.Getenv); err != nil {
					return usageError{err}
				}
				if limit == 0 {
					fmt.Fprintf(stdout, "%s: PYCONTAINER_CACHE_MAX_SIZE=0 sets no bound; nothing removed (--max-size or --all trims it)\n", dir)
					return nil
				}
			}
			store, err := oci.OpenStore(dir)
			if err != nil {
				return err
			}
			res, err := store.Prune(limit)
			if err != nil {
				return err
			}
			printPruned(stdout, dir, res)
			return nil
		},
	}
	prune.Flags().StringVar(&maxSize, "max-size", "", "keep at most this much, e.g. 2GB (default PYCONTAINER_CACHE_MAX_SIZE, else 10GiB)")
	prune.Flags().BoolVar(&all, "all", false, "empty the cache")
	dir := &cobra.Command{
		Use:   "dir",
		Short: "Print where the cache is",
		Args:  usageArgs(cobra.NoArgs, "dir takes no arguments"),
		RunE: func(*cobra.Command, []string) error {
			d, err := oci.DefaultStoreDir(env.Getenv)
			if err != nil {
				return err
			}
			fmt.Fprintln(stdout, d)
			return nil
		},
	}
	cmd.AddCommand(prune, dir)
	return cmd
}

// printPruned says what cache prune removed and kept: a line for the blobs, then, when
// the cache holds any, one for builders' root filesystems, one for built wheels and one
// for all of them.
func printPruned(w io.Writer, dir string, res oci.PruneResult) {
	line := func(c oci.PruneCount, one, many string) {
		what := many
		if c.Removed == 1 && one != "" {
			what = one
		}
		fmt.Fprintf(w, "%s: removed %d %s (%s), kept %d (%s)\n", dir, c.Removed, what, ui.HumanBytes(c.RemovedBytes), c.Kept, ui.HumanBytes(c.KeptBytes))
	}
	line(res.Blobs, "", "blobs")
	if res.RootFS == (oci.PruneCount{}) && res.Wheels == (oci.PruneCount{}) {
		return
	}
	line(res.RootFS, "builder root filesystem", "builder root filesystems")
	line(res.Wheels, "built wheel", "built wheels")
	line(oci.PruneCount{Removed: res.Removed, RemovedBytes: res.RemovedBytes, Kept: res.Kept, KeptBytes: res.KeptBytes}, "entry in all", "entries in all")
}
