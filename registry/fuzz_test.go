package registry

import (
	"strings"
	"testing"
)

// FuzzParseReference: any string parses to a registry reference or fails with an error
// naming the input, never a panic.
func FuzzParseReference(f *testing.F) {
	for _, s := range []string{"python:3.11-slim", "ghcr.io/org/app:1", "localhost:5000/a/b@sha256:" + strings.Repeat("a", 64), "UPPER/case", "::", "", "a/b/c/d/e:tag", "ocidir://x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseReference(s)
		if err != nil {
			if !strings.Contains(err.Error(), "image reference") {
				t.Fatalf("error for %q does not say what was wrong: %v", s, err)
			}
			return
		}
		if r.Registry == "" || r.Repository == "" {
			t.Fatalf("%q parsed to a reference without registry or repository: %+v", s, r)
		}
	})
}
