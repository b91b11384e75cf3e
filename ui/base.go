package ui

import (
	"context"
	"strings"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/spinner"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"

	"github.com/pycontainer/pycontainer/build"
)

// baseScreen asks for the base image and fetches its index. The recent images below
// the input are picked with the arrow keys.
type baseScreen struct {
	c        *common
	width    int
	height   int
	input    textinput.Model
	spinner  spinner.Model
	recent   []string
	picked   int // index into recent, -1 for none
	fetching bool
	seq      int
	cancel   context.CancelFunc
	err      error
	// requested are the platforms the next index opened should preselect.
	requested []build.RequestedPlatform
	// canReturn is set when a platform list is open behind this screen: esc returns.
	canReturn bool
}

func newBaseScreen(c *common, image string, recent []string, requested []build.RequestedPlatform) *baseScreen {
	in := textinput.New()
	in.Prompt = "› "
	// The configured or default base is offered, not typed: what the user types replaces
	// it, and enter on an empty input takes it.
	in.Placeholder = image
	in.ShowSuggestions = true
	in.SetSuggestions(recent)
	steadyCursor(&in)
	in.Focus()
	return &baseScreen{c: c, input: in, spinner: spinner.New(spinner.WithSpinner(spinner.Dot)), recent: recent, picked: -1, requested: requested}
}

func (b *baseScreen) SetSize(width, height int) {
	b.width, b.height = width, height
	b.input.SetWidth(max(width-6, 10))
}

func (b *baseScreen) Typing() bool { return !b.fetching }

func (b *baseScreen) ShortHelp() []key.Binding {
	k := b.c.keys
	if b.fetching {
		return []key.Binding{as(k.Back, "cancel")}
	}
	out := []key.Binding{as(k.Enter, "fetch platforms")}
	if len(b.recent) > 0 {
		out = append(out, key.NewBinding(key.WithKeys("up", "down"), key.WithHelp("↑/↓", "recent")))
	}
	if b.completion() != "" {
		out = append(out, k.Complete)
	}
	if b.canReturn {
		out = append(out, as(k.Back, "platforms"))
	}
	return out
}

func (b *baseScreen) FullHelp() [][]key.Binding {
	k := b.c.keys
	if b.fetching {
		return [][]key.Binding{{as(k.Back, "cancel the fetch")}}
	}
	group := []key.Binding{as(k.Enter, "fetch the image's platforms"), key.NewBinding(key.WithKeys("ctrl+u"), key.WithHelp("ctrl+u", "clear the input"))}
	if len(b.recent) > 0 {
		group = append(group, key.NewBinding(key.WithKeys("up", "down"), key.WithHelp("↑/↓", "pick a recent image")))
	}
	if b.completion() != "" {
		group = append(group, as(k.Complete, "complete to "+b.completion()))
	}
	if b.canReturn {
		group = append(group, as(k.Back, "back to the platform list"))
	}
	return [][]key.Binding{group}
}

// completion is the recent image tab would complete the input to, if any.
func (b *baseScreen) completion() string {
	if c := b.input.CurrentSuggestion(); c != "" && c != b.input.Value() && b.input.Value() != "" {
		return c
	}
	return ""
}

func (b *baseScreen) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case indexFetchedMsg:
		if msg.seq != b.seq {
			return nil // a fetch the user cancelled
		}
		b.fetching, b.err = false, msg.err
		if msg.err != nil {
			return nil
		}
		requested := b.requested
		return func() tea.Msg { return indexOpenedMsg{image: msg.image, index: msg.index, requested: requested} }
	case openImageMsg:
		b.input.SetValue(msg.image)
		b.input.CursorEnd()
		b.requested = msg.requested
		return b.fetch()
	case spinner.TickMsg:
		if !b.fetching {
			return nil
		}
		var cmd tea.Cmd
		b.spinner, cmd = b.spinner.Update(msg)
		return cmd
	case tea.KeyPressMsg:
		if b.fetching {
			if key.Matches(msg, b.c.keys.Back) {
				b.cancel()
				b.fetching = false
				b.seq++
			}
			return nil
		}
		switch {
		case key.Matches(msg, b.c.keys.Enter):
			return b.fetch()
		case key.Matches(msg, b.c.keys.Back):
			if b.canReturn {
				return forward
			}
			return nil
		case msg.String() == "up" || msg.String() == "down":
			b.pick(msg.String() == "down")
			return nil
		}
	}
	before := b.input.Value()
	var cmd tea.Cmd
	b.input, cmd = b.input.Update(msg)
	if b.input.Value() != before {
		b.picked = -1
	}
	return cmd
}

// steadyCursor stops an input's cursor from blinking: nothing redraws the screen twice
// a second while the user reads it.
func steadyCursor(in *textinput.Model) {
	st := in.Styles()
	st.Cursor.Blink = false
	in.SetStyles(st)
}

// pick moves through the recent images and puts the one picked in the input.
func (b *baseScreen) pick(down bool) {
	if len(b.recent) == 0 {
		return
	}
	switch {
	case down:
		b.picked = min(b.picked+1, len(b.recent)-1)
	case b.picked <= 0:
		b.picked = 0
	default:
		b.picked--
	}
	b.input.SetValue(b.recent[b.picked])
	b.input.CursorEnd()
}

// image is what enter fetches: what was typed, else the image offered.
func (b *baseScreen) image() string {
	if v := strings.TrimSpace(b.input.Value()); v != "" {
		return v
	}
	return strings.TrimSpace(b.input.Placeholder)
}

func (b *baseScreen) fetch() tea.Cmd {
	image := b.image()
	if image == "" {
		return nil
	}
	b.seq++
	seq := b.seq
	ctx, cancel := context.WithCancel(b.c.ctx)
	b.cancel, b.fetching, b.err = cancel, true, nil
	fetch := b.c.services.FetchIndex
	return tea.Batch(b.spinner.Tick, func() tea.Msg {
		defer cancel()
		ix, err := fetch(ctx, image)
		return indexFetchedMsg{seq: seq, image: image, index: ix, err: err}
	})
}

func (b *baseScreen) View() string {
	s := b.c.styles
	lines := []string{"", s.Text.Render("Base image") + s.Muted.Render("  (a registry image; Docker Hub short names work)"), ""}
	lines = append(lines, "  "+b.input.View())
	if b.input.Value() == "" && !b.fetching {
		lines = append(lines, s.Muted.Render(truncate("    enter opens "+b.image()+"; or type another image", b.width)))
	} else {
		lines = append(lines, "")
	}
	switch {
	case b.fetching:
		lines = append(lines, truncate("  "+b.spinner.View()+" "+s.Muted.Render("fetching the index of "+b.image()+" …"), b.width))
	case b.err != nil:
		for i, l := range wrap(Sanitize(b.err.Error()), b.width-4) { // the registry's words too
			prefix := "    "
			if i == 0 {
				prefix = "  " + s.Err.Render("✗ ")
			}
			lines = append(lines, prefix+s.Err.Render(l))
		}
	}
	if len(b.recent) > 0 && b.height-len(lines) > 3 {
		lines = append(lines, "", s.Header.Render("  Recent"))
		for i, r := range b.recent[:min(len(b.recent), b.height-len(lines))] {
			if i == b.picked {
				lines = append(lines, cursorRow(s, "  › "+r, b.width))
			} else {
				lines = append(lines, "    "+s.Muted.Render(truncate(r, b.width-4)))
			}
		}
	}
	return strings.Join(lines, "\n")
}
