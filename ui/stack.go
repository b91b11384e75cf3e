package ui

import (
	"cmp"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"github.com/pycontainer/pycontainer/oci"
	"github.com/pycontainer/pycontainer/registry"
	"github.com/pycontainer/pycontainer/stack"
)

// stackScreen is the matrix of `pycontainer platforms --compose`: a row per image the
// stack pulls, a column per target platform. Enter opens a row's index on the platform
// screen with the diagnoses the check already made.
type stackScreen struct {
	c      *common
	width  int
	height int
	check  *stack.Check
	cursor int // into check.Rows
	offset int // the first row shown
	first  int // the first platform column shown; ←/→ move it when not all fit
}

// Widths of the matrix: names and cells are cut beyond these so that the platform
// columns keep their room, and the image column never shrinks below its minimum
// while a platform column could go instead.
const (
	stackNameMax  = 24
	stackNameMin  = 16 // while platform columns are fitted
	stackImageMin = 14
	stackCellMax  = 16
	stackPlaces   = 4 // sources listed under a row before "and N more"
)

func newStackScreen(c *common, check *stack.Check) *stackScreen {
	if check == nil {
		check = &stack.Check{}
	}
	return &stackScreen{c: c, check: check}
}

func (st *stackScreen) SetSize(width, height int) { st.width, st.height = width, height }

func (st *stackScreen) Typing() bool { return false }

// stackLayout is how the matrix fits the width.
type stackLayout struct {
	name, image int
	shown       []int // indexes into check.Platforms, from first
	widths      []int // of each shown column
	left, right int   // platform columns left out before and after the shown ones
}

func (l stackLayout) hidden() int { return l.left + l.right }

// markerWidth is the width of "‹+N" or "+N›", which stand for n columns left out.
func markerWidth(n int) int { return len(fmt.Sprint(n)) + 2 }

func (st *stackScreen) layout() stackLayout {
	name, image := lipgloss.Width(st.nameTitle()), len("IMAGE")
	for _, r := range st.check.Rows {
		name = max(name, lipgloss.Width(placeNames(r)))
		image = max(image, lipgloss.Width(rowImage(r)))
	}
	widths := st.cellWidths()
	st.first = min(st.first, max(len(widths)-1, 0))
	fit := func(room int) (shown []int) {
		for i := st.first; i < len(widths); i++ {
			if room < widths[i]+1 && len(shown) > 0 {
				break
			}
			room -= widths[i] + 1
			shown = append(shown, i)
		}
		return shown
	}
	free := st.width - 2 - min(name, stackNameMin) - 1 - min(image, stackImageMin) - 1
	if st.first > 0 {
		free -= markerWidth(st.first) + 1
	}
	l := stackLayout{left: st.first, shown: fit(free)}
	if st.first+len(l.shown) < len(widths) {
		l.shown = fit(free - markerWidth(len(widths)-st.first) - 1)
	}
	l.right = len(widths) - st.first - len(l.shown)
	used := 0
	for _, i := range l.shown {
		l.widths = append(l.widths, widths[i])
		used += widths[i] + 1
	}
	for _, n := range []int{l.left, l.right} {
		if n > 0 {
			used += markerWidth(n) + 1
		}
	}
	// What the platforms leave is shared by the names and the images: each gets half,
	// and what one does not need goes to the other.
	rest := st.width - 2 - used - 2
	l.name = max(min(name, stackNameMax, max(rest/2, rest-image)), 1)
	l.image = max(min(image, rest-l.name), 1)
	return l
}

// cellWidths fit each platform's name and the widest cell under it, within bounds.
func (st *stackScreen) cellWidths() []int {
	out := make([]int, len(st.check.Platforms))
	for i, p := range st.check.Platforms {
		w := lipgloss.Width(platformTitle(p))
		for _, r := range st.check.Rows {
			if r.Err == nil {
				w = max(w, lipgloss.Width(st.cell(r, p)))
			}
		}
		out[i] = min(w, stackCellMax)
	}
	return out
}

// nameTitle heads the first column by what names the images.
func (st *stackScreen) nameTitle() string {
	services, stages := false, false
	for _, r := range st.check.Rows {
		for _, p := range r.Places {
			services = services || p.Source.Service != ""
			stages = stages || p.Source.Service == ""
		}
	}
	switch {
	case services && stages:
		return "NAMED BY"
	case stages:
		return "STAGE"
	}
	return "SERVICE"
}

func platformTitle(p registry.PlatformRequest) string {
	return Sanitize(oci.PlatformString(p.Platform))
}

