// Package ui presents pycontainer to people: the interactive terminal app and the
// plain-line and JSON-line renderers of the build event stream for logs and scripts.
package ui

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/pycontainer/pycontainer/build"
	"github.com/pycontainer/pycontainer/oci"
)

// Plain renders build events as lines for CI logs: one per layer done, one per
// platform, a summary at the end. Verbose adds a line when each download starts.
type Plain struct {
	mu      sync.Mutex
	out     io.Writer // progress
	result  io.Writer // the plan of a dry run and the final summary
	verbose bool
	// compiles are the sdists compiling, by platform and package: what their progress
	// lines repeat, and when the last was printed.
	compiles map[[2]string]*plainCompile
}

type plainCompile struct {
	ev      build.SdistCompiling
	printed time.Duration // the Elapsed of the last progress line printed
	line    string
}

// plainCompileEvery spaces a compile's progress lines in a log: its events come four a
// second, which a CI log need not keep.
const plainCompileEvery = 5 * time.Second

// NewPlain writes progress to out and results to result.
func NewPlain(out, result io.Writer, verbose bool) *Plain {
	return &Plain{out: out, result: result, verbose: verbose}
}

// Emit renders one event; it is safe for concurrent use.
func (p *Plain) Emit(e build.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch ev := e.(type) {
	case build.Warning:
		printf(p.out, "warning: %s", ev.Message)
	case build.PlanReady:
		p.plan(ev)
	case build.LayerStarted:
		if p.verbose && ev.Platform != "" {
			printf(p.out, "%s: layer %d/%d %s %s downloading", ev.Platform, ev.Index, ev.Count, oci.ShortDigest(ev.Digest), HumanBytes(ev.Size))
		}
	case build.LayerResumed:
		// Always said, verbose or not: it explains a download that starts part way, or
		// a second download of bytes already fetched once.
		if ev.StartsOver {
			printf(p.out, "%s: layer %s: the registry ignored the request to resume; downloading %s from the start", ev.Platform, oci.ShortDigest(ev.Digest), HumanBytes(ev.Total))
		} else {
			printf(p.out, "%s: layer %s: resuming at %s of %s (kept from an earlier attempt)", ev.Platform, oci.ShortDigest(ev.Digest), HumanBytes(ev.From), HumanBytes(ev.Total))
		}
	case build.LayerDone:
		state := "done"
		switch {
		case ev.SharedWith != "" && !ev.Cached:
			state = "fetched once, shared with " + ev.SharedWith
		case ev.Cached:
			state = "cached"
		}
		kind := "layer"
		if ev.Kind == build.LayerApp {
			kind = "app layer"
		}
		printf(p.out, "%s: %s %d/%d %s %s %s", ev.Platform, kind, ev.Index, ev.Count, oci.ShortDigest(ev.Digest), HumanBytes(ev.Size), state)
	case build.SdistCompiling:
		if p.compiles == nil {
			p.compiles = map[[2]string]*plainCompile{}
		}
		p.compiles[[2]string{ev.Platform, ev.Package}] = &plainCompile{ev: ev}
		printf(p.out, "compiling %s for %s (%s) in %s", compileName(ev), ev.Platform, ev.How, ev.Builder)
	case build.SdistProgressed:
		c := p.compiles[[2]string{ev.Platform, ev.Package}]
		if c == nil {
			break
		}
		// A line every few seconds says it is alive; verbose also says each new line.
		if ev.Elapsed-c.printed >= plainCompileEvery || (p.verbose && ev.LastLine != c.line && ev.LastLine != "") {
			c.printed, c.line = ev.Elapsed, ev.LastLine
			printf(p.out, "compiling %s for %s (%s) … %.1fs: %s", compileName(c.ev), ev.Platform, c.ev.How, ev.Elapsed.Seconds(), ev.LastLine)
		}
	case build.SdistCompiled:
		delete(p.compiles, [2]string{ev.Platform, ev.Package})
		if ev.Cached {
			printf(p.out, "%s: %s built from source before: %s (cached)", ev.Platform, ev.Package, ev.Wheel)
		} else {
			printf(p.out, "%s: %s built from source in %.1fs: %s", ev.Platform, ev.Package, ev.Elapsed.Seconds(), ev.Wheel)
		}
	case build.PlatformFailed:
		printf(p.out, "%s: failed: %s", ev.Platform, ev.Error)
	case build.PlatformDone:
		printf(p.out, "%s: done, manifest %s (%d layers, %s)", ev.Platform, oci.ShortDigest(ev.Manifest), ev.Layers, HumanBytes(ev.Size))
	case build.PushStarted:
		printf(p.out, "push: %s (%s)", ev.Target, plural(ev.Manifests, "manifest"))
	case build.BlobPushed:
		if p.verbose {
			printf(p.out, "push: %s %s %s", oci.ShortDigest(ev.Digest), HumanBytes(ev.Size), ev.How)
		}
	case build.Pushed:
		printf(p.result, "Pushed %s@%s: %d uploaded (%s), %d already there, %d mounted",
			ev.Target, ev.Digest, ev.Uploaded, HumanBytes(ev.Bytes), ev.Skipped, ev.Mounted)
	case build.Finished:
		printf(p.result, "Built %s in %s (%s) in %.1fs", ev.Tag, ev.Output, strings.Join(shortAll(ev.Manifests), ", "), ev.Duration.Seconds())
		if ev.Index != "" {
			printf(p.result, "  %d platforms in index %s; docker load of %s gets %s (pycontainer save --platform gives another)",
				len(ev.Manifests), oci.ShortDigest(ev.Index), ev.Output, ev.DockerLoad)
		}
	}
}

