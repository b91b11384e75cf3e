package oci

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	digest "github.com/opencontainers/go-digest"
	"github.com/regclient/regclient/types/descriptor"
)

// Finding is one problem found in an image.
type Finding struct {
	Platform string
	Layer    string // digest of the layer, "" for config problems
	File     string // path in the image
	Problem  string
}

func (f Finding) String() string {
	where := f.Platform
	if f.File != "" {
		where += ": /" + strings.TrimPrefix(f.File, "/")
	}
	if f.Layer != "" {
		where += " (layer " + ShortDigest(f.Layer) + ")"
	}
	return where + ": " + f.Problem
}

// elfTarget is what an ELF file built for a platform looks like.
type elfTarget struct {
	machine   elf.Machine
	class     elf.Class
	order     binary.ByteOrder
	hardFloat bool // arm: hard-float ABI (armhf), as arm/v6 and arm/v7 images use
}

var elfTargets = map[string]elfTarget{
	"amd64":    {elf.EM_X86_64, elf.ELFCLASS64, binary.LittleEndian, false},
	"arm64":    {elf.EM_AARCH64, elf.ELFCLASS64, binary.LittleEndian, false},
	"arm":      {elf.EM_ARM, elf.ELFCLASS32, binary.LittleEndian, true},
	"386":      {elf.EM_386, elf.ELFCLASS32, binary.LittleEndian, false},
	"ppc64le":  {elf.EM_PPC64, elf.ELFCLASS64, binary.LittleEndian, false},
	"ppc64":    {elf.EM_PPC64, elf.ELFCLASS64, binary.BigEndian, false},
	"s390x":    {elf.EM_S390, elf.ELFCLASS64, binary.BigEndian, false},
	"riscv64":  {elf.EM_RISCV, elf.ELFCLASS64, binary.LittleEndian, false},
	"mips64le": {elf.EM_MIPS, elf.ELFCLASS64, binary.LittleEndian, false},
	"loong64":  {elf.EM_LOONGARCH, elf.ELFCLASS64, binary.LittleEndian, false},
}

const efARMABIFloatHard = 0x400

// hostPathPrefixes mark a shebang written on a developer's machine, typically by a
// virtualenv created on macOS and copied into the image.
var hostPathPrefixes = []string{"/Users/", "/opt/homebrew/", "/Library/", "/private/var/", "/usr/local/Cellar/"}

// Verify checks every image of the layout at dir: every blob it reads matches its
// digest, index and config agree on the platform, ELF files in the layers are built for
// that platform, and no marks of a host virtualenv (Mach-O or PE binaries, pyvenv.cfg,
// host paths in shebangs) are in it.
func Verify(dir string) ([]Finding, error) {
	s, err := Inspect(dir)
	if err != nil {
		return nil, err
	}
	return s.Verify()
}

// Verify runs Verify's checks on a layout already inspected.
func (s *Summary) Verify() ([]Finding, error) {
	var findings []Finding
	bad := func(what string, d digest.Digest) string {
		return fmt.Sprintf("%s %s does not match its digest (its bytes hash to %s): the layout is damaged; rebuild the image", what, d, s.bad[d])
	}
	reported := map[digest.Digest]bool{}
	for _, img := range s.Images {
		plat := PlatformString(img.Platform())
		for _, p := range img.Problems {
			findings = append(findings, Finding{Platform: plat, Problem: p})
		}
		for _, b := range []struct {
			what string
			d    digest.Digest
		}{{"manifest", img.Digest}, {"config", img.ConfigDigest}} {
			if _, ok := s.bad[b.d]; ok && !reported[b.d] {
				reported[b.d] = true
				findings = append(findings, Finding{Platform: plat, Problem: bad(b.what, b.d)})
			}
		}
		for _, l := range img.Layers {
			if l.Digest.Validate() == nil && !s.layerOK[sizedDigest{l.Digest, l.Size}] {
				continue // a Problem already says it is missing
			}
			found, err := verifyLayer(s.fsys, img.Platform(), l)
			if err != nil {
				return findings, err
			}
			findings = append(findings, found...)
		}
	}
	for _, d := range slices.Sorted(maps.Keys(s.bad)) {
		if !reported[d] {
			findings = append(findings, Finding{Platform: "index", Problem: bad("nested index", d)})
		}
	}
	for _, p := range s.DockerProblems {
		findings = append(findings, Finding{Platform: dockerManifestFile, Problem: p})
	}
	return findings, nil
}

