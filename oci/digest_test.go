package oci

import "testing"

func TestShortDigest(t *testing.T) {
	const full = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	tests := []struct {
		in, short, hex string
	}{
		{full, "sha256:0123456789ab", "0123456789ab"},
		{"sha512:" + full[7:] + full[7:], "sha512:0123456789ab", "0123456789ab"},
		{"sha256:0123456789ab", "sha256:0123456789ab", "0123456789ab"}, // already short
		{"sha256:abc", "sha256:abc", "abc"},
		{"sha256:", "sha256:", ""},
		{"0123456789abcdef", "0123456789abcdef", ""}, // no algorithm: not a digest to cut
		{"", "", ""},
	}
	for _, tt := range tests {
		if got := ShortDigest(tt.in); got != tt.short {
			t.Errorf("ShortDigest(%q) = %q, want %q", tt.in, got, tt.short)
		}
		if got := ShortHex(tt.in); got != tt.hex {
			t.Errorf("ShortHex(%q) = %q, want %q", tt.in, got, tt.hex)
		}
	}
}
