package oci

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"

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
// or rejected with an error, never a panic or a hang. The layout lives in memory so the
// fuzzer spends its time in the parser, not in the filesystem.
func FuzzInspect(f *testing.F) {
	f.Add([]byte(`{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"DIGEST","size":2,"platform":{"architecture":"amd64","os":"linux"}}]}`),
		[]byte(`{"config":{"digest":"CONFIG"},"layers":[]}`), []byte(`{"architecture":"amd64","os":"linux"}`))
	f.Add([]byte(`{"manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"DIGEST"}]}`), []byte(`{"manifests":[]}`), []byte(`null`))
	f.Add([]byte(`{"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"DIGEST"}]}`), []byte(`{"config":{"digest":"sha256:../../../../etc/passwd"}}`), []byte(`{}`))
	f.Add([]byte(`not json`), []byte{}, []byte{})
	f.Fuzz(func(t *testing.T, index, manifest, config []byte) {
		fsys := fstest.MapFS{}
		put := func(b []byte) digest.Digest {
			d := digest.FromBytes(b)
			fsys["blobs/sha256/"+d.Encoded()] = &fstest.MapFile{Data: b}
			return d
		}
		cd := put(config)
		md := put(bytes.ReplaceAll(manifest, []byte("CONFIG"), []byte(cd.String())))
		fsys["index.json"] = &fstest.MapFile{Data: bytes.ReplaceAll(index, []byte("DIGEST"), []byte(md.String()))}
		_, _ = InspectFS(fsys, "layout")
	})
}

// FuzzVerifyLayer: an arbitrary tar stream, plain or as the body of a gzip stream, is
// checked or rejected, never a panic.
func FuzzVerifyLayer(f *testing.F) {
	var seed bytes.Buffer
	tw := tar.NewWriter(&seed)
	for name, body := range map[string][]byte{"usr/lib/x.so": append([]byte("\x7fELF\x02\x01\x01"), make([]byte, 60)...), "app/pyvenv.cfg": []byte("home=/x"), "bin/s": []byte("#!/Users/me/bin/python\n")} {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(body))})
		tw.Write(body)
	}
	tw.Close()
	f.Add(seed.Bytes(), false)
	f.Add(seed.Bytes(), true)
	f.Add([]byte{}, false)
	f.Fuzz(func(t *testing.T, layer []byte, gzipped bool) {
		desc := descriptor.Descriptor{MediaType: mediatype.OCI1Layer, Digest: digest.FromBytes(layer), Size: int64(len(layer))}
		if gzipped {
			var gz bytes.Buffer
			zw := gzip.NewWriter(&gz)
			zw.Write(layer)
			zw.Close()
			desc.MediaType, layer = mediatype.OCI1LayerGzip, gz.Bytes()
		}
		for _, arch := range []string{"amd64", "arm64", "arm"} {
			_, _ = checkLayer(bytes.NewReader(layer), Platform{OS: "linux", Architecture: arch, Variant: map[string]string{"arm": "v7"}[arch]}, desc)
		}
	})
}

// FuzzInspectArchive: an arbitrary file given to inspect or save as an archive is read,
// checked and re-archived, or rejected with an error; never a panic or a hang.
func FuzzInspectArchive(f *testing.F) {
	amd64 := Platform{OS: "linux", Architecture: "amd64"}
	dir := layoutWith(f, amd64, amd64, map[string][]byte{"app/main.py": []byte("print(1)\n")})
	if s, err := Inspect(dir); err == nil {
		var buf bytes.Buffer
		if s.WriteArchive(context.Background(), &buf, s.Images[0]) == nil {
			f.Add(buf.Bytes())
		}
	}
	var hostile bytes.Buffer
	tw := tar.NewWriter(&hostile)
	for _, name := range []string{"a", "a/b", "../index.json", "/index.json", "index.json"} {
		tw.WriteHeader(&tar.Header{Name: name, Size: 2, Mode: 0o644, Typeflag: tar.TypeReg})
		tw.Write([]byte("{}"))
	}
	tw.Close()
	f.Add(hostile.Bytes())
	f.Add([]byte{0x1f, 0x8b, 8, 0})
	path := filepath.Join(f.TempDir(), "image.tar") // one worker runs one input at a time
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		s, err := InspectPath(path)
		if err != nil {
			return
		}
		_, _ = s.Verify()
		for _, img := range s.Images {
			_ = s.WriteArchive(context.Background(), io.Discard, img)
		}
	})
}
