package ui

import (
	"context"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/pycontainer/pycontainer/build"
	"github.com/pycontainer/pycontainer/oci"
	"github.com/pycontainer/pycontainer/registry"
	"github.com/pycontainer/pycontainer/themes"
)

// common is what every screen shares and none changes: styles, keys, services, how this
// machine runs each platform, the layout's path, and the context that ends background
// work when the app ends. Only the root replaces styles (when the terminal says whether
// its background is dark).
type common struct {
	ctx      context.Context
	styles   *themes.Styles
	keys     KeyMap
	services Services
	host     oci.Host
	output   string
	// backTo is where esc on the platform list goes: "another base image", or "the
	// stack" when the app opened on one.
	backTo string
}

// screen is one screen of the app. The root owns the size and routes messages; a screen
// talks back only through the messages its commands return.
type screen interface {
	Update(msg tea.Msg) tea.Cmd
	View() string
	SetSize(width, height int)
	// ShortHelp is the keys that work now, for the footer; FullHelp groups them all.
	ShortHelp() []key.Binding
	FullHelp() [][]key.Binding
	// Typing reports whether a text input has the keyboard, so letters are text.
	Typing() bool
}

// Messages: typed and past tense. Streams carry an id, so a cancelled one's stragglers
// are dropped.
type (
	// openImageMsg asks the base screen to open an image: a diagnosis's "try" row.
	openImageMsg struct {
		image     string
		requested []build.RequestedPlatform
	}
	indexFetchedMsg struct {
		seq   int
		image string
		index *registry.Index
		err   error
	}
	// indexOpenedMsg is an index the user asked for, ready to browse.
	indexOpenedMsg struct {
		image     string
		index     *registry.Index
		requested []build.RequestedPlatform
	}
	// openRowMsg asks the root to show a stack row's index on the platform screen;
	// diagnoses, when set, are the check's own for the missing platforms, in order.
	openRowMsg struct {
		image     string
		index     *registry.Index
		requested []build.RequestedPlatform
		diagnoses []*registry.Diagnosis
	}
	diagnosedMsg struct {
		index     *registry.Index
		diagnoses []*registry.Diagnosis
	}
	startBuildMsg struct{ req build.Request }
	buildEventMsg struct {
		id    int
		event build.Event
	}
	buildFinishedMsg struct {
		id  int
		err error
	}
	showInspectMsg   struct{}
	inspectLoadedMsg struct {
		summary *oci.Summary
		err     error
	}
	filesLoadedMsg struct {
		layer string // digest
		tree  []oci.TreeLine
		more  bool // the layer has more entries than were read
		err   error
	}
	savedMsg struct {
		path string
		err  error
	}
	// backMsg asks the root for the previous screen; forwardMsg for the platform list
	// left by going back to the base screen.
	backMsg    struct{}
	forwardMsg struct{}
	statusMsg  string // a one-line report of what a key did
	problemMsg string // a one-line report of what a key could not do
)

func back() tea.Msg    { return backMsg{} }
func forward() tea.Msg { return forwardMsg{} }

func status(s string) tea.Cmd  { return func() tea.Msg { return statusMsg(s) } }
func problem(s string) tea.Cmd { return func() tea.Msg { return problemMsg(s) } }
