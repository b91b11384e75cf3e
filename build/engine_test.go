package build

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
	"github.com/regclient/regclient/types/descriptor"
	"github.com/regclient/regclient/types/mediatype"
	v1 "github.com/regclient/regclient/types/oci/v1"
	"github.com/regclient/regclient/types/ref"

	"github.com/pycontainer/pycontainer/registry"

	"github.com/pycontainer/pycontainer/internal/cmdenv"
	"github.com/pycontainer/pycontainer/oci"
)

// fakeEngine puts an executable NAME on a PATH of its own that runs body (with $out a
// directory it may write to) and returns the environment with that PATH and $out.
func fakeEngine(t *testing.T, name, body string) (cmdenv.Env, string) {
	t.Helper()
	bin, out := t.TempDir(), t.TempDir()
	script := "#!/bin/sh\nout=" + out + "\n" + body + "\n"
	if err := os.WriteFile(filepath.Join(bin, name), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return cmdenv.Env{Environ: []string{"PATH=" + bin + ":/usr/bin:/bin"}}, out
}

// TestEngineHow: an engine is usable when its binary is on the build's PATH and its
// info answers; otherwise How says why, with a remedy for the missing-wheel table.
func TestEngineHow(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body, want string
	}{
		{"runs", `[ "$1" = info ] && exit 0`, ""},
		{"daemon down", `echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock." >&2; exit 1`, "docker info failed (exit status 1): Cannot connect to the Docker daemon"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env, _ := fakeEngine(t, "docker", tt.body)
			how, err := (&engineCompiler{name: "docker", process: env}).How(oci.Platform{OS: "linux", Architecture: "arm64"})
			if tt.want == "" {
				if err != nil || how != "docker" {
					t.Errorf("How = %q, %v; want docker", how, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("How error %v, want %q", err, tt.want)
			}
			if r, ok := errors.AsType[remedy](err); !ok || r.Remedy() == "" {
				t.Errorf("How error %v has no remedy", err)
			}
		})
	}
	_, err := (&engineCompiler{name: "podman", process: cmdenv.Env{Environ: []string{"PATH=" + t.TempDir()}}}).How(oci.Platform{OS: "linux", Architecture: "amd64"})
	if err == nil || !strings.Contains(err.Error(), "podman: not found on PATH") {
		t.Errorf("no podman on PATH: %v", err)
	}
}

// TestEngineCompile: the container runs the builder pinned by digest, for the job's
// platform, with no network, the sdist's directory read-only and the output writable;
// its output is the log; a cancelled compile removes its container.
func TestEngineCompile(t *testing.T) {
	t.Parallel()
	env, out := fakeEngine(t, "podman", `case "$1" in
info) exit 0 ;;
rm) echo "$@" > $out/rm; exit 0 ;;
run) printf '%s\n' "$@" > $out/argv; echo "Building wheel for fastcalc"; [ -n "$SLOW" ] && exec sleep 30; exit 0 ;;
esac`)
	sdistDir := t.TempDir()
	job := compileJob{Platform: oci.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}, Sdist: filepath.Join(sdistDir, "fastcalc-1.0.tar.gz"), OutDir: t.TempDir(),
		Builder: ref.Ref{Scheme: "reg", Registry: "127.0.0.1:5000", Repository: "library/python", Digest: "sha256:" + strings.Repeat("b", 64)}}
	var log strings.Builder
	job.Log = &lockedWriter{w: &log}
	if err := (&engineCompiler{name: "podman", process: env}).Compile(context.Background(), job); err != nil {
		t.Fatal(err)
	}
	argv, _ := os.ReadFile(filepath.Join(out, "argv"))
	for _, want := range []string{"--rm\n", "--platform\nlinux/arm/v7\n", "--network\nnone\n", "-e\n" + wheelEpoch + "\n", "-v\n" + sdistDir + ":/tmp/in:ro\n", "-v\n" + job.OutDir + ":/tmp/out\n",
		"127.0.0.1:5000/library/python@sha256:" + strings.Repeat("b", 64) + "\npython3\n-m\npip\nwheel\n--no-deps\n--no-index\n--no-build-isolation\n-w\n/tmp/out\n/tmp/in/fastcalc-1.0.tar.gz\n"} {
		if !strings.Contains(string(argv), want) {
			t.Errorf("argv lacks %q:\n%s", want, argv)
		}
	}
	if !strings.Contains(log.String(), "Building wheel for fastcalc") {
		t.Errorf("log %q lacks the engine's output", log.String())
	}

	c := &engineCompiler{name: "podman", process: env.With("SLOW=1")}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start := time.Now()
	if err := c.Compile(ctx, job); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v, want the context's", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Error("the compile outlived its context")
	}
	if rm, _ := os.ReadFile(filepath.Join(out, "rm")); !strings.HasPrefix(string(rm), "rm -f pycontainer-sdist-") {
		t.Errorf("the container was not removed: %q", rm)
	}
}