func rowImage(r stack.Row) string { return Sanitize(cmp.Or(r.Image, r.Ref)) }

// placeNames is who names the image: services, Dockerfile stages, each once.
func placeNames(r stack.Row) string {
	var names []string
	for _, p := range r.Places {
		if n := placeName(p.Source); !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return Sanitize(strings.Join(names, ", "))
}

func placeName(src stack.Source) string {
	file := filepath.Base(src.File)
	switch {
	case src.Service != "" && src.Stage != "":
		return src.Service + " stage " + src.Stage // the Dockerfile a service builds
	case src.Service != "":
		return src.Service
	case src.Stage != "":
		return file + " stage " + src.Stage
	case src.Instruction != "":
		return file + " " + src.Instruction
	}
	return file
}

// cellFor is r's cell for platform p; nil when r is not checked for it.
func cellFor(r stack.Row, p registry.PlatformRequest) *stack.Cell {
	for i := range r.Cells {
		if oci.SamePlatform(r.Cells[i].Platform.Platform, p.Platform) {
			return &r.Cells[i]
		}
	}
	return nil
}

// cell is one mark of the matrix: ✓, or ✗ and the way out in a word.
func (st *stackScreen) cell(r stack.Row, p registry.PlatformRequest) string {
	s := st.c.styles
	c := cellFor(r, p)
	switch {
	case c == nil:
		return s.Muted.Render("·")
	case c.Found:
		return s.OK.Render("✓")
	}
	miss := s.Err.Render("✗")
	switch c.Next.Kind {
	case stack.NextSibling, stack.NextNewer:
		return miss + " " + s.Accent.Render("→ "+Sanitize(tagOf(c.Next.Ref)))
	case stack.NextEmulate:
		return miss + " " + s.Warn.Render("emulate")
	case stack.NextNothing:
		return miss + " " + s.Err.Render("none")
	}
	return miss
}

// tagOf is the tag of a reference, which is all a cell has room for: the repository
// is the row's own.
func tagOf(ref string) string {
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		return ref[i+1:]
	}
	return ref
}

// oneLine is an error on one line: its own line breaks become spaces before anything
// left is made visible.
func oneLine(s string) string { return Sanitize(shortDigests(strings.Join(strings.Fields(s), " "))) }

func (st *stackScreen) header(l stackLayout) string {
	s := st.c.styles
	titles := []string{st.nameTitle(), "IMAGE"}
	cols := []column{{"", l.name}, {"", l.image}}
	if l.left > 0 {
		titles = append(titles, fmt.Sprintf("‹+%d", l.left))
		cols = append(cols, column{"", markerWidth(l.left)})
	}
	for n, i := range l.shown {
		titles = append(titles, platformTitle(st.check.Platforms[i]))
		cols = append(cols, column{"", l.widths[n]})
	}
	if l.right > 0 {
		titles = append(titles, fmt.Sprintf("+%d›", l.right))
		cols = append(cols, column{"", markerWidth(l.right)})
	}
	return truncate("  "+s.Header.Render(renderCells(cols, func(i int, _ column) string { return titles[i] })), st.width)
}

func (st *stackScreen) rowLine(r stack.Row, l stackLayout, cursor bool) string {
	s := st.c.styles
	cells := []string{s.Text.Render(placeNames(r)), s.Text.Render(rowImage(r))}
	cols := []column{{"", l.name}, {"", l.image}}
	if r.Err != nil {
		// The row names the image already; the error need not say it again.
		why := strings.TrimPrefix(r.Err.Error(), "image "+r.Ref+" ")
		cells = append(cells, s.Err.Render("✗ "+oneLine(why)))
		cols = append(cols, column{"", max(st.width-2-l.name-l.image-2, 1)})
	} else {
		// A miss in a column left out still shows, as ✗ under its marker.
		leftMiss, rightMiss := "", ""
		for i, p := range st.check.Platforms {
			c := cellFor(r, p)
			miss := c != nil && !c.Found
			switch n := slices.Index(l.shown, i); {
			case n >= 0:
				cells = append(cells, st.cell(r, p))
				cols = append(cols, column{"", l.widths[n]})
			case miss && i < st.first:
				leftMiss = s.Err.Render("✗")
			case miss:
				rightMiss = s.Err.Render("✗")
			}
		}
		if l.left > 0 {
			cells = slices.Insert(cells, 2, leftMiss)
			cols = slices.Insert(cols, 2, column{"", markerWidth(l.left)})
		}
		if l.right > 0 {
			cells = append(cells, rightMiss)
			cols = append(cols, column{"", markerWidth(l.right)})
		}
	}
	line := renderCells(cols, func(i int, _ column) string { return cells[i] })
	if cursor {
		return cursorRow(s, "› "+line, st.width)
	}
	return truncate("  "+line, st.width)
}

