package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/pycontainer/pycontainer/internal/cmdenv"
)

// releaseVersion and releaseCommit are what a release build says it is, set by the
// linker: -ldflags "-X github.com/pycontainer/pycontainer/internal/cli.releaseVersion=v1.2.0
// -X …releaseCommit=<sha>" (a reproducible build has no VCS stamp of its own). Any other
// build reads them from the module's build information.
var releaseVersion, releaseCommit string

// buildVersion is which pycontainer this is.
type buildVersion struct {
	Version  string // v1.2.0; (devel) for a build from a checkout
	Commit   string // the VCS revision, when the build knew it
	Modified bool   // built from a checkout with changes
	Go       string
	Platform string // GOOS/GOARCH of the binary
}

// readVersion is the version from build information, with a release's override.
func readVersion(info *debug.BuildInfo, ok bool, version, commit string) buildVersion {
	v := buildVersion{Version: "(devel)", Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if ok {
		if info.Main.Version != "" {
			v.Version = info.Main.Version
		}
		v.Go = info.GoVersion
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				v.Commit = s.Value
			case "vcs.modified":
				v.Modified = s.Value == "true"
			}
		}
	}
	if version != "" {
		v.Version = version
	}
	if commit != "" {
		v.Commit, v.Modified = commit, false
	}
	return v
}

func (v buildVersion) String() string {
	commit := "commit unknown"
	if v.Commit != "" {
		commit = "commit " + v.Commit[:min(12, len(v.Commit))]
		if v.Modified {
			commit += "+changes"
		}
	}
	return fmt.Sprintf("pycontainer %s (%s, %s, %s)", v.Version, commit, v.Go, v.Platform)
}

// currentVersion is this binary's version.
func currentVersion() buildVersion {
	info, ok := debug.ReadBuildInfo()
	return readVersion(info, ok, releaseVersion, releaseCommit)
}

func newVersionCommand(env cmdenv.Env) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit, Go version and platform of this binary",
		Args:  usageArgs(cobra.NoArgs, "version takes no arguments"),
		RunE: func(*cobra.Command, []string) error {
			_, err := fmt.Fprintln(env.Stdout, currentVersion())
			return err
		},
	}
}
