package ui

import (
	"fmt"
	"slices"
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
	attests     string // for an attestation: the platform it is about
	missing     string // set for a requested platform the index lacks: why
	how         oci.Execution
	selected    bool
	request     build.RequestedPlatform
}

func (r platformRow) label() string { return oci.PlatformString(r.platform) }

// item is what the cursor can rest on: a row of the table, or a "try" line of the
// diagnosis shown under it.
type item struct {
	row int // index into rows; -1 for a try line
	try *registry.Sibling
}

// platformScreen is the table of an index's platforms, to pick what to build.
type platformScreen struct {
	c          *common
	width      int
	height     int
	image      string // as the user typed it
	index      *registry.Index
	rows       []platformRow
	diagnoses  map[string]*registry.Diagnosis // by requested platform
	shown      int                            // the missing row whose diagnosis is shown; -1 for none
	cursor     int                            // into items()
	offset     int
	showAttest bool
	filtering  bool
	filter     textinput.Model
}

func newPlatformScreen(c *common) *platformScreen {
	f := textinput.New()
	f.Prompt = "/"
	f.Placeholder = "arm, amd64, v7 …"
	steadyCursor(&f)
	return &platformScreen{c: c, filter: f, shown: -1}
}

func (p *platformScreen) SetSize(width, height int) { p.width, p.height = width, height }

func (p *platformScreen) Typing() bool { return p.filtering }

func (p *platformScreen) hasIndex() bool { return p.index != nil }

