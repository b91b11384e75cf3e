package ui

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pycontainer/pycontainer/build"
	"github.com/pycontainer/pycontainer/registry"
)

// States of a platform or a layer on the build screen.
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

// progress is a build as its events tell it. It is a pure reducer over build.Event (the
// time comes in with each event), so a recorded --progress json stream replays into
// the same screen.
type progress struct {
	platforms []*platformProgress
	plan      *build.PlanReady
	warnings  []string
	compiles  []*compileProgress // sdists built for a platform, in the order begun
	push      *pushProgress
	finished  *build.Finished
	started   time.Time
	ended     time.Time
	over      bool
	err       error
}

type platformProgress struct {
	platform string
	state    string
	err      string
	total    int64
	count    int
	layers   map[int]*layerProgress
	done     *build.PlatformDone
}

type layerProgress struct {
	digest      string
	kind        build.LayerKind
	index       int
	size, done  int64
	state       string
	shared      bool  // another platform of this build has the same blob: fetched once
	resumedFrom int64 // bytes an earlier attempt kept, that this download continued from
	startsOver  bool  // the registry ignored the request to resume
	startedAt   time.Time
	startedDone int64
}

// compileProgress is one sdist compiling, or compiled, for one platform.
type compileProgress struct {
	platform, pkg, version, how string
	elapsed                     time.Duration
	lastLine                    string
	wheel                       string
	done, cached                bool
}

type pushProgress struct {
	target    string
	manifests int
	blobs     map[string]*[2]int64 // digest -> done, total
	pushed    map[string]string    // digest -> how: uploaded, skipped, mounted
	result    *build.Pushed
}

func newProgress(platforms []build.RequestedPlatform, now time.Time) *progress {
	p := &progress{started: now}
	for _, r := range platforms {
		p.platforms = append(p.platforms, &platformProgress{platform: r.String(), state: stateWaiting, layers: map[int]*layerProgress{}})
	}
	return p
}

func (p *progress) platform(name string) *platformProgress {
	for _, r := range p.platforms {
		if r.platform == name {
			return r
		}
	}
	return nil
}

// apply folds one event into the state.
func (p *progress) apply(ev build.Event, now time.Time) {
	switch e := ev.(type) {
	case build.PlanReady:
		p.plan = &e
	case build.PlatformStarted:
		if r := p.platform(e.Platform); r != nil {
			r.total, r.count, r.state = e.Size, e.Layers, stateDownloading
		}
	case build.LayerStarted:
		if e.Platform == "" && e.Kind == build.LayerApp { // the app layer all platforms share
			for _, r := range p.platforms {
				if r.state == stateWaiting {
					r.state = stateBuilding
				}
			}
		}
		if r := p.platform(e.Platform); r != nil {
			r.layers[e.Index] = &layerProgress{digest: e.Digest, kind: e.Kind, index: e.Index, size: e.Size, state: stateDownloading, startedAt: now}
		}
	case build.LayerResumed:
		if l := p.downloading(e.Platform, e.Digest); l != nil {
			l.resumedFrom, l.startsOver = e.From, e.StartsOver
			l.done, l.startedDone, l.startedAt = e.From, e.From, now
		}
	case build.LayerProgressed:
		if l := p.downloading(e.Platform, e.Digest); l != nil {
			l.done = min(e.Done, l.size)
		}
	case build.LayerDone:
		p.layerDone(e)
	case build.PlatformDone:
		if r := p.platform(e.Platform); r != nil {
			r.state, r.done = stateDone, &e
			if allCached(r) {
				r.state = stateCached
			}
		}
	case build.PlatformFailed:
		if r := p.platform(e.Platform); r != nil {
			r.state, r.err = stateFailed, e.Error
			for _, l := range r.layers {
				if l.state == stateDownloading {
					l.state = stateFailed
				}
			}
		}
	case build.Warning:
		p.warnings = append(p.warnings, e.Message)
	case build.SdistCompiling:
		p.compiles = append(p.compiles, &compileProgress{platform: e.Platform, pkg: e.Package, version: e.Version, how: e.How})
	case build.SdistProgressed:
		if c := p.compile(e.Platform, e.Package); c != nil {
			c.elapsed, c.lastLine = e.Elapsed, e.LastLine
		}
	case build.SdistCompiled:
		c := p.compile(e.Platform, e.Package)
		if c == nil { // a wheel from the cache: nothing compiled
			c = &compileProgress{platform: e.Platform, pkg: e.Package}
			p.compiles = append(p.compiles, c)
		}
		c.done, c.cached, c.wheel = true, e.Cached, e.Wheel
		if !e.Cached {
			c.elapsed = e.Elapsed
		}
	case build.PushStarted:
		p.push = &pushProgress{target: e.Target, manifests: e.Manifests, blobs: map[string]*[2]int64{}, pushed: map[string]string{}}
	case build.PushProgressed:
		if p.push != nil {
			p.push.blobs[e.Digest] = &[2]int64{e.Done, e.Total}
		}
	case build.BlobPushed:
		if p.push != nil {
			p.push.blobs[e.Digest] = &[2]int64{e.Size, e.Size}
			p.push.pushed[e.Digest] = e.How
		}
	case build.Pushed:
		if p.push != nil {
			p.push.result = &e
		}
	case build.Finished:
		p.finished = &e
	}
}

// compile is the latest compile of pkg for platform, nil when none began.
func (p *progress) compile(platform, pkg string) *compileProgress {
	for i := len(p.compiles) - 1; i >= 0; i-- {
		if c := p.compiles[i]; c.platform == platform && c.pkg == pkg {
			return c
		}
	}
	return nil
}

