package main

import "testing"

func TestParseRate(t *testing.T) {
	for in, want := range map[string]int64{
		"0": 0, "1000": 1000, "50MB": 50_000_000, "10MB/s": 10_000_000,
		"1.5MB": 1_500_000, "10MiB": 10 << 20, "64KiB": 64 << 10, "1GB": 1e9, "512B": 512,
	} {
		if got, err := parseRate(in); err != nil || got != want {
			t.Errorf("parseRate(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "fast", "-1MB", "MB"} {
		if _, err := parseRate(in); err == nil {
			t.Errorf("parseRate(%q) succeeded", in)
		}
	}
}
