package registry

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/regclient/regclient/types/ref"

	"github.com/pycontainer/pycontainer/internal/demo"
	"github.com/pycontainer/pycontainer/oci"
)

// plainConnect is a client with no settings but the registry's own: the demo registry
// is on loopback, reached over plain HTTP.
func plainConnect(r ref.Ref) *Client { return New(Options{Registries: []string{r.Registry}}) }

func TestRankSiblings(t *testing.T) {
	tags := []string{"3.8", "3.9-slim", "3.11-slim", "3.11-alpine", "3.11-slim-bookworm", "3.12-slim", "3.11", "latest", "3.10-slim", "3.11.9-slim", "sha256-abc.sig", "3.13-alpine3.20"}
	tests := []struct {
		current string
		first   []string
	}{
		{"3.11-slim", []string{"3.11.9-slim", "3.12-slim", "3.10-slim", "3.9-slim"}},
		{"3.11-alpine", []string{"3.13-alpine3.20"}},
		{"3.8", []string{"3.11"}},
	}
	for _, tt := range tests {
		got := RankSiblings(tt.current, tags)
		if !slices.Equal(got[:len(tt.first)], tt.first) {
			t.Errorf("RankSiblings(%q) starts %q, want %q", tt.current, got[:len(tt.first)], tt.first)
		}
		if got[len(got)-1] != "latest" {
			t.Errorf("RankSiblings(%q) = %q: latest, a moving target, should come last", tt.current, got)
		}
		if slices.Contains(got, tt.current) || slices.Contains(got, "sha256-abc.sig") {
			t.Errorf("RankSiblings(%q) lists itself or a signature tag: %q", tt.current, got)
		}
	}
}