// detailLines are the selected row's: where it is named, then each missing platform
// with its next step, or why its index could not be read.
func (st *stackScreen) detailLines() []string {
	s := st.c.styles
	if len(st.check.Rows) == 0 {
		return nil
	}
	r := st.check.Rows[st.cursor]
	misses := missesByStep(r)
	labelWidth := len("named in")
	for _, m := range misses {
		labelWidth = max(labelWidth, lipgloss.Width(m.platforms[0]))
	}
	labelWidth = min(labelWidth, stackCellMax)
	out := []string{"", truncate(s.Text.Render(Sanitize(r.Ref))+s.Muted.Render("  "+placeNames(r)), st.width)}
	add := func(label, text string, style lipgloss.Style) {
		for i, part := range wrap(text, st.width-labelWidth-4) {
			if i > 0 {
				label = ""
			}
			lead := "  " + ansiTruncate(label, labelWidth) + strings.Repeat(" ", max(labelWidth-lipgloss.Width(label), 0)) + "  "
			out = append(out, truncate(s.Muted.Render(lead)+style.Render(part), st.width))
		}
	}
	label := "named in"
	for _, p := range r.Places[:min(len(r.Places), stackPlaces)] {
		add(label, Sanitize(p.Source.String()), s.Muted)
		label = ""
	}
	if n := len(r.Places) - stackPlaces; n > 0 {
		add("", fmt.Sprintf("and %d more", n), s.Muted)
	}
	if r.Err != nil {
		add("error", oneLine(r.Err.Error()), s.Err)
		return out
	}
	for _, m := range misses {
		add(m.platforms[0], m.text, nextStyle(s.Err, s.Warn, s.Accent, m.kind))
		if len(m.platforms) > 1 {
			add("", "the same for "+strings.Join(m.platforms[1:], ", "), s.Muted)
		}
	}
	if len(misses) == 0 && len(r.Cells) > 0 {
		add("", "✓ has every platform it is checked for", s.OK)
	}
	return out
}

// stackMiss is a next step and the platforms it is the way out for.
type stackMiss struct {
	text      string
	kind      stack.NextKind
	platforms []string
}

// missesByStep groups r's misses by their next step, in the order of the first: one
// image emulated stands in for every platform it lacks, said once.
func missesByStep(r stack.Row) []stackMiss {
	var out []stackMiss
	for _, c := range r.Cells {
		if c.Found {
			continue
		}
		text := Sanitize(cmp.Or(c.Next.Text, "not in this index"))
		if i := slices.IndexFunc(out, func(m stackMiss) bool { return m.text == text }); i >= 0 {
			out[i].platforms = append(out[i].platforms, platformTitle(c.Platform))
			continue
		}
		out = append(out, stackMiss{text: text, kind: c.Next.Kind, platforms: []string{platformTitle(c.Platform)}})
	}
	return out
}

// nextStyle colours a way out: a tag to use, emulation, or nothing.
func nextStyle(bad, warn, good lipgloss.Style, kind stack.NextKind) lipgloss.Style {
	switch kind {
	case stack.NextSibling, stack.NextNewer:
		return good
	case stack.NextEmulate:
		return warn
	}
	return bad
}

func (st *stackScreen) statusLine(l stackLayout) string {
	missing, unread := 0, 0
	for _, r := range st.check.Rows {
		if r.Err != nil {
			unread++
		}
		if slices.ContainsFunc(r.Cells, func(c stack.Cell) bool { return !c.Found }) {
			missing++
		}
	}
	parts := []string{plural(len(st.check.Rows), "image")}
	if missing > 0 {
		parts = append(parts, fmt.Sprintf("%d missing a platform", missing))
	}
	if unread > 0 {
		parts = append(parts, fmt.Sprintf("%d not read", unread))
	}
	if l.hidden() > 0 && len(l.shown) > 0 {
		parts = append(parts, fmt.Sprintf("platforms %d–%d of %d (←/→)", l.shown[0]+1, l.shown[len(l.shown)-1]+1, len(st.check.Platforms)))
	}
	return st.c.styles.Muted.Render(truncate(strings.Join(parts, " · "), st.width))
}

