// Package demo generates multi-platform base images shaped like Docker Hub's python
// images — an index (OCI or Docker manifest list) with per-platform images and
// attestation entries, a layer shared by every platform and one layer per platform — and
// pushes them to a registry, or serves them from memory on loopback for `pycontainer
// demo`. The tests use the same generator.
package demo

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	digest "github.com/opencontainers/go-digest"
	"github.com/regclient/regclient"
	"github.com/regclient/regclient/config"
	"github.com/regclient/regclient/types/descriptor"
	"github.com/regclient/regclient/types/manifest"
	"github.com/regclient/regclient/types/mediatype"
	"github.com/regclient/regclient/types/ref"
)

// Registry is where generated images go: a running registry reached over plain HTTP,
// or the in-memory one Serve starts.
type Registry struct {
	Host    string // 127.0.0.1:PORT
	backend backend
	close   func() error
}

// backend stores blobs and manifests in a repository.
type backend interface {
	putBlob(ctx context.Context, repo string, d descriptor.Descriptor, data []byte) error
	// putManifest stores raw under reference, a tag or (for children) its digest.
	putManifest(ctx context.Context, repo, reference string, d descriptor.Descriptor, raw []byte) error
}

// Connect uses a registry that already runs (the Distribution registry, say) at host.
func Connect(host string) *Registry {
	return ConnectAuth(host, "", "")
}

// ConnectAuth is Connect with a login.
func ConnectAuth(host, user, password string) *Registry {
	rc := regclient.New(regclient.WithConfigHost(config.Host{Name: host, TLS: config.TLSDisabled, User: user, Pass: password}))
	return &Registry{Host: host, backend: remote{rc: rc, host: host}, close: func() error { return nil }}
}

// Close stops a registry started by Serve.
func (r *Registry) Close() error { return r.close() }

// remote pushes through regclient.
type remote struct {
	rc   *regclient.RegClient
	host string
}

func (r remote) putBlob(ctx context.Context, repo string, d descriptor.Descriptor, data []byte) error {
	rr, err := ref.New(r.host + "/" + repo)
	if err != nil {
		return err
	}
	_, err = r.rc.BlobPut(ctx, rr, d, bytes.NewReader(data))
	return err
}

func (r remote) putManifest(ctx context.Context, repo, reference string, d descriptor.Descriptor, raw []byte) error {
	rr, err := ref.New(r.host + "/" + repo)
	if err != nil {
		return err
	}
	m, err := manifest.New(manifest.WithRaw(raw), manifest.WithDesc(d))
	if err != nil {
		return err
	}
	target := rr.SetTag(reference)
	var opts []regclient.ManifestOpts
	if strings.HasPrefix(reference, "sha256:") {
		target, opts = rr.SetDigest(reference), []regclient.ManifestOpts{regclient.WithManifestChild()}
	}
	return r.rc.ManifestPut(ctx, target, m, opts...)
}

// Platform describes one image of a base index.
type Platform struct {
	OS, Architecture, Variant string
}

func (p Platform) String() string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// Spec describes a base image to push.
type Spec struct {
	Repo      string // e.g. library/python
	Tag       string // e.g. 3.11-slim
	Platforms []Platform
	// DockerMediaTypes pushes a Docker manifest list with Docker schema2 manifests.
	DockerMediaTypes bool
	// Attestation adds an unknown/unknown attestation manifest per platform, as BuildKit does.
	Attestation bool
	// Single pushes the first platform as a lone image manifest, no index.
	Single bool
	// PaddingBytes adds incompressible bytes to each platform's layer, for transfers
	// that take a while.
	PaddingBytes int
	// LayerSizes adds layers of incompressible bytes of these sizes to each platform's
	// image, below its python layer: a base of realistic weight for benchmarks.
	LayerSizes []int
	// RootFS maps a platform (as "os/arch[/variant]") to a directory whose contents become
	// that platform's layer instead of the fake python; for end-to-end runs.
	RootFS map[string]string
}

// PythonPlatforms are the platforms of Docker Hub's python:3.11-slim that matter most.
var PythonPlatforms = []Platform{
	{"linux", "amd64", ""},
	{"linux", "arm64", "v8"},
	{"linux", "arm", "v7"},
}

// Created is the creation time of every pushed image config.
var Created = time.Date(2026, 10, 1, 12, 0, 0, 0, time.UTC)

type pusher struct {
	ctx  context.Context
	r    *Registry
	repo string
	err  error
}

// Push stores the image described by spec and returns the digest of its top manifest.
func (r *Registry) Push(ctx context.Context, spec Spec) (digest.Digest, error) {
	p := &pusher{ctx: ctx, r: r, repo: spec.Repo}
	d := p.push(spec)
	if p.err != nil {
		return "", fmt.Errorf("push %s:%s: %w", spec.Repo, spec.Tag, p.err)
	}
	return d, nil
}

