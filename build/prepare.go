package build

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	digest "github.com/opencontainers/go-digest"
	"github.com/regclient/regclient/types/ref"

	"github.com/pycontainer/pycontainer/oci"
	"github.com/pycontainer/pycontainer/registry"
)

// plan is what prepare decides from the options, the project's files and the base
// index, and fetch completes with each platform's base image and wheels: everything
// assembly needs, so it looks nothing up itself.
type plan struct {
	o       *Options
	start   time.Time // the clock when the build began, for Finished's duration
	times   buildTime
	baseRef ref.Ref
	index   *registry.Index // the base index as read; index.Digest pins it
	tag     imageTag
	push    ref.Ref // where --push sends the image; zero without --push
	files   *Selection
	launch  launch
	targets []target           // one per requested platform, in the order asked
	wheels  map[string][]wheel // by platform, with --include-deps; filled by fetch
	layers  *layerFetcher      // the base layers' downloads, begun by fetch
	source  blobSource
	cache   *oci.Store // the shared cache; nil with --no-cache
	world   world
	sdists  *sdists // with --allow-sdist: builds what has no wheel; set by fetch
}

// target is one requested platform, the base index's entry that matches it, and (once
// fetched) its base image.
type target struct {
	req   RequestedPlatform
	entry registry.Entry
	base  *registry.Image // read by fetchBases
}

// prepare turns the options into a plan: the tag and push target, the app's files and
// entrypoint, the base index and the entry of it each requested platform gets. All that
// can be refused is refused here, before any download.
func prepare(ctx context.Context, o *Options, sink Sink, w world) (*plan, error) {
	p := &plan{o: o, start: w.clock(), world: w}
	p.times = buildTimeOf(o, p.start)
	for _, msg := range o.Warnings {
		sink(Warning{Message: msg})
	}
	var err error
	if p.baseRef, err = registry.ParseReference(o.BaseImage); err != nil {
		return nil, err
	}
	if p.tag, err = parseTag(o.Tag, o.Project.Name); err != nil {
		return nil, err
	}
	if o.Push {
		if p.push, err = PushTarget(o); err != nil {
			return nil, err
		}
	}
	// Refused outputs (-o ., -o /, a link in the layout) are said before any download.
	if err := oci.CheckOutput(o.Output); err != nil {
		return nil, err
	}
	if p.files, err = SelectFiles(o.Context, o.Output); err != nil {
		return nil, err
	}
	if p.launch, err = resolveLaunch(o, p.files); err != nil {
		return nil, err
	}
	if p.launch.Warning != "" {
		sink(Warning{Message: p.launch.Warning})
	}
	p.cache = o.store()
	p.source = w.connect(p.baseRef, p.cache)
	if p.index, err = p.source.Index(ctx, pinned(p.baseRef, o.BaseDigest)); err != nil {
		return nil, err
	}
	p.index.Ref = p.baseRef // named as typed; the digest pinned is index.Digest
	if p.targets, err = matchPlatforms(o, p.index); err != nil {
		var noMatch *NoMatchError
		if errors.As(err, &noMatch) {
			noMatch.Diagnosis = registry.Diagnose(ctx, p.source, p.index, noMatch.Requested)
		}
		return nil, err
	}
	return p, nil
}

// ready is the plan as the build announces it, once the bases and wheels are fetched.
func (p *plan) ready() PlanReady {
	o := p.o
	ev := PlanReady{
		Base: p.baseRef.CommonName(), BaseDigest: p.index.Digest.String(), BaseSource: o.BaseSource,
		Context: o.ContextDir(), Output: o.shown(o.Output), Tag: p.tag.full, Entrypoint: p.launch.Entrypoint, AppFiles: len(p.files.Files),
		Excluded: p.files.Excluded, Included: p.files.Included, DryRun: o.DryRun,
	}
	if o.Push {
		ev.PushTarget = p.push.CommonName()
	}
	if b := p.sdists.pinnedBuilder(); b != nil {
		ev.Builder, ev.BuilderDigest = b.ref.CommonName(), b.index.Digest.String()
	}
	for _, t := range p.targets {
		ev.Platforms = append(ev.Platforms, PlatformPlan{
			Platform: t.req.String(), Source: t.req.Source,
			BaseManifest: t.entry.Descriptor.Digest.String(), BasePlatform: basePlatformString(t.entry),
		})
	}
	return ev
}

