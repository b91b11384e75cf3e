package oci

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	digest "github.com/opencontainers/go-digest"
)

// readArchive reads a tar into memory, keyed by name.
func readArchive(t *testing.T, data []byte) fstest.MapFS {
	t.Helper()
	files := fstest.MapFS{}
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Typeflag == tar.TypeDir {
			continue
		}
		files[hdr.Name] = &fstest.MapFile{Data: body, Mode: 0o644}
	}
}

// TestWriteArchive: the archive is a layout of the one image (Inspect reads it back the
// same) and a docker manifest.json naming the same blobs, every blob under its digest.
func TestWriteArchive(t *testing.T) {
	arm64 := Platform{OS: "linux", Architecture: "arm64"}
	s, archive := archiveOf(t, arm64, "myapp:arm64", "docker.io/library/myapp:arm64")
	files := readArchive(t, archive)

	for name, f := range files {
		if encoded, ok := strings.CutPrefix(name, "blobs/sha256/"); ok {
			if got := digest.FromBytes(f.Data).Encoded(); got != encoded {
				t.Errorf("%s holds bytes of digest %s", name, got)
			}
		}
	}
	back, err := InspectFS(files, "archive")
	if err != nil {
		t.Fatalf("the archive is not a layout Inspect reads: %v", err)
	}
	if len(back.Images) != 1 {
		t.Fatalf("archive layout has %d images, want 1", len(back.Images))
	}
	got, want := back.Images[0], s.Images[0]
	if got.Digest != want.Digest || !SamePlatform(got.Platform(), arm64) || got.RefName != "myapp:arm64" || got.Name != "docker.io/library/myapp:arm64" || len(got.Problems) != 0 {
		t.Errorf("archive image %+v, want the layout's %+v", got, want)
	}

	var dm []dockerManifest
	if err := json.Unmarshal(files["manifest.json"].Data, &dm); err != nil || len(dm) != 1 {
		t.Fatalf("manifest.json: %v %s", err, files["manifest.json"].Data)
	}
	if len(dm[0].RepoTags) != 1 || dm[0].RepoTags[0] != "docker.io/library/myapp:arm64" {
		t.Errorf("manifest.json RepoTags %q", dm[0].RepoTags)
	}
	if dm[0].Config != "blobs/sha256/"+want.ConfigDigest.Encoded() || len(dm[0].Layers) != len(want.Layers) {
		t.Errorf("manifest.json %+v does not name the image's config and %d layers", dm[0], len(want.Layers))
	}
	for _, p := range append([]string{dm[0].Config}, dm[0].Layers...) {
		if files[p] == nil {
			t.Errorf("manifest.json names %s, which the archive lacks", p)
		}
	}

	var again bytes.Buffer
	if err := s.WriteArchive(context.Background(), &again, s.Images[0]); err != nil || !bytes.Equal(again.Bytes(), archive) {
		t.Errorf("a second archive of the same image differs (err %v)", err)
	}
}

// TestWriteArchiveRefusesDamagedBlobs: a layer changed or cut short in the layout fails
// the archive instead of giving an engine bytes it would refuse.
func TestWriteArchiveRefusesDamagedBlobs(t *testing.T) {
	tests := []struct {
		name   string
		damage func([]byte) []byte
		want   string
	}{
		{"flipped byte", func(b []byte) []byte { b[len(b)/2] ^= 0xff; return b }, "does not match its digest"},
		{"cut short", func(b []byte) []byte { return b[:len(b)-1] }, "bytes where its descriptor says"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			amd64 := Platform{OS: "linux", Architecture: "amd64"}
			dir := layoutWith(t, amd64, amd64, map[string][]byte{"app/main.py": bytes.Repeat([]byte("x"), 4096)})
			s, err := Inspect(dir)
			if err != nil {
				t.Fatal(err)
			}
			path := BlobPath(dir, s.Images[0].Layers[0].Digest)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, tt.damage(data), 0o644); err != nil {
				t.Fatal(err)
			}
			err = s.WriteArchive(context.Background(), io.Discard, s.Images[0])
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "rebuild the image") {
				t.Errorf("archive of a damaged layer: %v, want %q", err, tt.want)
			}
		})
	}
}

// archiveOf builds a one-image layout of platform p, named as a build names it, and
// returns its summary and the archive WriteArchive writes of it.
func archiveOf(t *testing.T, p Platform, refName, name string) (*Summary, []byte) {
	t.Helper()
	dir := layoutWith(t, p, p, map[string][]byte{"app/main.py": []byte("print('hi')\n")})
	nameImage(t, dir, refName, name)
	s, err := Inspect(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := s.WriteArchive(context.Background(), &out, s.Images[0]); err != nil {
		t.Fatal(err)
	}
	return s, out.Bytes()
}

// nameImage gives the layout's one image the names a build gives it.
func nameImage(t *testing.T, dir, refName, name string) {
	t.Helper()
	path := filepath.Join(dir, "index.json")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var idx map[string]any
	if err := json.Unmarshal(raw, &idx); err != nil {
		t.Fatal(err)
	}
	entry := idx["manifests"].([]any)[0].(map[string]any)
	entry["annotations"] = map[string]string{"org.opencontainers.image.ref.name": refName, "io.containerd.image.name": name}
	if raw, err = json.Marshal(idx); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
}
