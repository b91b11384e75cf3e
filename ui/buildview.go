package ui

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/pycontainer/pycontainer/build"
)

// Platform and layer states shown on the build screen.
const (
	stateWaiting     = "waiting"
	stateDownloading = "downloading"
	stateCached      = "cached"
	stateBuilding    = "building layer"
	stateWriting     = "writing"
	stateDone        = "done"
	stateFailed      = "failed"
	stateCancelled   = "cancelled"
)

type layerRow struct {
	digest      string
	kind        build.LayerKind
	index       int
	size, done  int64
	state       string
	sharedWith  string
	startedAt   time.Time
	startedDone int64
}

type buildRow struct {
	platform string
	state    string
	err      string
	total    int64
	count    int
	layers   map[int]*layerRow
	expanded bool
	started  time.Time
}

// shownState is the row's state, "waiting" while its downloads are queued behind others.
func (r *buildRow) shownState() string {
	if r.state != stateDownloading {
		return r.state
	}
	for _, l := range r.layers {
		if l.state == stateDownloading {
			return stateDownloading
		}
	}
	return stateWaiting
}

func (r *buildRow) done() int64 {
	var n int64
	for _, l := range r.layers {
		n += l.done
	}
	return n
}

// rate is bytes per second moved by the layers that are downloading now.
func (r *buildRow) rate(now time.Time) float64 {
	var bytes int64
	var secs float64
	for _, l := range r.layers {
		if l.state != stateDownloading || l.startedAt.IsZero() {
			continue
		}
		bytes += l.done - l.startedDone
		secs = max(secs, now.Sub(l.startedAt).Seconds())
	}
	if secs < 0.2 {
		return 0
	}
	return float64(bytes) / secs
}

// buildScreen runs a build and shows one row per platform, expandable to its layers.
type buildScreen struct {
	app       *App
	id        int
	requested []build.RequestedPlatform
	rows      []*buildRow
	cursor    int
	running   bool
	result    error
	warnings  []string
	excluded  []string // what the build left out of the app layer, and why
	startedAt time.Time
	elapsed   time.Duration
	now       func() time.Time

	cancelFn context.CancelFunc
	events   chan build.Event
	finished chan error
}

func newBuildScreen(a *App) *buildScreen {
	return &buildScreen{app: a, now: time.Now}
}

// start prepares rows for a build of platforms; run starts it.
func (b *buildScreen) start(platforms []build.RequestedPlatform) {
	b.requested = platforms
	b.reset()
}

func (b *buildScreen) reset() {
	old := map[string]bool{}
	for _, r := range b.rows {
		old[r.platform] = r.expanded
	}
	b.rows = nil
	for _, p := range b.requested {
		b.rows = append(b.rows, &buildRow{platform: p.String(), state: stateWaiting, layers: map[int]*layerRow{}, expanded: old[p.String()]})
	}
	b.cursor = min(b.cursor, max(len(b.rows)-1, 0))
	b.result, b.warnings, b.excluded = nil, nil, nil
}

// run starts the build in the background; its events come back as messages carrying
// this run's id, so a cancelled run's stragglers are dropped.
func (b *buildScreen) run() tea.Cmd {
	b.id++
	b.running = true
	b.startedAt = b.now()
	ctx, cancel := context.WithCancel(context.Background())
	b.cancelFn = cancel
	events := make(chan build.Event, 256)
	finished := make(chan error, 1)
	b.events, b.finished = events, finished
	sink := func(ev build.Event) {
		if _, ok := ev.(build.LayerProgressed); ok {
			select { // progress may be dropped: the next update carries the total
			case events <- ev:
			default:
			}
			return
		}
		events <- ev
	}
	platforms := b.requested
	buildFn := b.app.cfg.Services.Build
	go func() {
		err := buildFn(ctx, platforms, sink)
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

func (b *buildScreen) cancel() {
	if b.cancelFn != nil {
		b.cancelFn()
	}
}

func (b *buildScreen) keys() []key.Binding {
	k := b.app.keys
	if b.running {
		return []key.Binding{k.Up, k.Down, k.Expand, key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "cancel build"))}
	}
	out := []key.Binding{k.Up, k.Down, k.Expand}
	if b.failed() > 0 || b.result != nil {
		out = append(out, k.Retry)
	}
	if b.result == nil && len(b.rows) > 0 {
		out = append(out, key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "inspect")))
	}
	return append(out, k.Back)
}

func (b *buildScreen) failed() int {
	n := 0
	for _, r := range b.rows {
		if r.state == stateFailed {
			n++
		}
	}
	return n
}

func (b *buildScreen) row(platform string) *buildRow {
	for _, r := range b.rows {
		if r.platform == platform {
			return r
		}
	}
	return nil
}