// buildTime holds the one rule for the times a build writes, decided once, when the
// build starts. A reproducible build (the default) writes SOURCE_DATE_EPOCH when set;
// else the config says the base image's creation time and the files say 1970-01-01.
// Any other build says when it started, and its files keep their own times.
type buildTime struct {
	reproducible bool
	fixed        *time.Time // SOURCE_DATE_EPOCH (Options.Created)
	start        time.Time  // the clock when the build began, to the second
}

func buildTimeOf(o *Options, start time.Time) buildTime {
	return buildTime{reproducible: o.Reproducible, fixed: o.Created, start: start.UTC().Truncate(time.Second)}
}

// created is the image's creation time (the config's and its new history entries')
// on a base image created at base (nil: the base does not say).
func (t buildTime) created(base *time.Time) time.Time {
	switch {
	case !t.reproducible:
		return t.start
	case t.fixed != nil:
		return *t.fixed
	case base != nil:
		return base.UTC()
	}
	return time.Unix(0, 0).UTC()
}

// files is the modification time of every file in the layers the build writes; nil
// keeps each file's own.
func (t buildTime) files() *time.Time {
	if !t.reproducible {
		return nil
	}
	mtime := time.Unix(0, 0).UTC()
	if t.fixed != nil {
		mtime = *t.fixed
	}
	return &mtime
}

// NoMatchError is returned when the base image has no manifest for a requested platform.
type NoMatchError struct {
	Image     string
	Requested RequestedPlatform
	Available []oci.Platform
	// Attestations counts attestation entries, which are never candidates.
	Attestations int
	// Diagnosis, when set, explains the miss and suggests what would work.
	Diagnosis *registry.Diagnosis
}

func (e *NoMatchError) Error() string {
	return fmt.Sprintf("No matching manifest for platform %s in %s (from %s)", e.Requested, e.Image, e.Requested.Source)
}

// Detail explains the miss, for the lines after the error.
func (e *NoMatchError) Detail() string {
	if e.Diagnosis != nil {
		return e.Diagnosis.Text()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s offers:\n", e.Image)
	for _, p := range e.Available {
		fmt.Fprintf(&b, "  %s\n", oci.PlatformString(p))
	}
	if e.Attestations > 0 {
		noun := "manifest"
		if e.Attestations > 1 {
			noun += "s"
		}
		fmt.Fprintf(&b, "  (and %d attestation %s, unknown/unknown, which are not images)\n", e.Attestations, noun)
	}
	fmt.Fprintf(&b, "Pick one of these with --platform, or use a base image that supports %s.", e.Requested)
	return b.String()
}

func matchPlatforms(o *Options, index *registry.Index) ([]target, error) {
	var out []target
	for _, req := range o.Platforms {
		e, ok := index.Find(req.Platform)
		if !ok {
			ne := &NoMatchError{Image: index.Ref.CommonName(), Requested: req, Available: index.Platforms()}
			for _, e := range index.Entries {
				if e.Attestation {
					ne.Attestations++
				}
			}
			return nil, ne
		}
		out = append(out, target{req: req, entry: e})
	}
	return out, nil
}

// basePlatformString is the platform as the base index spells it (arm64/v8, say),
// which may differ from the normalised form that was matched.
func basePlatformString(e registry.Entry) string {
	if e.Descriptor.Platform != nil {
		return oci.PlatformString(*e.Descriptor.Platform)
	}
	return oci.PlatformString(e.Platform)
}

// pinned is r fetched by the index digest d (when set), its tag kept for its name.
func pinned(r ref.Ref, d digest.Digest) ref.Ref {
	if d != "" {
		r.Digest = d.String()
	}
	return r
}

// imageTag is the name the built image carries in the layout.
type imageTag struct {
	full string // docker.io/library/myapp:amd64, for io.containerd.image.name
	tag  string // amd64, for org.opencontainers.image.ref.name
}

func parseTag(tag, projectName string) (imageTag, error) {
	if tag == "" {
		name := strings.ToLower(projectName)
		if name == "" {
			name = "app"
		}
		tag = name + ":latest"
	}
	r, err := registry.ParseReference(tag)
	if err != nil {
		return imageTag{}, fmt.Errorf("--tag: %w", err)
	}
	if r.Tag == "" {
		r = r.SetTag("latest")
	}
	return imageTag{full: r.CommonName(), tag: r.Tag}, nil
}
