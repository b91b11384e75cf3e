package stack

import (
	"context"
	"fmt"
	"slices"

	"golang.org/x/sync/errgroup"

	"github.com/pycontainer/pycontainer/oci"
	"github.com/pycontainer/pycontainer/registry"
)

// Check is what a stack's images offer on the target platforms: one row per image,
// one column per platform.
type Check struct {
	Platforms []registry.PlatformRequest // the columns: every platform a row is checked for
	Rows      []Row
}

// Row is one image and every place that names it.
type Row struct {
	Image  string          // as the first place names it, e.g. mysql:5.7
	Ref    string          // its full name, e.g. docker.io/library/mysql:5.7
	Places []Image         // every place that names it, in the files' order
	Index  *registry.Index // nil when Err says why it could not be read
	Err    error
	Cells  []Cell // the platforms this row is checked for, in the order of Check.Platforms
}

// Cell is one image on one platform: found, or missing with what to do instead.
type Cell struct {
	Platform  registry.PlatformRequest
	Found     bool
	Diagnosis *registry.Diagnosis // why it is missing
	Next      Next                // what to do instead
}

// NextKind orders the ways out of a miss, best first.
type NextKind int

const (
	NextNone    NextKind = iota // the image has the platform
	NextSibling                 // a tag of the same version line has it
	NextNewer                   // a newer version line has it
	NextEmulate                 // run another platform of it under emulation
	NextNothing                 // nothing published runs there
)

// Next is the step that ends a miss: a tag to use instead, or the line that runs the
// image under emulation, and whether this machine can.
type Next struct {
	Kind NextKind
	Ref  string // the tag to use, or the platform to emulate
	Text string // the whole step, as a person reads it
}

// Targets decides what each image is checked for: the platforms asked for (flags),
// else the platform its places ask for (a service's platform:, FROM --platform=), else
// defaults (this machine's and linux/amd64). An image its places name under
// $BUILDPLATFORM runs on the build host: it is checked for the host alone.
type Targets struct {
	Asked    []registry.PlatformRequest
	Defaults []registry.PlatformRequest
	Host     oci.Host
}

// fetchParallel bounds the indexes read at once, as for platforms IMAGE….
const fetchParallel = 4