// verifyLayer checks the files of one layer of the layout in fsys for an image of
// platform p, and that its bytes match its digest.
func verifyLayer(fsys fs.FS, p Platform, l descriptor.Descriptor) ([]Finding, error) {
	f, err := openBlob(fsys, l.Digest)
	if err != nil {
		return nil, fmt.Errorf("open layer %s: %w", l.Digest, err)
	}
	defer f.Close()
	v := l.Digest.Verifier()
	r := io.TeeReader(f, v)
	found, err := checkLayer(r, p, l)
	if _, cerr := io.Copy(io.Discard, r); cerr != nil {
		return found, fmt.Errorf("read layer %s: %w", l.Digest, cerr)
	}
	if !v.Verified() {
		// What damaged bytes decompress to says nothing about the image: the digest does.
		return []Finding{{Platform: PlatformString(p), Layer: l.Digest.String(),
			Problem: fmt.Sprintf("layer %s does not match its digest: the layout is damaged; rebuild the image", l.Digest)}}, nil
	}
	return found, err
}

// checkLayer checks the files of the layer l read from r.
func checkLayer(r io.Reader, p Platform, l descriptor.Descriptor) ([]Finding, error) {
	rc, err := decompress(r, l.MediaType)
	if err != nil {
		return nil, fmt.Errorf("layer %s: %w", l.Digest, err)
	}
	defer rc.Close() // a zstd decoder's goroutines end only when it is closed
	r = rc
	plat := PlatformString(p)
	var out []Finding
	tr := tar.NewReader(r)
	head := make([]byte, HeadSize)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return out, fmt.Errorf("read layer %s: %w", l.Digest, err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		name := path.Clean(strings.TrimPrefix(h.Name, "./"))
		n, _ := io.ReadFull(tr, head)
		if problem := CheckFile(p, name, head[:n]); problem != "" {
			out = append(out, Finding{Platform: plat, Layer: l.Digest.String(), File: name, Problem: problem})
		}
	}
	return out, nil
}

// HeadSize is how much of a file CheckFile needs to see.
const HeadSize = 4096

// Worth reports whether a file's name and first bytes could make CheckFile find
// anything, so a caller scanning many files keeps only those heads.
func Worth(name string, head []byte) bool {
	return path.Base(name) == "pyvenv.cfg" || bytes.HasPrefix(head, []byte("\x7fELF")) || isMachO(head) || isPE(head) || bytes.HasPrefix(head, []byte("#!"))
}

// CheckFile says what is wrong with a file of an image of platform p, from its path and
// first HeadSize bytes; "" when nothing is.
func CheckFile(p Platform, name string, head []byte) string {
	if path.Base(name) == "pyvenv.cfg" {
		return "a virtualenv (pyvenv.cfg): its interpreter and binaries belong to the machine that made it"
	}
	switch {
	case bytes.HasPrefix(head, []byte("\x7fELF")):
		if want, known := elfTargets[p.Architecture]; known {
			return checkELF(head, want, p)
		}
	case isMachO(head):
		return "a Mach-O (macOS) binary; it cannot run on Linux"
	case isPE(head):
		return "a Windows PE binary; it cannot run on Linux"
	case bytes.HasPrefix(head, []byte("#!")):
		line, _, _ := bytes.Cut(head[2:], []byte("\n"))
		interp := strings.TrimSpace(string(line))
		for _, prefix := range hostPathPrefixes {
			if strings.HasPrefix(interp, prefix) {
				return fmt.Sprintf("its shebang points at a host path (%s), which does not exist in the image", firstField(interp))
			}
		}
	}
	return ""
}

