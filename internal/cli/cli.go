// Package cli is pycontainer's command tree (cobra): build, platforms, inspect, save,
// index, login, cache, demo and the terminal app's start. It turns command lines into
// calls of build, oci and registry and picks the renderer; main only calls Run.
package cli

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
	"github.com/pycontainer/pycontainer/internal/cmdenv"
	"github.com/pycontainer/pycontainer/oci"
	"github.com/pycontainer/pycontainer/registry"
	"github.com/pycontainer/pycontainer/themes"
	"github.com/pycontainer/pycontainer/ui"
)

// Run executes one command line (without the program's name) in env and returns the
// exit code. Errors become one line on stderr (plus details where an error has them),
// never a stack trace. Commands read the environment, the working directory and the
// streams from env alone, so several Runs can share a process.
func Run(args []string, env cmdenv.Env) (code int) {
	stderr := env.Stderr
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(stderr, "Error: internal error: %v (please report this)\n", r)
			code = 70
		}
	}()
	// SIGHUP: the terminal went away; the app stops its build and cleans up as for ^C.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()

	root := newRootCommand(env)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
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
	case errors.Is(err, build.ErrInterrupted): // a build this command ran, or the app's
		fmt.Fprintf(stderr, "Error: %v\n", ui.ErrInterrupted)
		return 130
	case ctx.Err() != nil:
		fmt.Fprintln(stderr, "Error: interrupted")
		return 130
	}
	// Errors quote file names, registries' answers and images' text: none of it may
	// drive the terminal.
	fmt.Fprintf(stderr, "Error: %s\n", ui.Sanitize(firstLine(err.Error())))
	var detailed build.Detailer
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

func newRootCommand(env cmdenv.Env) *cobra.Command {
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
	theme := cmp.Or(env.Getenv("PYCONTAINER_THEME"), "auto")
	root.PersistentFlags().StringVar(&theme, "theme", theme, "colours of the terminal app: "+strings.Join(themes.Names, ", ")+"; PYCONTAINER_THEME sets a standing choice")
	root.Args = usageArgs(cobra.NoArgs, "unknown command; see pycontainer --help")
	root.RunE = func(cmd *cobra.Command, _ []string) error {
		if !interactive("auto", env) {
			return cmd.Help()
		}
		// The app starts from the project's settings; a broken file is a warning there.
		opts, err := build.Resolve(build.Inputs{Process: env, Lenient: true})
		if err != nil {
			return err
		}
		return runApp(cmd.Context(), env, appConfig(opts, env, theme), saveBeside)
	}
	root.Version = currentVersion().String()
	root.SetVersionTemplate("{{.Version}}\n") // --version prints what `version` does
	root.SetOut(env.Stdout)
	root.SetErr(env.Stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newBuildCommand(env, &theme), newInspectCommand(env, &theme), newPlatformsCommand(env), newCacheCommand(env), newLoginCommand(env), newIndexCommand(env), newSaveCommand(env), newDemoCommand(env, &theme), newVersionCommand(env))
	return root
}

