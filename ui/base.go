package ui

import (
	"context"
	"strings"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/spinner"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
)

// baseScreen asks for the base image and fetches its index.
type baseScreen struct {
	app      *App
	input    textinput.Model
	spinner  spinner.Model
	recent   []string
	fetching bool
	seq      int
	cancel   context.CancelFunc
	err      error
}

func newBaseScreen(a *App, image string, recent []string) *baseScreen {
	in := textinput.New()
	in.Prompt = "› "
	in.Placeholder = "python:3.11-slim"
	if image == "" {
		image = "python:3.11-slim"
	}
	in.SetValue(image)
	in.ShowSuggestions = true
	in.SetSuggestions(recent)
	in.Focus()
	return &baseScreen{app: a, input: in, spinner: spinner.New(spinner.WithSpinner(spinner.Dot)), recent: recent}
}

func (b *baseScreen) init() tea.Cmd { return textinput.Blink }

func (b *baseScreen) keys() []key.Binding {
	k := b.app.keys
	if b.fetching {
		return []key.Binding{key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "cancel"))}
	}
	return []key.Binding{
		key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "fetch platforms")),
		key.NewBinding(key.WithKeys("tab"), key.WithHelp("tab", "complete")),
		k.Back,
		key.NewBinding(key.WithKeys("ctrl+c"), key.WithHelp("ctrl+c", "quit")),
	}
}

func (b *baseScreen) update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case indexFetchedMsg:
		if msg.seq != b.seq {
			return nil // a fetch the user cancelled
		}
		b.fetching, b.err = false, msg.err
		return nil
	case spinner.TickMsg:
		if !b.fetching {
			return nil
		}
		var cmd tea.Cmd
		b.spinner, cmd = b.spinner.Update(msg)
		return cmd
	case tea.KeyPressMsg:
		if b.fetching {
			if msg.String() == "esc" {
				b.cancel()
				b.fetching = false
				b.seq++
			}
			return nil
		}
		switch msg.String() {
		case "enter":
			return b.fetch()
		case "esc":
			if b.app.platforms.index != nil {
				b.app.screen = ScreenPlatforms // back to the index already open
			}
			return nil
		}
	}
	var cmd tea.Cmd
	b.input, cmd = b.input.Update(msg)
	return cmd
}

func (b *baseScreen) fetch() tea.Cmd {
	image := strings.TrimSpace(b.input.Value())
	if image == "" {
		return nil
	}
	b.seq++
	seq := b.seq
	ctx, cancel := context.WithCancel(context.Background())
	b.cancel, b.fetching, b.err = cancel, true, nil
	fetch := b.app.cfg.Services.FetchIndex
	return tea.Batch(b.spinner.Tick, func() tea.Msg {
		defer cancel()
		ix, err := fetch(ctx, image)
		return indexFetchedMsg{seq: seq, image: image, index: ix, err: err}
	})
}

func (b *baseScreen) view(width, height int) string {
	s := b.app.styles
	var lines []string
	lines = append(lines, "", s.Text.Render("Base image")+s.Muted.Render("  (a registry image; Docker Hub short names work)"), "")
	b.input.SetWidth(max(width-6, 10))
	lines = append(lines, "  "+b.input.View(), "")
	switch {
	case b.fetching:
		lines = append(lines, "  "+b.spinner.View()+" "+s.Muted.Render("fetching the index of "+b.input.Value()+" …"))
	case b.err != nil:
		for i, l := range wrap(b.err.Error(), width-4) {
			prefix := "  "
			if i == 0 {
				prefix = "  " + s.Err.Render("✗ ")
			}
			lines = append(lines, prefix+s.Err.Render(l))
		}
	}
	if len(b.recent) > 0 {
		lines = append(lines, "", s.Header.Render("  Recent"))
		for _, r := range b.recent[:min(len(b.recent), max(height-len(lines)-2, 0))] {
			lines = append(lines, "    "+s.Muted.Render(r))
		}
	}
	return strings.Join(lines, "\n")
}

// wrap breaks s into lines of at most width cells.
func wrap(s string, width int) []string {
	return strings.Split(ansi.Wordwrap(s, max(width, 20), " "), "\n")
}

func ansiTruncate(s string, width int) string { return ansi.Truncate(s, width, "…") }
