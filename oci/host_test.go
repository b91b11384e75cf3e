package oci

import (
	"strings"
	"testing"
)

func TestHowRuns(t *testing.T) {
	p := func(s string) Platform {
		pl, err := ParsePlatform(s)
		if err != nil {
			t.Fatal(err)
		}
		return pl
	}
	tests := []struct {
		host, target string
		native       bool
		note         string
	}{
		{"linux/amd64", "linux/amd64", true, "native on this machine"},
		{"linux/amd64", "linux/arm64", false, "emulation"},
		{"linux/amd64", "linux/386", true, "32-bit"},
		{"darwin/arm64", "linux/arm64", true, "native in the Linux VM"},
		{"darwin/arm64", "linux/amd64", false, "Rosetta"},
		{"linux/arm64", "linux/arm/v7", false, "AArch32"},
		{"linux/arm/v7", "linux/arm/v6", true, "native"},
		{"linux/arm/v6", "linux/arm/v7", false, "emulation"},
	}
	for _, tt := range tests {
		got := HowRuns(p(tt.host), p(tt.target))
		if got.Native != tt.native || !strings.Contains(got.Note, tt.note) {
			t.Errorf("HowRuns(%s, %s) = %+v, want native=%v and %q", tt.host, tt.target, got, tt.native, tt.note)
		}
	}
	if h := hostPlatform("darwin", "arm64"); PlatformString(h) != "darwin/arm64" {
		t.Errorf("host platform %s", PlatformString(h))
	}
}
