package stack

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
)

// ComposeFiles lists the Compose files Docker Compose reads when none is
// named: the first of compose.yaml, compose.yml, docker-compose.yml and
// docker-compose.yaml (compose-go's order) in dir, else in the nearest parent
// that has one, followed by its first override file (compose.override.yml
// and so on). Files found in dir keep dir's form; those in a parent are
// absolute.
func ComposeFiles(dir string) ([]string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("find Compose file: %w", err)
	}
	prefix := dir
	for {
		if first := firstFile(prefix, cli.DefaultFileNames); first != "" {
			files := []string{first}
			if o := firstFile(prefix, cli.DefaultOverrideFileNames); o != "" {
				files = append(files, o)
			}
			return files, nil
		}
		parent := filepath.Dir(abs)
		if parent == abs {
			return nil, fmt.Errorf("no Compose file in %s or its parents (looked for %s): pass --compose FILE",
				dir, strings.Join(cli.DefaultFileNames, ", "))
		}
		abs, prefix = parent, parent
	}
}

func firstFile(dir string, names []string) string {
	for _, n := range names {
		f := filepath.Join(dir, n)
		if _, err := os.Stat(f); err == nil {
			return f
		}
	}
	return ""
}

// ReadCompose reads the images a Compose project pulls, service by service in
// name order. files are read as one project, later files overriding earlier
// ones; the first file's directory is the project directory. Values are
// interpolated from environ (KEY=value, the caller's environment) and the
// project's .env file, environ winning, as docker compose does. Only services
// the profiles enable count (with no profiles, COMPOSE_PROFILES from environ
// or .env decides); services without a profile always count.
//
// A service with image: and no build: pulls that image. A service with build:
// pulls what its Dockerfile's FROM lines name (see ReadDockerfile), read with
// its build args, target and additional contexts, for its platform: (or each
// of build.platforms); its image: is what the build produces, so it is not
// reported. Duplicates are kept: each has its own source.
func ReadCompose(ctx context.Context, files []string, environ []string, profiles []string) ([]Image, error) {
	if len(files) == 0 {
		return nil, errors.New("no Compose file given: pass --compose FILE")
	}
	for _, f := range files {
		// compose-go's own message for this is long and names the file twice.
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("read Compose file: %w", err)
		}
	}
	project, err := loadProject(ctx, files, environ, profiles)
	if err != nil {
		return nil, err
	}
	r := &composeReader{project: project, given: files, loc: newLocator()}
	var out []Image
	for _, name := range slices.Sorted(maps.Keys(project.Services)) {
		imgs, err := r.service(project.Services[name])
		if err != nil {
			return nil, err
		}
		out = append(out, imgs...)
	}
	return out, nil
}

// loadProject runs compose-go's loader with the steps that need a Docker
// daemon, the network or files beyond the project's left out: no env_file or
// label_file reading, no consistency check, no remote includes.
func loadProject(ctx context.Context, files, environ, profiles []string) (*types.Project, error) {
	opts := []cli.ProjectOptionsFn{
		cli.WithEnv(environ),
		cli.WithEnvFiles(),
		cli.WithDotEnv,
		cli.WithDefaultProfiles(profiles...),
		cli.WithConsistency(false),
		cli.WithoutEnvironmentResolution,
		cli.WithoutLabelsResolution,
		cli.WithResolvedPaths(true),
	}
	// compose-go names a project after its directory and refuses an empty
	// name; a directory like "_" would fail for no reason that matters here.
	if abs, err := filepath.Abs(files[0]); err == nil && loader.NormalizeProjectName(filepath.Base(filepath.Dir(abs))) == "" {
		opts = append(opts, cli.WithName("stack"))
	}
	po, err := cli.NewProjectOptions(files, opts...)
	if err != nil {
		return nil, composeError(files, err)
	}
	project, err := po.LoadProject(ctx)
	if err != nil {
		return nil, composeError(files, err)
	}
	return project, nil
}

// ComposeError is a Compose project compose-go could not load.
type ComposeError struct {
	Files []string
	msg   string
	Err   error
}

func (e *ComposeError) Error() string { return e.msg }
func (e *ComposeError) Unwrap() error { return e.Err }

