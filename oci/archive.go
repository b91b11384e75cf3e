package oci

import (
	"archive/tar"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	digest "github.com/opencontainers/go-digest"
	"github.com/regclient/regclient/types/descriptor"
	"github.com/regclient/regclient/types/mediatype"
	v1 "github.com/regclient/regclient/types/oci/v1"
)

// WriteArchive writes img, one image of the layout s summarises, to w as a tar that
// `docker load` and `podman load` both read: an OCI layout holding that image alone
// (oci-layout, index.json, blobs/sha256/…) and docker's manifest.json naming the same
// blobs, which is what `docker save` writes since Docker 25. A layout of several
// platforms cannot be loaded as it is (an engine takes one image per platform), so
// this is how one platform of it reaches an engine. Each blob is checked against its
// digest as it is copied: a damaged layout fails instead of producing an archive an
// engine would refuse.
func (s *Summary) WriteArchive(ctx context.Context, w io.Writer, img ImageSummary) error {
	entry := descriptor.Descriptor{MediaType: img.Entry.MediaType, Digest: img.Entry.Digest, Size: img.Entry.Size,
		Platform: img.IndexPlatform, Annotations: map[string]string{}}
	if entry.Platform == nil {
		p := img.Platform()
		entry.Platform = &p
	}
	if img.RefName != "" {
		entry.Annotations["org.opencontainers.image.ref.name"] = img.RefName
	}
	if img.Name != "" {
		entry.Annotations["io.containerd.image.name"] = img.Name
	}
	index, err := json.Marshal(v1.Index{Versioned: v1.IndexSchemaVersion, MediaType: mediatype.OCI1ManifestList, Manifests: []descriptor.Descriptor{entry}})
	if err != nil {
		return fmt.Errorf("encode index.json: %w", err)
	}
	var repoTags []string
	if img.Name != "" {
		repoTags = []string{img.Name}
	}
	dm, err := newDockerManifest(img.ConfigDigest, img.Layers, append(repoTags, img.alsoFull...))
	if err != nil {
		return fmt.Errorf("%s: %w", s.Dir, err)
	}
	blobs := append([]descriptor.Descriptor{entry, {Digest: img.ConfigDigest, Size: -1}}, img.Layers...)
	manifestJSON, err := json.Marshal([]dockerManifest{dm})
	if err != nil {
		return fmt.Errorf("encode %s: %w", dockerManifestFile, err)
	}

	tw := tar.NewWriter(w)
	for _, f := range []struct {
		name string
		data []byte
	}{{layoutFile, []byte(layoutVersion)}, {indexFile, index}, {dockerManifestFile, manifestJSON}} {
		if err := tw.WriteHeader(archiveHeader(f.name, int64(len(f.data)))); err != nil {
			return fmt.Errorf("write archive: %w", err)
		}
		if _, err := tw.Write(f.data); err != nil {
			return fmt.Errorf("write archive: %w", err)
		}
	}
	for _, dir := range []string{"blobs/", "blobs/sha256/"} {
		hdr := archiveHeader(dir, 0)
		hdr.Typeflag, hdr.Mode = tar.TypeDir, 0o755
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("write archive: %w", err)
		}
	}
	written := map[digest.Digest]bool{}
	for _, b := range blobs {
		if written[b.Digest] {
			continue // a layer an image lists twice is stored once
		}
		written[b.Digest] = true
		if err := s.copyBlob(ctx, tw, b); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("write archive: %w", err)
	}
	return nil
}

// copyBlob adds blob d of the layout to tw, verified; a size of -1 takes the file's.
func (s *Summary) copyBlob(ctx context.Context, tw *tar.Writer, d descriptor.Descriptor) error {
	f, err := openBlob(s.fsys, d.Digest)
	if err != nil {
		return fmt.Errorf("%s: blob %s: %w; rebuild the image", s.Dir, d.Digest, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("%s: blob %s: %w", s.Dir, d.Digest, err)
	}
	size := d.Size
	if size < 0 {
		size = fi.Size()
	}
	if fi.Size() != size {
		return fmt.Errorf("%s: blob %s has %d bytes where its descriptor says %d: the layout is damaged; rebuild the image", s.Dir, d.Digest, fi.Size(), size)
	}
	name, err := blobName(d.Digest)
	if err != nil {
		return err
	}
	if err := tw.WriteHeader(archiveHeader(name, size)); err != nil {
		return fmt.Errorf("write archive: %w", err)
	}
	verifier := d.Digest.Verifier()
	if _, err := io.CopyBuffer(io.MultiWriter(tw, verifier), ctxReader{ctx: ctx, r: f}, CopyBuffer(size)); err != nil {
		return fmt.Errorf("write archive: blob %s: %w", d.Digest, err)
	}
	if !verifier.Verified() {
		return fmt.Errorf("%s: blob %s does not match its digest: the layout is damaged; rebuild the image", s.Dir, d.Digest)
	}
	return nil
}

// archiveHeader is a regular file owned by root, dated the epoch: the same image gives
// the same archive.
func archiveHeader(name string, size int64) *tar.Header {
	return &tar.Header{Name: name, Size: size, Mode: 0o644, Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)}
}
