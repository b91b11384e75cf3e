package oci

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"testing"

	digest "github.com/opencontainers/go-digest"
	"github.com/regclient/regclient/types/descriptor"
	"github.com/regclient/regclient/types/mediatype"
)

// FuzzParsePlatform: any string parses or fails with a *PlatformError, never panics, and
// what parses formats to a string that parses to the same platform.
func FuzzParsePlatform(f *testing.F) {
	for _, s := range []string{"linux/amd64", "linux/arm64/v8", "amd64", "linux-amd64", "linux/arm", "linux/armhf/v6", "", "/", "linux//", "LINUX/X86_64", "linux/arm/7"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePlatform(s)
		if err != nil {
			return
		}
		again, err := ParsePlatform(PlatformString(p))
		if err != nil || !SamePlatform(p, again) {
			t.Fatalf("%q parsed to %s, which does not parse back (%v)", s, PlatformString(p), err)
		}
	})
}

// FuzzInspect: a layout with arbitrary index.json, manifest and config bytes is read
// or rejected with an error, never a panic or a hang.
func FuzzInspect(f *testing.F) {
	f.Add([]byte(`{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"DIGEST","size":2,"platform":{"architecture":"amd64","os":"linux"}}]}`),
		[]byte(`{"config":{"digest":"CONFIG"},"layers":[]}`), []byte(`{"architecture":"amd64","os":"linux"}`))
	f.Add([]byte(`{"manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"DIGEST"}]}`), []byte(`{"manifests":[]}`), []byte(`null`))
	f.Add([]byte(`not json`), []byte{}, []byte{})
	f.Fuzz(func(t *testing.T, index, manifest, config []byte) {
		dir := t.TempDir()
		if err := os.MkdirAll(filepath.Join(dir, "blobs", "sha256"), 0o755); err != nil {
			t.Fatal(err)
		}
		put := func(b []byte) digest.Digest {
			d := digest.FromBytes(b)
			if err := os.WriteFile(BlobPath(dir, d), b, 0o644); err != nil {
				t.Fatal(err)
			}
			return d
		}
		cd := put(config)
		md := put(bytes.ReplaceAll(manifest, []byte("CONFIG"), []byte(cd.String())))
		index = bytes.ReplaceAll(index, []byte("DIGEST"), []byte(md.String()))
		if err := os.WriteFile(filepath.Join(dir, "index.json"), index, 0o644); err != nil {
			t.Fatal(err)
		}
		_, _ = Inspect(dir)
	})
}

// FuzzVerifyLayer: an arbitrary (uncompressed) tar stream is checked or rejected,
// never a panic.
func FuzzVerifyLayer(f *testing.F) {
	var seed bytes.Buffer
	tw := tar.NewWriter(&seed)
	for name, body := range map[string][]byte{"usr/lib/x.so": append([]byte("\x7fELF\x02\x01\x01"), make([]byte, 60)...), "app/pyvenv.cfg": []byte("home=/x"), "bin/s": []byte("#!/Users/me/bin/python\n")} {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(body))})
		tw.Write(body)
	}
	tw.Close()
	f.Add(seed.Bytes())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, layer []byte) {
		dir := t.TempDir()
		if err := os.MkdirAll(filepath.Join(dir, "blobs", "sha256"), 0o755); err != nil {
			t.Fatal(err)
		}
		d := digest.FromBytes(layer)
		if err := os.WriteFile(BlobPath(dir, d), layer, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, arch := range []string{"amd64", "arm64", "arm"} {
			_, _ = VerifyLayer(dir, Platform{OS: "linux", Architecture: arch, Variant: map[string]string{"arm": "v7"}[arch]}, descriptor.Descriptor{MediaType: mediatype.OCI1Layer, Digest: d, Size: int64(len(layer))})
		}
	})
}
