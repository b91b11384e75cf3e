// Command pycontainer builds OCI container images for Python apps, without Docker, for
// any Linux platform a base image offers.
package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/pycontainer/pycontainer/build"
	"github.com/pycontainer/pycontainer/oci"
	"github.com/pycontainer/pycontainer/themes"
	"github.com/pycontainer/pycontainer/ui"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run executes one command line and returns the exit code. Errors become one line on
// stderr (plus details where an error has them), never a stack trace.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) (code int) {
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(stderr, "Error: internal error: %v (please report this)\n", r)
			code = 70
		}
	}()
	// SIGHUP: the terminal went away; the app stops its build and cleans up as for ^C.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()

	root := newRootCommand(stdin, stdout, stderr)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return 0
	}
	var usage usageError
	var pushErr *build.PushError
	switch {
	case errors.As(err, &usage):
		fmt.Fprintf(stderr, "Error: %v\n", err)
		return 2
	case ctx.Err() != nil && errors.As(err, &pushErr):
		fmt.Fprintf(stderr, "Error: interrupted while pushing; %s holds the new image, the registry may hold part of it: run the push again\n", pushErr.Output)
		return 130
	case errors.Is(err, ui.ErrInterrupted), ctx.Err() != nil && cmd.Name() == "build":
		fmt.Fprintf(stderr, "Error: %v\n", ui.ErrInterrupted)
		return 130
	case ctx.Err() != nil:
		fmt.Fprintln(stderr, "Error: interrupted")
		return 130
	}
	// Errors quote file names, registries' answers and images' text: none of it may
	// drive the terminal.
	fmt.Fprintf(stderr, "Error: %s\n", ui.Sanitize(firstLine(err.Error())))
	var detailed interface{ Detail() string }
	if errors.As(err, &detailed) {
		fmt.Fprintln(stderr, ui.SanitizeLines(detailed.Detail()))
	}
	return 1
}

type usageError struct{ error }

// usageArgs makes an argument-count error a usage error (exit 2) that says what to do.
func usageArgs(check cobra.PositionalArgs, hint string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return usageError{fmt.Errorf("%s: %w", hint, err)}
		}
		return nil
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

func newRootCommand(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "pycontainer",
		Short: "Build OCI container images for Python apps, for any platform, without Docker",
		Long: `pycontainer builds OCI container images for Python apps without Docker, for any
Linux platform the base image offers, from any host.

  pycontainer build --tag myapp:arm64 --platform linux/arm64 --base-image python:3.11-slim`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	// PYCONTAINER_THEME is a user's standing choice (a shell profile); --theme overrides it.
	theme := cmp.Or(os.Getenv("PYCONTAINER_THEME"), "auto")
	root.PersistentFlags().StringVar(&theme, "theme", theme, "colours of the terminal app: "+strings.Join(themes.Names, ", ")+"; PYCONTAINER_THEME sets a standing choice")
	root.Args = usageArgs(cobra.NoArgs, "unknown command; see pycontainer --help")
	root.RunE = func(cmd *cobra.Command, _ []string) error {
		if !interactive("auto", stdout) {
			return cmd.Help()
		}
		opts, err := build.Resolve(build.Inputs{Flags: build.Settings{}})
		if err != nil {
			return err
		}
		return runApp(cmd.Context(), appConfig(opts, theme), saveBeside)
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newBuildCommand(stdout, stderr, &theme), newInspectCommand(stdout, &theme), newPlatformsCommand(stdout, stderr), newCacheCommand(stdout), newLoginCommand(stdout, stdin), newIndexCommand(stdout), newSaveCommand(stdout, stderr), newDemoCommand(stdout, &theme))
	return root
}

// appConfig sets the app up as `pycontainer` opens it: the project's base image offered
// in the input, the platforms its config files ask for preselected.
func appConfig(opts *build.Options, theme string) ui.Config {
	return ui.Config{Services: appServices(opts), BaseImage: opts.BaseImage, Recent: recentImages(),
		Requested: requestedFromFiles(opts), Theme: theme, Output: opts.Output}
}

// requestedFromFiles keeps the platforms a config file asked for (to preselect them)
// and drops the default, which nobody asked for.
func requestedFromFiles(o *build.Options) []build.RequestedPlatform {
	var out []build.RequestedPlatform
	for _, p := range o.Platforms {
		if p.Source != "default" {
			out = append(out, p)
		}
	}
	return out
}

// buildFlags are the raw values of `pycontainer build`'s flags.
type buildFlags struct {
	tag, baseImage, config, context, output, workdir, entrypoint, cmd, user, progress  string
	platforms, env, labels, ports, mirrors                                             []string
	includeDeps, push, verbose, reproducible, noReproducible, dryRun, insecure, strict bool
	noCache, noIndex, allowSdist                                                       bool
	pull, requirements, indexURL                                                       string
	extraIndexURLs, findLinks                                                          []string
}

