package build

import (
	"sync"
	"time"
)

// Event is one thing that happened during a build. Renderers (the TUI, plain lines,
// JSON lines) consume the same stream. Every layer event names its platform and blob
// digest, so a renderer can show "layer 3/5 of linux/arm64" and notice shared blobs.
type Event interface {
	// Type names the event in JSON output, e.g. "layer_done".
	Type() string
}

// Sink receives events. It is called from several goroutines at once.
type Sink func(Event)

// LayerKind says where a layer comes from.
type LayerKind string

const (
	LayerBase LayerKind = "base"
	LayerApp  LayerKind = "app"
)

// PlanReady is sent once the base index is resolved and the context is read.
type PlanReady struct {
	Base       string         `json:"base"`
	BaseDigest string         `json:"base_digest"`
	BaseSource string         `json:"base_source"`
	Output     string         `json:"output"`
	Tag        string         `json:"tag"`
	Entrypoint []string       `json:"entrypoint"`
	AppFiles   int            `json:"app_files"`
	Excluded   []string       `json:"excluded,omitempty"`
	Platforms  []PlatformPlan `json:"platforms"`
	DryRun     bool           `json:"dry_run"`
}

// PlatformPlan is what will be built for one platform.
type PlatformPlan struct {
	Platform     string `json:"platform"`
	Source       string `json:"source"`
	BaseManifest string `json:"base_manifest"`
	BasePlatform string `json:"base_platform"`
}

// PlatformStarted is sent once a platform's base manifest is read, with the totals.
type PlatformStarted struct {
	Platform string `json:"platform"`
	Layers   int    `json:"layers"`
	Size     int64  `json:"size"` // compressed bytes of all layers, the app layer included
}

// PlatformFailed is sent when a platform cannot be built; with Options.KeepGoing the
// other platforms go on.
type PlatformFailed struct {
	Platform string `json:"platform"`
	Error    string `json:"error"`
}

// LayerStarted is sent when work on a layer begins.
type LayerStarted struct {
	Platform string    `json:"platform"`
	Digest   string    `json:"digest,omitempty"`
	Kind     LayerKind `json:"kind"`
	Index    int       `json:"index"` // 1-based position in the image
	Count    int       `json:"count"`
	Size     int64     `json:"size"`
}

// LayerProgressed reports bytes moved for a layer; it is coalesced, not per chunk.
type LayerProgressed struct {
	Platform string `json:"platform"`
	Digest   string `json:"digest"`
	Done     int64  `json:"done"`
	Total    int64  `json:"total"`
}

// LayerDone is sent when a layer is in the layout.
type LayerDone struct {
	Platform string    `json:"platform"`
	Digest   string    `json:"digest"`
	Kind     LayerKind `json:"kind"`
	Index    int       `json:"index"`
	Count    int       `json:"count"`
	Size     int64     `json:"size"`
	// Cached is set when the blob was already present and nothing was transferred.
	Cached bool `json:"cached"`
	// SharedWith names the platform that fetched or built this blob when another did.
	SharedWith string `json:"shared_with,omitempty"`
}

// PlatformDone is sent when a platform's manifest is written.
type PlatformDone struct {
	Platform string `json:"platform"`
	Manifest string `json:"manifest"`
	Config   string `json:"config"`
	Size     int64  `json:"size"` // compressed size of all layers
	Layers   int    `json:"layers"`
}

// Warning is something the user should know that does not stop the build.
type Warning struct {
	Message string `json:"message"`
}

// Finished is the last event of a successful build.
type Finished struct {
	Output    string        `json:"output"`
	Tag       string        `json:"tag"`
	Manifests []string      `json:"manifests"`
	Duration  time.Duration `json:"duration_ns"`
}

func (PlanReady) Type() string       { return "plan" }
func (PlatformStarted) Type() string { return "platform_started" }
func (PlatformFailed) Type() string  { return "platform_failed" }
func (LayerStarted) Type() string    { return "layer_started" }
func (LayerProgressed) Type() string { return "layer_progress" }
func (LayerDone) Type() string       { return "layer_done" }
func (PlatformDone) Type() string    { return "platform_done" }
func (Warning) Type() string         { return "warning" }
func (Finished) Type() string        { return "finished" }

// progressThrottle coalesces byte counts into at most one event per interval, so a
// fast transfer never waits on a renderer.
type progressThrottle struct {
	mu       sync.Mutex
	interval time.Duration
	last     time.Time
	done     int64
	emit     func(done int64)
}

func newProgressThrottle(interval time.Duration, emit func(done int64)) *progressThrottle {
	return &progressThrottle{interval: interval, emit: emit}
}

func (p *progressThrottle) add(n int64) {
	p.mu.Lock()
	p.done += n
	now := time.Now()
	if now.Sub(p.last) < p.interval {
		p.mu.Unlock()
		return
	}
	p.last = now
	done := p.done
	p.mu.Unlock()
	p.emit(done)
}
