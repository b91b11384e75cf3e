package oci

import (
	"errors"
	"strings"
	"testing"
)

func TestParsePlatform(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"linux/amd64", "linux/amd64"},
		{"linux/x86_64", "linux/amd64"},
		{"linux/amd64/v1", "linux/amd64"},
		{"linux/amd64/v3", "linux/amd64/v3"},
		{"linux/arm64", "linux/arm64"},
		{"linux/arm64/v8", "linux/arm64"},
		{"linux/aarch64", "linux/arm64"},
		{"Linux/ARM64", "linux/arm64"},
		{"linux/arm", "linux/arm/v7"},
		{"linux/armhf", "linux/arm/v7"},
		{"linux/arm/v7", "linux/arm/v7"},
		{"linux/arm/7", "linux/arm/v7"},
		{"linux/arm/v6", "linux/arm/v6"},
		{"linux/armel", "linux/arm/v6"},
		{"linux/i386", "linux/386"},
		{"linux/ppc64le", "linux/ppc64le"},
		{"linux/s390x", "linux/s390x"},
		{"linux/riscv64", "linux/riscv64"},
		{" linux/amd64 ", "linux/amd64"},
	}
	for _, tt := range tests {
		p, err := ParsePlatform(tt.in)
		if err != nil {
			t.Errorf("ParsePlatform(%q): %v", tt.in, err)
			continue
		}
		if got := PlatformString(p); got != tt.want {
			t.Errorf("ParsePlatform(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestParsePlatformErrors(t *testing.T) {
	tests := []struct {
		in       string
		contains []string
	}{
		{"amd64", []string{"Platform format invalid", `"amd64"`, `did you mean "linux/amd64"`}},
		{"linux-amd64", []string{"Platform format invalid", `"linux-amd64"`, `did you mean "linux/amd64"`}},
		{"arm64", []string{`did you mean "linux/arm64"`}},
		{"", []string{"Platform format invalid", "empty"}},
		{"linux/", []string{"empty component"}},
		{"linux/amd64/v2/x", []string{"expected os/arch[/variant]"}},
		{"linux/sparc", []string{`unknown architecture "sparc"`, "amd64", "arm64"}},
		{"amd64/linux", []string{"the os comes first"}},
		{"plan9/amd64", []string{`unknown os "plan9"`}},
		{"linux/arm/v9", []string{`unknown variant "v9" for arm`}},
		{"linux/armhf/v6", []string{`"armhf" already means arm/v7`}},
	}
	for _, tt := range tests {
		_, err := ParsePlatform(tt.in)
		var pe *PlatformError
		if !errors.As(err, &pe) {
			t.Errorf("ParsePlatform(%q) error = %v, want a *PlatformError", tt.in, err)
			continue
		}
		for _, c := range tt.contains {
			if !strings.Contains(err.Error(), c) {
				t.Errorf("ParsePlatform(%q) error %q does not contain %q", tt.in, err, c)
			}
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("ParsePlatform(%q) error spans lines: %q", tt.in, err)
		}
	}
}

func TestSamePlatform(t *testing.T) {
	tests := []struct {
		a, b Platform
		want bool
	}{
		{Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}, Platform{OS: "linux", Architecture: "arm64"}, true},
		{Platform{OS: "linux", Architecture: "arm"}, Platform{OS: "linux", Architecture: "arm", Variant: "v7"}, true},
		{Platform{OS: "linux", Architecture: "arm", Variant: "v7"}, Platform{OS: "linux", Architecture: "arm", Variant: "v6"}, false},
		{Platform{OS: "linux", Architecture: "amd64"}, Platform{OS: "linux", Architecture: "arm64"}, false},
		{Platform{OS: "linux", Architecture: "amd64"}, Platform{OS: "windows", Architecture: "amd64"}, false},
	}
	for _, tt := range tests {
		if got := SamePlatform(tt.a, tt.b); got != tt.want {
			t.Errorf("SamePlatform(%s, %s) = %v, want %v", PlatformString(tt.a), PlatformString(tt.b), got, tt.want)
		}
	}
}

func TestIsAttestation(t *testing.T) {
	if !IsAttestation(&Platform{OS: "unknown", Architecture: "unknown"}) {
		t.Error("unknown/unknown is an attestation")
	}
	if IsAttestation(&Platform{OS: "linux", Architecture: "amd64"}) || IsAttestation(nil) {
		t.Error("linux/amd64 and nil are not attestations")
	}
}
