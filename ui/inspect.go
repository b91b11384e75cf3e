package ui

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/viewport"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	v1 "github.com/regclient/regclient/types/oci/v1"

	"github.com/pycontainer/pycontainer/oci"
)

// inspectScreen shows what a layout holds, one platform at a time.
type inspectScreen struct {
	app      *App
	summary  *oci.Summary
	err      error
	loading  bool
	selected int
	vp       viewport.Model
}

func newInspectScreen(a *App) *inspectScreen {
	return &inspectScreen{app: a, vp: viewport.New()}
}

func (in *inspectScreen) load() tea.Cmd {
	in.loading = true
	inspect := in.app.cfg.Services.Inspect
	return func() tea.Msg {
		s, err := inspect()
		return inspectLoadedMsg{summary: s, err: err}
	}
}

func (in *inspectScreen) keys() []key.Binding {
	k := in.app.keys
	keys := []key.Binding{key.NewBinding(key.WithKeys("left", "right"), key.WithHelp("←/→", "platform"))}
	if in.app.cfg.Services.Save != nil {
		keys = append(keys, k.Save)
	}
	return append(keys, k.CopyDigest, k.CopyPlatform,
		key.NewBinding(key.WithKeys("up", "down"), key.WithHelp("↑/↓", "scroll")), k.Back)
}

func (in *inspectScreen) update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case savedMsg:
		if msg.err != nil {
			return func() tea.Msg { return problemMsg("✗ save: " + msg.err.Error()) }
		}
		return status("saved " + msg.path + " for docker load -i")
	case inspectLoadedMsg:
		in.loading, in.summary, in.err = false, msg.summary, msg.err
		in.selected = 0
		in.vp.GotoTop()
		return nil
	case tea.KeyPressMsg:
		img, ok := in.current()
		switch msg.String() {
		case "left", "h", "shift+tab":
			in.selected = max(in.selected-1, 0)
			in.vp.GotoTop()
			return nil
		case "right", "l", "tab":
			if in.summary != nil {
				in.selected = min(in.selected+1, max(len(in.summary.Images)-1, 0))
			}
			in.vp.GotoTop()
			return nil
		}
		switch {
		case key.Matches(msg, in.app.keys.CopyDigest) && ok:
			d := img.Digest.String()
			return tea.Batch(tea.SetClipboard(d), status("copied "+d))
		case key.Matches(msg, in.app.keys.CopyPlatform) && ok:
			p := "--platform " + oci.PlatformString(img.Platform())
			return tea.Batch(tea.SetClipboard(p), status("copied "+p))
		case key.Matches(msg, in.app.keys.Save) && ok && in.app.cfg.Services.Save != nil:
			save, summary := in.app.cfg.Services.Save, in.summary
			return tea.Sequence(status("saving "+oci.PlatformString(img.Platform())+" …"), func() tea.Msg {
				path, err := save(summary, img)
				return savedMsg{path: path, err: err}
			})
		case key.Matches(msg, in.app.keys.Back):
			if len(in.app.build.rows) > 0 || in.app.platforms.index != nil {
				return back
			}
			return nil
		}
	}
	var cmd tea.Cmd
	in.vp, cmd = in.vp.Update(msg)
	return cmd
}

func status(s string) tea.Cmd { return func() tea.Msg { return statusMsg(s) } }

func (in *inspectScreen) current() (oci.ImageSummary, bool) {
	if in.summary == nil || in.selected >= len(in.summary.Images) {
		return oci.ImageSummary{}, false
	}
	return in.summary.Images[in.selected], true
}

