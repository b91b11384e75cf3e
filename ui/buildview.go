package ui

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"github.com/pycontainer/pycontainer/build"
	"github.com/pycontainer/pycontainer/oci"
)

// buildScreen runs a build and shows one row per platform, expandable to its layers;
// when the build is over it stays, as a summary, until the user moves on.
type buildScreen struct {
	c          *common
	width      int
	height     int
	id         int
	req        build.Request
	prog       *progress
	expanded   map[string]bool // by platform, kept across retries
	cursor     int
	offset     int
	running    bool
	cancelling bool // esc was pressed; the build is stopping
	now        func() time.Time

	cancelFn context.CancelFunc
	events   chan build.Event
	finished chan error
	done     chan struct{} // closed when the build's goroutine has returned
}

func newBuildScreen(c *common) *buildScreen {
	return &buildScreen{c: c, now: time.Now, expanded: map[string]bool{}}
}

func (b *buildScreen) SetSize(width, height int) { b.width, b.height = width, height }

func (b *buildScreen) Typing() bool { return false }

// hasRun reports whether there is a build to show.
func (b *buildScreen) hasRun() bool { return b.prog != nil }

// start runs a build of req in the background; its events come back as messages carrying
// this run's id, so a cancelled run's stragglers are dropped.
func (b *buildScreen) start(req build.Request) tea.Cmd {
	b.req = req
	b.id++
	b.running = true
	b.prog = newProgress(req.Platforms, b.now())
	b.cursor = min(b.cursor, max(len(req.Platforms)-1, 0))
	ctx, cancel := context.WithCancel(b.c.ctx)
	b.cancelFn = cancel
	events := make(chan build.Event, 256)
	finished := make(chan error, 1)
	done := make(chan struct{})
	b.events, b.finished, b.done = events, finished, done
	sink := func(ev build.Event) {
		if _, ok := ev.(build.LayerProgressed); ok {
			select { // progress may be dropped: the next update carries the total
			case events <- ev:
			default:
			}
			return
		}
		select { // once cancelled, nobody may be reading any more
		case events <- ev:
		case <-ctx.Done():
		}
	}
	run := b.c.services.Build
	go func() {
		defer close(done)
		err := run(ctx, req, sink)
		cancel()
		finished <- err
		close(events)
	}()
	return b.wait()
}

func (b *buildScreen) wait() tea.Cmd {
	id, events, finished := b.id, b.events, b.finished
	return func() tea.Msg {
		ev, ok := <-events
		if !ok {
			return buildFinishedMsg{id: id, err: <-finished}
		}
		return buildEventMsg{id: id, event: ev}
	}
}

// cancel stops a running build; stop also waits until its goroutine is gone, so
// nothing it writes outlives the app.
func (b *buildScreen) cancel() {
	if b.cancelFn != nil {
		b.cancelFn()
	}
}

func (b *buildScreen) stop(timeout time.Duration) {
	b.cancel()
	if b.done == nil {
		return
	}
	select {
	case <-b.done:
	case <-time.After(timeout):
	}
}

func (b *buildScreen) succeeded() bool {
	return b.prog != nil && b.prog.over && b.prog.err == nil
}

func (b *buildScreen) canRetry() bool {
	return b.prog != nil && b.prog.over && b.prog.err != nil
}

func (b *buildScreen) ShortHelp() []key.Binding {
	k := b.c.keys
	out := []key.Binding{as(k.Down, "move"), as(k.Right, "layers")}
	switch {
	case b.running:
		return append(out, as(k.Back, "cancel build"))
	case b.canRetry():
		out = append(out, k.Retry)
	case b.succeeded():
		out = append([]key.Binding{as(k.Enter, "inspect")}, out...)
	}
	return append(out, k.Back)
}

func (b *buildScreen) FullHelp() [][]key.Binding {
	k := b.c.keys
	groups := [][]key.Binding{{k.Up, k.Down, k.PageUp, k.PageDown}, {as(k.Right, "show layers"), as(k.Left, "hide layers")}}
	switch {
	case b.running:
		groups = append(groups, []key.Binding{as(k.Back, "cancel the build")})
	case b.canRetry():
		groups = append(groups, []key.Binding{as(k.Retry, "build again (downloads resume)"), as(k.Back, "back to the platforms")})
	case b.succeeded():
		groups = append(groups, []key.Binding{as(k.Enter, "inspect the image"), as(k.Back, "back to the platforms")})
	}
	return groups
}

