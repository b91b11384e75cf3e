package registry

import (
	"cmp"
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/regclient/regclient/types/ref"
	"golang.org/x/sync/errgroup"

	"github.com/pycontainer/pycontainer/oci"
)

// Diagnosis explains why a platform is missing from a base image and what would work.
type Diagnosis struct {
	Image        string
	Requested    PlatformRequest
	Rules        []string       // the normalisation and compatibility rules that applied
	Closest      []string       // entries that would run on the requested platform
	Available    []oci.Platform // as the index spells them
	Attestations int
	Siblings     []Sibling // tags of the same repository that have the platform, best first
	// Newer is the nearest newer version line of the same flavour that has the
	// platform (mysql:5.7 has no arm64, mysql:8.0 does), nil when none was found.
	Newer       *Sibling
	TagsChecked int
	TagsTotal   int
	TagsError   string   // why tags could not be listed
	Host        oci.Host // how this machine runs each platform
}

// PlatformRequest is a platform someone asked for: as parsed, as typed, and where it was
// asked (a flag, a config file), which a diagnosis repeats (build.RequestedPlatform).
type PlatformRequest struct {
	Platform oci.Platform
	Raw      string
	Source   string
}

func (r PlatformRequest) String() string { return oci.PlatformString(r.Platform) }

// Sibling is another tag of the same repository.
type Sibling struct {
	Ref       string // full reference
	Tag       string
	Platforms []string
}

// Diagnose explains why index lacks req. It lists the repository's tags through r, ranks
// the likely siblings of the tag and checks a bounded number of their indexes
// concurrently.
func Diagnose(ctx context.Context, r IndexReader, ix *Index, req PlatformRequest) *Diagnosis {
	return DiagnoseAll(ctx, r, ix, []PlatformRequest{req})[0]
}

// DiagnoseAll explains each of reqs that index lacks, one Diagnosis per request, in
// order. The tags are listed and each sibling index fetched once for all of them.
func DiagnoseAll(ctx context.Context, r IndexReader, ix *Index, reqs []PlatformRequest) []*Diagnosis {
	out := make([]*Diagnosis, len(reqs))
	wants := make([]oci.Platform, len(reqs))
	host := oci.DetectHost()
	for i, req := range reqs {
		out[i] = diagnoseIndex(ix, req, host)
		wants[i] = req.Platform
	}
	sib := findSiblings(ctx, r, ix, wants)
	for i, d := range out {
		d.Siblings, d.TagsChecked, d.TagsTotal, d.TagsError, d.Newer = sib.found[i], sib.checked, sib.total, sib.err, sib.newer[i]
	}
	return out
}

// diagnoseIndex is what the index alone says about req.
func diagnoseIndex(ix *Index, req PlatformRequest, host oci.Host) *Diagnosis {
	d := &Diagnosis{Image: ix.Ref.CommonName(), Requested: req, Host: host}
	for _, e := range ix.Entries {
		if e.Attestation {
			d.Attestations++
			continue
		}
		raw := e.Platform
		if e.Descriptor.Platform != nil {
			raw = *e.Descriptor.Platform
		}
		d.Available = append(d.Available, raw)
		if rule, ok := compatibleRule(req.Platform, e.Platform); ok {
			d.Closest = append(d.Closest, oci.PlatformString(e.Platform))
			d.Rules = append(d.Rules, rule)
		} else if rule != "" {
			d.Rules = append(d.Rules, rule)
		}
	}
	d.Rules = append(spellingRules(req), d.Rules...)
	return d
}

// spellingRules say how the asked-for string was normalised.
func spellingRules(req PlatformRequest) []string {
	raw := strings.ToLower(strings.TrimSpace(req.Raw))
	norm := req.String()
	if raw == "" || raw == norm {
		return nil
	}
	var rule string
	switch {
	case strings.HasSuffix(raw, "arm64/v8"):
		rule = "arm64/v8 is arm64: v8 is arm64's base variant, and indexes spell it either way"
	case strings.Contains(raw, "aarch64"):
		rule = "aarch64 is the kernel's name for arm64"
	case strings.Contains(raw, "x86_64") || strings.Contains(raw, "x86-64"):
		rule = "x86_64 is the kernel's name for amd64"
	case strings.Contains(raw, "armhf"):
		rule = "armhf (Debian's name) is arm/v7"
	case raw == "linux/arm":
		rule = "arm without a variant means arm/v7"
	default:
		rule = fmt.Sprintf("%q is read as %s", req.Raw, norm)
	}
	return []string{rule}
}

