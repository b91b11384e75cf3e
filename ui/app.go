package ui

import (
	"context"
	"fmt"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/spinner"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/regclient/regclient/types/descriptor"

	"github.com/pycontainer/pycontainer/build"
	"github.com/pycontainer/pycontainer/oci"
	"github.com/pycontainer/pycontainer/registry"
	"github.com/pycontainer/pycontainer/stack"
	"github.com/pycontainer/pycontainer/themes"
)

// Screen names one screen of the app.
type Screen int

const (
	ScreenBase Screen = iota
	ScreenPlatforms
	ScreenBuild
	ScreenInspect
	// ScreenStack is the matrix of a stack's images by platform (Config.Stack); it
	// stands where the base image input would, and esc on a platform list opened
	// from it comes back to it.
	ScreenStack
)

func (s Screen) title() string {
	return [...]string{"base image", "platforms", "build", "inspect", "stack"}[s]
}

// ErrInterrupted is the result of an app whose user stopped a build: ctrl+c, q and its
// confirmation, or esc while it ran. It is the build's own, so one check finds a build
// stopped by a key or by a signal.
var ErrInterrupted = build.ErrInterrupted

// Services is what the app needs from the rest of pycontainer. Update and View never do
// I/O themselves; they return commands that call these.
type Services struct {
	// FetchIndex reads a base image's index with sizes and layer counts.
	FetchIndex func(ctx context.Context, image string) (*registry.Index, error)
	// Diagnose explains why an index lacks each of the requested platforms (may be nil).
	Diagnose func(ctx context.Context, ix *registry.Index, missing []build.RequestedPlatform) []*registry.Diagnosis
	// Build builds what the user picked, from the index that was on screen.
	Build func(ctx context.Context, req build.Request, sink build.Sink) error
	// Inspect reads the output layout.
	Inspect func(ctx context.Context) (*oci.Summary, error)
	// LayerFiles lists up to max entries of a layer of the layout s read (may be nil).
	LayerFiles func(ctx context.Context, s *oci.Summary, layer descriptor.Descriptor, max int) ([]oci.LayerFile, bool, error)
	// Remember records a base image the user opened, for next time (may be nil).
	Remember func(image string) error
	// Save writes one image of the layout as an archive docker load and podman load
	// read, and returns the file's path (may be nil). It runs until it is done or the
	// app ends: the caller of the app cancels it then.
	Save func(s *oci.Summary, img oci.ImageSummary) (string, error)
}

// Config sets up the app.
type Config struct {
	Services Services
	// BaseImage is offered in the base image input (what the user types replaces it);
	// with AutoFetch it is fetched at once.
	BaseImage string
	Recent    []string
	// Requested are the platforms flags or config asked for; they are preselected.
	Requested []build.RequestedPlatform
	Host      oci.Host
	Start     Screen // ScreenBase, ScreenInspect or ScreenStack
	// Stack is what ScreenStack shows: `pycontainer platforms --compose`.
	Stack     *stack.Check
	AutoFetch bool
	// BuildAtOnce, with AutoFetch, builds Requested as soon as the index shows them all:
	// `pycontainer build --platform …` in a terminal. A platform the index lacks stops
	// on the platform list with its diagnosis instead.
	BuildAtOnce bool
	// Theme names a palette; "auto" follows the terminal background.
	Theme string
	// Banner labels the session, e.g. "DEMO DATA".
	Banner string
	Output string
	// Warnings are the project's configuration warnings (a broken pycontainer.toml left
	// out, an unknown key), shown when the app opens.
	Warnings []string
	// Context ends the app's background work (default: never).
	Context context.Context
}

// App is the root model: it owns the window size, the theme, help and quitting, and
// routes messages to the screens, which talk back only through messages.
type App struct {
	cfg    Config
	c      *common
	cancel context.CancelFunc
	screen Screen
	width  int
	height int

	base      *baseScreen
	platforms *platformScreen
	build     *buildScreen
	inspect   *inspectScreen
	stack     *stackScreen

	help        bool // the help overlay is shown
	confirmQuit bool // q was pressed during a build: the next q quits
	interrupted bool // the user stopped a build by quitting
	buildAtOnce bool // BuildAtOnce, until the first index arrives
	status      string
	failed      bool // status reports a failure
}

