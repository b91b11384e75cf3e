package ui

import (
	"context"
	"fmt"
	"strings"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"

	"github.com/pycontainer/pycontainer/build"
	"github.com/pycontainer/pycontainer/oci"
	"github.com/pycontainer/pycontainer/registry"
)

// platformRow is one line of the platform table.
type platformRow struct {
	platform    oci.Platform
	raw         string // as the index spells it
	osVersion   string
	digest      string
	size        int64
	layers      int
	attestation bool
	missing     string // set for a requested platform the index lacks: why
	host        oci.Execution
	selected    bool
	request     build.RequestedPlatform
	diagnosis   string // for a missing row: why, and what would work
}

func (r platformRow) label() string { return oci.PlatformString(r.platform) }

// platformScreen is the table of an index's platforms, to pick what to build.
type platformScreen struct {
	app        *App
	image      string
	index      *registry.Index
	rows       []platformRow
	cursor     int // index into visible()
	offset     int
	showAttest bool
	filtering  bool
	filter     textinput.Model
}

func newPlatformScreen(a *App) *platformScreen {
	f := textinput.New()
	f.Prompt = "/"
	f.Placeholder = "arm, amd64, v7 …"
	return &platformScreen{app: a, filter: f}
}

// load fills the table from an index; requested platforms are preselected, and those
// the index lacks are listed as missing.
func (p *platformScreen) load(image string, ix *registry.Index, requested []build.RequestedPlatform, host oci.Platform) {
	p.image, p.index, p.rows, p.cursor, p.offset = image, ix, nil, 0, 0
	found := map[string]bool{}
	for _, e := range ix.Entries {
		r := platformRow{platform: e.Platform, raw: oci.PlatformString(e.Platform), digest: e.Descriptor.Digest.String(),
			size: e.Size, layers: e.Layers, attestation: e.Attestation}
		if e.Descriptor.Platform != nil {
			r.raw = oci.PlatformString(*e.Descriptor.Platform)
			r.osVersion = e.Descriptor.Platform.OSVersion
		}
		if e.Attestation {
			r.raw = "attestation"
			if ref := e.Descriptor.Annotations["vnd.docker.reference.digest"]; ref != "" {
				r.raw += " of " + short(ref)
			}
		} else {
			r.host = oci.HowRuns(host, e.Platform)
			for _, req := range requested {
				if oci.SamePlatform(req.Platform, e.Platform) {
					r.selected, r.request = true, req
					found[req.String()] = true
				}
			}
			if !r.selected {
				r.request = build.RequestedPlatform{Platform: e.Platform, Raw: r.label(), Source: "picked in the app"}
			}
		}
		p.rows = append(p.rows, r)
	}
	for _, req := range requested {
		if !found[req.String()] {
			p.rows = append(p.rows, platformRow{platform: req.Platform, raw: req.Raw, request: req,
				missing: fmt.Sprintf("not in this index (asked by %s)", req.Source)})
		}
	}
}

// diagnose asks, in the background, why each missing requested platform is missing.
func (p *platformScreen) diagnose() tea.Cmd {
	diag := p.app.cfg.Services.Diagnose
	if diag == nil {
		return nil
	}
	var cmds []tea.Cmd
	ix := p.index
	for _, r := range p.rows {
		if r.missing == "" {
			continue
		}
		req := r.request
		cmds = append(cmds, func() tea.Msg {
			return diagnosedMsg{index: ix, platform: req.String(), text: diag(context.Background(), ix, req)}
		})
	}
	return tea.Batch(cmds...)
}

func (p *platformScreen) setDiagnosis(msg diagnosedMsg) {
	if msg.index != p.index {
		return // for an index no longer shown
	}
	for i := range p.rows {
		if p.rows[i].missing != "" && p.rows[i].label() == msg.platform {
			p.rows[i].diagnosis = msg.text
		}
	}
}

func (p *platformScreen) visible() []int {
	var out []int
	q := strings.ToLower(strings.TrimSpace(p.filter.Value()))
	for i, r := range p.rows {
		if r.attestation && !p.showAttest {
			continue
		}
		if q != "" && !strings.Contains(strings.ToLower(r.label()+" "+r.raw), q) {
			continue
		}
		out = append(out, i)
	}
	return out
}