// load fills the table from an index; requested platforms are preselected, and those
// the index lacks are listed as missing.
func (p *platformScreen) load(image string, ix *registry.Index, requested []build.RequestedPlatform) {
	p.image, p.index, p.rows, p.cursor, p.offset = image, ix, nil, 0, 0
	p.diagnoses = map[string]*registry.Diagnosis{}
	p.filter.SetValue("")
	found := map[string]bool{}
	for _, e := range ix.Entries {
		r := platformRow{platform: e.Platform, raw: oci.PlatformString(e.Platform), digest: e.Descriptor.Digest.String(),
			size: e.Size, layers: e.Layers, attestation: e.Attestation}
		if e.Descriptor.Platform != nil {
			r.raw = Sanitize(oci.PlatformString(*e.Descriptor.Platform)) // the index's words
			r.osVersion = Sanitize(e.Descriptor.Platform.OSVersion)
		}
		if e.Attestation {
			r.attests = AttestationLabel(ix, e)
			p.rows = append(p.rows, r)
			continue
		}
		r.how = p.c.host.HowRuns(e.Platform)
		r.request = build.RequestedPlatform{Platform: e.Platform, Raw: r.label(), Source: "picked in the app"}
		for _, req := range requested {
			if oci.SamePlatform(req.Platform, e.Platform) {
				r.selected, r.request = true, req
				found[req.String()] = true
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
	p.settle()
}

// AttestationLabel names what an attestation entry is about: "attestation for
// linux/amd64", by the entry its vnd.docker.reference.digest names.
func AttestationLabel(ix *registry.Index, e registry.Entry) string {
	ref := e.Descriptor.Annotations["vnd.docker.reference.digest"]
	if ref == "" {
		return "attestation (signatures, SBOM)"
	}
	for _, other := range ix.Entries {
		if !other.Attestation && other.Descriptor.Digest.String() == ref {
			return "attestation for " + oci.PlatformString(other.Platform)
		}
	}
	return "attestation for " + Sanitize(oci.ShortHex(ref))
}

// diagnose asks, in the background, why the missing requested platforms are missing.
func (p *platformScreen) diagnose() tea.Cmd {
	diag := p.c.services.Diagnose
	var missing []build.RequestedPlatform
	for _, r := range p.rows {
		if r.missing != "" {
			missing = append(missing, r.request)
		}
	}
	if diag == nil || len(missing) == 0 {
		return nil
	}
	ix, ctx := p.index, p.c.ctx
	return func() tea.Msg { return diagnosedMsg{index: ix, diagnoses: diag(ctx, ix, missing)} }
}

func (p *platformScreen) setDiagnoses(msg diagnosedMsg) {
	if msg.index != p.index {
		return // for an index no longer shown
	}
	for _, d := range msg.diagnoses {
		p.diagnoses[d.Requested.String()] = d
	}
}

// request is the build of what is selected, from the index on screen.
func (p *platformScreen) request() build.Request {
	var sel []build.RequestedPlatform
	for _, r := range p.rows {
		if r.selected {
			sel = append(sel, r.request)
		}
	}
	return build.Request{Base: p.image, IndexDigest: p.index.Digest, Platforms: sel}
}

// requested is every platform asked for on this screen, found or missing: what a
// "try" image is opened with.
func (p *platformScreen) requested() []build.RequestedPlatform {
	var out []build.RequestedPlatform
	for _, r := range p.rows {
		if r.selected || r.missing != "" {
			out = append(out, r.request)
		}
	}
	return out
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

func (p *platformScreen) visible() []int {
	var out []int
	q := strings.ToLower(strings.TrimSpace(p.filter.Value()))
	for i, r := range p.rows {
		if r.attestation && !p.showAttest {
			continue
		}
		if q != "" && !strings.Contains(strings.ToLower(r.label()+" "+r.raw+" "+r.attests), q) {
			continue
		}
		out = append(out, i)
	}
	return out
}

// items are the table's visible rows, then the "try" lines of the diagnosis shown.
func (p *platformScreen) items() []item {
	var out []item
	for _, i := range p.visible() {
		out = append(out, item{row: i})
	}
	if d := p.shownDiagnosis(); d != nil {
		for i := range d.Siblings {
			out = append(out, item{row: -1, try: &d.Siblings[i]})
		}
	}
	return out
}

func (p *platformScreen) shownDiagnosis() *registry.Diagnosis {
	if p.shown < 0 {
		return nil
	}
	return p.diagnoses[p.rows[p.shown].request.String()]
}

// settle keeps the cursor in range and picks the diagnosis to show: the missing row
// under the cursor, else (unless the cursor is on one of its try lines) the first.
func (p *platformScreen) settle() {
	items := p.items()
	p.cursor = min(max(p.cursor, 0), max(len(items)-1, 0))
	if len(items) > 0 && items[p.cursor].row < 0 {
		return
	}
	p.shown = -1
	if len(items) > 0 && p.rows[items[p.cursor].row].missing != "" {
		p.shown = items[p.cursor].row
		return
	}
	for _, i := range p.visible() {
		if p.rows[i].missing != "" {
			p.shown = i
			return
		}
	}
}

func (p *platformScreen) onTry() *registry.Sibling {
	items := p.items()
	if p.cursor < len(items) {
		return items[p.cursor].try
	}
	return nil
}

func (p *platformScreen) attestations() int {
	n := 0
	for _, r := range p.rows {
		if r.attestation {
			n++
		}
	}
	return n
}

func (p *platformScreen) ShortHelp() []key.Binding {
	k := p.c.keys
	if p.filtering {
		return []key.Binding{as(k.Enter, "apply filter"), as(k.Back, "clear filter")}
	}
	if p.onTry() != nil {
		return []key.Binding{as(k.Enter, "open this image"), as(k.Down, "move"), k.Back}
	}
	out := []key.Binding{k.Toggle, key.NewBinding(key.WithKeys("a", "n"), key.WithHelp("a/n", "all/none")), k.Filter}
	if p.c.services.Build != nil {
		out = slices.Insert(out, 1, as(k.Enter, "build"))
	}
	if p.attestations() > 0 {
		out = append(out, k.Attestations)
	}
	return append(out, k.Back)
}

func (p *platformScreen) FullHelp() [][]key.Binding {
	k := p.c.keys
	move := []key.Binding{k.Up, k.Down, k.PageUp, k.PageDown}
	pick := []key.Binding{as(k.Toggle, "select the platform"), as(k.All, "select all"), as(k.None, "select none")}
	if p.c.services.Build != nil {
		pick = append(pick, as(k.Enter, "build the selected"))
	}
	view := []key.Binding{as(k.Filter, "filter the platforms")}
	if p.attestations() > 0 {
		view = append(view, as(k.Attestations, "show attestations"))
	}
	if len(p.diagnoses) > 0 {
		view = append(view, key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "on a try line: open it")))
	}
	view = append(view, as(k.Back, p.c.backTo))
	return [][]key.Binding{move, pick, view}
}

func (p *platformScreen) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case diagnosedMsg:
		p.setDiagnoses(msg)
		p.settle()
		return nil
	case tea.KeyPressMsg:
		if p.filtering {
			return p.filterKey(msg)
		}
		return p.key(msg)
	}
	return nil
}

func (p *platformScreen) filterKey(msg tea.KeyPressMsg) tea.Cmd {
	switch {
	case key.Matches(msg, p.c.keys.Enter):
		p.filtering = false
		p.filter.Blur()
	case key.Matches(msg, p.c.keys.Back):
		p.filtering = false
		p.filter.Blur()
		p.filter.SetValue("")
	default:
		var cmd tea.Cmd
		p.filter, cmd = p.filter.Update(msg)
		p.cursor = 0
		p.settle()
		return cmd
	}
	p.settle()
	return nil
}