// New creates the app. Styles follow cfg.Theme; with "auto" the dark palette is used
// until the terminal reports its background.
func New(cfg Config) *App {
	parent := cfg.Context
	if parent == nil {
		parent = context.Background()
	}
	ctx, cancel := context.WithCancel(parent)
	if cfg.Host.Platform.OS == "" {
		cfg.Host = oci.DetectHost()
	}
	a := &App{cfg: cfg, cancel: cancel, width: 80, height: 24, screen: cfg.Start, buildAtOnce: cfg.BuildAtOnce}
	a.c = &common{ctx: ctx, keys: DefaultKeyMap(), services: cfg.Services, host: cfg.Host, output: cfg.Output, backTo: "another base image"}
	if cfg.Start == ScreenStack {
		a.c.backTo = "the stack"
	}
	a.setTheme(true)
	image := cfg.BaseImage
	if image == "" {
		image = "python:3.11-slim"
	}
	a.base = newBaseScreen(a.c, image, cfg.Recent, cfg.Requested)
	if cfg.AutoFetch {
		a.base.input.SetValue(image)
	}
	if n := len(cfg.Warnings); n > 0 {
		a.status, a.failed = "warning: "+Sanitize(cfg.Warnings[0]), true
		if n > 1 {
			a.status += fmt.Sprintf(" (and %d more)", n-1)
		}
	}
	a.platforms = newPlatformScreen(a.c)
	a.build = newBuildScreen(a.c)
	a.inspect = newInspectScreen(a.c)
	a.stack = newStackScreen(a.c, cfg.Stack)
	a.resize()
	return a
}

func (a *App) setTheme(dark bool) {
	p, err := themes.ByName(a.cfg.Theme, dark)
	if err != nil {
		p = themes.Dark
	}
	a.c.styles = themes.NewStyles(p)
}

func (a *App) screens() []screen {
	return []screen{a.base, a.platforms, a.build, a.inspect, a.stack}
}

func (a *App) current() screen { return a.screens()[a.screen] }

// resize gives every screen the body's size: the window less the header (2 lines) and
// the footer (a status line and the help line).
func (a *App) resize() {
	for _, s := range a.screens() {
		s.SetSize(a.width, max(a.height-4, 1))
	}
}

// Init starts the first screen's work.
func (a *App) Init() tea.Cmd {
	cmds := []tea.Cmd{tea.RequestBackgroundColor}
	switch a.screen {
	case ScreenInspect:
		cmds = append(cmds, a.inspect.load())
	default:
		if a.cfg.AutoFetch {
			cmds = append(cmds, a.base.fetch())
		}
	}
	return tea.Batch(cmds...)
}

// Update routes a message: keys the root owns, navigation, the results of background
// work to the screen that asked for them, and everything else to the current screen.
func (a *App) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		a.width, a.height = msg.Width, msg.Height
		a.resize()
		return a, nil
	case tea.BackgroundColorMsg:
		if a.cfg.Theme == "" || a.cfg.Theme == "auto" {
			a.setTheme(msg.IsDark())
			a.resize() // redraws what screens laid out with the old styles
		}
		return a, nil
	case tea.KeyPressMsg:
		if cmd, done := a.key(msg); done {
			return a, cmd
		}
	case indexFetchedMsg, spinner.TickMsg:
		return a, a.base.Update(msg)
	case openImageMsg:
		a.screen = ScreenBase
		return a, a.base.Update(msg)
	case indexOpenedMsg:
		return a, a.opened(msg)
	case openRowMsg:
		return a, a.openRow(msg)
	case diagnosedMsg:
		return a, a.platforms.Update(msg)
	case startBuildMsg:
		if a.c.services.Build == nil {
			return a, problem("building is not offered here")
		}
		a.screen = ScreenBuild
		return a, a.build.start(msg.req)
	case buildEventMsg, buildFinishedMsg:
		return a, a.build.Update(msg)
	case showInspectMsg:
		a.screen = ScreenInspect
		a.inspect.canLeave = true
		return a, a.inspect.load()
	case inspectLoadedMsg, filesLoadedMsg, savedMsg:
		return a, a.inspect.Update(msg)
	case backMsg:
		a.back()
		return a, nil
	case forwardMsg:
		if a.platforms.hasIndex() {
			a.screen = ScreenPlatforms
		}
		return a, nil
	case statusMsg:
		a.status, a.failed = string(msg), false
		return a, nil
	case problemMsg:
		a.status, a.failed = string(msg), true
		return a, nil
	}
	return a, a.current().Update(msg)
}