func (p *pusher) push(spec Spec) digest.Digest {
	manifestMT, indexMT, layerMT, configMT := mediatype.OCI1Manifest, mediatype.OCI1ManifestList, mediatype.OCI1LayerGzip, mediatype.OCI1ImageConfig
	if spec.DockerMediaTypes {
		manifestMT, indexMT, layerMT, configMT = mediatype.Docker2Manifest, mediatype.Docker2ManifestList, mediatype.Docker2LayerGzip, mediatype.Docker2ImageConfig
	}
	shared := p.blob(layerMT, p.tarGz(map[string]string{
		"etc/os-release": "PRETTY_NAME=\"pycontainer demo base (generated, not a real Python)\"\n",
	}))
	var entries, attestations []descriptor.Descriptor
	for _, plat := range spec.Platforms {
		var layer []byte
		if dir, ok := spec.RootFS[plat.String()]; ok {
			layer = p.tarDir(dir)
		} else {
			files := map[string]string{
				"usr/local/bin/python3": fmt.Sprintf("#!/bin/sh\n# demo python for %s\n", plat),
			}
			if spec.PaddingBytes > 0 {
				pad := make([]byte, spec.PaddingBytes)
				_, _ = rand.NewChaCha8(sha256.Sum256([]byte(spec.Repo + ":" + spec.Tag + "@" + plat.String()))).Read(pad)
				files["usr/local/lib/padding"] = string(pad)
			}
			layer = p.tarGz(files)
		}
		var extra []blob
		for i, size := range spec.LayerSizes {
			pad := make([]byte, size)
			_, _ = rand.NewChaCha8(sha256.Sum256([]byte(fmt.Sprintf("%s:%s@%s#%d", spec.Repo, spec.Tag, plat, i)))).Read(pad)
			extra = append(extra, p.blob(layerMT, p.tarGz(map[string]string{fmt.Sprintf("usr/lib/bench/layer%d", i): string(pad)})))
		}
		platLayer := p.blob(layerMT, layer)
		cfg := map[string]any{
			"architecture": plat.Architecture, "os": plat.OS, "created": Created.Format(time.RFC3339),
			"config": map[string]any{
				"Env": []string{"PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8", "PYTHON_VERSION=3.11.9"},
				"Cmd": []string{"python3"},
			},
			"rootfs":  map[string]any{"type": "layers", "diff_ids": diffIDs(shared, extra, platLayer)},
			"history": history(len(extra)),
		}
		if plat.Variant != "" {
			cfg["variant"] = plat.Variant
		}
		cfgDesc := p.blob(configMT, p.json(cfg))
		m := map[string]any{
			"schemaVersion": 2, "mediaType": manifestMT, "config": cfgDesc.desc,
			"layers": layerDescs(shared, extra, platLayer),
		}
		if spec.Single {
			return p.manifest(manifestMT, p.json(m), spec.Tag).Digest
		}
		md := p.manifest(manifestMT, p.json(m), "")
		entries = append(entries, withPlatform(md, plat))
		if spec.Attestation {
			att := p.blob("application/vnd.in-toto+json", []byte(`{"_type":"https://in-toto.io/Statement/v0.1","subject":"`+md.Digest.String()+`"}`))
			empty := p.blob(mediatype.OCI1ImageConfig, []byte(`{}`))
			am := map[string]any{"schemaVersion": 2, "mediaType": mediatype.OCI1Manifest, "config": empty.desc, "layers": []descriptor.Descriptor{att.desc}}
			ad := withPlatform(p.manifest(mediatype.OCI1Manifest, p.json(am), ""), Platform{OS: "unknown", Architecture: "unknown"})
			ad.Annotations = map[string]string{
				"vnd.docker.reference.digest": md.Digest.String(),
				"vnd.docker.reference.type":   "attestation-manifest",
			}
			attestations = append(attestations, ad)
		}
	}
	idx := map[string]any{"schemaVersion": 2, "mediaType": indexMT, "manifests": append(entries, attestations...)}
	return p.manifest(indexMT, p.json(idx), spec.Tag).Digest
}

func diffIDs(shared blob, extra []blob, plat blob) []digest.Digest {
	out := []digest.Digest{shared.diffID}
	for _, b := range extra {
		out = append(out, b.diffID)
	}
	return append(out, plat.diffID)
}

func layerDescs(shared blob, extra []blob, plat blob) []descriptor.Descriptor {
	out := []descriptor.Descriptor{shared.desc}
	for _, b := range extra {
		out = append(out, b.desc)
	}
	return append(out, plat.desc)
}

func history(extra int) []map[string]any {
	at := Created.Format(time.RFC3339)
	out := []map[string]any{{"created": at, "created_by": "demo base: os-release"}}
	for i := range extra {
		out = append(out, map[string]any{"created": at, "created_by": fmt.Sprintf("demo base: bench layer %d", i)})
	}
	return append(out, map[string]any{"created": at, "created_by": "demo base: python"})
}

