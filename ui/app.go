package ui

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"github.com/pycontainer/pycontainer/build"
	"github.com/pycontainer/pycontainer/oci"
	"github.com/pycontainer/pycontainer/registry"
	"github.com/pycontainer/pycontainer/themes"
)

// Screen names one screen of the app.
type Screen int

const (
	ScreenBase Screen = iota
	ScreenPlatforms
	ScreenBuild
	ScreenInspect
)

func (s Screen) title() string {
	return [...]string{"base image", "platforms", "build", "inspect"}[s]
}

// Services is what the app needs from the rest of pycontainer. Update and View never do
// I/O themselves; they return commands that call these.
type Services struct {
	// FetchIndex reads a base image's index with sizes and layer counts.
	FetchIndex func(ctx context.Context, image string) (*registry.Index, error)
	// Build runs a build of the given platforms, reporting to sink.
	Build func(ctx context.Context, platforms []build.RequestedPlatform, sink build.Sink) error
	// Inspect reads the output layout.
	Inspect func() (*oci.Summary, error)
	// Remember records a base image the user opened, for next time.
	Remember func(image string)
	// Diagnose explains why an index lacks a requested platform (may be nil).
	Diagnose func(ctx context.Context, ix *registry.Index, req build.RequestedPlatform) string
	// Save writes one image of the layout as an archive docker load and podman load
	// read, and returns the file's path (may be nil). It runs until it is done or the
	// app ends: the caller of the app cancels it then.
	Save func(s *oci.Summary, img oci.ImageSummary) (string, error)
}

// Config sets up the app.
type Config struct {
	Services  Services
	BaseImage string
	Recent    []string
	// Requested are the platforms flags or config asked for; they are preselected.
	Requested []build.RequestedPlatform
	Host      oci.Platform
	Start     Screen // ScreenBase, ScreenBuild (platforms already chosen) or ScreenInspect
	// AutoFetch fetches BaseImage's index at once instead of waiting for enter.
	AutoFetch bool
	// Theme names a palette; "auto" follows the terminal background.
	Theme string
	// Banner labels the session, e.g. "DEMO DATA".
	Banner string
	Output string
}

// App is the root model: it owns the window size, the theme and the key map, and routes
// messages to the current screen.
type App struct {
	cfg    Config
	keys   KeyMap
	styles *themes.Styles
	help   help.Model
	screen Screen
	width  int
	height int
	full   bool // full help shown

	base      *baseScreen
	platforms *platformScreen
	build     *buildScreen
	inspect   *inspectScreen
	status    string // a one-line message, e.g. "copied"
	// statusFailed shows status as a failure.
	statusFailed bool
}

// New creates the app. Styles follow cfg.Theme; with "auto" the dark palette is used
// until the terminal reports its background.
func New(cfg Config) *App {
	a := &App{cfg: cfg, keys: DefaultKeyMap(), help: help.New(), width: 80, height: 24}
	a.setTheme(true)
	a.base = newBaseScreen(a, cfg.BaseImage, cfg.Recent)
	a.platforms = newPlatformScreen(a)
	a.build = newBuildScreen(a)
	a.inspect = newInspectScreen(a)
	a.screen = cfg.Start
	if cfg.Start == ScreenBuild {
		a.build.start(cfg.Requested)
	}
	return a
}

func (a *App) setTheme(dark bool) {
	p, err := themes.ByName(a.cfg.Theme, dark)
	if err != nil {
		p = themes.Dark
	}
	a.styles = themes.NewStyles(p)
	a.help.Styles.ShortKey = a.styles.HelpKey
	a.help.Styles.ShortDesc = a.styles.HelpDesc
	a.help.Styles.ShortSeparator = a.styles.Muted
	a.help.Styles.FullKey = a.styles.HelpKey
	a.help.Styles.FullDesc = a.styles.HelpDesc
	a.help.Styles.FullSeparator = a.styles.Muted
	a.help.Styles.Ellipsis = a.styles.Muted
}

