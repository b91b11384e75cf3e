package oci

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	digest "github.com/opencontainers/go-digest"
	"github.com/regclient/regclient/types/descriptor"
	"github.com/regclient/regclient/types/mediatype"
	v1 "github.com/regclient/regclient/types/oci/v1"
)

// dockerManifestFile is docker's own index of a `docker save` archive. Docker before 25
// reads nothing else, so a layout with one beside index.json is both an OCI layout and
// an archive `docker load` takes (what `docker save` itself writes since Docker 25).
const dockerManifestFile = "manifest.json"

// dockerManifest is one image of manifest.json.
type dockerManifest struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// newDockerManifest names an image's config and layers by their paths in a layout.
func newDockerManifest(config digest.Digest, layers []descriptor.Descriptor, repoTags []string) (dockerManifest, error) {
	dm := dockerManifest{RepoTags: repoTags}
	var err error
	if dm.Config, err = blobName(config); err != nil {
		return dm, fmt.Errorf("config: %w", err)
	}
	for _, l := range layers {
		name, err := blobName(l.Digest)
		if err != nil {
			return dm, fmt.Errorf("layer: %w", err)
		}
		dm.Layers = append(dm.Layers, name)
	}
	return dm, nil
}

// DockerLoad is the image `docker load` of a layout gets: the image manifest that
// manifest.json describes, and its names.
type DockerLoad struct {
	Manifest digest.Digest
	RepoTags []string
}

// PlatformIndex is the image index of one image per platform, naming each by its
// platform alone: a layout's tags stay on the entry that names the index. The layout
// keeps it as a blob and a push sends these very bytes, so both have one digest.
func PlatformIndex(manifests []descriptor.Descriptor) v1.Index {
	entries := make([]descriptor.Descriptor, len(manifests))
	for i, m := range manifests {
		entries[i] = descriptor.Descriptor{MediaType: m.MediaType, Digest: m.Digest, Size: m.Size, Platform: m.Platform}
	}
	return v1.Index{Versioned: v1.IndexSchemaVersion, MediaType: mediatype.OCI1ManifestList, Manifests: entries}
}

// readDockerManifest reads the layout's manifest.json; absent, it is nil with no error.
func readDockerManifest(fsys fs.FS) ([]dockerManifest, bool, error) {
	if _, err := fs.Stat(fsys, dockerManifestFile); err != nil {
		return nil, false, nil
	}
	var dms []dockerManifest
	if err := readJSON(fsys, dockerManifestFile, &dms); err != nil {
		return nil, true, fmt.Errorf("%s: %w", dockerManifestFile, err)
	}
	return dms, true, nil
}

// checkDockerManifest compares manifest.json with the images index.json gives: each of
// its entries must be one of them, config and layers alike, under that image's names,
// and no name may stand twice (docker would keep the last). It sets s.DockerLoad.
func (s *Summary) checkDockerManifest() {
	dms, present, err := readDockerManifest(s.fsys)
	if !present {
		return
	}
	if err != nil {
		s.DockerProblems = append(s.DockerProblems, err.Error()+"; rebuild the image")
		return
	}
	named := map[string]bool{}
	for _, dm := range dms {
		i := slices.IndexFunc(s.Images, func(img ImageSummary) bool {
			want, err := newDockerManifest(img.ConfigDigest, img.Layers, nil)
			return err == nil && want.Config == dm.Config && slices.Equal(want.Layers, dm.Layers)
		})
		if i < 0 {
			s.DockerProblems = append(s.DockerProblems, fmt.Sprintf("%s names config %s, which no image of index.json has: docker load would get another image than the layout holds; rebuild the image",
				dockerManifestFile, strings.TrimPrefix(dm.Config, "blobs/")))
			continue
		}
		if s.DockerLoad == nil {
			s.DockerLoad = &s.Images[i]
		}
		img := s.Images[i]
		for _, t := range dm.RepoTags {
			switch {
			case named[t]:
				s.DockerProblems = append(s.DockerProblems, fmt.Sprintf("%s names %s twice: docker load keeps one of them", dockerManifestFile, t))
			case t != img.Name && !slices.Contains(img.alsoFull, t):
				s.DockerProblems = append(s.DockerProblems, fmt.Sprintf("%s calls the %s image %s, which index.json does not: docker and OCI tools would load it under different names; rebuild the image",
					dockerManifestFile, PlatformString(img.Platform()), t))
			}
			named[t] = true
		}
	}
}

// dockerManifestFor is manifest.json for load, whose manifest must be in the layout.
func dockerManifestFor(fsys fs.FS, load DockerLoad) ([]byte, error) {
	var m v1.Manifest
	if err := readBlobJSON(fsys, load.Manifest, &m); err != nil {
		return nil, fmt.Errorf("read manifest %s: %w", load.Manifest, err)
	}
	dm, err := newDockerManifest(m.Config.Digest, m.Layers, load.RepoTags)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", load.Manifest, err)
	}
	b, err := json.Marshal([]dockerManifest{dm})
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", dockerManifestFile, err)
	}
	return b, nil
}
