// Package testbase gives tests a real registry (olareg, in process, on loopback) holding
// multi-platform base images shaped like Docker Hub's python images: an index (OCI or
// Docker manifest list) with amd64, arm64/v8 and arm/v7 entries and an attestation
// entry, a layer shared by every platform and one layer per platform.
package testbase

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/olareg/olareg"
	olaregcfg "github.com/olareg/olareg/config"
	digest "github.com/opencontainers/go-digest"
	"github.com/regclient/regclient"
	"github.com/regclient/regclient/config"
	"github.com/regclient/regclient/types/descriptor"
	"github.com/regclient/regclient/types/manifest"
	"github.com/regclient/regclient/types/mediatype"
	"github.com/regclient/regclient/types/ref"
)

// Registry is an in-memory registry served over plain HTTP on 127.0.0.1.
type Registry struct {
	Host string // 127.0.0.1:PORT
	rc   *regclient.RegClient
}

// Start runs a registry for the duration of the test.
func Start(t testing.TB) *Registry {
	return StartWith(t, nil)
}

// StartWith runs a registry whose handler is wrapped by wrap (to slow it down or inject
// faults); nil means no wrapping.
func StartWith(t testing.TB, wrap func(http.Handler) http.Handler) *Registry {
	t.Helper()
	srv := olareg.New(olaregcfg.Config{Storage: olaregcfg.ConfigStorage{StoreType: olaregcfg.StoreMem}})
	var h http.Handler = srv
	if wrap != nil {
		h = wrap(srv)
	}
	ts := httptest.NewServer(h)
	t.Cleanup(func() {
		ts.Close()
		_ = srv.Close()
	})
	host := strings.TrimPrefix(ts.URL, "http://")
	rc := regclient.New(regclient.WithConfigHost(config.Host{Name: host, TLS: config.TLSDisabled}))
	return &Registry{Host: host, rc: rc}
}