func (p *platformScreen) key(msg tea.KeyPressMsg) tea.Cmd {
	k := p.c.keys
	items := p.items()
	var cur *platformRow
	if p.cursor < len(items) && items[p.cursor].row >= 0 {
		cur = &p.rows[items[p.cursor].row]
	}
	switch {
	case key.Matches(msg, k.Up):
		p.cursor--
	case key.Matches(msg, k.Down):
		p.cursor++
	case key.Matches(msg, k.PageUp):
		p.cursor -= p.pageSize()
	case key.Matches(msg, k.PageDown):
		p.cursor += p.pageSize()
	case key.Matches(msg, k.Toggle):
		if cur != nil && cur.missing == "" && !cur.attestation {
			cur.selected = !cur.selected
		}
	case key.Matches(msg, k.All):
		for _, i := range p.visible() {
			if p.rows[i].missing == "" && !p.rows[i].attestation {
				p.rows[i].selected = true
			}
		}
	case key.Matches(msg, k.None):
		for i := range p.rows {
			p.rows[i].selected = false
		}
	case key.Matches(msg, k.Attestations) && p.attestations() > 0:
		// The cursor stays on its row; an attestation row it was on goes with them.
		row := -1
		if cur != nil {
			row = items[p.cursor].row
		}
		p.showAttest = !p.showAttest
		p.cursor = 0
		for i, it := range p.items() {
			if it.row >= 0 && it.row <= row {
				p.cursor = i
			}
		}
	case key.Matches(msg, k.Filter):
		p.filtering = true
		return p.filter.Focus()
	case key.Matches(msg, k.Enter):
		if try := p.onTry(); try != nil {
			image, requested := try.Ref, p.requested()
			return func() tea.Msg { return openImageMsg{image: image, requested: requested} }
		}
		if req := p.request(); len(req.Platforms) > 0 {
			return func() tea.Msg { return startBuildMsg{req: req} }
		}
		return problem("select at least one platform (space)")
	case key.Matches(msg, k.Back):
		return back
	}
	p.settle()
	return nil
}

func (p *platformScreen) pageSize() int { return max(p.height-6, 1) }

// columns lays the table out for the width.
func (p *platformScreen) columns() []column {
	hasOSVersion, longest := false, 0
	for _, r := range p.rows {
		hasOSVersion = hasOSVersion || r.osVersion != ""
		longest = max(longest, len([]rune(p.note(r))))
	}
	cols := []column{{"", 3}, {"PLATFORM", 14}}
	if hasOSVersion {
		cols = append(cols, column{"OS.VERSION", 12})
	}
	cols = append(cols, column{"DIGEST", 12}, column{"SIZE", 9}, column{"LAYERS", 6})
	used := func() int {
		n := 2 // the cursor
		for _, c := range cols {
			n += c.width + 1
		}
		return n
	}
	// Narrow: the digest goes first, then the layer count, before a note is cut.
	for _, drop := range []string{"DIGEST", "LAYERS"} {
		if p.width-used() >= longest {
			break
		}
		for i, c := range cols {
			if c.title == drop {
				cols = append(cols[:i], cols[i+1:]...)
				break
			}
		}
	}
	return append(cols, column{"RUNS HERE", max(p.width-used(), 8)})
}

// note is the last column of a row: how it runs here, or what it is.
func (p *platformScreen) note(r platformRow) string {
	switch {
	case r.missing != "":
		return "missing: " + r.missing
	case r.attestation:
		return strings.TrimPrefix(r.attests, "attestation ")
	case r.raw != r.label():
		return r.how.Note + " · index: " + strings.TrimPrefix(r.raw, r.platform.OS+"/")
	}
	return r.how.Note
}