func newBuildCommand(stdout, stderr io.Writer, theme *string) *cobra.Command {
	var f buildFlags
	cmd := &cobra.Command{
		Use:   "build",
		Short: "Build the image of the Python project in the context directory",
		Example: `  pycontainer build --tag myapp:amd64 --platform linux/amd64 --base-image python:3.11-slim
  pycontainer build --tag myapp:latest --platform linux/amd64,linux/arm64
  pycontainer build --tag myapp:latest --config pycontainer.toml`,
		Args: usageArgs(cobra.NoArgs, "build takes flags only; the project is --context (default .)"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts, err := resolveBuildOptions(cmd.Flags(), f)
			if err != nil {
				return err
			}
			if interactive(f.progress, stdout) && !f.dryRun {
				// The app fetches the base index first and builds from exactly it; with
				// --platform at once, unless the index lacks one (then its diagnosis shows).
				cfg := appConfig(opts, *theme)
				cfg.AutoFetch = true
				if cmd.Flags().Changed("platform") {
					cfg.BuildAtOnce, cfg.Requested = true, opts.Platforms
				}
				return runApp(cmd.Context(), cfg, saveBeside)
			}
			sink, err := renderer(f.progress, f.verbose, stdout, stderr)
			if err != nil {
				return err
			}
			return build.Run(cmd.Context(), opts, sink)
		},
	}
	fl := cmd.Flags()
	fl.SortFlags = false
	fl.StringVarP(&f.tag, "tag", "t", "", "image name and tag, e.g. myapp:amd64 or ghcr.io/org/app:1.0 (default PROJECT:latest)")
	fl.StringArrayVar(&f.platforms, "platform", nil, "target platform(s) os/arch[/variant]: comma-separated or repeated (default linux/amd64)")
	fl.StringVar(&f.baseImage, "base-image", "", "base image (default python:X.Y-slim from requires-python, else python:3.11-slim)")
	fl.BoolVar(&f.includeDeps, "include-deps", false, "install the project's dependencies for each target platform")
	fl.BoolVar(&f.push, "push", false, "push the image to its registry after building")
	fl.StringVarP(&f.config, "config", "c", "", "config file (default pycontainer.toml in the context, if present)")
	fl.BoolVarP(&f.verbose, "verbose", "v", false, "print more detail")
	fl.StringVar(&f.context, "context", ".", "directory of the Python project")
	fl.StringVarP(&f.output, "output", "o", "dist/image", "OCI image layout directory to write")
	fl.BoolVar(&f.reproducible, "reproducible", true, "fixed timestamps: the same inputs give the same bytes")
	fl.BoolVar(&f.noReproducible, "no-reproducible", false, "use the current time and file mtimes")
	fl.StringArrayVar(&f.env, "env", nil, "environment variable KEY=VALUE for the image (repeatable)")
	fl.StringArrayVar(&f.labels, "label", nil, "image label KEY=VALUE (repeatable)")
	fl.StringVar(&f.workdir, "workdir", "/app", "directory of the app in the image")
	fl.StringVar(&f.entrypoint, "entrypoint", "", `entrypoint, as words or a JSON array (default from [project.scripts], else main.py/app.py)`)
	fl.StringVar(&f.cmd, "cmd", "", "default arguments, as words or a JSON array")
	fl.StringVar(&f.user, "user", "", "user (name or uid[:gid]) the app runs as")
	fl.StringArrayVar(&f.ports, "port", nil, "port to expose, e.g. 8000 or 53/udp (repeatable)")
	fl.BoolVar(&f.dryRun, "dry-run", false, "resolve and print the plan; write nothing")
	fl.StringVar(&f.progress, "progress", "auto", "progress output: auto, plain or json")
	fl.StringVar(&f.requirements, "requirements", "", "with --include-deps: the requirements file (default requirements.txt, else [project.dependencies])")
	fl.StringVar(&f.indexURL, "index-url", "", "with --include-deps: the package index (pip's --index-url)")
	fl.StringArrayVar(&f.extraIndexURLs, "extra-index-url", nil, "with --include-deps: another package index (repeatable)")
	fl.StringArrayVar(&f.findLinks, "find-links", nil, "with --include-deps: a wheelhouse directory or page (repeatable)")
	fl.BoolVar(&f.noIndex, "no-index", false, "with --include-deps: use only --find-links (offline)")
	fl.BoolVar(&f.allowSdist, "allow-sdist", false, "with --include-deps: build packages without wheels from source — for the host's own platform only")
	fl.BoolVar(&f.noCache, "no-cache", false, "do not use the shared cache of base image blobs")
	fl.StringVar(&f.pull, "pull", "always", "when to ask the registry where the base tag points: always, missing or never (offline)")
	fl.BoolVar(&f.strict, "strict", false, "fail (keeping the previous image) when the app layer holds binaries of another architecture or a host virtualenv")
	fl.BoolVar(&f.insecure, "insecure", false, "reach the base image's registry over plain HTTP (loopback registries always are)")
	fl.StringArrayVar(&f.mirrors, "registry-mirror", nil, "REGISTRY=MIRROR, e.g. docker.io=localhost:5000 (repeatable; also PYCONTAINER_REGISTRY_MIRROR)")
	_ = cmd.RegisterFlagCompletionFunc("base-image", completeRecentImages)
	_ = cmd.RegisterFlagCompletionFunc("platform", func(cmd *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return completePlatforms(cmd, f, toComplete)
	})
	return cmd
}