// Init starts the first screen's work.
func (a *App) Init() tea.Cmd {
	cmds := []tea.Cmd{tea.RequestBackgroundColor}
	switch a.screen {
	case ScreenBase:
		cmds = append(cmds, a.base.init())
		if a.cfg.AutoFetch {
			cmds = append(cmds, a.base.fetch())
		}
	case ScreenBuild:
		cmds = append(cmds, a.build.run())
	case ScreenInspect:
		cmds = append(cmds, a.inspect.load())
	}
	return tea.Batch(cmds...)
}

// Update routes a message.
func (a *App) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		a.width, a.height = msg.Width, msg.Height
		a.help.SetWidth(msg.Width)
		return a, nil
	case tea.BackgroundColorMsg:
		if a.cfg.Theme == "" || a.cfg.Theme == "auto" {
			a.setTheme(msg.IsDark())
		}
		return a, nil
	case tea.KeyPressMsg:
		a.status = ""
		typing := a.typing()
		switch {
		case msg.String() == "ctrl+c":
			a.build.cancel()
			return a, tea.Quit
		case !typing && key.Matches(msg, a.keys.Quit):
			a.build.cancel()
			return a, tea.Quit
		case !typing && key.Matches(msg, a.keys.Help):
			a.full = !a.full
			return a, nil
		}
	case indexFetchedMsg:
		var cmd tea.Cmd
		if msg.err == nil && msg.seq == a.base.seq {
			a.platforms.load(msg.image, msg.index, a.cfg.Requested, a.cfg.Host)
			a.screen = ScreenPlatforms
			if a.cfg.Services.Remember != nil {
				a.cfg.Services.Remember(msg.image)
			}
			cmd = a.platforms.diagnose()
		}
		return a, tea.Batch(a.base.update(msg), cmd)
	case diagnosedMsg:
		a.platforms.setDiagnosis(msg)
		return a, nil
	case startBuildMsg:
		a.build.start(msg.platforms)
		a.screen = ScreenBuild
		return a, a.build.run()
	case buildEventMsg, buildFinishedMsg:
		cmd := a.build.update(msg)
		if f, ok := msg.(buildFinishedMsg); ok && f.id == a.build.id && f.err == nil {
			a.screen = ScreenInspect
			cmd = tea.Batch(cmd, a.inspect.load())
			if left := a.build.leftOut(); left != "" {
				cmd = tea.Batch(cmd, status(left)) // the build screen that said it is gone
			}
		}
		return a, cmd
	case inspectLoadedMsg, savedMsg:
		return a, a.inspect.update(msg)
	case backMsg:
		if a.screen > ScreenBase {
			a.screen--
			if a.screen == ScreenBuild && len(a.build.rows) == 0 {
				a.screen = ScreenPlatforms
			}
			if a.screen == ScreenPlatforms && a.platforms.index == nil {
				a.screen = ScreenBase
			}
		}
		return a, nil
	case statusMsg:
		a.status, a.statusFailed = string(msg), false
		return a, nil
	case problemMsg:
		a.status, a.statusFailed = string(msg), true
		return a, nil
	}
	switch a.screen {
	case ScreenBase:
		return a, a.base.update(msg)
	case ScreenPlatforms:
		return a, a.platforms.update(msg)
	case ScreenBuild:
		return a, a.build.update(msg)
	default:
		return a, a.inspect.update(msg)
	}
}

// Result is the outcome of the last build the app ran: nil after a successful one, an
// error when it failed, was cancelled or never finished.
func (a *App) Result() error {
	switch {
	case len(a.build.rows) == 0:
		return nil
	case a.build.running:
		return errors.New("the build was stopped before it finished; the previous image is unchanged")
	}
	return a.build.result
}

// Building reports whether a build is running.
func (a *App) Building() bool { return a.build.running }

// typing reports whether a text input has the keyboard, so letters are text, not keys.
func (a *App) typing() bool {
	return (a.screen == ScreenBase && !a.base.fetching) || (a.screen == ScreenPlatforms && a.platforms.filtering)
}