func decompress(r io.Reader, mediaType string) (io.ReadCloser, error) {
	switch {
	case strings.HasSuffix(mediaType, "gzip"):
		return gzip.NewReader(r)
	case strings.HasSuffix(mediaType, "zstd"):
		zr, err := zstd.NewReader(r)
		if err != nil {
			return nil, err
		}
		return zr.IOReadCloser(), nil
	}
	return io.NopCloser(r), nil
}

// elfHeader is the part of an ELF header that says what a binary runs on.
type elfHeader struct {
	class   elf.Class
	order   binary.ByteOrder
	typ     elf.Type
	machine elf.Machine
	flags   uint32 // e_flags, read for 32-bit files (arm's float ABI)
}

func parseELFHeader(b []byte) (elfHeader, bool) {
	if len(b) < 52 || !bytes.HasPrefix(b, []byte("\x7fELF")) {
		return elfHeader{}, false
	}
	h := elfHeader{class: elf.Class(b[4])}
	switch elf.Data(b[5]) {
	case elf.ELFDATA2LSB:
		h.order = binary.LittleEndian
	case elf.ELFDATA2MSB:
		h.order = binary.BigEndian
	default:
		return elfHeader{}, false
	}
	h.typ = elf.Type(h.order.Uint16(b[16:18]))
	h.machine = elf.Machine(h.order.Uint16(b[18:20]))
	if h.class == elf.ELFCLASS32 {
		h.flags = h.order.Uint32(b[36:40])
	}
	return h, true
}

// checkELF compares an ELF header with what the platform needs; "" means it fits.
func checkELF(b []byte, want elfTarget, p Platform) string {
	h, ok := parseELFHeader(b)
	if !ok || (h.typ != elf.ET_EXEC && h.typ != elf.ET_DYN) {
		return "" // object files and core dumps are not run
	}
	if h.machine != want.machine || h.class != want.class || h.order != want.order {
		return fmt.Sprintf("an ELF binary for %s, not %s", describeELF(h), PlatformString(p))
	}
	if want.machine == elf.EM_ARM && want.hardFloat && p.Variant != "v5" {
		if h.flags&efARMABIFloatHard == 0 && h.flags>>24 >= 5 { // EABI 5 states the float ABI
			return fmt.Sprintf("an ELF binary for soft-float arm (armel), not the hard-float ABI of %s", PlatformString(p))
		}
	}
	return ""
}

func describeELF(h elfHeader) string {
	for arch, t := range elfTargets {
		if t.machine == h.machine && t.class == h.class && t.order == h.order {
			return arch
		}
	}
	return fmt.Sprintf("%s %s %s", strings.TrimPrefix(h.machine.String(), "EM_"), h.class, h.order)
}

func isMachO(b []byte) bool {
	if len(b) < 8 {
		return false
	}
	switch binary.BigEndian.Uint32(b) {
	case 0xfeedface, 0xfeedfacf, 0xcefaedfe, 0xcffaedfe:
		return true
	case 0xcafebabe: // a universal binary, or a Java class file: Mach-O lists few architectures
		return binary.BigEndian.Uint32(b[4:]) < 20
	}
	return false
}

func isPE(b []byte) bool {
	if len(b) < 64 || !bytes.HasPrefix(b, []byte("MZ")) {
		return false
	}
	off := int(binary.LittleEndian.Uint32(b[60:64]))
	return off > 0 && off+4 <= len(b) && bytes.Equal(b[off:off+4], []byte("PE\x00\x00"))
}

func firstField(s string) string {
	if f := strings.Fields(s); len(f) > 0 {
		return f[0]
	}
	return s
}