// TestEngineLoadsBuilder: an engine that has not the builder and cannot pull it (a
// registry only pycontainer reaches) gets it from the shared cache through `load`, as a
// docker-archive of the builder's config and layers, and runs it by that name, never
// pulling.
func TestEngineLoadsBuilder(t *testing.T) {
	t.Parallel()
	env, out := fakeEngine(t, "docker", `case "$1" in
info) exit 0 ;;
image) echo "Error: No such image" >&2; exit 1 ;;
pull) echo "Error response from daemon: Get https://10.0.0.5:5000/v2/: http: server gave HTTP response to HTTPS client" >&2; exit 1 ;;
load) cat > $out/load.tar; echo "Loaded image: pycontainer-builder" ;;
run) printf '%s\n' "$@" > $out/argv ;;
esac`)
	src := newMemSource()
	blob := func(b []byte, mt string) descriptor.Descriptor {
		d := descriptor.Descriptor{MediaType: mt, Digest: digest.FromBytes(b), Size: int64(len(b))}
		src.blobs[d.Digest] = b
		return d
	}
	layer, _ := baseLayer(t, "usr/bin/python3", "python")
	config := blob([]byte(`{"architecture":"arm64","os":"linux","rootfs":{"type":"layers"}}`), mediatype.OCI1ImageConfig)
	layers := []descriptor.Descriptor{blob(layer, mediatype.OCI1LayerGzip)}
	m := v1.Manifest{Versioned: v1.ManifestSchemaVersion, MediaType: mediatype.OCI1Manifest, Config: config, Layers: layers}
	raw, _ := json.Marshal(m)
	img := &registry.Image{Descriptor: descriptor.Descriptor{MediaType: mediatype.OCI1Manifest, Digest: digest.FromBytes(raw), Size: int64(len(raw))}, Manifest: m}
	cache, err := oci.OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	sdistDir := t.TempDir()
	job := compileJob{Platform: oci.Platform{OS: "linux", Architecture: "arm64"}, Sdist: filepath.Join(sdistDir, "fastcalc-1.0.tar.gz"), OutDir: t.TempDir(),
		Builder:  ref.Ref{Scheme: "reg", Registry: "10.0.0.5:5000", Repository: "library/python", Digest: img.Descriptor.Digest.String()},
		Manifest: img, Blobs: src, Cache: cache}
	var log strings.Builder
	job.Log = &lockedWriter{w: &log}
	if err := (&engineCompiler{name: "docker", process: env}).Compile(context.Background(), job); err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	name := "pycontainer-builder:" + img.Descriptor.Digest.Encoded()[:12]
	argv, _ := os.ReadFile(filepath.Join(out, "argv"))
	if !strings.Contains(string(argv), "--pull\nnever\n"+name+"\npython3\n") {
		t.Errorf("run did not take the loaded image %s, never pulling:\n%s", name, argv)
	}
	if !strings.Contains(log.String(), "loading it from pycontainer's cache") {
		t.Errorf("the log does not say the builder came from the cache:\n%s", log.String())
	}
	// The archive: manifest.json naming the image, then the config and the layer, whole.
	f, err := os.Open(filepath.Join(out, "load.tar"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	files := map[string][]byte{}
	var order []string
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		files[h.Name], order = b, append(order, h.Name)
	}
	var manifest []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	if err := json.Unmarshal(files["manifest.json"], &manifest); err != nil || len(manifest) != 1 {
		t.Fatalf("manifest.json %s: %v", files["manifest.json"], err)
	}
	e := manifest[0]
	if !slices.Equal(e.RepoTags, []string{name}) || e.Config != "blobs/sha256/"+config.Digest.Encoded() || !slices.Equal(e.Layers, []string{"blobs/sha256/" + layers[0].Digest.Encoded()}) {
		t.Errorf("manifest.json %+v", e)
	}
	for _, d := range []descriptor.Descriptor{config, layers[0]} {
		if got := files["blobs/sha256/"+d.Digest.Encoded()]; digest.FromBytes(got) != d.Digest {
			t.Errorf("the archive's %s is not the blob (%d bytes)", d.Digest, len(got))
		}
	}
	if order[0] != "manifest.json" || len(order) != 3 {
		t.Errorf("archive entries %v", order)
	}
}
