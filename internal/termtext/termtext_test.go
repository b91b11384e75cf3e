package termtext

import "testing"

func TestEscape(t *testing.T) {
	tests := []struct{ in, want string }{
		{"linux/amd64", "linux/amd64"},
		{"café ünïcode 日本 ✓ → …", "café ünïcode 日本 ✓ → …"},
		{"a\nb\rc\td", `a\nb\rc\td`},
		{"\x1b[2J\x1b]0;t\x07", `\x1b[2J\x1b]0;t\x07`},
		{"del\x7f c1\u009b", `del\x7f c1\x9b`},
		{"bidi\u202eltr\u200bzw\u2028ls\u2029ps", `bidi\u202eltr\u200bzw\u2028ls\u2029ps`},
		{"bad\xffutf8\xc3", `bad\xffutf8\xc3`},
		{`back\slash`, `back\slash`},
		{"\ufffd", "\ufffd"},
		{"", ""},
	}
	for _, tt := range tests {
		got := Escape(tt.in)
		if got != tt.want {
			t.Errorf("Escape(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if again := Escape(got); again != got {
			t.Errorf("Escape is not idempotent on %q: %q", tt.in, again)
		}
		if !Printable(got) {
			t.Errorf("Escape(%q) = %q is not printable", tt.in, got)
		}
		if Printable(tt.in) != (tt.in == tt.want) {
			t.Errorf("Printable(%q) = %v", tt.in, Printable(tt.in))
		}
	}
}
