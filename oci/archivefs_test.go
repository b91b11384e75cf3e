package oci

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	digest "github.com/opencontainers/go-digest"
	"github.com/regclient/regclient/types/descriptor"
	"github.com/regclient/regclient/types/mediatype"
	v1 "github.com/regclient/regclient/types/oci/v1"
)

// TestInspectPathReadsArchives: an archive WriteArchive wrote reads back in place as the
// image it holds, checks and all.
func TestInspectPathReadsArchives(t *testing.T) {
	arm := Platform{OS: "linux", Architecture: "arm", Variant: "v7"}
	s, data := archiveOf(t, arm, "1.0", "docker.io/library/myapp:1.0")
	archive := filepath.Join(t.TempDir(), "myapp.tar")
	if err := os.WriteFile(archive, data, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := InspectPath(archive)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Images) != 1 || got.Images[0].Digest != s.Images[0].Digest || !SamePlatform(got.Images[0].Platform(), arm) || got.Images[0].Name != "docker.io/library/myapp:1.0" {
		t.Fatalf("archive read as %+v, want the layout's image", got.Images)
	}
	findings, err := got.Verify()
	if err != nil || len(findings) != 0 {
		t.Errorf("Verify of the archive: %v %v", findings, err)
	}
}

// TestInspectPathRefusesWhatIsNotAnArchive: each is a one-line error that says what the
// file is; hostile entries (a file and a directory of one name, paths out of the
// archive) neither panic nor count.
func TestInspectPathRefusesWhatIsNotAnArchive(t *testing.T) {
	tarOf := func(entries ...string) []byte { // name, body, name, body, ...
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for i := 0; i < len(entries); i += 2 {
			tw.WriteHeader(&tar.Header{Name: entries[i], Size: int64(len(entries[i+1])), Mode: 0o644, Typeflag: tar.TypeReg})
			tw.Write([]byte(entries[i+1]))
		}
		tw.Close()
		return buf.Bytes()
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(tarOf("index.json", "{}"))
	zw.Close()

	tests := []struct {
		name string
		data []byte // nil: the file does not exist
		want string
	}{
		{"missing", nil, "does not exist: build an image with `pycontainer build`"},
		{"gzip", gz.Bytes(), "is gzip-compressed: decompress it first (gunzip -k "},
		{"not a tar", bytes.Repeat([]byte("junk"), 300), "is not a tar archive"},
		{"a tar of something else", tarOf("main.py", "print(1)"), "is a tar archive without index.json, not an OCI image archive"},
		{"docker save before 25", tarOf("manifest.json", "[]", "abc/layer.tar", "x"), "is a docker save archive without index.json (Docker before 25)"},
		{"hostile names", tarOf("a", "file", "a/b", "under a file", "../index.json", "{}", "/index.json", "{}"), "without index.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "image.tar")
			if tt.data != nil {
				if err := os.WriteFile(path, tt.data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			_, err := InspectPath(path)
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("InspectPath: %v, want one line with %q", err, tt.want)
			}
		})
	}
}

// TestInspectNestedIndexes: a layout copied from a registry (skopeo copy --all, docker
// save) holds a nested index with attestation manifests beside the images, and may
// lack the images of platforms that were never pulled. Attestations are counted, not
// shown as images of platform unknown/unknown; absent images are named, not an error;
// the images take the index's tag.
// oneImageLayout is a layout of one linux/amd64 image, open for writing more blobs, and
// that image's index entry.
func oneImageLayout(t *testing.T) (string, *Layout, descriptor.Descriptor) {
	t.Helper()
	amd64 := Platform{OS: "linux", Architecture: "amd64"}
	dir := layoutWith(t, amd64, amd64, nil)
	l, err := OpenLayout(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	var top v1.Index
	raw, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &top); err != nil {
		t.Fatal(err)
	}
	return dir, l, top.Manifests[0]
}

// writeIndex writes a layout's index.json by hand: the layout's own commit refuses an
// index naming a blob it lacks.
func writeIndex(t *testing.T, dir string, entries ...descriptor.Descriptor) {
	t.Helper()
	raw, err := json.Marshal(v1.Index{Versioned: v1.IndexSchemaVersion, Manifests: entries})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "index.json"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestInspectNestedIndexes(t *testing.T) {
	dir, l, image := oneImageLayout(t)
	ctx := context.Background()
	att, err := l.PutJSON(ctx, mediatype.OCI1Manifest, v1.Manifest{Versioned: v1.ManifestSchemaVersion, MediaType: mediatype.OCI1Manifest,
		Config: descriptor.Descriptor{MediaType: "application/vnd.oci.image.config.v1+json", Digest: image.Digest, Size: image.Size}})
	if err != nil {
		t.Fatal(err)
	}
	att.Platform = &Platform{OS: "unknown", Architecture: "unknown"}
	att.Annotations = map[string]string{"vnd.docker.reference.type": "attestation-manifest", "vnd.docker.reference.digest": image.Digest.String()}
	nested, err := l.PutJSON(ctx, mediatype.OCI1ManifestList, v1.Index{Versioned: v1.IndexSchemaVersion, MediaType: mediatype.OCI1ManifestList,
		Manifests: []descriptor.Descriptor{image, att, {MediaType: mediatype.OCI1Manifest, Digest: digest.FromString("never pulled"), Size: 500,
			Platform: &Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}}}})
	if err != nil {
		t.Fatal(err)
	}
	nested.Annotations = map[string]string{"org.opencontainers.image.ref.name": "3.11-slim"}
	alias := nested // the same index under another tag, as skopeo writes a second copy
	alias.Annotations = map[string]string{"org.opencontainers.image.ref.name": "3.11"}
	writeIndex(t, dir, nested, alias)

	s, err := Inspect(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Images) != 1 || s.Attestations != 1 || len(s.Absent) != 1 || s.Absent[0].Platform.Architecture != "arm64" {
		t.Fatalf("%d images, %d attestations, absent %v; want 1, 1 and the arm64 image", len(s.Images), s.Attestations, s.Absent)
	}
	if img := s.Images[0]; img.RefName != "3.11-slim" || len(img.Problems) != 0 || img.DisplayName() != "3.11-slim (also 3.11)" {
		t.Errorf("image %q (problems %v), want the nested index's tags 3.11-slim and 3.11", img.DisplayName(), img.Problems)
	}
}

// TestInspectOneImageManyNames: every entry naming one image, at the top or through a
// nested index named several times, adds a name to one image; an entry stating another
// platform for it stays a separate image, for its mismatch to be reported.
func TestInspectOneImageManyNames(t *testing.T) {
	dir, l, image := oneImageLayout(t)
	amd64 := Platform{OS: "linux", Architecture: "amd64"}
	named := func(d descriptor.Descriptor, ref string) descriptor.Descriptor {
		d.Annotations = map[string]string{"org.opencontainers.image.ref.name": ref}
		return d
	}
	image.Platform = &amd64
	full := image
	full.Annotations = map[string]string{"org.opencontainers.image.ref.name": "1", "io.containerd.image.name": "docker.io/library/myapp:1"}
	bare := image // the entry skopeo writes for a second tag: no platform
	bare.Platform = nil
	nested, err := l.PutJSON(context.Background(), mediatype.OCI1ManifestList, v1.Index{Versioned: v1.IndexSchemaVersion, MediaType: mediatype.OCI1ManifestList,
		Manifests: []descriptor.Descriptor{image}})
	if err != nil {
		t.Fatal(err)
	}
	arm64 := image
	arm64.Platform = &Platform{OS: "linux", Architecture: "arm64"}

	tests := []struct {
		name    string
		entries []descriptor.Descriptor
		want    []string // each image's DisplayName
	}{
		{"two tags of an image", []descriptor.Descriptor{named(image, "1"), named(bare, "2")}, []string{"1 (also 2)"}},
		{"a nested index named twice", []descriptor.Descriptor{named(image, "a"), named(nested, "b"), named(nested, "c")}, []string{"a (also b, c)"}},
		{"an entry stating another platform", []descriptor.Descriptor{named(image, "1"), named(arm64, "2")}, []string{"1", "2"}},
		{"the same tag without its full name", []descriptor.Descriptor{full, named(bare, "1")}, []string{"docker.io/library/myapp:1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			writeIndex(t, dir, tt.entries...)
			s, err := Inspect(dir)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, img := range s.Images {
				got = append(got, img.DisplayName())
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("images %q, want %q", got, tt.want)
			}
		})
	}
}
