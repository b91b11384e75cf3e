package ui

import "charm.land/bubbles/v2/key"

// KeyMap is every key the terminal app answers to, in one place.
type KeyMap struct {
	Up, Down, PageUp, PageDown key.Binding
	Toggle, All, None, Filter  key.Binding
	Attestations               key.Binding
	Enter, Back                key.Binding
	Expand, Retry              key.Binding
	CopyDigest, CopyPlatform   key.Binding
	Save                       key.Binding
	Help, Quit                 key.Binding
}

// DefaultKeyMap has vim keys and arrows; space toggles (the table's usual space =
// page-down is not used).
func DefaultKeyMap() KeyMap {
	return KeyMap{
		Up:           key.NewBinding(key.WithKeys("up", "k"), key.WithHelp("↑/k", "up")),
		Down:         key.NewBinding(key.WithKeys("down", "j"), key.WithHelp("↓/j", "down")),
		PageUp:       key.NewBinding(key.WithKeys("pgup", "ctrl+u"), key.WithHelp("pgup", "page up")),
		PageDown:     key.NewBinding(key.WithKeys("pgdown", "ctrl+d"), key.WithHelp("pgdn", "page down")),
		Toggle:       key.NewBinding(key.WithKeys("space", "x"), key.WithHelp("space", "select")),
		All:          key.NewBinding(key.WithKeys("a"), key.WithHelp("a", "all")),
		None:         key.NewBinding(key.WithKeys("n"), key.WithHelp("n", "none")),
		Filter:       key.NewBinding(key.WithKeys("/"), key.WithHelp("/", "filter")),
		Attestations: key.NewBinding(key.WithKeys("t"), key.WithHelp("t", "attestations")),
		Enter:        key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "continue")),
		Back:         key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "back")),
		Expand:       key.NewBinding(key.WithKeys("right", "l", "left", "h"), key.WithHelp("←/→", "layers")),
		Retry:        key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "retry")),
		CopyDigest:   key.NewBinding(key.WithKeys("c"), key.WithHelp("c", "copy digest")),
		CopyPlatform: key.NewBinding(key.WithKeys("p"), key.WithHelp("p", "copy --platform")),
		Save:         key.NewBinding(key.WithKeys("s"), key.WithHelp("s", "save .tar")),
		Help:         key.NewBinding(key.WithKeys("?"), key.WithHelp("?", "help")),
		Quit:         key.NewBinding(key.WithKeys("q", "ctrl+c"), key.WithHelp("q", "quit")),
	}
}
