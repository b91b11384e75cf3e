package ui

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/pycontainer/pycontainer/build"
)

func TestHumanBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 999: "999 B", 1000: "1.0 kB", 28_200_000: "28.2 MB", 3_500_000_000: "3.5 GB"} {
		if got := HumanBytes(n); got != want {
			t.Errorf("HumanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestPlainLines(t *testing.T) {
	d := "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	tests := []struct {
		ev   build.Event
		want string
	}{
		{build.LayerDone{Platform: "linux/arm64", Digest: d, Kind: build.LayerBase, Index: 1, Count: 3, Size: 28_200_000}, "linux/arm64: layer 1/3 sha256:0123456789ab 28.2 MB done\n"},
		{build.LayerDone{Platform: "linux/arm64", Digest: d, Kind: build.LayerBase, Index: 1, Count: 3, Size: 10, SharedWith: "linux/amd64"}, "linux/arm64: layer 1/3 sha256:0123456789ab 10 B fetched once, shared with linux/amd64\n"},
		{build.LayerDone{Platform: "linux/amd64", Digest: d, Kind: build.LayerApp, Index: 3, Count: 3, Size: 2000, Cached: true}, "linux/amd64: app layer 3/3 sha256:0123456789ab 2.0 kB cached\n"},
		{build.Warning{Message: "x.toml:3: unknown key"}, "warning: x.toml:3: unknown key\n"},
		{build.LayerResumed{Platform: "linux/arm64", Digest: d, From: 1_228_800, Total: 2_100_000}, "linux/arm64: layer sha256:0123456789ab: resuming at 1.2 MB of 2.1 MB (kept from an earlier attempt)\n"},
		{build.LayerResumed{Platform: "linux/arm64", Digest: d, Total: 2_100_000, StartsOver: true}, "linux/arm64: layer sha256:0123456789ab: the registry ignored the request to resume; downloading 2.1 MB from the start\n"},
		{build.LayerProgressed{Platform: "linux/amd64", Digest: d, Done: 1, Total: 2}, ""},
	}
	for _, tt := range tests {
		var out, res bytes.Buffer
		NewPlain(&out, &res, false).Emit(tt.ev)
		if out.String() != tt.want {
			t.Errorf("%T: %q, want %q", tt.ev, out.String(), tt.want)
		}
	}
	var out, res bytes.Buffer
	NewPlain(&out, &res, false).Emit(build.Finished{Output: "dist/image", Tag: "docker.io/library/app:1", Manifests: []string{d}, Duration: 1500 * time.Millisecond})
	if out.Len() != 0 || res.String() != "Built docker.io/library/app:1 in dist/image (sha256:0123456789ab) in 1.5s\n" {
		t.Errorf("summary went to %q / %q", out.String(), res.String())
	}
}

func TestJSONLines(t *testing.T) {
	var out bytes.Buffer
	j := NewJSONLines(&out)
	j.Emit(build.LayerProgressed{Platform: "linux/amd64", Digest: "sha256:ab", Done: 5, Total: 10})
	j.Emit(build.Warning{Message: "careful"})
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], `{"type":"layer_progress",`) {
		t.Fatalf("lines %q", lines)
	}
	var ev map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &ev); err != nil {
		t.Fatal(err)
	}
	if ev["platform"] != "linux/amd64" || ev["done"] != float64(5) || ev["total"] != float64(10) {
		t.Errorf("event %v", ev)
	}
}