// key handles the keys that work on every screen: help, quitting and the question
// before quitting a running build. done is false for keys the screen should have.
func (a *App) key(msg tea.KeyPressMsg) (tea.Cmd, bool) {
	k := a.c.keys
	a.status = ""
	if a.confirmQuit {
		a.confirmQuit = false
		if key.Matches(msg, k.Quit, k.ForceQuit) {
			return a.quit(), true
		}
		return nil, true // any other key keeps building
	}
	switch {
	case key.Matches(msg, k.ForceQuit):
		return a.quit(), true
	case key.Matches(msg, k.Help):
		a.help = !a.help
		return nil, true
	case a.help && key.Matches(msg, k.Back):
		a.help = false
		return nil, true
	case !a.current().Typing() && key.Matches(msg, k.Quit):
		if a.build.running {
			a.confirmQuit = true
			return nil, true
		}
		return a.quit(), true
	case a.help:
		return nil, true // the overlay has the keyboard
	}
	return nil, false
}

// quit ends the app, stopping a running build (which makes the result "interrupted").
func (a *App) quit() tea.Cmd {
	if a.build.running {
		a.interrupted = true
		a.build.cancel()
	}
	return tea.Quit
}

// opened shows an index the user asked for; the first one, with BuildAtOnce, is built
// at once when it has every platform asked for.
func (a *App) opened(msg indexOpenedMsg) tea.Cmd {
	a.platforms.load(msg.image, msg.index, msg.requested)
	a.screen = ScreenPlatforms
	a.base.canReturn = true
	cmds := []tea.Cmd{a.platforms.diagnose()}
	if remember := a.c.services.Remember; remember != nil {
		cmds = append(cmds, func() tea.Msg {
			_ = remember(msg.image) // a recent-images list that cannot be written is no reason to stop
			return nil
		})
	}
	if a.buildAtOnce {
		a.buildAtOnce = false
		if req := a.platforms.request(); a.platforms.missingCount() == 0 && len(req.Platforms) > 0 {
			a.screen = ScreenBuild
			cmds = append(cmds, a.build.start(req))
		}
	}
	return tea.Batch(cmds...)
}

// openRow shows a stack row's index on the platform screen, with the check's diagnoses
// when it has them all (nothing is read again), else diagnosed as any index is.
func (a *App) openRow(msg openRowMsg) tea.Cmd {
	a.platforms.load(msg.image, msg.index, msg.requested)
	a.screen = ScreenPlatforms
	a.base.canReturn = true // a try line goes through the base screen; esc there returns
	if msg.diagnoses == nil {
		return a.platforms.diagnose()
	}
	return a.platforms.Update(diagnosedMsg{index: msg.index, diagnoses: msg.diagnoses})
}

// stackMode is an app opened on a stack: its platform lists come from the matrix.
func (a *App) stackMode() bool { return a.cfg.Start == ScreenStack }

// back goes to the screen before the current one that has something to show.
func (a *App) back() {
	switch a.screen {
	case ScreenPlatforms:
		a.screen = ScreenBase
		if a.stackMode() {
			a.screen = ScreenStack
		}
	case ScreenBuild:
		a.screen = ScreenBase
		if a.platforms.hasIndex() {
			a.screen = ScreenPlatforms
		}
	case ScreenInspect:
		switch {
		case a.build.hasRun():
			a.screen = ScreenBuild
		case a.platforms.hasIndex():
			a.screen = ScreenPlatforms
		}
	}
}

// Result is the outcome of the app's last build: nil after a successful one or when
// none ran, ErrInterrupted when the user stopped it, else why it failed.
func (a *App) Result() error {
	switch {
	case a.interrupted:
		return ErrInterrupted
	case !a.build.hasRun():
		return nil
	case a.build.running || a.build.prog.cancelled():
		return ErrInterrupted
	}
	return a.build.prog.err
}

// Built reports whether a build ran and is over.
func (a *App) Built() bool { return a.build.hasRun() && !a.build.running }

// Close ends the app's background work and waits (a while) for a build to stop, so
// nothing it writes outlives the app.
func (a *App) Close() {
	a.cancel()
	a.build.stop(30 * time.Second)
}

// View draws the header, the current screen (or the help over it) and the footer.
func (a *App) View() tea.View {
	header := a.header()
	footer := a.footer()
	bodyHeight := max(a.height-lipgloss.Height(header)-lipgloss.Height(footer), 1)
	var body string
	if a.help {
		body = a.helpView(bodyHeight)
	} else {
		body = a.current().View()
	}
	body = lipgloss.NewStyle().Height(bodyHeight).MaxHeight(bodyHeight).Render(body)
	v := tea.NewView(lipgloss.JoinVertical(lipgloss.Left, header, body, footer))
	v.AltScreen = true
	v.WindowTitle = "pycontainer · " + a.screen.title()
	return v
}