// completeRecentImages offers the base images used lately (the app's recent list).
func completeRecentImages(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
	return recentImages(), cobra.ShellCompDirectiveNoFileComp
}

// completePlatforms offers, for `--platform <TAB>`, the platforms the base image's index
// lists (from the cache when it holds them), each with how it runs on this machine. A
// comma-separated list completes its last element.
func completePlatforms(cmd *cobra.Command, f buildFlags, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	const directive = cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
	opts, err := resolveBuildOptions(cmd.Flags(), f)
	if err != nil {
		return cobra.AppendActiveHelp(nil, err.Error()), directive
	}
	ctx, cancel := context.WithTimeout(cmp.Or(cmd.Context(), context.Background()), 5*time.Second)
	defer cancel()
	ix, err := build.FetchPlatforms(ctx, opts, opts.BaseImage)
	if err != nil {
		return cobra.AppendActiveHelp(nil, "cannot list the platforms of "+opts.BaseImage+": "+err.Error()), directive
	}
	prefix := ""
	if i := strings.LastIndex(toComplete, ","); i >= 0 {
		prefix = toComplete[:i+1]
	}
	chosen := map[string]bool{}
	for _, p := range strings.Split(prefix, ",") {
		chosen[p] = true
	}
	host := oci.DetectHost()
	var out []cobra.Completion
	for _, p := range ix.Platforms() {
		if name := oci.PlatformString(p); !chosen[name] {
			out = append(out, cobra.CompletionWithDesc(prefix+name, host.HowRuns(p).Note))
		}
	}
	return out, directive
}

// resolveBuildOptions turns the flags a user typed into a settings layer (an untyped
// flag's default never overrides a config file) and resolves the options.
func resolveBuildOptions(fs *pflag.FlagSet, f buildFlags) (*build.Options, error) {
	var s build.Settings
	str := func(name string, v string) *string {
		if fs.Changed(name) {
			return &v
		}
		return nil
	}
	s.BaseImage = str("base-image", f.baseImage)
	s.Context = str("context", f.context)
	s.Output = str("output", f.output)
	s.Workdir = str("workdir", f.workdir)
	s.User = str("user", f.user)
	if fs.Changed("platform") {
		s.Platforms = f.platforms
	}
	if fs.Changed("include-deps") {
		s.IncludeDeps = &f.includeDeps
	}
	switch {
	case fs.Changed("no-reproducible") && fs.Changed("reproducible"):
		return nil, usageError{errors.New("--reproducible and --no-reproducible contradict each other: pass one")}
	case fs.Changed("no-reproducible"):
		v := !f.noReproducible
		s.Reproducible = &v
	case fs.Changed("reproducible"):
		s.Reproducible = &f.reproducible
	}
	var err error
	for _, c := range []struct {
		flag string
		val  string
		dst  *[]string
	}{{"entrypoint", f.entrypoint, &s.Entrypoint}, {"cmd", f.cmd, &s.Cmd}} {
		if fs.Changed(c.flag) {
			if *c.dst, err = build.ParseCommand(c.val); err != nil {
				return nil, usageError{fmt.Errorf("--%s: %w", c.flag, err)}
			}
		}
	}
	if fs.Changed("port") {
		s.Ports = f.ports
	}
	if s.Env, err = build.ParseKeyValues("env", f.env); err != nil {
		return nil, usageError{err}
	}
	if s.Labels, err = build.ParseKeyValues("label", f.labels); err != nil {
		return nil, usageError{err}
	}
	if s.Mirrors, err = build.ParseKeyValues("registry-mirror", f.mirrors); err != nil {
		return nil, usageError{err}
	}
	opts, err := build.Resolve(build.Inputs{
		ConfigPath: f.config, Flags: s, Tag: f.tag, Push: f.push, DryRun: f.dryRun,
	})
	if err != nil {
		return nil, err
	}
	opts.InsecureBase = f.insecure
	opts.Strict = f.strict
	opts.NoCache = f.noCache
	opts.Deps = build.DepsOptions{Requirements: f.requirements, IndexURL: f.indexURL, ExtraIndexURLs: f.extraIndexURLs,
		FindLinks: f.findLinks, NoIndex: f.noIndex, AllowSdist: f.allowSdist}
	switch f.pull {
	case "always", "missing", "never":
		opts.Pull = f.pull
	default:
		return nil, usageError{fmt.Errorf("--pull %q: expected always, missing or never", f.pull)}
	}
	return opts, nil
}

// renderer picks how build events are shown.
func renderer(mode string, verbose bool, stdout, stderr io.Writer) (build.Sink, error) {
	switch mode {
	case "json":
		return ui.NewJSONLines(stdout).Emit, nil
	case "plain", "auto":
		return ui.NewPlain(stderr, stdout, verbose).Emit, nil
	}
	return nil, usageError{fmt.Errorf("--progress %q: expected auto, plain or json", mode)}
}