// compatibleRule says whether an image of platform have runs on a machine of platform
// want, and the rule behind it; ("", false) when there is nothing to say.
func compatibleRule(want, have oci.Platform) (string, bool) {
	want, have = oci.NormalizePlatform(want), oci.NormalizePlatform(have)
	if want.OS != have.OS {
		return "", false
	}
	switch {
	case want.Architecture == "arm" && have.Architecture == "arm" && want.Variant != have.Variant:
		hv, wv := variantNumber(have.Variant), variantNumber(want.Variant)
		if hv < wv {
			return fmt.Sprintf("arm/%s images run on arm/%s machines (a v7 host runs v6 images, not the reverse): --platform %s works there",
				have.Variant, want.Variant, oci.PlatformString(have)), true
		}
		return fmt.Sprintf("the index has %s, but arm/%s images do not run on arm/%s machines", oci.PlatformString(have), have.Variant, want.Variant), false
	case want.Architecture == "arm64" && have.Architecture == "arm":
		return fmt.Sprintf("%s images run on arm64 machines with 32-bit (AArch32) support — not on Graviton or Apple Silicon", oci.PlatformString(have)), false
	case want.Architecture == "amd64" && have.Architecture == "386":
		return "linux/386 images run on amd64 machines (32-bit), though slower and with less memory", true
	case want.Architecture == "amd64" && have.Architecture == "amd64" && want.Variant != have.Variant:
		if variantNumber(have.Variant) < variantNumber(want.Variant) {
			return fmt.Sprintf("%s images run on every %s machine", oci.PlatformString(have), oci.PlatformString(want)), true
		}
	}
	return "", false
}

func variantNumber(v string) int {
	n, _ := strconv.Atoi(strings.TrimPrefix(strings.SplitN(v, ".", 2)[0], "v"))
	if v == "" {
		return 1
	}
	return n
}

const (
	siblingChecks   = 12 // indexes fetched at most
	siblingParallel = 4
	siblingTimeout  = 15 * time.Second
	siblingsShown   = 3
	newerLineChecks = 4 // newer version lines checked at most, nearest first
)

// siblings are the repository's other tags that have the wanted platforms.
type siblings struct {
	found   [][]Sibling // per wanted platform, best first, siblingsShown at most
	newer   []*Sibling  // per wanted platform, the nearest newer version line that has it
	checked int         // tags whose index was read
	total   int         // tags in the repository
	err     string      // why tags could not be listed
}

func findSiblings(ctx context.Context, client IndexReader, ix *Index, wants []oci.Platform) siblings {
	ctx, cancel := context.WithTimeout(ctx, siblingTimeout)
	defer cancel()
	out := siblings{found: make([][]Sibling, len(wants)), newer: make([]*Sibling, len(wants))}
	tags, err := client.Tags(ctx, ix.Ref)
	if err != nil {
		out.err = err.Error()
		return out
	}
	out.total = len(tags)
	candidates := RankSiblings(ix.Ref.Tag, tags)
	if len(candidates) > siblingChecks {
		candidates = candidates[:siblingChecks]
	}
	lines := NewerLines(ix.Ref.Tag, tags)
	if len(lines) > newerLineChecks {
		lines = lines[:newerLineChecks]
	}
	read := readTags(ctx, client, ix.Ref, append(slices.Clone(candidates), lines...))
	sibling := func(tag string, sib *Index) Sibling {
		s := Sibling{Ref: ix.Ref.SetTag(tag).CommonName(), Tag: tag}
		for _, p := range sib.Platforms() {
			s.Platforms = append(s.Platforms, oci.PlatformString(p))
		}
		return s
	}
	out.checked = len(read)
	for _, tag := range candidates {
		for w, want := range wants {
			if sib := read[tag]; sib != nil && len(out.found[w]) < siblingsShown {
				if _, ok := sib.Find(want); ok {
					out.found[w] = append(out.found[w], sibling(tag, sib))
				}
			}
		}
	}
	for _, tag := range lines { // oldest line first: the nearest wins
		for w, want := range wants {
			if sib := read[tag]; sib != nil && out.newer[w] == nil {
				if _, ok := sib.Find(want); ok {
					s := sibling(tag, sib)
					out.newer[w] = &s
				}
			}
		}
	}
	return out
}