// Connect uses a registry that already runs (the Distribution registry, say) at host.
func Connect(host string) *Registry {
	rc := regclient.New(regclient.WithConfigHost(config.Host{Name: host, TLS: config.TLSDisabled}))
	return &Registry{Host: host, rc: rc}
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
	// Attestation adds an unknown/unknown attestation manifest, as BuildKit does.
	Attestation bool
	// Single pushes the first platform as a lone image manifest, no index.
	Single bool
	// PaddingBytes adds incompressible bytes to each platform's layer, for tests that
	// need transfers that take a while.
	PaddingBytes int
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

// Push stores the image described by spec and returns the digest of its top manifest.
func (r *Registry) Push(t testing.TB, spec Spec) digest.Digest {
	t.Helper()
	ctx := context.Background()
	repo, err := ref.New(r.Host + "/" + spec.Repo)
	if err != nil {
		t.Fatal(err)
	}
	manifestMT, indexMT, layerMT, configMT := mediatype.OCI1Manifest, mediatype.OCI1ManifestList, mediatype.OCI1LayerGzip, mediatype.OCI1ImageConfig
	if spec.DockerMediaTypes {
		manifestMT, indexMT, layerMT, configMT = mediatype.Docker2Manifest, mediatype.Docker2ManifestList, mediatype.Docker2LayerGzip, mediatype.Docker2ImageConfig
	}
	shared := r.putBlob(t, repo, layerMT, tarGz(t, map[string]string{
		"etc/os-release": "PRETTY_NAME=\"pycontainer test base\"\n",
	}))
	var entries []descriptor.Descriptor
	for _, p := range spec.Platforms {
		files := map[string]string{
			"usr/local/bin/python3": fmt.Sprintf("#!/bin/sh\n# fake python for %s/%s%s\n", p.OS, p.Architecture, p.Variant),
		}
		if spec.PaddingBytes > 0 {
			pad := make([]byte, spec.PaddingBytes)
			_, _ = rand.NewChaCha8([32]byte{byte(len(p.Architecture))}).Read(pad)
			files["usr/local/lib/padding"] = string(pad)
		}
		var layer []byte
		if dir, ok := spec.RootFS[p.String()]; ok {
			layer = tarDir(t, dir)
		} else {
			layer = tarGz(t, files)
		}
		platLayer := r.putBlob(t, repo, layerMT, layer)
		cfg := map[string]any{
			"architecture": p.Architecture, "os": p.OS, "created": Created.Format(time.RFC3339),
			"config": map[string]any{
				"Env": []string{"PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8", "PYTHON_VERSION=3.11.9"},
				"Cmd": []string{"python3"},
			},
			"rootfs": map[string]any{"type": "layers", "diff_ids": []digest.Digest{shared.diffID, platLayer.diffID}},
			"history": []map[string]any{
				{"created": Created.Format(time.RFC3339), "created_by": "test base: os-release"},
				{"created": Created.Format(time.RFC3339), "created_by": "test base: python"},
			},
		}
		if p.Variant != "" {
			cfg["variant"] = p.Variant
		}
		cfgDesc := r.putBlob(t, repo, configMT, mustJSON(t, cfg))
		m := map[string]any{
			"schemaVersion": 2, "mediaType": manifestMT, "config": cfgDesc.desc,
			"layers": []descriptor.Descriptor{shared.desc, platLayer.desc},
		}
		singleTag := ""
		if spec.Single {
			singleTag = spec.Tag
		}
		md := r.putManifest(t, repo, manifestMT, mustJSON(t, m), singleTag)
		if spec.Single {
			return md.Digest
		}
		plat := map[string]string{"os": p.OS, "architecture": p.Architecture}
		if p.Variant != "" {
			plat["variant"] = p.Variant
		}
		entries = append(entries, withPlatform(md, plat))
	}
	if spec.Attestation && len(entries) > 0 {
		att := r.putBlob(t, repo, "application/vnd.in-toto+json", []byte(`{"_type":"https://in-toto.io/Statement/v0.1"}`))
		empty := r.putBlob(t, repo, mediatype.OCI1ImageConfig, []byte(`{}`))
		m := map[string]any{"schemaVersion": 2, "mediaType": mediatype.OCI1Manifest, "config": empty.desc, "layers": []descriptor.Descriptor{att.desc}}
		md := r.putManifest(t, repo, mediatype.OCI1Manifest, mustJSON(t, m), "")
		d := withPlatform(md, map[string]string{"os": "unknown", "architecture": "unknown"})
		d.Annotations = map[string]string{
			"vnd.docker.reference.digest": entries[0].Digest.String(),
			"vnd.docker.reference.type":   "attestation-manifest",
		}
		entries = append(entries, d)
	}
	idx := map[string]any{"schemaVersion": 2, "mediaType": indexMT, "manifests": entries}
	raw := mustJSON(t, idx)
	tagged := repo.SetTag(spec.Tag)
	m, err := manifest.New(manifest.WithRaw(raw), manifest.WithDesc(descriptor.Descriptor{MediaType: indexMT, Digest: digest.FromBytes(raw), Size: int64(len(raw))}))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.rc.ManifestPut(ctx, tagged, m); err != nil {
		t.Fatalf("push index %s: %v", tagged.CommonName(), err)
	}
	return digest.FromBytes(raw)
}

type blob struct {
	desc   descriptor.Descriptor
	diffID digest.Digest
}

func (r *Registry) putBlob(t testing.TB, repo ref.Ref, mt string, data []byte) blob {
	t.Helper()
	d := descriptor.Descriptor{MediaType: mt, Digest: digest.FromBytes(data), Size: int64(len(data))}
	if _, err := r.rc.BlobPut(context.Background(), repo, d, bytes.NewReader(data)); err != nil {
		t.Fatalf("push blob: %v", err)
	}
	b := blob{desc: d, diffID: d.Digest}
	if strings.HasSuffix(mt, "gzip") {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		dg := digest.Canonical.Digester()
		if _, err := dg.Hash().Write(readAll(t, zr)); err != nil {
			t.Fatal(err)
		}
		b.diffID = dg.Digest()
	}
	return b
}

// putManifest stores a manifest by digest, or under tag when one is given.
func (r *Registry) putManifest(t testing.TB, repo ref.Ref, mt string, raw []byte, tag string) descriptor.Descriptor {
	t.Helper()
	d := descriptor.Descriptor{MediaType: mt, Digest: digest.FromBytes(raw), Size: int64(len(raw))}
	m, err := manifest.New(manifest.WithRaw(raw), manifest.WithDesc(d))
	if err != nil {
		t.Fatal(err)
	}
	target := repo.SetDigest(d.Digest.String())
	opts := []regclient.ManifestOpts{regclient.WithManifestChild()}
	if tag != "" {
		target, opts = repo.SetTag(tag), nil
	}
	if err := r.rc.ManifestPut(context.Background(), target, m, opts...); err != nil {
		t.Fatalf("push manifest: %v", err)
	}
	return d
}

func withPlatform(d descriptor.Descriptor, p map[string]string) descriptor.Descriptor {
	raw, _ := json.Marshal(p)
	var out descriptor.Descriptor
	_ = json.Unmarshal(raw, &out.Platform)
	out.MediaType, out.Digest, out.Size = d.MediaType, d.Digest, d.Size
	return out
}

func tarGz(t testing.TB, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, name := range slices.Sorted(maps.Keys(files)) {
		content := files[name]
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(content)), ModTime: Created}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(content)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readAll(t testing.TB, r interface{ Read([]byte) (int, error) }) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(r); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// tarDir packs a directory tree (symlinks as symlinks) into a gzip-compressed tar.
func tarDir(t testing.TB, root string) []byte {
	t.Helper()
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
	if err != nil {
		t.Fatalf("pack %s: %v", root, err)
	}
	return buf.Bytes()
}
