package ui

import "charm.land/bubbles/v2/key"

// KeyMap is every key the terminal app answers to, in one place. Screens show a binding
// in their help only where it works, often under their own description (as).
type KeyMap struct {
	Up, Down, PageUp, PageDown key.Binding
	Left, Right                key.Binding
	Toggle, All, None, Filter  key.Binding
	Attestations               key.Binding
	Enter, Back, Complete      key.Binding
	Retry                      key.Binding
	CopyDigest, CopyPlatform   key.Binding
	Save                       key.Binding
	Help, Quit, ForceQuit      key.Binding
}

// DefaultKeyMap has vim keys and arrows; space toggles (the table's usual space =
// page-down is not used). ? never occurs in an image reference or a platform, so it
// opens help even while a text input has the keyboard.
func DefaultKeyMap() KeyMap {
	return KeyMap{
		Up:           key.NewBinding(key.WithKeys("up", "k"), key.WithHelp("↑/k", "up")),
		Down:         key.NewBinding(key.WithKeys("down", "j"), key.WithHelp("↓/j", "down")),
		PageUp:       key.NewBinding(key.WithKeys("pgup", "ctrl+u"), key.WithHelp("pgup/ctrl+u", "page up")),
		PageDown:     key.NewBinding(key.WithKeys("pgdown", "ctrl+d"), key.WithHelp("pgdn/ctrl+d", "page down")),
		Left:         key.NewBinding(key.WithKeys("left", "h"), key.WithHelp("←/h", "left")),
		Right:        key.NewBinding(key.WithKeys("right", "l"), key.WithHelp("→/l", "right")),
		Toggle:       key.NewBinding(key.WithKeys("space", "x"), key.WithHelp("space", "select")),
		All:          key.NewBinding(key.WithKeys("a"), key.WithHelp("a", "all")),
		None:         key.NewBinding(key.WithKeys("n"), key.WithHelp("n", "none")),
		Filter:       key.NewBinding(key.WithKeys("/"), key.WithHelp("/", "filter")),
		Attestations: key.NewBinding(key.WithKeys("t"), key.WithHelp("t", "attestations")),
		Enter:        key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "continue")),
		Back:         key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "back")),
		Complete:     key.NewBinding(key.WithKeys("tab"), key.WithHelp("tab", "complete")),
		Retry:        key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "retry")),
		CopyDigest:   key.NewBinding(key.WithKeys("c"), key.WithHelp("c", "copy digest")),
		CopyPlatform: key.NewBinding(key.WithKeys("p"), key.WithHelp("p", "copy --platform")),
		Save:         key.NewBinding(key.WithKeys("s"), key.WithHelp("s", "save .tar")),
		Help:         key.NewBinding(key.WithKeys("?"), key.WithHelp("?", "help")),
		Quit:         key.NewBinding(key.WithKeys("q"), key.WithHelp("q", "quit")),
		ForceQuit:    key.NewBinding(key.WithKeys("ctrl+c"), key.WithHelp("ctrl+c", "quit")),
	}
}

// as is b described for one screen: enter "build", esc "cancel build".
func as(b key.Binding, desc string) key.Binding {
	out := b
	out.SetHelp(b.Help().Key, desc)
	return out
}