// readTags reads the index of each of tags of r once, concurrently and bounded. A tag
// that cannot be read is left out: no suggestion, and no reason to stop the others.
func readTags(ctx context.Context, client IndexReader, r ref.Ref, tags []string) map[string]*Index {
	var mu sync.Mutex
	read := map[string]*Index{}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(siblingParallel)
	for _, tag := range slices.Compact(slices.Sorted(slices.Values(tags))) {
		g.Go(func() error {
			if sib, err := client.Index(gctx, r.SetTag(tag)); err == nil {
				mu.Lock()
				read[tag] = sib
				mu.Unlock()
			}
			return nil
		})
	}
	_ = g.Wait()
	return read
}

// SameVersionLine reports whether tag is of current's version line (3.11-slim and
// 3.11.9-bookworm are; 3.12-slim is not), whatever its flavour. Tags without a version
// are of no line.
func SameVersionLine(current, tag string) bool {
	cur, p := parseSiblingTag(current), parseSiblingTag(tag)
	depth := min(len(cur.version), 2)
	return depth > 0 && len(p.version) >= depth && slices.Equal(p.version[:depth], cur.version[:depth])
}

// NewerLines are, for the tag current, one tag of each newer version line of the same
// flavour, the nearest line first: for 5.7 among 5.7.44, 8.0, 8.0.36, 8.4 and 9.1-oracle
// they are 8.0 and 8.4. A line is as many version numbers as current has, two at most
// (5.7, 8.0; 3 for a tag of one number); its tag is the one that names the line itself,
// else the line's newest. A tag without a version has no newer line.
func NewerLines(current string, tags []string) []string {
	cur := parseSiblingTag(current)
	if len(cur.version) == 0 {
		return nil
	}
	depth := min(len(cur.version), 2)
	lineOf := func(v []int) []int { return v[:min(depth, len(v))] }
	best := map[string]parsedTag{} // line -> its tag
	var order [][]int
	for _, t := range tags {
		p := parseSiblingTag(t)
		if len(p.version) == 0 || !slices.Equal(flavourWords(p.flavour), flavourWords(cur.flavour)) ||
			slices.Compare(lineOf(p.version), lineOf(cur.version)) <= 0 {
			continue
		}
		line := lineOf(p.version)
		key := fmt.Sprint(line)
		have, ok := best[key]
		if !ok {
			order = append(order, line)
		}
		// The tag naming the line itself (8.0) stands for it; else the newest (8.0.36).
		if !ok || (len(have.version) > depth && (len(p.version) == depth || slices.Compare(p.version, have.version) > 0)) {
			best[key] = p
		}
	}
	slices.SortFunc(order, slices.Compare)
	out := make([]string, len(order))
	for i, line := range order {
		out[i] = best[fmt.Sprint(line)].tag
	}
	return out
}

var tagVersion = regexp.MustCompile(`^v?(\d+(?:\.\d+)*)(.*)$`)

type parsedTag struct {
	tag     string
	version []int
	flavour string // what follows the version: "-slim", "-alpine3.20", "-slim-bookworm"
}

func parseSiblingTag(tag string) parsedTag {
	m := tagVersion.FindStringSubmatch(tag)
	if m == nil {
		return parsedTag{tag: tag, flavour: tag}
	}
	p := parsedTag{tag: tag, flavour: m[2]}
	for _, f := range strings.Split(m[1], ".") {
		n, _ := strconv.Atoi(f)
		p.version = append(p.version, n)
	}
	return p
}

// flavourWords splits a flavour into words without version numbers: -alpine3.20 and
// -alpine are the same flavour.
func flavourWords(f string) []string {
	var out []string
	for _, w := range strings.FieldsFunc(f, func(r rune) bool { return r == '-' || r == '_' }) {
		w = strings.TrimRight(w, "0123456789.")
		if w != "" {
			out = append(out, w)
		}
	}
	return out
}

