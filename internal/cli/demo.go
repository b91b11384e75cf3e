package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/pycontainer/pycontainer/examples"
	"github.com/pycontainer/pycontainer/oci"
	"github.com/pycontainer/pycontainer/stack"

	"github.com/pycontainer/pycontainer/build"
	"github.com/pycontainer/pycontainer/internal/cmdenv"
	"github.com/pycontainer/pycontainer/internal/demo"
	"github.com/pycontainer/pycontainer/registry"
	"github.com/pycontainer/pycontainer/ui"
)

// demoCompose is the stack `pycontainer demo --stack` checks: the demo app built from a
// multi-stage Dockerfile beside the images of demo.Stack, as a Compose project names them.
const (
	demoCompose = `services:
  app:
    build: .
  db:
    image: mysql:${MYSQL_TAG:-5.7}
  cache:
    image: node:8-alpine
  pg:
    image: postgres:16
`
	demoDockerfile = `ARG PY=3.11
FROM python:${PY}-slim AS build
COPY . /app
FROM build
`
)

func newDemoCommand(env cmdenv.Env, theme *string) *cobra.Command {
	var withStack bool
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Try the app with no network: a registry in this process serves generated demo images",
		Long: `demo starts a registry inside this process that serves generated multi-platform images
mirroring the platform sets of real Python tags (python:3.11-slim, python:3.12-slim,
python:3.11-alpine and an amd64-only demo/legacy-python:3.8). Docker Hub names resolve to it.
It builds the seed's cross-platform demo app into a temporary directory. The images are
demo data: their "python" is a placeholder, not an interpreter.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !interactive("auto", env) {
				return fmt.Errorf("demo is the terminal app and needs a terminal; for a scripted build use `pycontainer build`")
			}
			// Generated layers of a few MB at a few MB/s: long enough to watch them stream.
			reg, err := demo.Serve(demo.Throttle(6 << 20))
			if err != nil {
				return err
			}
			defer reg.Close()
			if err := reg.Seed(cmd.Context(), 3<<20); err != nil {
				return err
			}
			dir, err := os.MkdirTemp("", "pycontainer-demo-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			project := filepath.Join(dir, "project")
			if err := os.Mkdir(project, 0o755); err != nil {
				return err
			}
			for name, data := range map[string][]byte{"app.py": examples.DemoApp, "pyproject.toml": examples.DemoPyproject} {
				if err := os.WriteFile(filepath.Join(project, name), data, 0o644); err != nil {
					return err
				}
			}
			opts, err := build.Resolve(build.Inputs{Process: env, Flags: build.Settings{Context: &project, Output: ptr(filepath.Join(project, "dist", "image"))}})
			if err != nil {
				return err
			}
			opts.Mirrors = map[string]string{"docker.io": reg.Host}
			if withStack {
				return demoStack(cmd.Context(), env, opts, reg, project, *theme)
			}
			// Its own cache, beside the project: every demo streams its layers, and demo
			// data stays out of the user's cache.
			opts.CacheDir = filepath.Join(dir, "cache")
			return runApp(cmd.Context(), env, ui.Config{
				Services: demoServices(opts, env, reg), BaseImage: "python:3.11-slim", Recent: reg.Images(),
				Theme: *theme, Output: opts.Output, Banner: "DEMO DATA",
				// No saving: the layout goes with the temporary directory, and a demo
				// image's "python" is a placeholder no engine could run.
			}, nil)
		},
	}
	cmd.Flags().BoolVar(&withStack, "stack", false, "open a Compose stack (mysql:5.7, node:8-alpine, postgres:16 and the demo app) checked for linux/amd64 and linux/arm64")
	return cmd
}

// demoStack checks a demo Compose project on the demo registry's stack and opens the
// app on its matrix.
func demoStack(ctx context.Context, env cmdenv.Env, opts *build.Options, reg *demo.Registry, project, theme string) error {
	if err := reg.SeedStack(ctx, 0); err != nil {
		return err
	}
	for name, text := range map[string]string{"compose.yaml": demoCompose, "Dockerfile": demoDockerfile} {
		if err := os.WriteFile(filepath.Join(project, name), []byte(text), 0o644); err != nil {
			return err
		}
	}
	images, err := stack.ReadCompose(ctx, []string{filepath.Join(project, "compose.yaml")}, env.Variables(), nil)
	if err != nil {
		return err
	}
	showSources(images, cmdenv.Env{Dir: project}.Rel)
	host := oci.DetectHost()
	asked, err := parseRequests([]string{"linux/amd64,linux/arm64"}, "--stack")
	if err != nil {
		return err
	}
	check := stack.RunCheck(ctx, images, stack.Targets{Asked: asked, Host: host}, opts.Connect)
	services := demoServices(opts, env, reg)
	services.Build = nil
	return runApp(ctx, env, ui.Config{Services: services, Stack: check, Start: ui.ScreenStack, Host: host, Theme: theme, Banner: "DEMO DATA"}, nil)
}

// demoServices are the app's services on the demo registry: a name it does not hold is
// said at once, with what it holds (the registry would answer only after its retries,
// naming its internal port), and the images opened are not remembered, as they are
// not the user's.
func demoServices(opts *build.Options, env cmdenv.Env, reg *demo.Registry) ui.Services {
	services := appServices(opts, env)
	fetch := services.FetchIndex
	services.FetchIndex = func(ctx context.Context, image string) (*registry.Index, error) {
		if err := reg.Lookup(image); err != nil {
			return nil, err
		}
		return fetch(ctx, image)
	}
	services.Remember = nil
	return services
}

func ptr[T any](v T) *T { return &v }
