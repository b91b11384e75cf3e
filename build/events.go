package build

import (
	"encoding/json"
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
	LayerDeps LayerKind = "deps"
	LayerApp  LayerKind = "app"
)

// PlanReady is sent once the base index is resolved and the context is read.
type PlanReady struct {
	Base       string   `json:"base"`
	BaseDigest string   `json:"base_digest"`
	BaseSource string   `json:"base_source"`
	Context    string   `json:"context"` // absolute, symlinks resolved: where the app's files come from
	Output     string   `json:"output"`
	Tag        string   `json:"tag"`
	PushTarget string   `json:"push_target,omitempty"`
	Entrypoint []string `json:"entrypoint"`
	AppFiles   int      `json:"app_files"`
	// Excluded names what the app layer leaves out that a person should know of
	// (virtualenvs, special files, secrets), each with why.
	Excluded []PathNote `json:"excluded,omitempty"`
	// Included names the secrets a "!" line of the ignore file brought back, and why.
	Included  []PathNote     `json:"included,omitempty"`
	Platforms []PlatformPlan `json:"platforms"`
	DryRun    bool           `json:"dry_run"`
	// Builder is the image sdists are compiled in (with --allow-sdist, when some package
	// has no wheel), BuilderDigest the index digest it is pinned to; both empty otherwise.
	Builder       string `json:"builder,omitempty"`
	BuilderDigest string `json:"builder_digest,omitempty"`
}

// PathNote is a path of the build context and what the build says of it, apart, so a
// renderer or a script need not take a line apart to find either: in JSON
// {"path": ".env", "reason": "it may hold secrets; add !.env to .dockerignore to include it"}.
type PathNote struct {
	// Path is relative to the context, with "/" between its parts; a trailing "/" marks a
	// directory where that is the point (a virtualenv).
	Path   string `json:"path"`
	Reason string `json:"reason,omitempty"`
}

// String is the note as one line, "path (reason)", as the renderers print it.
func (n PathNote) String() string {
	if n.Reason == "" {
		return n.Path
	}
	return n.Path + " (" + n.Reason + ")"
}

// UnmarshalJSON also reads the plain strings "path (reason)" that builds before
// PathNote wrote, so a recorded build replays as it was shown. Such a line stays whole
// in Path, Reason empty: a file name may hold " (" itself, so it is not cut apart.
func (n *PathNote) UnmarshalJSON(b []byte) error {
	var line string
	if err := json.Unmarshal(b, &line); err == nil {
		*n = PathNote{Path: line}
		return nil
	}
	type fields PathNote // the same fields, without this method
	return json.Unmarshal(b, (*fields)(n))
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

// LayerResumed is sent when a base layer's download continues from the bytes an earlier
// attempt kept in the cache (From > 0; this build's or a previous one's), or, StartsOver,
// when bytes were kept but the registry ignored the range asked for and sent the whole
// layer: the download starts again from byte 0 (From is 0). LayerProgressed counts
// bytes of the whole layer either way, so after a resume it goes on from From.
type LayerResumed struct {
	Platform   string `json:"platform"`
	Digest     string `json:"digest"`
	From       int64  `json:"from"`
	Total      int64  `json:"total"`
	StartsOver bool   `json:"starts_over,omitempty"`
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

// PushStarted is sent when the push to a registry begins.
type PushStarted struct {
	Target    string `json:"target"`
	Manifests int    `json:"manifests"`
}

// PushProgressed reports bytes uploaded for a blob, coalesced.
type PushProgressed struct {
	Digest string `json:"digest"`
	Done   int64  `json:"done"`
	Total  int64  `json:"total"`
}

// BlobPushed is sent when a blob is in the target registry: uploaded, skipped because
// the registry had it, or mounted from the base image's repository.
type BlobPushed struct {
	Digest string `json:"digest"`
	Size   int64  `json:"size"`
	How    string `json:"how"`
}

// Pushed is sent when the tag is in place.
type Pushed struct {
	Target   string `json:"target"`
	Digest   string `json:"digest"`
	Uploaded int    `json:"uploaded"`
	Skipped  int    `json:"skipped"`
	Mounted  int    `json:"mounted"`
	Bytes    int64  `json:"bytes"`
}

// SdistCompiling is sent when a package without a wheel for a platform starts
// compiling from its sdist, in the builder image: How is "native" or "emulated" (the
// engine-less sandbox), "docker" or "podman".
type SdistCompiling struct {
	Platform string `json:"platform"`
	Package  string `json:"package"`
	Version  string `json:"version"`
	How      string `json:"how"`
	Builder  string `json:"builder"`
}

// SdistProgressed says a compile is still going: how long it has run and the last line
// its log holds. It is coalesced, at most four a second.
type SdistProgressed struct {
	Platform string        `json:"platform"`
	Package  string        `json:"package"`
	Elapsed  time.Duration `json:"elapsed_ns"`
	LastLine string        `json:"last_line,omitempty"`
}

// SdistCompiled is sent when a package's wheel for a platform is ready: compiled now,
// or (Cached) found in the shared cache, compiled by an earlier build.
type SdistCompiled struct {
	Platform string        `json:"platform"`
	Package  string        `json:"package"`
	Wheel    string        `json:"wheel"` // its file name
	Elapsed  time.Duration `json:"elapsed_ns"`
	Cached   bool          `json:"cached"`
}

// Warning is something the user should know that does not stop the build.
type Warning struct {
	Message string `json:"message"`
}

// Finished is the last event of a successful build.
type Finished struct {
	Output    string   `json:"output"`
	Tag       string   `json:"tag"`
	Manifests []string `json:"manifests"`
	// Index is the digest of the image index that holds several platforms' manifests,
	// the one index.json names under the tag (and a push gives the tag); "" for one.
	Index string `json:"index,omitempty"`
	// DockerLoad is the platform of the image `docker load` of the output gets.
	DockerLoad string        `json:"docker_load"`
	Duration   time.Duration `json:"duration_ns"`
}

func (PlanReady) Type() string       { return "plan" }
func (PlatformStarted) Type() string { return "platform_started" }
func (PlatformFailed) Type() string  { return "platform_failed" }
func (LayerStarted) Type() string    { return "layer_started" }
func (LayerProgressed) Type() string { return "layer_progress" }
func (LayerResumed) Type() string    { return "layer_resumed" }
func (LayerDone) Type() string       { return "layer_done" }
func (PlatformDone) Type() string    { return "platform_done" }
func (Warning) Type() string         { return "warning" }
func (SdistCompiling) Type() string  { return "sdist_compiling" }
func (SdistProgressed) Type() string { return "sdist_progressed" }
func (SdistCompiled) Type() string   { return "sdist_compiled" }
func (PushStarted) Type() string     { return "push_started" }
func (PushProgressed) Type() string  { return "push_progress" }
func (BlobPushed) Type() string      { return "blob_pushed" }
func (Pushed) Type() string          { return "pushed" }
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

func (p *progressThrottle) add(n int64) { p.record(func(done int64) int64 { return done + n }) }

// set reports an absolute count.
func (p *progressThrottle) set(done int64) { p.record(func(int64) int64 { return done }) }

// record updates the count and emits it unless an update went out within the interval.
func (p *progressThrottle) record(next func(done int64) int64) {
	p.mu.Lock()
	p.done = next(p.done)
	done, now := p.done, time.Now()
	due := now.Sub(p.last) >= p.interval
	if due {
		p.last = now
	}
	p.mu.Unlock()
	if due {
		p.emit(done)
	}
}