func (b *buildScreen) update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case buildEventMsg:
		if msg.id != b.id {
			return nil
		}
		b.apply(msg.event)
		return b.wait()
	case buildFinishedMsg:
		if msg.id != b.id {
			return nil
		}
		b.running = false
		b.elapsed = b.now().Sub(b.startedAt)
		b.result = msg.err
		for _, r := range b.rows {
			if msg.err != nil && r.state != stateDone && r.state != stateFailed {
				r.state = stateCancelled
			}
		}
		return nil
	case tea.KeyPressMsg:
		k := b.app.keys
		switch {
		case key.Matches(msg, k.Up):
			b.cursor = max(b.cursor-1, 0)
		case key.Matches(msg, k.Down):
			b.cursor = min(b.cursor+1, max(len(b.rows)-1, 0))
		case key.Matches(msg, k.Expand):
			if b.cursor < len(b.rows) {
				r := b.rows[b.cursor]
				r.expanded = msg.String() == "right" || msg.String() == "l"
			}
		case key.Matches(msg, k.Retry) && !b.running && (b.failed() > 0 || b.result != nil):
			b.reset()
			return b.run()
		case key.Matches(msg, k.Enter) && !b.running && b.result == nil:
			b.app.screen = ScreenInspect
			return b.app.inspect.load()
		case key.Matches(msg, k.Back):
			if b.running {
				b.cancel()
				return nil
			}
			if b.app.platforms.index != nil {
				return back
			}
		}
	}
	return nil
}

func (b *buildScreen) apply(ev build.Event) {
	now := b.now()
	switch e := ev.(type) {
	case build.PlatformStarted:
		if r := b.row(e.Platform); r != nil {
			r.total, r.count, r.state, r.started = e.Size, e.Layers, stateDownloading, now
		}
	case build.LayerStarted:
		if e.Platform == "" && e.Kind == build.LayerApp { // the shared app layer
			for _, r := range b.rows {
				r.state = stateBuilding
			}
		}
		if r := b.row(e.Platform); r != nil {
			r.layers[e.Index] = &layerRow{digest: e.Digest, kind: e.Kind, index: e.Index, size: e.Size, state: stateDownloading, startedAt: now}
		}
	case build.LayerProgressed:
		if r := b.row(e.Platform); r != nil {
			for _, l := range r.layers {
				if l.digest == e.Digest && l.state == stateDownloading {
					l.done = min(e.Done, l.size)
				}
			}
		}
	case build.LayerDone:
		if r := b.row(e.Platform); r != nil {
			state := stateDone
			if e.Cached {
				state = stateCached
			}
			l := r.layers[e.Index]
			if l == nil {
				l = &layerRow{digest: e.Digest, kind: e.Kind, index: e.Index, size: e.Size}
				r.layers[e.Index] = l
			}
			l.done, l.state, l.sharedWith = e.Size, state, e.SharedWith
			if e.Index == r.count && e.Kind == build.LayerApp {
				r.state = stateWriting
			}
		}
	case build.PlatformDone:
		if r := b.row(e.Platform); r != nil {
			r.state = stateDone
			if allCached(r) {
				r.state = stateCached
			}
		}
	case build.PlatformFailed:
		if r := b.row(e.Platform); r != nil {
			r.state, r.err = stateFailed, e.Error
		}
	case build.Warning:
		b.warnings = append(b.warnings, e.Message)
	case build.PlanReady:
		b.excluded = e.Excluded
	}
}

// leftOut names what the build left out of the app layer; the plain output says why
// each one.
func (b *buildScreen) leftOut() string {
	if len(b.excluded) == 0 {
		return ""
	}
	names := make([]string, len(b.excluded))
	for i, x := range b.excluded {
		names[i], _, _ = strings.Cut(x, " (")
	}
	return "left out (secrets, virtualenvs, special files): " + strings.Join(names, ", ")
}