func (st *stackScreen) View() string {
	s := st.c.styles
	rows := st.check.Rows
	if len(rows) == 0 {
		return s.Muted.Render("  no images to check")
	}
	l := st.layout()
	title := s.Text.Render("Stack") + s.Muted.Render(fmt.Sprintf("  %s × %s", plural(len(rows), "image"), plural(len(st.check.Platforms), "platform")))
	lines := []string{truncate(title, st.width), st.header(l)}
	details := st.detailLines()
	listHeight := max(min(len(rows), st.height-3-len(details)), min(len(rows), 3), 1)
	if st.cursor < st.offset {
		st.offset = st.cursor
	}
	if st.cursor >= st.offset+listHeight {
		st.offset = st.cursor - listHeight + 1
	}
	st.offset = min(st.offset, max(len(rows)-listHeight, 0))
	for i := st.offset; i < len(rows) && i < st.offset+listHeight; i++ {
		lines = append(lines, st.rowLine(rows[i], l, i == st.cursor))
	}
	room := max(st.height-len(lines)-1, 0)
	if len(details) > room && room > 0 {
		details = append(details[:room-1], s.Muted.Render("  …")) // the rest is off screen
	}
	lines = append(lines, details[:min(len(details), room)]...)
	for len(lines) < st.height-1 {
		lines = append(lines, "")
	}
	return strings.Join(append(lines, st.statusLine(l)), "\n")
}

func (st *stackScreen) selected() (stack.Row, bool) {
	if st.cursor < len(st.check.Rows) {
		return st.check.Rows[st.cursor], true
	}
	return stack.Row{}, false
}

func (st *stackScreen) ShortHelp() []key.Binding {
	k := st.c.keys
	var out []key.Binding
	if r, ok := st.selected(); ok && r.Index != nil {
		out = append(out, as(k.Enter, "platforms"))
	}
	out = append(out, key.NewBinding(key.WithKeys("up", "down"), key.WithHelp("↑/↓", "move")))
	if st.layout().hidden() > 0 {
		out = append(out, key.NewBinding(key.WithKeys("left", "right"), key.WithHelp("←/→", "more platforms")))
	}
	return out
}

func (st *stackScreen) FullHelp() [][]key.Binding {
	k := st.c.keys
	move := []key.Binding{as(k.Up, "previous image"), as(k.Down, "next image"), k.PageUp, k.PageDown}
	groups := [][]key.Binding{move}
	if st.layout().hidden() > 0 {
		groups = append(groups, []key.Binding{as(k.Left, "platforms to the left"), as(k.Right, "platforms to the right")})
	}
	return append(groups, []key.Binding{as(k.Enter, "open the image's platforms and diagnosis")})
}

func (st *stackScreen) Update(msg tea.Msg) tea.Cmd {
	kp, ok := msg.(tea.KeyPressMsg)
	if !ok {
		return nil
	}
	k := st.c.keys
	page := max(st.height/2, 1) // about the rows a page shows: the details take the rest
	switch {
	case key.Matches(kp, k.Up):
		st.cursor--
	case key.Matches(kp, k.Down):
		st.cursor++
	case key.Matches(kp, k.PageUp):
		st.cursor -= page
	case key.Matches(kp, k.PageDown):
		st.cursor += page
	case key.Matches(kp, k.Left):
		st.first = max(st.first-1, 0)
	case key.Matches(kp, k.Right):
		if st.layout().right > 0 {
			st.first++
		}
	case key.Matches(kp, k.Enter):
		return st.open()
	}
	st.cursor = min(max(st.cursor, 0), max(len(st.check.Rows)-1, 0))
	return nil
}

// open asks the root to show the selected row's index on the platform screen: every
// platform the row is checked for asked, so the found ones are preselected and the
// missing ones explained. The check's diagnoses go along, so nothing is read again;
// when one is lacking, the platform screen diagnoses them itself.
func (st *stackScreen) open() tea.Cmd {
	r, ok := st.selected()
	if !ok {
		return nil
	}
	if r.Index == nil {
		return problem(Sanitize(r.Ref) + " could not be read: nothing to open")
	}
	msg := openRowMsg{image: r.Ref, index: r.Index}
	complete := true
	for _, c := range r.Cells {
		req := c.Platform
		req.Raw, req.Source = Sanitize(req.Raw), Sanitize(req.Source) // the platform screen prints them as they are
		msg.requested = append(msg.requested, req)
		if !c.Found {
			complete = complete && c.Diagnosis != nil
			msg.diagnoses = append(msg.diagnoses, c.Diagnosis)
		}
	}
	if !complete {
		msg.diagnoses = nil
	}
	return func() tea.Msg { return msg }
}