type blob struct {
	desc   descriptor.Descriptor
	diffID digest.Digest
}

func (p *pusher) blob(mt string, data []byte) blob {
	if p.err != nil {
		return blob{}
	}
	d := descriptor.Descriptor{MediaType: mt, Digest: digest.FromBytes(data), Size: int64(len(data))}
	if err := p.r.backend.putBlob(p.ctx, p.repo, d, data); err != nil {
		p.err = fmt.Errorf("push blob: %w", err)
		return blob{}
	}
	b := blob{desc: d, diffID: d.Digest}
	if strings.HasSuffix(mt, "gzip") {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			p.err = err
			return blob{}
		}
		dg := digest.Canonical.Digester()
		if _, err := io.Copy(dg.Hash(), zr); err != nil {
			p.err = err
			return blob{}
		}
		b.diffID = dg.Digest()
	}
	return b
}

// manifest stores a manifest by digest, or under tag when one is given.
func (p *pusher) manifest(mt string, raw []byte, tag string) descriptor.Descriptor {
	d := descriptor.Descriptor{MediaType: mt, Digest: digest.FromBytes(raw), Size: int64(len(raw))}
	if p.err != nil {
		return d
	}
	reference := d.Digest.String()
	if tag != "" {
		reference = tag
	}
	if err := p.r.backend.putManifest(p.ctx, p.repo, reference, d, raw); err != nil {
		p.err = fmt.Errorf("push manifest: %w", err)
	}
	return d
}

func withPlatform(d descriptor.Descriptor, p Platform) descriptor.Descriptor {
	out := descriptor.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size}
	raw, _ := json.Marshal(map[string]string{"os": p.OS, "architecture": p.Architecture, "variant": p.Variant})
	_ = json.Unmarshal(raw, &out.Platform)
	return out
}

func (p *pusher) json(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil && p.err == nil {
		p.err = err
	}
	return b
}

func (p *pusher) tarGz(files map[string]string) []byte {
	size := 0
	for _, content := range files {
		size += len(content)
	}
	// Large files here are random padding, which does not compress: storing it rather
	// than having deflate search it for matches takes seconds off the demo's start.
	level := gzip.DefaultCompression
	if size > 1<<20 {
		level = gzip.NoCompression
	}
	var buf bytes.Buffer
	buf.Grow(size + size/512 + 4096)
	zw, err := gzip.NewWriterLevel(&buf, level)
	if err != nil {
		p.err = err
		return nil
	}
	tw := tar.NewWriter(zw)
	for _, name := range slices.Sorted(maps.Keys(files)) {
		content := files[name]
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(content)), ModTime: Created}); err != nil {
			p.err = err
		}
		if _, err := tw.Write([]byte(content)); err != nil {
			p.err = err
		}
	}
	if err := tw.Close(); err != nil {
		p.err = err
	}
	if err := zw.Close(); err != nil {
		p.err = err
	}
	return buf.Bytes()
}

// tarDir packs a directory tree (symlinks as symlinks) into a gzip-compressed tar.
func (p *pusher) tarDir(root string) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	tw := tar.NewWriter(zw)
	err := filepath.WalkDir(root, func(path string, de fs.DirEntry, err error) error {
		if err != nil || path == root {
			return err
		}
		info, err := de.Info()
		if err != nil {
			return err
		}
		link := ""
		if info.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(path); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		hdr.Name = filepath.ToSlash(rel)
		hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "", ""
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if info.Mode().IsRegular() {
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			defer f.Close()
			if _, err := io.Copy(tw, f); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		err = tw.Close()
	}
	if err == nil {
		err = zw.Close()
	}
	if err != nil && p.err == nil {
		p.err = fmt.Errorf("pack %s: %w", root, err)
	}
	return buf.Bytes()
}

// PutBlob stores raw bytes as a blob of repo, for tests that need content no real image
// would have.
func (r *Registry) PutBlob(ctx context.Context, repo string, data []byte) (descriptor.Descriptor, error) {
	d := descriptor.Descriptor{MediaType: "application/octet-stream", Digest: digest.FromBytes(data), Size: int64(len(data))}
	return d, r.backend.putBlob(ctx, repo, d, data)
}

// PutManifest stores raw bytes as a manifest of repo under tag, whatever they say.
func (r *Registry) PutManifest(ctx context.Context, repo, tag, mediaType string, raw []byte) (descriptor.Descriptor, error) {
	d := descriptor.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(raw), Size: int64(len(raw))}
	if err := r.backend.putManifest(ctx, repo, d.Digest.String(), d, raw); err != nil {
		return d, err
	}
	return d, r.backend.putManifest(ctx, repo, tag, d, raw)
}