func (b *buildScreen) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case buildEventMsg:
		if msg.id != b.id {
			return nil
		}
		b.prog.apply(msg.event, b.now())
		return b.wait()
	case buildFinishedMsg:
		if msg.id != b.id {
			return nil
		}
		b.running, b.cancelling = false, false
		b.prog.finish(msg.err, b.now())
		return nil
	case tea.KeyPressMsg:
		return b.key(msg)
	}
	return nil
}

func (b *buildScreen) key(msg tea.KeyPressMsg) tea.Cmd {
	k := b.c.keys
	n := 0
	if b.prog != nil {
		n = len(b.prog.platforms)
	}
	switch {
	case key.Matches(msg, k.Up):
		b.cursor = max(b.cursor-1, 0)
	case key.Matches(msg, k.Down):
		b.cursor = min(b.cursor+1, max(n-1, 0))
	case key.Matches(msg, k.PageUp):
		b.cursor = max(b.cursor-b.pageSize(), 0)
	case key.Matches(msg, k.PageDown):
		b.cursor = min(b.cursor+b.pageSize(), max(n-1, 0))
	case key.Matches(msg, k.Right, k.Left):
		if b.cursor < n {
			b.expanded[b.prog.platforms[b.cursor].platform] = key.Matches(msg, k.Right)
		}
	case key.Matches(msg, k.Retry) && b.canRetry():
		return b.start(b.req)
	case key.Matches(msg, k.Enter) && b.succeeded():
		return func() tea.Msg { return showInspectMsg{} }
	case key.Matches(msg, k.Back):
		if b.running {
			b.cancelling = true
			b.cancel()
			return nil
		}
		return back
	}
	return nil
}

func (b *buildScreen) pageSize() int { return max(b.height/2, 1) }

func (b *buildScreen) View() string {
	if b.prog == nil {
		return b.c.styles.Muted.Render("Nothing built yet")
	}
	lines := b.headLines()
	lines = append(lines, "")
	top := len(lines)
	var body []string
	cursorLine := 0
	for i, r := range b.prog.platforms {
		if i == b.cursor {
			cursorLine = len(body)
		}
		body = append(body, b.platformLine(r, i == b.cursor))
		if r.err != "" {
			for _, l := range wrap(Sanitize(shortDigests(r.err)), b.width-6) {
				body = append(body, "    "+b.c.styles.Err.Render(l))
			}
		}
		if b.expanded[r.platform] {
			body = append(body, b.layerLines(r)...)
		}
	}
	if pp := b.prog.push; pp != nil {
		body = append(body, b.pushLine(pp))
	}
	body = append(body, b.tailLines()...)
	// Scroll so the cursor's row stays in sight.
	room := max(b.height-top, 1)
	if cursorLine < b.offset {
		b.offset = cursorLine
	}
	if cursorLine >= b.offset+room {
		b.offset = cursorLine - room + 1
	}
	b.offset = min(b.offset, max(len(body)-room, 0))
	body = body[b.offset:]
	lines = append(lines, body...)
	if len(lines) > b.height {
		lines = lines[:b.height]
	}
	return strings.Join(lines, "\n")
}

// base names the base image the way the build pinned it.
func (b *buildScreen) base() string {
	if b.req.IndexDigest == "" {
		return b.req.Base
	}
	return b.req.Base + "@" + oci.ShortDigest(b.req.IndexDigest.String())
}