// View draws the header, the current screen and the help bar.
func (a *App) View() tea.View {
	header := a.header()
	footer := a.footer()
	bodyHeight := max(a.height-lipgloss.Height(header)-lipgloss.Height(footer), 1)
	var body string
	switch a.screen {
	case ScreenBase:
		body = a.base.view(a.width, bodyHeight)
	case ScreenPlatforms:
		body = a.platforms.view(a.width, bodyHeight)
	case ScreenBuild:
		body = a.build.view(a.width, bodyHeight)
	default:
		body = a.inspect.view(a.width, bodyHeight)
	}
	body = lipgloss.NewStyle().Height(bodyHeight).MaxHeight(bodyHeight).Render(body)
	v := tea.NewView(lipgloss.JoinVertical(lipgloss.Left, header, body, footer))
	v.AltScreen = true
	v.WindowTitle = "pycontainer · " + a.screen.title()
	return v
}

func (a *App) header() string {
	s := a.styles
	steps := []Screen{ScreenBase, ScreenPlatforms, ScreenBuild, ScreenInspect}
	var crumbs []string
	for _, st := range steps {
		name := st.title()
		if st == a.screen {
			crumbs = append(crumbs, s.Title.Render(name))
		} else {
			crumbs = append(crumbs, s.Muted.Render(name))
		}
	}
	left := s.Title.Render("pycontainer") + s.Muted.Render("  ") + strings.Join(crumbs, s.Muted.Render(" › "))
	if a.cfg.Banner != "" {
		left += "  " + s.Badge.Render(a.cfg.Banner)
	}
	return truncate(left, a.width) + "\n" + s.Border.Render(strings.Repeat("─", max(a.width, 1)))
}

func (a *App) footer() string {
	var lines []string
	if a.status != "" {
		style := a.styles.OK
		if a.statusFailed {
			style = a.styles.Err
		}
		lines = append(lines, style.Render(truncate(a.status, a.width)))
	}
	km := screenKeys{a: a}
	if a.full {
		lines = append(lines, a.help.FullHelpView(km.FullHelp()))
	} else {
		lines = append(lines, a.help.ShortHelpView(km.ShortHelp()))
	}
	return strings.Join(lines, "\n")
}

// screenKeys adapts the current screen's bindings to the help bubble.
type screenKeys struct{ a *App }

func (k screenKeys) ShortHelp() []key.Binding {
	a := k.a
	var b []key.Binding
	switch a.screen {
	case ScreenBase:
		b = a.base.keys()
	case ScreenPlatforms:
		b = a.platforms.keys()
	case ScreenBuild:
		b = a.build.keys()
	default:
		b = a.inspect.keys()
	}
	if !a.typing() {
		b = append(b, a.keys.Help, a.keys.Quit)
	}
	return b
}

func (k screenKeys) FullHelp() [][]key.Binding {
	km := k.a.keys
	return [][]key.Binding{
		k.ShortHelp(),
		{km.Up, km.Down, km.PageUp, km.PageDown},
		{km.Toggle, km.All, km.None, km.Filter, km.Attestations},
		{km.Expand, km.Retry, km.CopyDigest, km.CopyPlatform, km.Back},
	}
}

// Messages: typed, past tense; streams carry an ID so a cancelled build's are dropped.
type (
	indexFetchedMsg struct {
		seq   int
		image string
		index *registry.Index
		err   error
	}
	startBuildMsg struct{ platforms []build.RequestedPlatform }
	buildEventMsg struct {
		id    int
		event build.Event
	}
	buildFinishedMsg struct {
		id  int
		err error
	}
	inspectLoadedMsg struct {
		summary *oci.Summary
		err     error
	}
	diagnosedMsg struct {
		index    *registry.Index
		platform string
		text     string
	}
	backMsg    struct{}
	statusMsg  string // a one-line report of what a key did
	problemMsg string // a one-line report of what a key could not do
	savedMsg   struct {
		path string
		err  error
	}
)

func back() tea.Msg { return backMsg{} }

// truncate cuts s to width cells, keeping ANSI styles intact.
func truncate(s string, width int) string {
	if width <= 0 || lipgloss.Width(s) <= width {
		return s
	}
	return ansiTruncate(s, width)
}

func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}