// RunCheck reads every distinct image's index once, concurrently, and diagnoses each
// platform one lacks. connect reaches an image's registry.
func RunCheck(ctx context.Context, images []Image, targets Targets, connect registry.Connect) *Check {
	c := &Check{Rows: groupRows(images)}
	wants := make([][]registry.PlatformRequest, len(c.Rows))
	for i, r := range c.Rows {
		wants[i] = targets.forRow(r)
		for _, w := range wants[i] {
			if !slices.ContainsFunc(c.Platforms, func(p registry.PlatformRequest) bool { return oci.SamePlatform(p.Platform, w.Platform) }) {
				c.Platforms = append(c.Platforms, w)
			}
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(fetchParallel)
	for i := range c.Rows {
		g.Go(func() error {
			checkRow(gctx, &c.Rows[i], wants[i], targets.Host, connect)
			return nil // a row that fails says so; the others go on
		})
	}
	_ = g.Wait()
	return c
}

// groupRows makes one row per image, named once however many places name it.
func groupRows(images []Image) []Row {
	var rows []Row
	index := map[string]int{}
	for _, img := range images {
		key := img.Ref
		if r, err := registry.ParseReference(img.Ref); err == nil {
			key = r.CommonName()
		}
		i, ok := index[key]
		if !ok {
			i = len(rows)
			index[key] = i
			rows = append(rows, Row{Image: img.Ref, Ref: key})
		}
		rows[i].Places = append(rows[i].Places, img)
	}
	return rows
}

// forRow is what row is checked for.
func (t Targets) forRow(row Row) []registry.PlatformRequest {
	if len(t.Asked) > 0 {
		return t.Asked
	}
	var out []registry.PlatformRequest
	add := func(r registry.PlatformRequest) {
		if !slices.ContainsFunc(out, func(o registry.PlatformRequest) bool { return oci.SamePlatform(o.Platform, r.Platform) }) {
			out = append(out, r)
		}
	}
	for _, place := range row.Places {
		switch {
		case place.BuildPlatform:
			add(registry.PlatformRequest{Platform: t.Host.Platform, Raw: "$BUILDPLATFORM", Source: place.Source.String() + ": this machine builds it"})
		default:
			// $TARGETPLATFORM, or a platform known only at build time: the targets.
			p, err := oci.ParsePlatform(place.Platform)
			if place.Platform == "" || err != nil {
				for _, d := range t.Defaults {
					add(d)
				}
				continue
			}
			add(registry.PlatformRequest{Platform: p, Raw: place.Platform, Source: place.Source.String()})
		}
	}
	return out
}

// checkRow reads row's index and fills its cells for wants.
func checkRow(ctx context.Context, row *Row, wants []registry.PlatformRequest, host oci.Host, connect registry.Connect) {
	ix, err := registry.FetchIndex(ctx, connect, row.Image)
	if err != nil {
		row.Err = err
		return
	}
	row.Index = ix
	var missing []registry.PlatformRequest
	for _, w := range wants {
		_, ok := ix.Find(w.Platform)
		row.Cells = append(row.Cells, Cell{Platform: w, Found: ok})
		if !ok {
			missing = append(missing, w)
		}
	}
	if len(missing) == 0 {
		return
	}
	diagnoses := registry.DiagnoseAll(ctx, connect(ix.Ref), ix, missing)
	for i := range row.Cells {
		c := &row.Cells[i]
		if c.Found {
			continue
		}
		c.Diagnosis, diagnoses = diagnoses[0], diagnoses[1:]
		c.Next = nextStep(*row, c.Platform, c.Diagnosis, host)
	}
}

// nextStep is the way out of a miss, best first: a tag of the same version line that
// has the platform, the nearest newer line that has it, another platform of the image
// under emulation, else nothing.
func nextStep(row Row, want registry.PlatformRequest, d *registry.Diagnosis, host oci.Host) Next {
	tag := row.Index.Ref.Tag
	for _, s := range d.Siblings {
		if registry.SameVersionLine(tag, s.Tag) {
			return Next{Kind: NextSibling, Ref: s.Ref, Text: fmt.Sprintf("use %s: it has %s", s.Ref, want)}
		}
	}
	if d.Newer != nil {
		return Next{Kind: NextNewer, Ref: d.Newer.Ref, Text: fmt.Sprintf("use %s, the nearest newer version line: it has %s", d.Newer.Ref, want)}
	}
	emulate, ok := emulated(row.Index)
	if !ok {
		return Next{Kind: NextNothing, Text: fmt.Sprintf("nothing published of %s runs on %s", row.Ref, want)}
	}
	name := oci.PlatformString(emulate)
	here := "this machine: " + host.HowRuns(emulate).Note
	if host.HowRuns(emulate).Native {
		here = "this machine runs " + name + " natively"
	}
	return Next{Kind: NextEmulate, Ref: name, Text: fmt.Sprintf("run its %s image under emulation: %s; %s", name, emulationLine(row.Places[0], name), here)}
}

// emulated is the platform of ix to run under emulation: linux/amd64 when it has it
// (QEMU and Rosetta emulate it best), else its first Linux image.
func emulated(ix *registry.Index) (oci.Platform, bool) {
	platforms := ix.Platforms()
	for _, p := range platforms {
		if p.OS == "linux" && p.Architecture == "amd64" {
			return p, true
		}
	}
	for _, p := range platforms {
		if p.OS == "linux" {
			return p, true
		}
	}
	return oci.Platform{}, false
}

// emulationLine is the exact line that asks for platform where place names the image:
// a service's platform:, a FROM --platform=, else docker run's flag.
func emulationLine(place Image, platform string) string {
	src := place.Source
	switch {
	case src.Service != "" && src.ComposeFile == "":
		return fmt.Sprintf("add \"platform: %s\" under service %s (%s)", platform, src.Service, fileLine(src.File, src.Line))
	case src.Instruction == InstrFrom:
		return fmt.Sprintf("FROM --platform=%s %s (%s)", platform, place.Ref, fileLine(src.File, src.Line))
	}
	return "docker run --platform " + platform + " " + place.Ref
}

// Missing counts the cells that lack their platform and the rows that could not be read.
func (c *Check) Missing() int {
	n := 0
	for _, r := range c.Rows {
		if r.Err != nil {
			n++
		}
		for _, cell := range r.Cells {
			if !cell.Found {
				n++
			}
		}
	}
	return n
}