func (p *platformScreen) View() string {
	s := p.c.styles
	if p.index == nil {
		return s.Muted.Render("  no index loaded")
	}
	kind := "index"
	if p.index.Single {
		kind = "single-platform image"
	}
	title := s.Text.Render(p.index.Ref.CommonName()) + s.Muted.Render(fmt.Sprintf("  %s %s", kind, oci.ShortDigest(p.index.Digest.String())))
	lines := []string{truncate(title, p.width)}
	cols := p.columns()
	lines = append(lines, "  "+s.Header.Render(renderCells(cols, func(_ int, c column) string { return c.title })))

	items := p.items()
	panel := p.panelLines(items)
	rowsShown := 0
	for _, it := range items {
		if it.row >= 0 {
			rowsShown++
		}
	}
	listHeight := max(min(rowsShown, p.height-3-len(panel)), min(rowsShown, 3), 1)
	if p.cursor < rowsShown {
		if p.cursor < p.offset {
			p.offset = p.cursor
		}
		if p.cursor >= p.offset+listHeight {
			p.offset = p.cursor - listHeight + 1
		}
	}
	p.offset = min(p.offset, max(rowsShown-listHeight, 0))
	for vi := p.offset; vi < rowsShown && vi < p.offset+listHeight; vi++ {
		lines = append(lines, p.rowLine(p.rows[items[vi].row], cols, vi == p.cursor))
	}
	if rowsShown == 0 {
		lines = append(lines, s.Muted.Render("  no platform matches the filter"))
	}
	room := p.height - len(lines) - 1
	if len(panel) > room {
		panel = panel[:max(room, 0)]
	}
	lines = append(lines, panel...)
	for len(lines) < p.height-1 {
		lines = append(lines, "")
	}
	return strings.Join(append(lines, p.statusLine()), "\n")
}

func (p *platformScreen) rowLine(r platformRow, cols []column, cursor bool) string {
	s := p.c.styles
	mark := "[ ]"
	switch {
	case r.selected:
		mark = "[x]"
	case r.missing != "" || r.attestation:
		mark = " - "
	}
	label := r.label()
	if r.attestation { // unknown/unknown says nothing; the note says what it attests
		label = "attestation"
	}
	cells := map[string]string{"": mark, "PLATFORM": label, "OS.VERSION": r.osVersion, "DIGEST": oci.ShortHex(r.digest),
		"SIZE": SizeOrDash(r.size), "LAYERS": CountOrDash(r.layers), "RUNS HERE": p.note(r)}
	if r.missing != "" { // nothing to show in the middle columns: the reason takes them
		cols = []column{cols[0], cols[1], {"RUNS HERE", max(p.width-22, 8)}}
	}
	if cursor {
		return cursorRow(s, "› "+renderCells(cols, func(_ int, c column) string { return cells[c.title] }), p.width)
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
	noteStyle := style
	if r.missing == "" && !r.attestation {
		switch {
		case r.how.Native:
			noteStyle = s.OK
		case r.how.Emulated:
			noteStyle = s.Warn
		default:
			noteStyle = s.Err
		}
	}
	return "  " + renderCells(cols, func(i int, c column) string {
		if i == len(cols)-1 {
			return noteStyle.Render(ansiTruncate(cells[c.title], c.width))
		}
		return style.Render(ansiTruncate(cells[c.title], c.width))
	})
}

// panelLines explain the missing platform shown: the diagnosis without what the table
// above already says (the index's platforms), its try lines selectable.
func (p *platformScreen) panelLines(items []item) []string {
	s := p.c.styles
	if p.shown < 0 {
		return nil
	}
	r := p.rows[p.shown]
	out := []string{"", s.Warn.Render(truncate("Why "+r.label()+" is missing", p.width))}
	d := p.shownDiagnosis()
	if d == nil {
		return append(out, s.Muted.Render(truncate("  looking for tags of this repository that have it …", p.width)))
	}
	var cursorTry *registry.Sibling
	if p.cursor < len(items) {
		cursorTry = items[p.cursor].try
	}
	for _, l := range d.Lines() {
		if l.Group == "index has" {
			continue
		}
		if l.Sibling != nil {
			// Tags and platforms come from the registry.
			platforms := Sanitize("(" + strings.Join(l.Sibling.Platforms, ", ") + ")")
			if l.Sibling == cursorTry {
				out = append(out, cursorRow(s, fmt.Sprintf("  %-10s ▸ %s  enter opens it %s", l.Label, Sanitize(l.Sibling.Ref), platforms), p.width))
				continue
			}
			out = append(out, s.Accent.Render(truncate(fmt.Sprintf("  %-10s ▸ %s   %s", l.Label, Sanitize(l.Sibling.Ref), platforms), p.width)))
			continue
		}
		for i, part := range wrap(Sanitize(l.Text), p.width-13) {
			label := l.Label
			if i > 0 {
				label = ""
			}
			out = append(out, s.Muted.Render(fmt.Sprintf("  %-10s %s", label, part)))
		}
	}
	return out
}

func (p *platformScreen) statusLine() string {
	s := p.c.styles
	attest := p.attestations()
	status := fmt.Sprintf("%s of %d selected", plural(len(p.request().Platforms), "platform"), len(p.rows)-attest-p.missingCount())
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
	return s.Muted.Render(truncate(status, p.width))
}