func (b *buildScreen) view(width, height int) string {
	s := b.app.styles
	var lines []string
	done := 0
	for _, r := range b.rows {
		if r.state == stateDone || r.state == stateCached {
			done++
		}
	}
	switch {
	case b.running:
		lines = append(lines, s.Text.Render(fmt.Sprintf("Building %s", plural(len(b.rows), "platform")))+s.Muted.Render(fmt.Sprintf("  %d done · %s", done, b.app.cfg.Output)))
	case b.result == nil && len(b.rows) > 0:
		lines = append(lines, s.OK.Render(fmt.Sprintf("✓ Built %s in %.1fs", plural(len(b.rows), "platform"), b.elapsed.Seconds()))+s.Muted.Render("  into "+b.app.cfg.Output))
	case b.result != nil:
		msg := "✗ Build failed"
		if f := b.failed(); f > 0 {
			msg = fmt.Sprintf("✗ %s of %d failed; %s is unchanged — r retries", plural(f, "platform"), len(b.rows), b.app.cfg.Output)
		} else if strings.Contains(b.result.Error(), "context canceled") {
			msg = "✗ Build cancelled; " + b.app.cfg.Output + " is unchanged — r restarts"
		}
		lines = append(lines, s.Err.Render(truncate(msg, width)))
		if b.failed() == 0 && !strings.Contains(b.result.Error(), "context canceled") {
			for _, l := range wrap(b.result.Error(), width-2) {
				lines = append(lines, "  "+s.Err.Render(l))
			}
			var detailed interface{ Detail() string }
			if errors.As(b.result, &detailed) {
				for _, l := range strings.Split(detailed.Detail(), "\n") {
					lines = append(lines, s.Muted.Render(truncate(l, width)))
				}
			}
		}
	default:
		lines = append(lines, s.Muted.Render("Nothing to build"))
	}
	lines = append(lines, "")
	// Columns: cursor 2, platform 14, bar, pct 4, bytes 19, rate 10, state rest.
	barWidth := min(max(width-2-15-5-20-11-16, 8), 40)
	for i, r := range b.rows {
		prefix := "  "
		if i == b.cursor {
			prefix = s.Cursor.Render("›") + " "
		}
		d, total := r.done(), r.total
		pct := 0.0
		if total > 0 {
			pct = float64(d) / float64(total)
		}
		if r.state == stateDone || r.state == stateCached {
			pct = 1
		}
		rate := ""
		if rt := r.rate(b.now()); rt > 0 && r.shownState() == stateDownloading {
			rate = HumanBytes(int64(rt)) + "/s"
		}
		shown := r.shownState()
		state := b.stateStyle(shown).Render(shown)
		line := fmt.Sprintf("%-14s %s %3.0f%% %-19s %-10s %s", ansiTruncate(r.platform, 14), b.bar(pct, barWidth), pct*100,
			bytesOf(d, total), rate, state)
		lines = append(lines, truncate(prefix+line, width))
		if r.err != "" {
			for _, l := range wrap(r.err, width-6) {
				lines = append(lines, "    "+s.Err.Render(l))
			}
		}
		if r.expanded {
			lines = append(lines, b.layerLines(r, width)...)
		}
	}
	if left := b.leftOut(); left != "" {
		lines = append(lines, "", s.Muted.Render(truncate(left, width)))
	}
	if len(b.warnings) > 0 {
		lines = append(lines, "")
		for _, w := range b.warnings {
			lines = append(lines, s.Warn.Render(truncate("! "+w, width)))
		}
	}
	if len(lines) > height {
		lines = lines[:height]
	}
	return strings.Join(lines, "\n")
}

func (b *buildScreen) layerLines(r *buildRow, width int) []string {
	s := b.app.styles
	var out []string
	for i := 1; i <= r.count; i++ {
		kind := "base"
		if i == r.count {
			kind = "app " // the app layer is always the last
		}
		l, ok := r.layers[i]
		if ok {
			kind = fmt.Sprintf("%-4s", l.kind)
		}
		if !ok {
			out = append(out, s.Muted.Render(fmt.Sprintf("     %d/%d %s %-12s %s", i, r.count, kind, "", stateWaiting)))
			continue
		}
		state := l.state
		if l.sharedWith != "" {
			state = "fetched once, by " + l.sharedWith
		}
		pct := 0.0
		if l.size > 0 {
			pct = float64(l.done) / float64(l.size)
		}
		line := fmt.Sprintf("     %d/%d %s %s %s %3.0f%% %-8s %s", i, r.count, kind, Hex12(l.digest), b.bar(pct, 8), pct*100, HumanBytes(l.size), state)
		out = append(out, s.Muted.Render(truncate(line, width)))
	}
	return out
}

func (b *buildScreen) bar(pct float64, width int) string {
	s := b.app.styles
	full := int(pct*float64(width) + 0.5)
	full = min(max(full, 0), width)
	return s.BarFull.Render(strings.Repeat("█", full)) + s.BarEmpty.Render(strings.Repeat("░", width-full))
}

func (b *buildScreen) stateStyle(state string) interface{ Render(...string) string } {
	s := b.app.styles
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

// allCached reports whether every base layer of a row was already in the layout.
func allCached(r *buildRow) bool {
	for _, l := range r.layers {
		if l.kind == build.LayerBase && l.state != stateCached {
			return false
		}
	}
	return len(r.layers) > 0
}

func bytesOf(done, total int64) string {
	if total <= 0 {
		return "–"
	}
	return HumanBytes(done) + " / " + HumanBytes(total)
}