func TestDiagnose(t *testing.T) {
	reg, err := demo.Serve(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	if err := reg.Seed(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	fetch := func(image string) *Index {
		ix, err := FetchIndex(context.Background(), plainConnect, reg.Host+"/"+image)
		if err != nil {
			t.Fatal(err)
		}
		return ix
	}
	req := func(raw string) PlatformRequest {
		p, err := oci.ParsePlatform(raw)
		if err != nil {
			t.Fatal(err)
		}
		return PlatformRequest{Platform: p, Raw: raw, Source: "--platform flag"}
	}

	diagnose := func(ix *Index, req PlatformRequest) *Diagnosis {
		return Diagnose(context.Background(), plainConnect(ix.Ref), ix, req)
	}

	d := diagnose(fetch("demo/legacy-python:3.8"), req("linux/arm64/v8"))
	text := d.Text()
	for _, want := range []string{
		`asked for  linux/arm64 (typed "linux/arm64/v8"), from --platform flag`,
		"arm64/v8 is arm64",
		"index has  linux/amd64",
		"try        --base-image " + reg.Host + "/demo/legacy-python:3.10",
		"--base-image " + reg.Host + "/demo/legacy-python:3.9",
		"this host",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("diagnosis lacks %q:\n%s", want, text)
		}
	}
	if len(d.Siblings) < 2 || d.Siblings[0].Tag != "3.10" {
		t.Errorf("siblings %+v, want 3.10 first (newest with arm64)", d.Siblings)
	}

	// arm/v6 asked, the index has v7 (too new) and v5 (runs on v6).
	d = diagnose(fetch("library/python:3.11-slim"), req("linux/arm/v6"))
	text = d.Text()
	for _, want := range []string{"arm/v5 images run on arm/v6 machines", "arm/v7 images do not run on arm/v6 machines", "closest    linux/arm/v5", "+ 7 attestation manifest(s)", "python:3.11-alpine"} {
		if !strings.Contains(text, want) {
			t.Errorf("arm/v6 diagnosis lacks %q:\n%s", want, text)
		}
	}
}

// TestDiagnoseAllReadsEachSiblingOnce: diagnosing three missing platforms costs the
// registry what diagnosing one does (`platforms --check a,b,c` once repeated the tag
// listing and every sibling fetch per platform).
func TestDiagnoseAllReadsEachSiblingOnce(t *testing.T) {
	var requests atomic.Int64
	reg, err := demo.Serve(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			requests.Add(1)
			next.ServeHTTP(w, r)
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	ctx := context.Background()
	if err := reg.Seed(ctx, 0); err != nil {
		t.Fatal(err)
	}
	ix, err := FetchIndex(ctx, plainConnect, reg.Host+"/demo/legacy-python:3.8")
	if err != nil {
		t.Fatal(err)
	}
	var reqs []PlatformRequest
	for _, raw := range []string{"linux/arm64", "linux/riscv64", "linux/arm/v7"} {
		p, err := oci.ParsePlatform(raw)
		if err != nil {
			t.Fatal(err)
		}
		reqs = append(reqs, PlatformRequest{Platform: p, Raw: raw, Source: "--check flag"})
	}

	requests.Store(0)
	one := Diagnose(ctx, plainConnect(ix.Ref), ix, reqs[0])
	costOfOne := requests.Load()
	requests.Store(0)
	all := DiagnoseAll(ctx, plainConnect(ix.Ref), ix, reqs)
	if got := requests.Load(); got != costOfOne {
		t.Errorf("diagnosing 3 platforms made %d registry requests, diagnosing 1 made %d; want the same", got, costOfOne)
	}

	if len(all) != len(reqs) {
		t.Fatalf("DiagnoseAll returned %d diagnoses for %d requests", len(all), len(reqs))
	}
	for i, d := range all {
		if d.Requested.Raw != reqs[i].Raw || d.TagsChecked == 0 || d.TagsChecked != one.TagsChecked {
			t.Errorf("diagnosis %d: asked %q, checked %d tags; want %q, %d tags", i, d.Requested.Raw, d.TagsChecked, reqs[i].Raw, one.TagsChecked)
		}
	}
	if !slices.Equal(siblingTags(all[0]), siblingTags(one)) || len(one.Siblings) == 0 {
		t.Errorf("arm64 siblings %q alone, %q together; want the same, not empty", siblingTags(one), siblingTags(all[0]))
	}
	if len(all[1].Siblings) != 0 {
		t.Errorf("riscv64 siblings %q; no demo tag has riscv64", siblingTags(all[1]))
	}
}

func siblingTags(d *Diagnosis) []string {
	var tags []string
	for _, s := range d.Siblings {
		tags = append(tags, s.Tag)
	}
	return tags
}

func TestNewerLines(t *testing.T) {
	t.Parallel()
	mysql := []string{"5.6", "5.7", "5.7.44", "8.0", "8.0.36", "8.4.3", "8.4", "9.1-oracle", "9.1", "latest", "sha256-abc.sig"}
	tests := []struct {
		current string
		tags    []string
		want    []string
	}{
		{"5.7", mysql, []string{"8.0", "8.4", "9.1"}},
		{"5.7.44", mysql, []string{"8.0", "8.4", "9.1"}},
		{"8.0", mysql, []string{"8.4", "9.1"}},
		{"9.1", mysql, nil},
		{"latest", mysql, nil},
		// One number: lines are majors; the tag naming the line stands for it, else its newest.
		{"8", []string{"8", "8.9.4", "10.24.1", "10", "12.22.0", "12.1.0"}, []string{"10", "12.22.0"}},
		// The flavour stays: node 8.7.0-alpine's newer lines (8.9, 8.11, 10.0, 10.1) are alpine ones.
		{"8.7.0-alpine", []string{"8.7.0", "8.9.4-alpine", "8.11.1-alpine", "10.0.0-alpine", "10.0.0", "10.1.0-alpine3.8"}, []string{"8.9.4-alpine", "8.11.1-alpine", "10.0.0-alpine", "10.1.0-alpine3.8"}},
	}
	for _, tt := range tests {
		if got := NewerLines(tt.current, tt.tags); !slices.Equal(got, tt.want) {
			t.Errorf("NewerLines(%q) = %q, want %q", tt.current, got, tt.want)
		}
	}
}

// TestDiagnoseNewerLine: mysql:5.7 has no arm64 and neither has its own line (5.7.44);
// the nearest newer line that has it, 8.0, is the next step.
func TestDiagnoseNewerLine(t *testing.T) {
	t.Parallel()
	reg, err := demo.Serve(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	ctx := context.Background()
	if err := reg.SeedStack(ctx, 0); err != nil {
		t.Fatal(err)
	}
	req := func(raw string) PlatformRequest {
		p, err := oci.ParsePlatform(raw)
		if err != nil {
			t.Fatal(err)
		}
		return PlatformRequest{Platform: p, Raw: raw, Source: "--check flag"}
	}
	tests := []struct {
		image, platform, newer string
	}{
		{"library/mysql:5.7", "linux/arm64", "8.0"},
		{"library/mysql:5.7.44", "linux/arm64", "8.0"},
		{"library/mysql:8.0", "linux/arm/v7", ""}, // no line has it
		{"library/node:8-alpine", "linux/arm64", ""},
	}
	for _, tt := range tests {
		ix, err := FetchIndex(ctx, plainConnect, reg.Host+"/"+tt.image)
		if err != nil {
			t.Fatal(err)
		}
		d := Diagnose(ctx, plainConnect(ix.Ref), ix, req(tt.platform))
		got := ""
		if d.Newer != nil {
			got = d.Newer.Tag
		}
		if got != tt.newer {
			t.Errorf("%s for %s: newer line %q, want %q", tt.image, tt.platform, got, tt.newer)
		}
		if tt.newer != "" && !strings.Contains(d.Text(), "newer      --base-image "+reg.Host+"/library/mysql:"+tt.newer) && !slices.Contains(siblingTags(d), tt.newer) {
			t.Errorf("%s: the diagnosis names neither a sibling nor the newer line %s:\n%s", tt.image, tt.newer, d.Text())
		}
	}
}

func TestSameVersionLine(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		current, tag string
		want         bool
	}{
		{"3.11-amd64only", "3.11-slim", true},
		{"3.11-slim", "3.11.9-bookworm", true},
		{"3.11-slim", "3.12-slim", false},
		{"5.7", "5.7.44", true},
		{"5.7", "8.0", false},
		{"8-alpine", "8.9.4-alpine", true},
		{"latest", "latest", false},
		{"3.11", "slim", false},
	} {
		if got := SameVersionLine(tt.current, tt.tag); got != tt.want {
			t.Errorf("SameVersionLine(%q, %q) = %v, want %v", tt.current, tt.tag, got, tt.want)
		}
	}
}