func (b *buildScreen) headLines() []string {
	s, p := b.c.styles, b.prog
	fromText := "from " + b.base() + " → " + b.c.output
	if p.plan != nil && p.plan.Builder != "" {
		fromText += " · builder " + p.plan.Builder + "@" + oci.ShortDigest(p.plan.BuilderDigest)
	}
	from := s.Muted.Render(fromText)
	switch {
	case b.cancelling:
		return []string{s.Warn.Render(truncate("Cancelling the build …", b.width)), truncate(from, b.width)}
	case b.running:
		head := s.Text.Render(fmt.Sprintf("Building %s", plural(len(p.platforms), "platform"))) +
			s.Muted.Render(fmt.Sprintf("  %d done · %.0fs", p.doneCount(), p.elapsed(b.now()).Seconds()))
		return []string{truncate(head, b.width), truncate(from, b.width)}
	case p.err == nil:
		head := s.OK.Render(fmt.Sprintf("✓ Built %s in %.1fs", plural(len(p.platforms), "platform"), p.elapsed(b.now()).Seconds()))
		out := []string{"", truncate(from, b.width)}
		if f := p.finished; f != nil {
			head += s.Muted.Render("  as " + f.Tag)
			if f.Index != "" {
				out = append(out, s.Muted.Render(truncate("docker load of "+b.c.output+" gets "+f.DockerLoad+" (inspect, then s, saves the others)", b.width)))
			}
		}
		out[0] = truncate(head, b.width)
		return out
	case p.cancelled():
		return []string{s.Warn.Render(truncate("✗ Build cancelled; "+b.c.output+" is unchanged — r starts it again", b.width)), truncate(from, b.width)}
	}
	var out []string
	if f := p.failedCount(); f > 0 {
		out = append(out, s.Err.Render(truncate(fmt.Sprintf("✗ %s of %d failed; %s is unchanged — r retries", plural(f, "platform"), len(p.platforms), b.c.output), b.width)))
	} else {
		out = append(out, s.Err.Render("✗ Build failed")+s.Muted.Render(truncate("; "+b.c.output+" is unchanged", b.width-14)))
		for _, l := range wrap(Sanitize(shortDigests(p.err.Error())), b.width-2) {
			out = append(out, "  "+s.Err.Render(l))
		}
		var detailed build.Detailer
		if errors.As(p.err, &detailed) {
			for _, l := range strings.Split(detailed.Detail(), "\n") {
				out = append(out, s.Muted.Render(truncate(Sanitize(l), b.width)))
			}
		}
	}
	return append(out, truncate(from, b.width))
}

// platformLine is one platform: a progress bar while it builds, and once it is built
// what a summary needs, its manifest digest and size.
func (b *buildScreen) platformLine(r *platformProgress, cursor bool) string {
	s := b.c.styles
	shown := r.shownState()
	var line, state string
	if r.done != nil {
		state = shown
		line = fmt.Sprintf("%-14s manifest %-12s %9s %-10s ", ansiTruncate(r.platform, 14), oci.ShortHex(r.done.Manifest), HumanBytes(r.done.Size),
			plural(r.done.Layers, "layer"))
	} else {
		d, total := r.bytesDone(), r.total
		pct := 0.0
		if total > 0 {
			pct = float64(d) / float64(total)
		}
		rate := ""
		if rt := r.rate(b.now()); rt > 0 && shown == stateDownloading {
			rate = HumanBytes(int64(rt)) + "/s"
		}
		barWidth := min(max(b.width-2-15-5-20-11-16, 8), 40)
		state = shown
		line = fmt.Sprintf("%-14s %s %3.0f%% %-19s %-10s ", ansiTruncate(r.platform, 14), b.bar(pct, barWidth, cursor), pct*100, bytesOf(d, total), rate)
	}
	if cursor {
		return cursorRow(s, "› "+line+state, b.width)
	}
	return truncate("  "+line+b.stateStyle(state).Render(state), b.width)
}

func (b *buildScreen) layerLines(r *platformProgress) []string {
	s := b.c.styles
	var out []string
	for i := 1; i <= r.count; i++ {
		kind := "base"
		if i == r.count {
			kind = "app" // the app layer is always the last
		}
		l, ok := r.layers[i]
		if !ok {
			state := stateWaiting
			if r.state == stateCancelled {
				state = stateCancelled
			}
			out = append(out, s.Muted.Render(truncate(fmt.Sprintf("     %d/%d %-4s %-12s %s", i, r.count, kind, "", state), b.width)))
			continue
		}
		pct := 0.0
		if l.size > 0 {
			pct = float64(l.done) / float64(l.size)
		}
		line := fmt.Sprintf("     %d/%d %-4s %s %s %3.0f%% %-8s %s", i, r.count, l.kind, oci.ShortHex(l.digest), b.bar(pct, 8, false), pct*100, HumanBytes(l.size), l.stateText())
		out = append(out, s.Muted.Render(truncate(line, b.width)))
	}
	return out
}