func (in *inspectScreen) view(width, height int) string {
	s := in.app.styles
	switch {
	case in.loading:
		return s.Muted.Render("reading " + in.app.cfg.Output + " …")
	case in.err != nil:
		return strings.Join(append([]string{s.Err.Render("✗ cannot inspect")}, wrap(in.err.Error(), width-2)...), "\n")
	case in.summary == nil || len(in.summary.Images) == 0:
		return s.Muted.Render("the layout holds no images")
	}
	// The platform tabs.
	var tabs []string
	for i, img := range in.summary.Images {
		label := oci.PlatformString(img.Platform())
		if len(img.Problems) > 0 {
			label += " !"
		}
		if i == in.selected {
			tabs = append(tabs, s.Selected.Render("["+label+"]"))
		} else {
			tabs = append(tabs, s.Muted.Render(" "+label+" "))
		}
	}
	if n := in.summary.Attestations; n > 0 {
		tabs = append(tabs, s.Muted.Render(fmt.Sprintf(" + %s", plural(n, "attestation"))))
	}
	if n := len(in.summary.Absent); n > 0 {
		tabs = append(tabs, s.Muted.Render(fmt.Sprintf(" + %d listed, not included", n)))
	}
	head := s.Text.Render(in.summary.Dir) + "  " + strings.Join(tabs, " ")
	if lipgloss.Width(head) > width {
		img, _ := in.current()
		head = s.Text.Render(in.summary.Dir) + s.Muted.Render(fmt.Sprintf("  ‹ %d of %d › ", in.selected+1, len(in.summary.Images))) +
			s.Selected.Render(oci.PlatformString(img.Platform()))
	}
	head = truncate(head, width)
	img, _ := in.current()
	in.vp.SetWidth(width)
	in.vp.SetHeight(max(height-2, 1))
	in.vp.SetContent(in.details(img, width))
	return head + "\n\n" + in.vp.View()
}

func (in *inspectScreen) details(img oci.ImageSummary, width int) string {
	s := in.app.styles
	var lines []string
	field := func(name, value string) {
		label := s.Muted.Render(fmt.Sprintf("%-11s", name))
		for i, l := range wrap(value, width-13) {
			if i > 0 {
				label = strings.Repeat(" ", 11)
			}
			lines = append(lines, " "+label+" "+l)
		}
	}
	cfg := img.Config
	plat := oci.PlatformString(img.Platform())
	if len(img.Problems) == 0 {
		lines = append(lines, " "+s.OK.Render("✓ "+plat)+s.Muted.Render(" · the config's platform matches the index entry"))
	} else {
		for _, p := range img.Problems {
			lines = append(lines, " "+s.Err.Render("✗ "+p))
		}
	}
	lines = append(lines, "")
	field("name", orDash(img.DisplayName()))
	digest := img.Digest.String()
	if len(digest) > width-13 {
		digest = short(digest) + "…  (c copies it)"
	}
	field("manifest", digest)
	field("config", fmt.Sprintf("architecture %s · os %s · variant %s", cfg.Architecture, cfg.OS, orDash(cfg.Variant)))
	if cfg.Created != nil {
		field("created", cfg.Created.UTC().Format(time.RFC3339))
	}
	field("entrypoint", jsonList(cfg.Config.Entrypoint))
	field("cmd", jsonList(cfg.Config.Cmd))
	field("workdir", orDash(cfg.Config.WorkingDir))
	field("user", orDash(cfg.Config.User))
	for i, e := range append([]string(nil), cfg.Config.Env...) {
		name := ""
		if i == 0 {
			name = "env"
		}
		field(name, e)
	}
	if len(cfg.Config.Labels) == 0 {
		field("labels", "–")
	}
	keys := make([]string, 0, len(cfg.Config.Labels))
	for k := range cfg.Config.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		name := ""
		if i == 0 {
			name = "labels"
		}
		field(name, k+"="+cfg.Config.Labels[k])
	}
	field("layers", fmt.Sprintf("%d · %s compressed", len(img.Layers), HumanBytes(img.LayersSize())))
	history := layerHistory(cfg.History)
	for i, l := range img.Layers {
		created := ""
		if i < len(history) {
			created = history[i]
		}
		lines = append(lines, truncate(fmt.Sprintf("   %2d  %s  %9s  %s", i+1, short(l.Digest.String()), HumanBytes(l.Size), created), width))
	}
	return strings.Join(lines, "\n")
}

// layerHistory lists created_by of the history entries that made a layer.
func layerHistory(h []v1.History) []string {
	var out []string
	for _, e := range h {
		if !e.EmptyLayer {
			out = append(out, e.CreatedBy)
		}
	}
	return out
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

func jsonList(v []string) string {
	if len(v) == 0 {
		return "–"
	}
	b, _ := json.Marshal(v)
	return string(b)
}
