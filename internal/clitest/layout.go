package clitest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// LayoutIndex is an OCI layout's index.json, as far as tests read it.
type LayoutIndex struct {
	Manifests []IndexEntry `json:"manifests"`
}

// IndexEntry is one descriptor of an index.
type IndexEntry struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Platform    json.RawMessage   `json:"platform,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// ReadIndex reads dir/index.json.
func ReadIndex(t testing.TB, dir string) LayoutIndex {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	var idx LayoutIndex
	if err := json.Unmarshal(b, &idx); err != nil {
		t.Fatal(err)
	}
	return idx
}

// ReadImages is the image entries of a layout as the engines read it: index.json's own,
// or, where an entry is a nested index (a multi-platform build), that index's, named by
// the entry's tag.
func ReadImages(t testing.TB, dir string) []IndexEntry {
	t.Helper()
	var out []IndexEntry
	for _, e := range ReadIndex(t, dir).Manifests {
		if e.MediaType != "application/vnd.oci.image.index.v1+json" {
			out = append(out, e)
			continue
		}
		var nested LayoutIndex
		ReadBlobJSON(t, dir, e.Digest, &nested)
		for _, c := range nested.Manifests {
			if c.Annotations != nil {
				t.Errorf("nested index entry %s has annotations %v; the tag belongs to the index", c.Digest, c.Annotations)
			}
			c.Annotations = e.Annotations
			out = append(out, c)
		}
	}
	return out
}

// ConfigOf follows the seed's own jq pipeline: index -> manifest -> config.
func ConfigOf(t testing.TB, dir, manifestDigest string) map[string]any {
	t.Helper()
	var m struct {
		Config struct{ Digest string } `json:"config"`
	}
	ReadBlobJSON(t, dir, manifestDigest, &m)
	var cfg map[string]any
	ReadBlobJSON(t, dir, m.Config.Digest, &cfg)
	return cfg
}

// ReadBlobJSON decodes the blob d of the layout dir into v.
func ReadBlobJSON(t testing.TB, dir, d string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "blobs", "sha256", strings.TrimPrefix(d, "sha256:")))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}
