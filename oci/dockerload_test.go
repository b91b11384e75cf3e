package oci

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/regclient/regclient/types/descriptor"
	"github.com/regclient/regclient/types/mediatype"
	v1 "github.com/regclient/regclient/types/oci/v1"
)

// twoPlatformLayout writes an amd64 and an arm64 image, named myapp:multi through one
// nested index as a multi-platform build stores them, and commits with load.
func twoPlatformLayout(t *testing.T, load func(amd64, arm64 descriptor.Descriptor) *DockerLoad) (dir string, l *Layout, amd64, arm64 descriptor.Descriptor) {
	t.Helper()
	dir, l = newLayout(t)
	t.Cleanup(func() { l.Close() })
	ctx := context.Background()
	image := func(arch string) descriptor.Descriptor {
		var tarball bytes.Buffer
		tw := tar.NewWriter(&tarball)
		if err := tw.WriteHeader(&tar.Header{Name: arch, Mode: 0o644, Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if err := tw.Close(); err != nil {
			t.Fatal(err)
		}
		layer, err := l.CopyBlob(ctx, descriptor.Descriptor{MediaType: mediatype.OCI1Layer}, &tarball)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := l.PutJSON(ctx, mediatype.OCI1ImageConfig, map[string]any{"architecture": arch, "os": "linux", "rootfs": map[string]any{"type": "layers"}})
		if err != nil {
			t.Fatal(err)
		}
		m, err := l.PutJSON(ctx, mediatype.OCI1Manifest, v1.Manifest{Versioned: v1.ManifestSchemaVersion, MediaType: mediatype.OCI1Manifest, Config: cfg, Layers: []descriptor.Descriptor{layer}})
		if err != nil {
			t.Fatal(err)
		}
		m.Platform = &Platform{OS: "linux", Architecture: arch}
		return m
	}
	amd64, arm64 = image("amd64"), image("arm64")
	nested, err := l.PutJSON(ctx, mediatype.OCI1ManifestList, PlatformIndex([]descriptor.Descriptor{amd64, arm64}))
	if err != nil {
		t.Fatal(err)
	}
	nested.Annotations = map[string]string{"org.opencontainers.image.ref.name": "multi", "io.containerd.image.name": "docker.io/library/myapp:multi"}
	if err := l.CommitIndex(v1.Index{Versioned: v1.IndexSchemaVersion, MediaType: mediatype.OCI1ManifestList, Manifests: []descriptor.Descriptor{nested}}, load(amd64, arm64)); err != nil {
		t.Fatal(err)
	}
	return dir, l, amd64, arm64
}

func TestCommitIndexWritesDockerManifest(t *testing.T) {
	dir, l, _, arm64 := twoPlatformLayout(t, func(_, arm64 descriptor.Descriptor) *DockerLoad {
		return &DockerLoad{Manifest: arm64.Digest, RepoTags: []string{"docker.io/library/myapp:multi"}}
	})
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var got []dockerManifest
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("manifest.json: %v\n%s", err, b)
	}
	var m v1.Manifest
	if err := readBlobJSON(os.DirFS(dir), arm64.Digest, &m); err != nil {
		t.Fatal(err)
	}
	want := dockerManifest{Config: "blobs/sha256/" + m.Config.Digest.Encoded(), RepoTags: []string{"docker.io/library/myapp:multi"},
		Layers: []string{"blobs/sha256/" + m.Layers[0].Digest.Encoded()}}
	if len(got) != 1 || got[0].Config != want.Config || strings.Join(got[0].Layers, " ") != strings.Join(want.Layers, " ") ||
		strings.Join(got[0].RepoTags, " ") != strings.Join(want.RepoTags, " ") {
		t.Fatalf("manifest.json = %+v, want [%+v]", got, want)
	}

	s, err := Inspect(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Images) != 2 || s.DockerLoad == nil || s.DockerLoad.Digest != arm64.Digest || len(s.DockerProblems) != 0 {
		t.Fatalf("Inspect: %d images, docker load %v, problems %q; want 2 images, the arm64 one loaded, no problems", len(s.Images), s.DockerLoad, s.DockerProblems)
	}
	for _, img := range s.Images {
		if img.Name != "docker.io/library/myapp:multi" || img.RefName != "multi" {
			t.Errorf("the %s image is named %q (%q), want the nested index's tag", PlatformString(img.Platform()), img.Name, img.RefName)
		}
	}

	// A commit without an image for docker load removes the old manifest.json: it would
	// load the previous image.
	if err := l.CommitIndex(v1.Index{Versioned: v1.IndexSchemaVersion, Manifests: []descriptor.Descriptor{arm64}}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "manifest.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("manifest.json outlived the commit that had none (stat: %v)", err)
	}
}

func TestCommitIndexRefusesDockerLoadOutsideIndex(t *testing.T) {
	dir, l, amd64, arm64 := twoPlatformLayout(t, func(amd64, _ descriptor.Descriptor) *DockerLoad {
		return &DockerLoad{Manifest: amd64.Digest}
	})
	before, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	err = l.CommitIndex(v1.Index{Versioned: v1.IndexSchemaVersion, Manifests: []descriptor.Descriptor{arm64}}, &DockerLoad{Manifest: amd64.Digest})
	if err == nil || !strings.Contains(err.Error(), "not in the new index") {
		t.Fatalf("CommitIndex with docker load of an image the index lacks: err = %v", err)
	}
	after, _ := os.ReadFile(filepath.Join(dir, "index.json"))
	if string(after) != string(before) {
		t.Error("a refused commit replaced index.json")
	}
}

// TestVerifyComparesDockerManifest: inspect --verify reports a manifest.json that
// disagrees with index.json, whichever way it does.
func TestVerifyComparesDockerManifest(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(dms []dockerManifest) any
		wants string // in a finding; "" for none
	}{
		{"as written", func(dms []dockerManifest) any { return dms }, ""},
		{"another config", func(dms []dockerManifest) any {
			dms[0].Config = "blobs/sha256/" + strings.Repeat("0", 64)
			return dms
		}, "which no image of index.json has"},
		{"a layer left out", func(dms []dockerManifest) any {
			dms[0].Layers = nil
			return dms
		}, "which no image of index.json has"},
		{"another name", func(dms []dockerManifest) any {
			dms[0].RepoTags = []string{"docker.io/library/other:1"}
			return dms
		}, "calls the linux/amd64 image docker.io/library/other:1, which index.json does not"},
		{"a name twice", func(dms []dockerManifest) any {
			return append(dms, dms[0])
		}, "names docker.io/library/myapp:multi twice"},
		{"not JSON", func([]dockerManifest) any { return []byte(`{"Config":`) }, "manifest.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, _, _, _ := twoPlatformLayout(t, func(amd64, _ descriptor.Descriptor) *DockerLoad {
				return &DockerLoad{Manifest: amd64.Digest, RepoTags: []string{"docker.io/library/myapp:multi"}}
			})
			path := filepath.Join(dir, "manifest.json")
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var dms []dockerManifest
			if err := json.Unmarshal(b, &dms); err != nil {
				t.Fatal(err)
			}
			edited, isRaw := tt.edit(dms).([]byte)
			if !isRaw {
				if edited, err = json.Marshal(tt.edit(dms)); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(path, edited, 0o644); err != nil {
				t.Fatal(err)
			}
			findings, err := Verify(dir)
			if err != nil {
				t.Fatal(err)
			}
			var docker []string
			for _, f := range findings {
				if f.Platform == "manifest.json" {
					docker = append(docker, f.String())
				}
			}
			switch {
			case tt.wants == "" && len(docker) > 0:
				t.Errorf("findings %q for a manifest.json that agrees with the index", docker)
			case tt.wants != "" && (len(docker) != 1 || !strings.Contains(docker[0], tt.wants)):
				t.Errorf("findings %q, want one saying %q", docker, tt.wants)
			}
		})
	}
}

