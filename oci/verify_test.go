package oci

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"debug/elf"
	"encoding/binary"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	digest "github.com/opencontainers/go-digest"
	"github.com/regclient/regclient/types/descriptor"
	"github.com/regclient/regclient/types/mediatype"
	v1 "github.com/regclient/regclient/types/oci/v1"
)

// elfBinary is a minimal ELF header of a shared object for the given machine.
func elfBinary(machine elf.Machine, class elf.Class, order binary.ByteOrder, flags uint32) []byte {
	b := make([]byte, 64)
	copy(b, "\x7fELF")
	b[4] = byte(class)
	if order == binary.LittleEndian {
		b[5] = byte(elf.ELFDATA2LSB)
	} else {
		b[5] = byte(elf.ELFDATA2MSB)
	}
	b[6] = 1
	order.PutUint16(b[16:], uint16(elf.ET_DYN))
	order.PutUint16(b[18:], uint16(machine))
	if class == elf.ELFCLASS32 {
		order.PutUint32(b[36:], flags)
	}
	return b
}

func layerOf(t testing.TB, files map[string][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for name, data := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(data))}); err != nil {
			t.Fatal(err)
		}
		tw.Write(data)
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

// layoutWith writes a one-image layout whose config says configPlat and whose index
// entry says indexPlat.
func layoutWith(t testing.TB, configPlat, indexPlat Platform, files map[string][]byte) string {
	t.Helper()
	dir, l := newLayout(t)
	defer l.Close()
	ctx := context.Background()
	layer, err := l.CopyBlob(ctx, descriptor.Descriptor{MediaType: mediatype.OCI1LayerGzip}, bytes.NewReader(layerOf(t, files)))
	if err != nil {
		t.Fatal(err)
	}
	cfg := v1.Image{Platform: configPlat, RootFS: v1.RootFS{Type: "layers"}}
	cd, err := l.PutJSON(ctx, mediatype.OCI1ImageConfig, cfg)
	if err != nil {
		t.Fatal(err)
	}
	md, err := l.PutJSON(ctx, mediatype.OCI1Manifest, v1.Manifest{Versioned: v1.ManifestSchemaVersion, MediaType: mediatype.OCI1Manifest, Config: cd, Layers: []descriptor.Descriptor{layer}})
	if err != nil {
		t.Fatal(err)
	}
	md.Platform = &indexPlat
	if err := l.CommitIndex(v1.Index{Versioned: v1.IndexSchemaVersion, Manifests: []descriptor.Descriptor{md}}, nil); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestVerify(t *testing.T) {
	arm64 := Platform{OS: "linux", Architecture: "arm64"}
	amd64 := Platform{OS: "linux", Architecture: "amd64"}
	armv7 := Platform{OS: "linux", Architecture: "arm", Variant: "v7"}
	x86so := elfBinary(elf.EM_X86_64, elf.ELFCLASS64, binary.LittleEndian, 0)
	armso := elfBinary(elf.EM_AARCH64, elf.ELFCLASS64, binary.LittleEndian, 0)
	tests := []struct {
		name          string
		config, index Platform
		files         map[string][]byte
		count         int
		want          []string // substrings of the findings
	}{
		{"clean arm64", arm64, arm64, map[string][]byte{"usr/lib/libpython3.11.so.1.0": armso, "app/app.py": []byte("print(1)")}, 0, nil},
		{"x86-64 .so in arm64", arm64, arm64, map[string][]byte{"usr/lib/python3.11/_ssl.cpython-311-x86_64-linux-gnu.so": x86so},
			1, []string{"/usr/lib/python3.11/_ssl.cpython-311-x86_64-linux-gnu.so", "an ELF binary for amd64, not linux/arm64"}},
		{"index says amd64, config arm64", arm64, amd64, nil, 1, []string{"the index says linux/amd64 but the config says linux/arm64"}},
		{"macOS virtualenv", amd64, amd64, map[string][]byte{
			"app/.venv/pyvenv.cfg":       []byte("home = /opt/homebrew/bin"),
			"app/.venv/bin/pip":          []byte("#!/Users/me/app/.venv/bin/python3\nimport pip\n"),
			"app/lib/_speedups.so":       append([]byte{0xcf, 0xfa, 0xed, 0xfe}, make([]byte, 28)...),
			"app/tools/helper.exe":       peBinary(),
			"app/bin/ok":                 []byte("#!/usr/bin/env python3\n"),
			"usr/share/java/Thing.class": append([]byte{0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 55}, make([]byte, 8)...),
		}, 4, []string{"pyvenv.cfg", "shebang points at a host path (/Users/me/app/.venv/bin/python3)", "Mach-O", "Windows PE"}},
		{"soft-float arm in armhf", armv7, armv7, map[string][]byte{"usr/lib/libc.so.6": elfBinary(elf.EM_ARM, elf.ELFCLASS32, binary.LittleEndian, 0x05000200)}, 1, []string{"soft-float arm"}},
		{"hard-float arm in armhf", armv7, armv7, map[string][]byte{"usr/lib/libc.so.6": elfBinary(elf.EM_ARM, elf.ELFCLASS32, binary.LittleEndian, 0x05000400)}, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := layoutWith(t, tt.config, tt.index, tt.files)
			findings, err := Verify(dir)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range findings {
				got = append(got, f.String())
			}
			if len(got) != tt.count {
				t.Fatalf("findings %q, want %d", got, tt.count)
			}
			all := strings.Join(got, "\n")
			for _, w := range tt.want {
				if !strings.Contains(all, w) {
					t.Errorf("findings lack %q:\n%s", w, all)
				}
			}
		})
	}
}

func peBinary() []byte {
	b := make([]byte, 128)
	copy(b, "MZ")
	binary.LittleEndian.PutUint32(b[60:], 64)
	copy(b[64:], "PE\x00\x00")
	return b
}

// TestInspectRefusesDigestsThatLeaveTheLayout: a digest is a file name inside blobs/; one
// written as a path ("sha256:../../x") must be refused, not followed out of the layout.
func TestInspectRefusesDigestsThatLeaveTheLayout(t *testing.T) {
	outside := t.TempDir()
	dir := filepath.Join(outside, "image")
	if err := os.MkdirAll(filepath.Join(dir, "blobs", "sha256"), 0o755); err != nil {
		t.Fatal(err)
	}
	// A valid config and layer outside the layout, where the traversal would land.
	writeFileT(t, filepath.Join(outside, "config.json"), `{"architecture":"amd64","os":"linux"}`)
	escape := "sha256:../../../config.json"
	for _, tt := range []struct{ name, manifest string }{
		{"config", `{"config":{"digest":"` + escape + `"},"layers":[]}`},
		{"layer", `{"config":{"digest":"CONFIG"},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"` + escape + `","size":37}]}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := []byte(`{"architecture":"amd64","os":"linux"}`)
			cd := digest.FromBytes(cfg)
			writeFileT(t, BlobPath(dir, cd), string(cfg))
			m := []byte(strings.ReplaceAll(tt.manifest, "CONFIG", cd.String()))
			md := digest.FromBytes(m)
			writeFileT(t, BlobPath(dir, md), string(m))
			writeFileT(t, filepath.Join(dir, "index.json"), `{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"`+md.String()+`","size":`+strconv.Itoa(len(m))+`}]}`)
			findings, err := Verify(dir)
			if err == nil {
				t.Fatalf("Verify read a blob outside the layout; findings %v", findings)
			}
			if !strings.Contains(err.Error(), "invalid digest") {
				t.Errorf("error %q does not say the digest is invalid", err)
			}
		})
	}
}

func writeFileT(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}
