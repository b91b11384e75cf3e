package build

import "testing"

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64 // -1: an error
	}{
		{"500MB", 500e6}, {"10GB", 10e9}, {"2GiB", 2 << 30}, {"1.5k", 1536}, {"0", 0}, {" 7 b ", 7},
		{"lots", -1}, {"-1GB", -1}, {"inf", -1}, {"NaN", -1}, {"1e30", -1}, {"9223372036854775807", -1}, {"", -1},
	}
	for _, tt := range tests {
		got, err := ParseSize(tt.in)
		if (tt.want < 0) != (err != nil) || (err == nil && got != tt.want) {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
}