func (p *platformScreen) selected() []build.RequestedPlatform {
	var out []build.RequestedPlatform
	for _, r := range p.rows {
		if r.selected {
			out = append(out, r.request)
		}
	}
	return out
}

func (p *platformScreen) keys() []key.Binding {
	k := p.app.keys
	if p.filtering {
		return []key.Binding{
			key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "apply filter")),
			key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "clear filter")),
		}
	}
	build := key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "build"))
	allNone := key.NewBinding(key.WithKeys("a", "n"), key.WithHelp("a/n", "all/none"))
	return []key.Binding{k.Toggle, build, allNone, k.Filter}
}

func (p *platformScreen) update(msg tea.Msg) tea.Cmd {
	kp, ok := msg.(tea.KeyPressMsg)
	if !ok {
		return nil
	}
	if p.filtering {
		switch kp.String() {
		case "enter":
			p.filtering = false
			p.filter.Blur()
		case "esc":
			p.filtering = false
			p.filter.Blur()
			p.filter.SetValue("")
		default:
			var cmd tea.Cmd
			p.filter, cmd = p.filter.Update(msg)
			p.cursor = 0
			return cmd
		}
		return nil
	}
	vis := p.visible()
	k := p.app.keys
	switch {
	case key.Matches(kp, k.Up):
		p.cursor = max(p.cursor-1, 0)
	case key.Matches(kp, k.Down):
		p.cursor = min(p.cursor+1, max(len(vis)-1, 0))
	case key.Matches(kp, k.Toggle):
		if p.cursor < len(vis) {
			r := &p.rows[vis[p.cursor]]
			if r.missing == "" && !r.attestation {
				r.selected = !r.selected
			}
		}
	case key.Matches(kp, k.All):
		for _, i := range vis {
			if p.rows[i].missing == "" && !p.rows[i].attestation {
				p.rows[i].selected = true
			}
		}
	case key.Matches(kp, k.None):
		for i := range p.rows {
			p.rows[i].selected = false
		}
	case key.Matches(kp, k.Attestations):
		p.showAttest = !p.showAttest
		p.cursor = 0
	case key.Matches(kp, k.Filter):
		p.filtering = true
		return p.filter.Focus()
	case key.Matches(kp, k.Enter):
		if sel := p.selected(); len(sel) > 0 {
			return func() tea.Msg { return startBuildMsg{platforms: sel} }
		}
		return func() tea.Msg { return problemMsg("select at least one platform (space)") }
	case key.Matches(kp, k.Back):
		return back
	}
	return nil
}