func (b *buildScreen) pushLine(pp *pushProgress) string {
	s := b.c.styles
	done, total, up, skipped, mounted := pp.counts()
	pct := 0.0
	if total > 0 {
		pct = float64(done) / float64(total)
	}
	var how []string
	for _, c := range []struct {
		n    int
		word string
	}{{up, "uploaded"}, {skipped, "already there"}, {mounted, "mounted"}} {
		if c.n > 0 {
			how = append(how, fmt.Sprintf("%d %s", c.n, c.word))
		}
	}
	state := strings.Join(how, ", ")
	if pp.result != nil {
		pct, state = 1, "pushed"
	}
	line := fmt.Sprintf("  %-14s %s %3.0f%% %-19s ", "push", b.bar(pct, 12, false), pct*100, bytesOf(done, total))
	return truncate(line+s.Accent.Render(state), b.width) + "\n" + s.Muted.Render(truncate("    to "+pp.target, b.width))
}

// tailLines are what the build left out and its warnings: while it runs, and in the
// summary once it is over, each with why.
func (b *buildScreen) tailLines() []string {
	s, p := b.c.styles, b.prog
	var out []string
	if len(p.compiles) > 0 {
		out = append(out, "", s.Header.Render("Built from source"))
		for _, c := range p.compiles {
			style, text := s.Accent, c.text()
			switch {
			case c.done:
				style = s.OK
			case p.over: // the build ended before this compile did: it was stopped
				style, text = s.Warn, c.stopped(p.cancelled())
			}
			out = append(out, style.Render(truncate(Sanitize("  "+text), b.width))) // pip's words
		}
	}
	if left := p.leftOut(); len(left) > 0 {
		out = append(out, "", s.Header.Render("Left out of the app layer"))
		for _, x := range left {
			for i, l := range wrap(Sanitize(x.String()), b.width-4) { // file names are the project's
				prefix := "  · "
				if i > 0 {
					prefix = "    "
				}
				out = append(out, prefix+s.Muted.Render(l))
			}
		}
	}
	if p.plan != nil && len(p.plan.Included) > 0 {
		out = append(out, "", s.Header.Render("Secrets included on request"))
		for _, x := range p.plan.Included {
			for i, l := range wrap(Sanitize(x.String()), b.width-4) {
				prefix := "  ! "
				if i > 0 {
					prefix = "    "
				}
				out = append(out, s.Warn.Render(prefix+l))
			}
		}
	}
	if len(p.warnings) > 0 {
		out = append(out, "", s.Header.Render("Warnings"))
		for _, w := range p.warnings {
			for i, l := range wrap(Sanitize(w), b.width-4) {
				prefix := "  ! "
				if i > 0 {
					prefix = "    "
				}
				out = append(out, s.Warn.Render(prefix+l))
			}
		}
	}
	if b.succeeded() {
		out = append(out, "", s.Muted.Render("enter inspects the image · esc goes back to the platforms"))
	}
	return out
}

func (b *buildScreen) bar(pct float64, width int, plain bool) string {
	s := b.c.styles
	full := min(max(int(pct*float64(width)+0.5), 0), width)
	if plain { // inside the cursor's row, which has its own colours
		return strings.Repeat("█", full) + strings.Repeat("░", width-full)
	}
	return s.BarFull.Render(strings.Repeat("█", full)) + s.BarEmpty.Render(strings.Repeat("░", width-full))
}

func (b *buildScreen) stateStyle(state string) lipgloss.Style {
	s := b.c.styles
	switch state {
	case stateDone, stateCached:
		return s.OK
	case stateFailed:
		return s.Err
	case stateCancelled:
		return s.Warn
	case stateWaiting:
		return s.Muted
	}
	return s.Accent
}

func bytesOf(done, total int64) string {
	if total <= 0 {
		return "–"
	}
	return HumanBytes(done) + " / " + HumanBytes(total)
}