// composeError makes compose-go's error one line that names the files as the
// caller gave them rather than as absolute paths.
func composeError(files []string, err error) error {
	msg := err.Error()
	for _, f := range files {
		if abs, aerr := filepath.Abs(f); aerr == nil && abs != f {
			msg = strings.ReplaceAll(msg, abs, f)
		}
	}
	msg = strings.Join(strings.Fields(msg), " ")
	// The schema validator's word for a key the spec does not have.
	msg = strings.ReplaceAll(msg, " false schema", ": not a Compose key here")
	if strings.Contains(msg, "required variable") {
		msg += ": set it in the environment or in .env"
	}
	return &ComposeError{Files: files, msg: strings.Join(files, ", ") + ": " + msg, Err: err}
}

type composeReader struct {
	project *types.Project
	given   []string
	loc     *locator
}

func (r *composeReader) service(svc types.ServiceConfig) ([]Image, error) {
	switch {
	case svc.Provider != nil:
		return nil, nil // run by a provider plugin, no image
	case svc.Build != nil:
		return r.built(svc)
	case svc.Image == "":
		file, line := r.loc.find(r.given, svc.Name, "")
		return nil, fmt.Errorf("%s: services.%s: neither image: nor build: is set: add one", fileLine(file, line), svc.Name)
	}
	file, line := r.loc.find(r.given, svc.Name, "image")
	return []Image{{
		Ref:      svc.Image,
		Platform: svc.Platform,
		Source:   Source{File: file, Line: line, Service: svc.Name},
	}}, nil
}

// built reads the Dockerfile a service builds, once for each platform it is
// built for.
func (r *composeReader) built(svc types.ServiceConfig) ([]Image, error) {
	b := svc.Build
	cfile, cline := r.loc.find(r.given, svc.Name, "build")
	where := fmt.Sprintf("%s: services.%s.build", fileLine(cfile, cline), svc.Name)
	display, data, err := r.dockerfile(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	opt := dockerfileOptions{buildArgs: map[string]string{}, target: b.Target, contexts: b.AdditionalContexts}
	for k, v := range b.Args {
		if v != nil { // an arg with no value and none in the environment is not passed
			opt.buildArgs[k] = *v
		}
	}
	platforms := []string{""}
	if svc.Platform != "" {
		platforms = []string{svc.Platform}
	} else if len(b.Platforms) > 0 {
		platforms = b.Platforms
	}
	var out []Image
	for _, p := range platforms {
		opt.platform = p
		imgs, err := readDockerfile(display, data, opt)
		if err != nil {
			return nil, fmt.Errorf("service %s: %w", svc.Name, err)
		}
		for _, img := range imgs {
			img.Source.Service, img.Source.ComposeFile, img.Source.ComposeLine = svc.Name, cfile, cline
			if !slices.Contains(out, img) {
				out = append(out, img)
			}
		}
	}
	return out, nil
}

// dockerfile finds the Dockerfile of a build: and its name for people.
func (r *composeReader) dockerfile(b *types.BuildConfig) (string, []byte, error) {
	if b.DockerfileInline != "" {
		return "dockerfile_inline", []byte(b.DockerfileInline), nil
	}
	if remoteContext(b.Context) {
		return "", nil, fmt.Errorf("context %s is remote and is not read offline: check its Dockerfile with --dockerfile", b.Context)
	}
	path := b.Dockerfile
	if path == "" {
		path = "Dockerfile"
	}
	if !filepath.IsAbs(path) {
		path = filepath.Join(b.Context, path)
	}
	display := r.display(path)
	data, err := os.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			pe.Path = display
		}
		return "", nil, fmt.Errorf("read Dockerfile: %w", err)
	}
	return display, data, nil
}

// display names a file of the project relative to the first Compose file as
// the caller gave it, so relative paths stay relative.
func (r *composeReader) display(abs string) string {
	rel, err := filepath.Rel(r.project.WorkingDir, abs)
	if err != nil {
		return abs
	}
	return filepath.Join(filepath.Dir(r.given[0]), rel)
}

// remoteContext matches the build contexts compose-go leaves unresolved: URLs,
// git references and other builders' context types.
func remoteContext(c string) bool {
	if strings.Contains(c, "://") || strings.HasPrefix(c, types.ServicePrefix) {
		return true
	}
	for _, p := range []string{"github.com/", "git@"} {
		if strings.HasPrefix(c, p) {
			return true
		}
	}
	return false
}