func (p *Plain) plan(ev build.PlanReady) {
	w := p.out
	if ev.DryRun {
		w = p.result
	}
	printf(w, "base %s@%s (%s)", ev.Base, oci.ShortDigest(ev.BaseDigest), ev.BaseSource)
	for _, pl := range ev.Platforms {
		note := ""
		if pl.BasePlatform != pl.Platform {
			note = " as " + pl.BasePlatform
		}
		printf(w, "  %s (%s): base manifest %s%s", pl.Platform, pl.Source, oci.ShortDigest(pl.BaseManifest), note)
	}
	if ev.Builder != "" {
		printf(w, "builder %s@%s (sdists compile in it)", ev.Builder, ev.BuilderDigest)
	}
	if ev.DryRun || p.verbose {
		printf(w, "app: %d files from %s, entrypoint %s", ev.AppFiles, ev.Context, quoteArgs(ev.Entrypoint))
	}
	for _, x := range ev.Excluded {
		printf(w, "excluded: %s", x.String())
	}
	for _, x := range ev.Included {
		printf(w, "included on request: %s", x.String())
	}
	if ev.PushTarget != "" {
		printf(w, "push to %s", ev.PushTarget)
	}
	if ev.DryRun {
		printf(w, "dry run: would write %s as %s; nothing was written", ev.Output, ev.Tag)
	}
}

// printf writes one line, sanitized: events carry file names, an image's and a
// registry's text, pip's words.
func printf(w io.Writer, format string, args ...any) {
	fmt.Fprintln(w, Sanitize(fmt.Sprintf(format, args...)))
}

// JSONLines renders every event as one JSON object per line, its "type" field first.
type JSONLines struct {
	mu sync.Mutex
	w  io.Writer
}

// NewJSONLines writes events to w.
func NewJSONLines(w io.Writer) *JSONLines { return &JSONLines{w: w} }

// Emit renders one event; it is safe for concurrent use.
func (j *JSONLines) Emit(e build.Event) {
	body, err := json.Marshal(e)
	if err != nil || len(body) < 2 {
		body = []byte("{}")
	}
	line := fmt.Sprintf("{\"type\":%q", e.Type())
	if len(body) > 2 {
		line += "," + string(body[1:])
	} else {
		line += "}"
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	fmt.Fprintln(j.w, string(escapeJSON([]byte(line))))
}

// compileName is "fastcalc 1.0", or the package alone when its version is unknown.
func compileName(ev build.SdistCompiling) string {
	if ev.Version == "" {
		return ev.Package
	}
	return ev.Package + " " + ev.Version
}

func shortAll(ds []string) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = oci.ShortDigest(d)
	}
	return out
}

// HumanBytes formats a byte count with a decimal unit, as registries and docker do.
func HumanBytes(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %cB", float64(n)/float64(div), "kMGTPE"[exp])
}

func quoteArgs(args []string) string {
	b, _ := json.Marshal(args)
	return string(b)
}
