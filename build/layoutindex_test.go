package build

import (
	"testing"

	digest "github.com/opencontainers/go-digest"
	"github.com/regclient/regclient/types/descriptor"

	"github.com/pycontainer/pycontainer/oci"
)

// TestDockerLoadImage: docker load takes one image of a multi-platform build, the one
// the machine runs best.
func TestDockerLoadImage(t *testing.T) {
	tests := []struct {
		host  string
		built []string
		want  string
	}{
		{"linux/amd64", []string{"linux/arm64", "linux/amd64"}, "linux/amd64"},
		{"linux/arm64", []string{"linux/amd64", "linux/arm64/v8"}, "linux/arm64/v8"},
		// Docker Desktop on a Mac runs linux/arm64 natively in its VM.
		{"darwin/arm64", []string{"linux/amd64", "linux/arm64"}, "linux/arm64"},
		{"windows/amd64", []string{"linux/arm/v7", "linux/amd64"}, "linux/amd64"},
		// An arm/v7 machine runs v6, not the reverse; with no native image, the first.
		{"linux/arm/v7", []string{"linux/arm64", "linux/arm/v6"}, "linux/arm/v6"},
		{"linux/amd64", []string{"linux/arm64", "linux/arm/v7"}, "linux/arm64"},
		{"linux/riscv64", []string{"linux/s390x"}, "linux/s390x"},
	}
	for _, tt := range tests {
		t.Run(tt.host+" of "+tt.built[0], func(t *testing.T) {
			host, err := oci.ParsePlatform(tt.host)
			if err != nil {
				t.Fatal(err)
			}
			var manifests []descriptor.Descriptor
			for _, b := range tt.built {
				p, err := oci.ParsePlatform(b)
				if err != nil {
					t.Fatal(err)
				}
				manifests = append(manifests, descriptor.Descriptor{Digest: digest.FromString(b), Platform: &p})
			}
			got := dockerLoadImage(oci.Host{Platform: host}, manifests)
			if got.Digest != digest.FromString(tt.want) {
				t.Errorf("on %s, docker load of %v gets %s, want %s", tt.host, tt.built, oci.PlatformString(*got.Platform), tt.want)
			}
		})
	}
}
