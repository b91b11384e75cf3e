package demo

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/regclient/regclient/types/errs"
	"github.com/regclient/regclient/types/mediatype"
)

func TestImagesAndLookup(t *testing.T) {
	ctx := context.Background()
	reg, err := Serve(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	if got := reg.Images(); got == nil || len(got) != 0 {
		t.Errorf("Images of an empty registry = %#v, want an empty list (known to hold nothing)", got)
	}
	if err := reg.Seed(ctx, 0); err != nil {
		t.Fatal(err)
	}
	// Images pushed outside the catalog come after it, sorted.
	other, err := reg.PutManifest(ctx, "library/zeta", "2", mediatype.OCI1Manifest, []byte(`{"schemaVersion":2}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.PutManifest(ctx, "acme/tool", "1", mediatype.OCI1Manifest, []byte(`{"schemaVersion":2,"x":1}`)); err != nil {
		t.Fatal(err)
	}
	slim, err := reg.Push(ctx, Catalog[0]) // pushing again gives the same digests
	if err != nil {
		t.Fatal(err)
	}
	legacy, err := reg.Push(ctx, Catalog[3])
	if err != nil {
		t.Fatal(err)
	}

	wantImages := []string{
		"python:3.11-slim", "python:3.12-slim", "python:3.11-alpine",
		"demo/legacy-python:3.8", "demo/legacy-python:3.9", "demo/legacy-python:3.10", "demo/legacy-python:3.8-arm64-only",
		"acme/tool:1", "zeta:2",
	}
	if got := reg.Images(); strings.Join(got, " ") != strings.Join(wantImages, " ") {
		t.Errorf("Images:\n got %v\nwant %v", got, wantImages)
	}

	held := strings.Join(wantImages, ", ")
	for _, tc := range []struct {
		image string
		held  bool
	}{
		{"python:3.11-slim", true},
		{"library/python:3.11-slim", true},
		{"docker.io/library/python:3.11-slim", true},
		{"docker.io/python:3.11-slim", true},
		{"index.docker.io/library/python:3.12-slim", true},
		{" python:3.11-alpine ", true},
		{"demo/legacy-python:3.8", true},
		{"docker.io/demo/legacy-python:3.10", true},
		{"zeta:2", true},
		{reg.Host + "/library/python:3.11-slim", true},
		{"python@" + slim.String(), true},
		{"python:3.11-slim@" + slim.String(), true},
		{"python:no-such-tag@" + slim.String(), true}, // pulls go by the digest
		{"demo/legacy-python@" + legacy.String(), true},
		{"zeta@" + other.Digest.String(), true},

		{"python:3.11-slimm", false},
		{"python", false}, // python:latest
		{"python:3.8", false},
		{"pyhton:3.11-slim", false},
		{"legacy-python:3.8", false}, // library/legacy-python
		{"ghcr.io/library/python:3.11-slim", false},
		{"localhost:5000/library/python:3.11-slim", false},
		{"Python:3.11-slim", false},
		{"", false},
		{"ocidir://dist/image", false},
		{"python@" + legacy.String(), false}, // another repository's manifest
		{"python@sha256:0123456789012345678901234567890123456789012345678901234567890123", false},
	} {
		err := reg.Lookup(tc.image)
		if tc.held {
			if err != nil {
				t.Errorf("Lookup(%q) = %v, want nil", tc.image, err)
			}
			continue
		}
		var nh *NotHeldError
		if !errors.As(err, &nh) || !errors.Is(err, errs.ErrNotFound) {
			t.Errorf("Lookup(%q) = %v, want a *NotHeldError that is errs.ErrNotFound", tc.image, err)
			continue
		}
		msg := err.Error()
		if !strings.HasSuffix(msg, "is not in the demo registry; it holds "+held) {
			t.Errorf("Lookup(%q): %q does not list what the registry holds", tc.image, msg)
		}
		if strings.Contains(msg, reg.Host) && !strings.Contains(tc.image, reg.Host) {
			t.Errorf("Lookup(%q): %q names the registry's address", tc.image, msg)
		}
		if strings.Count(msg, ". ") > 0 || strings.Contains(msg, "\n") {
			t.Errorf("Lookup(%q): %q is more than one sentence", tc.image, msg)
		}
	}
	if got, want := reg.Lookup("python:3.11-slimm").Error(), "python:3.11-slimm is not in the demo registry; it holds "+held; got != want {
		t.Errorf("message:\n got %q\nwant %q", got, want)
	}
}

func TestNotHeldErrorMessages(t *testing.T) {
	for _, tc := range []struct {
		err  NotHeldError
		want string
	}{
		{NotHeldError{Image: "python:3.11-slimm", Held: []string{"python:3.11-slim", "demo/legacy-python:3.8"}},
			"python:3.11-slimm is not in the demo registry; it holds python:3.11-slim, demo/legacy-python:3.8"},
		{NotHeldError{Image: "python:3.11-slim"}, "python:3.11-slim is not in the demo registry, which holds no images"},
		{NotHeldError{Image: " ", Held: []string{"python:3.11-slim"}}, "An empty image name is not in the demo registry; it holds python:3.11-slim"},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
	}
}

// TestLookupOfRemoteRegistries: what a registry reached over the network holds is not
// known here; Lookup leaves the answer to the pull.
func TestLookupOfRemoteRegistries(t *testing.T) {
	reg := Connect("127.0.0.1:1")
	if err := reg.Lookup("python:3.11-slimm"); err != nil {
		t.Errorf("Lookup on a remote registry = %v, want nil (unknown)", err)
	}
	if got := reg.Images(); got != nil {
		t.Errorf("Images of a remote registry = %v, want nil (unknown)", got)
	}
}