// TestInspectWaitsOutACommit: a reader that lands between a commit's two renames
// (index.json new, manifest.json not yet) reads again once the commit ends, instead of
// reporting a disagreement that lasts a moment.
func TestInspectWaitsOutACommit(t *testing.T) {
	dir, l, amd64, arm64 := twoPlatformLayout(t, func(amd64, _ descriptor.Descriptor) *DockerLoad {
		return &DockerLoad{Manifest: amd64.Digest}
	})
	one := func(d descriptor.Descriptor) []byte {
		b, err := json.Marshal(v1.Index{Versioned: v1.IndexSchemaVersion, MediaType: mediatype.OCI1ManifestList, Manifests: []descriptor.Descriptor{d}})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if err := l.writeFileAtomic(indexFile, one(amd64)); err != nil {
		t.Fatal(err)
	}
	armManifest, err := dockerManifestFor(os.DirFS(dir), DockerLoad{Manifest: arm64.Digest})
	if err != nil {
		t.Fatal(err)
	}
	// The next commit, in flight: index.json names only arm64, manifest.json still amd64.
	if err := l.writeFileAtomic(indexFile, one(arm64)); err != nil {
		t.Fatal(err)
	}
	done := make(chan *Summary)
	go func() {
		s, err := Inspect(dir)
		if err != nil {
			t.Error(err)
		}
		done <- s
	}()
	time.Sleep(settleTime / 4)
	if err := l.writeFileAtomic(dockerManifestFile, armManifest); err != nil {
		t.Fatal(err)
	}
	if s := <-done; s == nil || len(s.DockerProblems) != 0 || s.DockerLoad == nil || s.DockerLoad.Digest != arm64.Digest {
		t.Errorf("Inspect during a commit: %+v", s)
	}
}
