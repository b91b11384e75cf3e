package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"

	tea "charm.land/bubbletea/v2"
	"github.com/regclient/regclient/types/descriptor"
	"golang.org/x/term"

	"github.com/pycontainer/pycontainer/build"
	"github.com/pycontainer/pycontainer/internal/cmdenv"
	"github.com/pycontainer/pycontainer/oci"
	"github.com/pycontainer/pycontainer/registry"
	"github.com/pycontainer/pycontainer/themes"
	"github.com/pycontainer/pycontainer/ui"
)

// interactive reports whether the terminal app may start: stdin and stdout are
// terminals, CI is not set, TERM is not dumb and plain or JSON output was not asked for.
func interactive(progress string, env cmdenv.Env) bool {
	if progress == "plain" || progress == "json" {
		return false
	}
	if ci := env.Getenv("CI"); ci != "" && ci != "false" && ci != "0" {
		return false
	}
	if env.Getenv("TERM") == "dumb" {
		return false
	}
	return isTerminal(env.Stdout) && isTerminal(env.Stdin)
}

// isTerminal reports whether stream is a terminal (a file that is one).
func isTerminal(stream any) bool {
	f, ok := stream.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// appServices connects the app to the build pipeline and the registry: it builds what
// the app asks for (the base image browsed, pinned to the index shown) with the rest of
// opts.
func appServices(opts *build.Options, env cmdenv.Env) ui.Services {
	return ui.Services{
		FetchIndex: func(ctx context.Context, image string) (*registry.Index, error) {
			return registry.FetchIndex(ctx, opts.Connect, image)
		},
		Diagnose: func(ctx context.Context, ix *registry.Index, missing []build.RequestedPlatform) []*registry.Diagnosis {
			return registry.DiagnoseAll(ctx, opts.Connect(ix.Ref), ix, missing)
		},
		Build: func(ctx context.Context, req build.Request, sink build.Sink) error {
			o := opts.For(req)
			o.KeepGoing = true
			return build.Run(ctx, o, sink)
		},
		Inspect: func(context.Context) (*oci.Summary, error) { return oci.InspectPath(opts.Output) },
		LayerFiles: func(ctx context.Context, s *oci.Summary, layer descriptor.Descriptor, max int) ([]oci.LayerFile, bool, error) {
			return s.LayerFiles(ctx, layer, max)
		},
		Remember: func(image string) error { return rememberImage(env, image) },
	}
}

// saveFunc writes one image of a layout somewhere and says where.
type saveFunc func(ctx context.Context, s *oci.Summary, img oci.ImageSummary) (string, error)

// saveBeside writes img beside the layout it came from: dist/image ->
// dist/myapp-linux-arm64.tar.
func saveBeside(ctx context.Context, s *oci.Summary, img oci.ImageSummary) (string, error) {
	path := filepath.Join(filepath.Dir(filepath.Clean(s.Dir)), archiveName(img))
	if filepath.Clean(path) == filepath.Clean(s.Dir) {
		// The archive on screen is read in place: writing over it would pull it from
		// under its own summary.
		return "", fmt.Errorf("%s is the archive on screen already", path)
	}
	return path, saveArchive(ctx, s, img, path)
}

// backgroundSaves runs the app's saves under ctx and lets the app, when it ends, cancel
// the ones still running and wait for them: a save cut short removes its temporary
// file, which it could not do once the process had exited.
type backgroundSaves struct {
	ctx    context.Context
	run    saveFunc
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

func (b *backgroundSaves) save(s *oci.Summary, img oci.ImageSummary) (string, error) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return "", context.Canceled
	}
	b.wg.Add(1)
	b.mu.Unlock()
	defer b.wg.Done()
	return b.run(b.ctx, s, img)
}

// stopAndWait cancels the saves with cancel and waits until they have cleaned up.
func (b *backgroundSaves) stopAndWait(cancel context.CancelFunc) {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	cancel()
	b.wg.Wait()
}

// runApp runs the terminal app until the user quits. With save, s on the inspect screen
// saves the platform on screen that way.
func runApp(ctx context.Context, env cmdenv.Env, cfg ui.Config, save saveFunc) error {
	if _, err := themes.ByName(cfg.Theme, true); err != nil {
		return usageError{fmt.Errorf("--theme or PYCONTAINER_THEME: %w", err)}
	}
	if save != nil {
		saveCtx, cancel := context.WithCancel(ctx)
		saves := &backgroundSaves{ctx: saveCtx, run: save}
		defer saves.stopAndWait(cancel)
		cfg.Services.Save = saves.save
	}
	cfg.Context = ctx
	app := ui.New(cfg)
	p := tea.NewProgram(app, tea.WithContext(ctx), tea.WithInput(env.Stdin), tea.WithOutput(env.Stdout))
	_, err := p.Run()
	app.Close() // a build still running stops before the process ends
	switch {
	case ctx.Err() != nil:
		return ctx.Err() // a signal: the caller says so
	case errors.Is(err, tea.ErrInterrupted):
		return ui.ErrInterrupted
	case err != nil:
		return err
	}
	return app.Result()
}

const maxRecent = 10

// recentPath is where the app keeps its recent images: under XDG_CONFIG_HOME when env
// sets it, else the user's config directory, both read from env.
func recentPath(env cmdenv.Env) (string, error) {
	return recentPathOn(runtime.GOOS, env.Getenv)
}

// recentPathOn is recentPath on a host of goos. XDG_CONFIG_HOME comes first on every
// OS, macOS and Windows too: it is how a test (clitest) or a user keeps the list apart.
func recentPathOn(goos string, getenv func(string) string) (string, error) {
	dir := getenv("XDG_CONFIG_HOME")
	if dir == "" {
		var err error
		if dir, err = oci.UserConfigDir(goos, getenv); err != nil {
			return "", fmt.Errorf("find a config directory for the recent images: %w", err)
		}
	}
	return filepath.Join(dir, "pycontainer", "recent-images"), nil
}

// recentImages lists the base images opened in the app, newest first.
func recentImages(env cmdenv.Env) []string {
	path, err := recentPath(env)
	if err != nil {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() && len(out) < maxRecent {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			out = append(out, line)
		}
	}
	return out
}

func rememberImage(env cmdenv.Env, image string) error {
	path, err := recentPath(env)
	if err != nil {
		return err
	}
	list := slices.DeleteFunc(recentImages(env), func(s string) bool { return s == image })
	list = append([]string{image}, list...)
	if len(list) > maxRecent {
		list = list[:maxRecent]
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(strings.Join(list, "\n")+"\n"), 0o644)
}