// text is the compile's line on the build screen.
func (c *compileProgress) text() string {
	name := c.pkg
	if c.version != "" {
		name += " " + c.version
	}
	switch {
	case c.cached:
		return fmt.Sprintf("%-14s %s: built before (cached) %s", c.platform, name, c.wheel)
	case c.done:
		return fmt.Sprintf("%-14s %s (%s): built in %.1fs %s", c.platform, name, c.how, c.elapsed.Seconds(), c.wheel)
	}
	return fmt.Sprintf("%-14s %s (%s) … %.1fs: %s", c.platform, name, c.how, c.elapsed.Seconds(), c.lastLine)
}

// stopped is the line of a compile the build's end cut short: cancelled, or stopped
// by a failure elsewhere (or its own, which the error then tells).
func (c *compileProgress) stopped(cancelled bool) string {
	why := "stopped"
	if cancelled {
		why = "cancelled"
	}
	name := c.pkg
	if c.version != "" {
		name += " " + c.version
	}
	return fmt.Sprintf("%-14s %s (%s): %s after %.1fs", c.platform, name, c.how, why, c.elapsed.Seconds())
}

func (p *progress) downloading(platform, digest string) *layerProgress {
	if r := p.platform(platform); r != nil {
		for _, l := range r.layers {
			if l.digest == digest && l.state == stateDownloading {
				return l
			}
		}
	}
	return nil
}

// layerDone marks a layer in the layout. A blob several platforms share is fetched by
// one of them: both rows say so the same way.
func (p *progress) layerDone(e build.LayerDone) {
	r := p.platform(e.Platform)
	if r == nil {
		return
	}
	l := r.layers[e.Index]
	if l == nil {
		l = &layerProgress{digest: e.Digest, kind: e.Kind, index: e.Index, size: e.Size}
		r.layers[e.Index] = l
	}
	l.done, l.state = e.Size, stateDone
	if e.Cached {
		l.state = stateCached
	}
	if e.SharedWith != "" {
		l.shared = true
		if first := p.platform(e.SharedWith); first != nil {
			for _, fl := range first.layers {
				if fl.digest == e.Digest {
					fl.shared = true
				}
			}
		}
	}
	if e.Index == r.count && e.Kind == build.LayerApp {
		r.state = stateWriting
	}
}

// finish records how the build ended. Whatever had not finished when it was cancelled
// or failed reads "cancelled", its layers too.
func (p *progress) finish(err error, now time.Time) {
	p.over, p.err, p.ended = true, err, now
	if err == nil {
		return
	}
	for _, r := range p.platforms {
		if r.state == stateDone || r.state == stateCached || r.state == stateFailed {
			continue
		}
		r.state = stateCancelled
		for _, l := range r.layers {
			if l.state != stateDone && l.state != stateCached {
				l.state = stateCancelled
			}
		}
	}
}

// cancelled reports whether the build ended because it was cancelled.
func (p *progress) cancelled() bool {
	return p.over && p.err != nil && errors.Is(p.err, context.Canceled)
}

func (p *progress) failedCount() int {
	n := 0
	for _, r := range p.platforms {
		if r.state == stateFailed {
			n++
		}
	}
	return n
}

func (p *progress) doneCount() int {
	n := 0
	for _, r := range p.platforms {
		if r.state == stateDone || r.state == stateCached {
			n++
		}
	}
	return n
}

// elapsed is how long the build ran, or has run by now.
func (p *progress) elapsed(now time.Time) time.Duration {
	if p.over {
		if p.finished != nil {
			return p.finished.Duration
		}
		return p.ended.Sub(p.started)
	}
	return now.Sub(p.started)
}

// leftOut names what the build left out of the app layer, each with why.
func (p *progress) leftOut() []build.PathNote {
	if p.plan == nil {
		return nil
	}
	return p.plan.Excluded
}

// shownState is the row's state, "waiting" while its downloads are queued behind others.
func (r *platformProgress) shownState() string {
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

func (r *platformProgress) bytesDone() int64 {
	var n int64
	for _, l := range r.layers {
		n += l.done
	}
	return n
}

// rate is bytes per second moved by the layers that are downloading now.
func (r *platformProgress) rate(now time.Time) float64 {
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

// allCached reports whether every base layer of a row was already at hand.
func allCached(r *platformProgress) bool {
	for _, l := range r.layers {
		if l.kind == build.LayerBase && l.state != stateCached {
			return false
		}
	}
	return len(r.layers) > 0
}

// state is what a layer row says: its state, and whether another platform shares it.
func (l *layerProgress) stateText() string {
	s := l.state
	switch {
	case l.state == stateDownloading && l.startsOver:
		s += " · the registry ignored the resume: from the start"
	case l.resumedFrom > 0 && (l.state == stateDownloading || l.state == stateDone):
		s += " · resumed at " + HumanBytes(l.resumedFrom)
	}
	if l.shared {
		s += " · shared"
	}
	return s
}

// pushSummary is the push row: bytes sent so far and how the blobs got there.
func (pp *pushProgress) counts() (done, total int64, uploaded, skipped, mounted int) {
	for d, b := range pp.blobs {
		done, total = done+b[0], total+b[1]
		switch pp.pushed[d] {
		case registry.BlobUploaded:
			uploaded++
		case registry.BlobSkipped:
			skipped++
		case registry.BlobMounted:
			mounted++
		}
	}
	return
}
