package oci

import "testing"

// BenchmarkParsePlatform measures parsing and normalising the platform spellings users type.
func BenchmarkParsePlatform(b *testing.B) {
	inputs := []string{"linux/amd64", "linux/arm64/v8", "linux/aarch64", "linux/arm", "linux/armhf", "linux/386"}
	for b.Loop() {
		for _, s := range inputs {
			if _, err := ParsePlatform(s); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkSamePlatform measures matching a request against an index's entries.
func BenchmarkSamePlatform(b *testing.B) {
	want := Platform{OS: "linux", Architecture: "arm64"}
	entries := []Platform{
		{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm", Variant: "v5"},
		{OS: "linux", Architecture: "arm", Variant: "v7"}, {OS: "linux", Architecture: "386"},
		{OS: "linux", Architecture: "ppc64le"}, {OS: "linux", Architecture: "s390x"},
		{OS: "linux", Architecture: "arm64", Variant: "v8"},
	}
	for b.Loop() {
		found := false
		for _, e := range entries {
			if SamePlatform(e, want) {
				found = true
			}
		}
		if !found {
			b.Fatal("arm64/v8 did not match arm64")
		}
	}
}