// appConfig sets the app up as `pycontainer` opens it: the project's base image offered
// in the input, the platforms its config files ask for preselected.
func appConfig(opts *build.Options, env cmdenv.Env, theme string) ui.Config {
	return ui.Config{Services: appServices(opts, env), BaseImage: opts.BaseImage, Recent: recentImages(env),
		Requested: requestedFromFiles(opts), Theme: theme, Output: env.Rel(opts.Output), Warnings: opts.Warnings}
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

func newBuildCommand(env cmdenv.Env, theme *string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "build",
		Short: "Build the image of the Python project in the context directory",
		Long: `build writes the image of the Python project in --context to --output, an OCI image layout.
Every setting below can also be set in pycontainer.toml ([table] key, as each flag says), in
pyproject.toml under [tool.pycontainer], and in the environment ($PYCONTAINER_…). Precedence:
defaults < pyproject.toml < pycontainer.toml < environment < flags you typed.`,
		Example: `  pycontainer build --tag myapp:amd64 --platform linux/amd64 --base-image python:3.11-slim
  pycontainer build --tag myapp:latest --platform linux/amd64,linux/arm64
  pycontainer build --tag myapp:latest --config pycontainer.toml`,
		Args: usageArgs(cobra.NoArgs, "build takes flags only; the project is --context (default .)"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts, err := resolveBuildOptions(cmd.Flags(), env, false)
			if err != nil {
				return err
			}
			if interactive(opts.Progress, env) && !opts.DryRun {
				// The app fetches the base index first and builds from exactly it; with
				// --platform at once, unless the index lacks one (then its diagnosis shows).
				cfg := appConfig(opts, env, *theme)
				cfg.AutoFetch = true
				if cmd.Flags().Changed("platform") {
					cfg.BuildAtOnce, cfg.Requested = true, opts.Platforms
				}
				return build.Interrupted(cmd.Context(), runApp(cmd.Context(), env, cfg, saveBeside))
			}
			return build.Run(cmd.Context(), opts, renderer(opts.Progress, opts.Verbose, env.Stdout, env.Stderr))
		},
	}
	fl := cmd.Flags()
	fl.SortFlags = false
	build.AddFlags(fl)
	_ = cmd.RegisterFlagCompletionFunc("base-image", completeRecentImages(env))
	_ = cmd.RegisterFlagCompletionFunc("platform", completePlatforms(env))
	return cmd
}

// completeRecentImages offers the base images used lately (the app's recent list).
func completeRecentImages(env cmdenv.Env) cobra.CompletionFunc {
	return func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return recentImages(env), cobra.ShellCompDirectiveNoFileComp
	}
}

// completePlatforms offers, for `--platform <TAB>`, the platforms the base image's index
// lists (from the cache when it holds them), each with how it runs on this machine. A
// comma-separated list completes its last element.
func completePlatforms(env cmdenv.Env) cobra.CompletionFunc {
	return func(cmd *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return platformCompletions(cmd, env, toComplete)
	}
}

func platformCompletions(cmd *cobra.Command, env cmdenv.Env, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	const directive = cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
	opts, err := resolveBuildOptions(cmd.Flags(), env, true)
	if err != nil {
		return cobra.AppendActiveHelp(nil, err.Error()), directive
	}
	ctx, cancel := context.WithTimeout(cmp.Or(cmd.Context(), context.Background()), 5*time.Second)
	defer cancel()
	ix, err := registry.FetchPlatforms(ctx, opts.Connect, opts.BaseImage)
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

// resolveBuildOptions layers the flags a user typed over the environment and the
// project's files (an untyped flag's default never overrides a file). Lenient: a broken
// project file is a warning (completion needs the registry settings only).
func resolveBuildOptions(fs *pflag.FlagSet, env cmdenv.Env, lenient bool) (*build.Options, error) {
	flags, config, err := build.FlagSettings(fs)
	if err != nil {
		return nil, usageError{err}
	}
	return build.Resolve(build.Inputs{ConfigPath: config, Flags: flags, Process: env, Lenient: lenient})
}

// registrySettings are the [registry] settings (and the rest) of the project in the
// current directory, for commands that reach registries without building: a broken
// project file is a warning on the command's error stream, its settings left out.
func registrySettings(cmd *cobra.Command, env cmdenv.Env) *build.Options {
	opts, err := build.Resolve(build.Inputs{Process: env, Lenient: true})
	if err != nil {
		fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s (the project's registry settings are left out)\n", ui.Sanitize(err.Error()))
		return &build.Options{Process: env}
	}
	for _, w := range opts.Warnings {
		fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s\n", ui.Sanitize(w))
	}
	return opts
}

// renderer picks how build events are shown; Resolve has checked mode.
func renderer(mode string, verbose bool, stdout, stderr io.Writer) build.Sink {
	if mode == "json" {
		return ui.NewJSONLines(stdout).Emit
	}
	return ui.NewPlain(stderr, stdout, verbose).Emit
}