// RankSiblings orders the other tags of a repository by how likely they stand in for
// current: the same flavour (-slim, -alpine, -bookworm) first, then the same version
// line, newest versions first.
func RankSiblings(current string, tags []string) []string {
	cur := parseSiblingTag(current)
	curWords := flavourWords(cur.flavour)
	score := func(p parsedTag) int {
		s := 0
		words := flavourWords(p.flavour)
		switch {
		case slices.Equal(words, curWords):
			s += 8
		case len(words) > 0 && len(curWords) > 0 && words[0] == curWords[0]:
			s += 4
		}
		if len(p.version) > 0 && len(cur.version) > 0 {
			same := 0
			for same < len(p.version) && same < len(cur.version) && p.version[same] == cur.version[same] {
				same++
			}
			s += min(same, 2) * 2
		}
		if len(p.version) == 0 {
			s-- // latest, slim: moving targets come after pinned versions
		}
		return s
	}
	var ranked []parsedTag
	for _, t := range tags {
		if t != current && !strings.HasPrefix(t, "sha256-") { // cosign/referrer tags
			ranked = append(ranked, parseSiblingTag(t))
		}
	}
	slices.SortStableFunc(ranked, func(a, b parsedTag) int {
		if c := cmp.Compare(score(b), score(a)); c != 0 {
			return c
		}
		return slices.Compare(b.version, a.version) // newest first
	})
	out := make([]string, len(ranked))
	for i, p := range ranked {
		out[i] = p.tag
	}
	return out
}

// DiagnosisLine is one line of a diagnosis: a label ("asked for", "rule", "try" …, or
// "" to continue the line above), the group it belongs to (the label of its first
// line), and its text. A "try" line carries the sibling it suggests, so the app can
// open it.
type DiagnosisLine struct {
	Label   string
	Group   string
	Text    string
	Sibling *Sibling
}

// Lines renders the diagnosis as labelled lines, in the order Text prints them.
func (d *Diagnosis) Lines() []DiagnosisLine {
	var out []DiagnosisLine
	group := ""
	line := func(label, format string, args ...any) {
		if label != "" {
			group = label
		}
		out = append(out, DiagnosisLine{Label: label, Group: group, Text: fmt.Sprintf(format, args...)})
	}
	asked := d.Requested.String()
	if d.Requested.Raw != "" && strings.ToLower(d.Requested.Raw) != asked {
		asked += fmt.Sprintf(" (typed %q)", d.Requested.Raw)
	}
	line("asked for", "%s, from %s", asked, d.Requested.Source)
	for _, r := range d.Rules {
		line("rule", "%s", r)
	}
	for i, p := range d.Available {
		label := ""
		if i == 0 {
			label = "index has"
		}
		line(label, "%-16s %s", oci.PlatformString(p), d.Host.HowRuns(p).Note)
	}
	if len(d.Available) == 0 {
		line("index has", "no images")
	}
	if d.Attestations > 0 {
		line("", "+ %d attestation manifest(s) (unknown/unknown): signatures and SBOMs, not images", d.Attestations)
	}
	if len(d.Closest) > 0 {
		line("closest", "%s would run on %s", strings.Join(d.Closest, ", "), d.Requested)
	}
	switch {
	case d.TagsError != "":
		line("siblings", "could not list the repository's tags: %s", d.TagsError)
	case d.TagsTotal <= 1:
		line("siblings", "the repository has no other tag")
	case len(d.Siblings) == 0:
		line("siblings", "none of the %d other tags checked (of %d) has %s", d.TagsChecked, d.TagsTotal, d.Requested)
	default:
		for i, s := range d.Siblings {
			label := ""
			if i == 0 {
				label = "try"
			}
			line(label, "--base-image %s   (%s)", s.Ref, strings.Join(s.Platforms, ", "))
			out[len(out)-1].Sibling = &d.Siblings[i]
		}
		line("", "(checked %d of %d tags)", d.TagsChecked, d.TagsTotal)
	}
	if d.Newer != nil && !slices.ContainsFunc(d.Siblings, func(s Sibling) bool { return s.Tag == d.Newer.Tag }) {
		line("newer", "--base-image %s   (%s; the nearest newer version line that has %s)", d.Newer.Ref, strings.Join(d.Newer.Platforms, ", "), d.Requested)
		out[len(out)-1].Sibling = d.Newer
	}
	line("this host", "%s, for %s images: %s", oci.PlatformString(d.Host.Platform), d.Requested, d.Host.HowRuns(d.Requested.Platform).Note)
	return out
}

// Text renders the diagnosis as the lines that follow the one-line error.
func (d *Diagnosis) Text() string {
	var b strings.Builder
	for _, l := range d.Lines() {
		fmt.Fprintf(&b, "  %-10s %s\n", l.Label, l.Text)
	}
	return strings.TrimRight(b.String(), "\n")
}