func (a *App) header() string {
	s := a.c.styles
	var crumbs []string
	for _, st := range a.trail() {
		if st == a.screen {
			crumbs = append(crumbs, s.Title.Render(st.title()))
		} else {
			crumbs = append(crumbs, s.Muted.Render(st.title()))
		}
	}
	left := s.Title.Render("pycontainer") + "  " + strings.Join(crumbs, s.Muted.Render(" › "))
	if a.cfg.Banner != "" {
		left += "  " + s.Badge.Render(a.cfg.Banner)
	}
	return truncate(left, a.width) + "\n" + s.Border.Render(strings.Repeat("─", max(a.width, 1)))
}

// trail is the screens the header names: on a stack, the stack takes the base image's
// place (named only while a try line fetches through it), and build and inspect are
// named only when building is offered.
func (a *App) trail() []Screen {
	if !a.stackMode() {
		return []Screen{ScreenBase, ScreenPlatforms, ScreenBuild, ScreenInspect}
	}
	out := []Screen{ScreenStack, ScreenPlatforms}
	if a.screen == ScreenBase {
		out = []Screen{ScreenStack, ScreenBase, ScreenPlatforms}
	}
	if a.c.services.Build != nil {
		out = append(out, ScreenBuild, ScreenInspect)
	}
	return out
}

// footer is a status line and a line of the keys that work now; "? help" and the way
// to quit always stay in it, the screen's keys give way from the end.
func (a *App) footer() string {
	s, k := a.c.styles, a.c.keys
	line := ""
	switch {
	case a.confirmQuit:
		line = s.Warn.Render(truncate("Build running: q again stops it and quits; any other key keeps building", a.width))
	case a.status != "" && a.failed:
		line = s.Err.Render(truncate(a.status, a.width))
	case a.status != "":
		line = s.OK.Render(truncate(a.status, a.width))
	}
	quit := k.Quit
	if a.current().Typing() {
		quit = k.ForceQuit
	}
	keys := a.current().ShortHelp()
	fixed := []key.Binding{k.Help, quit}
	if a.help {
		keys, fixed = nil, []key.Binding{as(k.Help, "close help"), quit}
	}
	return line + "\n" + a.shortHelp(keys, fixed)
}

func (a *App) shortHelp(keys, fixed []key.Binding) string {
	s := a.c.styles
	render := func(bs []key.Binding) string {
		parts := make([]string, len(bs))
		for i, b := range bs {
			parts[i] = s.HelpKey.Render(b.Help().Key) + " " + s.HelpDesc.Render(b.Help().Desc)
		}
		return strings.Join(parts, s.Muted.Render(" • "))
	}
	for n := len(keys); n >= 0; n-- {
		line := render(append(keys[:n:n], fixed...))
		if lipgloss.Width(line) <= a.width || n == 0 {
			return truncate(line, a.width)
		}
	}
	return ""
}

// helpView lists every key of the current screen that works, and the keys of every
// screen, in columns that fit the width (stacked when they do not).
func (a *App) helpView(height int) string {
	s, k := a.c.styles, a.c.keys
	groups := append(a.current().FullHelp(), []key.Binding{
		as(k.Help, "show or close this help"), as(k.Quit, "quit (asks first during a build)"), as(k.ForceQuit, "quit at once"),
	})
	cols := make([][]string, 0, len(groups))
	for _, g := range groups {
		keyWidth := 0
		for _, b := range g {
			keyWidth = max(keyWidth, lipgloss.Width(b.Help().Key))
		}
		var col []string
		for _, b := range g {
			col = append(col, s.HelpKey.Render(b.Help().Key+strings.Repeat(" ", keyWidth-lipgloss.Width(b.Help().Key)))+"  "+s.HelpDesc.Render(b.Help().Desc))
		}
		cols = append(cols, col)
	}
	title := s.Title.Render("Keys · " + a.screen.title())
	// Columns side by side while they fit, else one below the other.
	var blocks []string
	row := []string{}
	rowWidth := 0
	flush := func() {
		if len(row) > 0 {
			blocks = append(blocks, lipgloss.JoinHorizontal(lipgloss.Top, row...))
		}
		row, rowWidth = nil, 0
	}
	for _, col := range cols {
		block := lipgloss.NewStyle().PaddingRight(4).Render(strings.Join(col, "\n"))
		w := lipgloss.Width(block)
		if rowWidth > 0 && rowWidth+w > a.width-2 {
			flush()
		}
		row = append(row, block)
		rowWidth += w
	}
	flush()
	body := lipgloss.NewStyle().PaddingLeft(2).Render(strings.Join(blocks, "\n\n"))
	lines := strings.Split(title+"\n\n"+body, "\n")
	for i := range lines {
		lines[i] = truncate(lines[i], a.width)
	}
	if len(lines) > height {
		lines = lines[:height]
	}
	return strings.Join(lines, "\n")
}