func (p *platformScreen) view(width, height int) string {
	s := p.app.styles
	if p.index == nil {
		return s.Muted.Render("  no index loaded")
	}
	vis := p.visible()
	attest := 0
	for _, r := range p.rows {
		if r.attestation {
			attest++
		}
	}
	kind := "index"
	if p.index.Single {
		kind = "single-platform image"
	}
	title := s.Text.Render(p.index.Ref.CommonName()) + s.Muted.Render(fmt.Sprintf("  %s %s", kind, short(p.index.Digest.String())))
	lines := []string{truncate(title, width)}

	// Columns: mark, platform, os.version (only if any), digest, size, layers, note.
	hasOSVersion := false
	for _, r := range p.rows {
		hasOSVersion = hasOSVersion || r.osVersion != ""
	}
	cols := []column{{"", 3}, {"PLATFORM", 14}, {"DIGEST", 12}, {"SIZE", 9}, {"LAYERS", 6}}
	if hasOSVersion {
		cols = append(cols[:2], append([]column{{"OS.VERSION", 12}}, cols[2:]...)...)
	}
	used := 2 // the cursor column
	for _, c := range cols {
		used += c.width + 1
	}
	cols = append(cols, column{"", max(width-used, 8)})
	lines = append(lines, "  "+s.Header.Render(renderCells(cols, func(i int, c column) string { return c.title })))

	listHeight := max(height-5, 1)
	if p.cursor < p.offset {
		p.offset = p.cursor
	}
	if p.cursor >= p.offset+listHeight {
		p.offset = p.cursor - listHeight + 1
	}
	for vi := p.offset; vi < len(vis) && vi < p.offset+listHeight; vi++ {
		r := p.rows[vis[vi]]
		mark := "[ ]"
		switch {
		case r.selected:
			mark = "[x]"
		case r.missing != "" || r.attestation:
			mark = " - "
		}
		note := r.host.Note
		switch {
		case r.missing != "":
			note = "missing: " + r.missing
		case r.attestation:
			note = r.raw
		case r.raw != r.label():
			note += " · index says " + r.raw
		}
		cells := map[string]string{"": mark, "PLATFORM": r.label(), "OS.VERSION": r.osVersion, "DIGEST": Hex12(r.digest),
			"SIZE": SizeOrDash(r.size), "LAYERS": CountOrDash(r.layers)}
		line := renderCells(cols, func(i int, c column) string {
			if i == len(cols)-1 {
				return note
			}
			return cells[c.title]
		})
		if r.missing != "" { // nothing to show in the middle columns: the reason takes them
			line = renderCells([]column{cols[0], cols[1], {"", max(width-20, 8)}}, func(i int, c column) string {
				return []string{mark, r.label(), note}[i]
			})
		}
		style := s.Text
		switch {
		case r.missing != "":
			style = s.Err
		case r.attestation:
			style = s.Muted
		case r.selected:
			style = s.Selected
		}
		prefix := "  "
		if vi == p.cursor {
			prefix = s.Cursor.Render("›") + " "
		}
		line = prefix + style.Render(line)
		lines = append(lines, line)
	}
	if len(vis) == 0 {
		lines = append(lines, s.Muted.Render("  no platform matches the filter"))
	}
	// Why a missing platform is missing: the row under the cursor, else the first.
	var why *platformRow
	for _, i := range vis {
		if r := &p.rows[i]; r.missing != "" && (why == nil || i == vis[min(p.cursor, len(vis)-1)]) {
			why = r
		}
	}
	if why != nil && height-len(lines)-3 > 2 {
		lines = append(lines, "", s.Warn.Render(truncate("Why "+why.label()+" is missing", width)))
		text := why.diagnosis
		if text == "" {
			text = "  looking for tags of this repository that have it …"
		}
		for _, l := range strings.Split(text, "\n") {
			if len(lines) >= height-2 {
				break
			}
			lines = append(lines, s.Muted.Render(truncate(l, width)))
		}
	}
	for len(lines) < height-2 {
		lines = append(lines, "")
	}
	status := fmt.Sprintf("%s of %d selected", plural(len(p.selected()), "platform"), len(p.rows)-attest-p.missingCount())
	if attest > 0 {
		if p.showAttest {
			status += fmt.Sprintf(" · %s shown", plural(attest, "attestation"))
		} else {
			status += fmt.Sprintf(" · %s hidden (t)", plural(attest, "attestation"))
		}
	}
	if p.filtering || p.filter.Value() != "" {
		p.filter.SetWidth(20)
		status += " · " + p.filter.View()
	}
	lines = append(lines, s.Muted.Render(truncate(status, width)))
	return strings.Join(lines, "\n")
}

func (p *platformScreen) missingCount() int {
	n := 0
	for _, r := range p.rows {
		if r.missing != "" {
			n++
		}
	}
	return n
}

type column struct {
	title string
	width int
}

// renderCells lays cells out in fixed-width columns, cutting what does not fit.
func renderCells(cols []column, cell func(i int, c column) string) string {
	var b strings.Builder
	for i, c := range cols {
		v := ansiTruncate(cell(i, c), c.width)
		b.WriteString(v)
		if i < len(cols)-1 {
			b.WriteString(strings.Repeat(" ", c.width-len([]rune(v))+1))
		}
	}
	return strings.TrimRight(b.String(), " ")
}

// Hex12 is the first 12 hex digits of a digest, as docker shows image IDs.
func Hex12(d string) string {
	_, hex, _ := strings.Cut(d, ":")
	return hex[:min(len(hex), 12)]
}

// SizeOrDash formats a size, or a dash when it is unknown.
func SizeOrDash(n int64) string {
	if n <= 0 {
		return "–"
	}
	return HumanBytes(n)
}

// CountOrDash formats a count, or a dash when it is unknown.
func CountOrDash(n int) string {
	if n <= 0 {
		return "–"
	}
	return fmt.Sprint(n)
}
