package sandbox

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/pycontainer/pycontainer/oci"
)

// binfmtDir is where the kernel shows binfmt_misc's handlers.
const binfmtDir = "/proc/sys/fs/binfmt_misc"

// installQemu is the remedy named when a platform has no handler.
const installQemu = "apt-get install qemu-user-static binfmt-support"

// elfArch is what identifies an architecture's binaries to binfmt_misc (the ELF header's
// class, byte order and machine), and the name Debian, Fedora and tonistiigi/binfmt give
// its qemu handler.
type elfArch struct {
	handler string
	class64 bool
	big     bool
	machine uint16
}

var elfArchs = map[string]elfArch{
	"amd64":    {"qemu-x86_64", true, false, 62},
	"386":      {"qemu-i386", false, false, 3},
	"arm64":    {"qemu-aarch64", true, false, 183},
	"arm":      {"qemu-arm", false, false, 40},
	"ppc64le":  {"qemu-ppc64le", true, false, 21},
	"ppc64":    {"qemu-ppc64", true, true, 21},
	"s390x":    {"qemu-s390x", true, true, 22},
	"riscv64":  {"qemu-riscv64", true, false, 243},
	"mips":     {"qemu-mips", false, true, 8},
	"mipsle":   {"qemu-mipsel", false, false, 8},
	"mips64":   {"qemu-mips64", true, true, 8},
	"mips64le": {"qemu-mips64el", true, false, 8},
	"loong64":  {"qemu-loongarch64", true, false, 258},
}

// header is the start of an executable ELF file of the architecture, for matching a
// handler's magic against when it isn't registered under the usual name.
func (a elfArch) header() []byte {
	h := []byte{0x7f, 'E', 'L', 'F', 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	var order binary.ByteOrder = binary.LittleEndian
	if a.class64 {
		h[4] = 2
	}
	if a.big {
		h[5] = 2
		order = binary.BigEndian
	}
	order.PutUint16(h[16:], 2) // ET_EXEC
	order.PutUint16(h[18:], a.machine)
	return h
}

// handler is one parsed /proc/sys/fs/binfmt_misc entry.
type handler struct {
	name        string
	enabled     bool
	interpreter string
	flags       string
	offset      int
	magic, mask []byte // nil for an extension handler
}

func parseHandler(name string, data []byte) (handler, error) {
	h := handler{name: name}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		key, val, _ := strings.Cut(line, " ")
		var err error
		switch key {
		case "enabled":
			h.enabled = true
		case "disabled":
			h.enabled = false
		case "interpreter":
			h.interpreter = val
		case "flags:":
			h.flags = val
		case "offset":
			h.offset, err = strconv.Atoi(val)
		case "magic":
			h.magic, err = hex.DecodeString(val)
		case "mask":
			h.mask, err = hex.DecodeString(val)
		}
		if err != nil {
			return handler{}, fmt.Errorf("binfmt_misc handler %s: %q: %w", name, line, err)
		}
	}
	if h.interpreter == "" {
		return handler{}, fmt.Errorf("binfmt_misc handler %s: no interpreter line", name)
	}
	if h.mask != nil && len(h.mask) != len(h.magic) {
		return handler{}, fmt.Errorf("binfmt_misc handler %s: mask and magic differ in length", name)
	}
	return h, nil
}

// matches says whether the handler takes a file starting with hdr.
func (h handler) matches(hdr []byte) bool {
	if len(h.magic) == 0 || h.offset < 0 || h.offset+len(h.magic) > len(hdr) {
		return false
	}
	for i, m := range h.magic {
		b := hdr[h.offset+i]
		if h.mask != nil {
			b &= h.mask[i]
		}
		if b != m {
			return false
		}
	}
	return true
}

// emulation is Emulation with the host's architecture and binfmt_misc directory given,
// so tests can use a made-up one.
func emulation(p oci.Platform, hostArch, dir string) (How, error) {
	if p.OS != "linux" {
		return How{}, fmt.Errorf("%s: only linux images run in the sandbox", p)
	}
	// An amd64 kernel runs 386 binaries itself. arm on arm64 is not assumed: not every
	// arm64 CPU has 32-bit mode, so it goes through qemu-arm like any other.
	if p.Architecture == hostArch || (hostArch == "amd64" && p.Architecture == "386") {
		return How{Native: true}, nil
	}
	arch, ok := elfArchs[p.Architecture]
	if !ok {
		return How{}, fmt.Errorf("%s binaries can't run here (%s): no qemu emulator is known for %s", p, hostArch, p.Architecture)
	}
	status, err := os.ReadFile(filepath.Join(dir, "status"))
	if errors.Is(err, fs.ErrNotExist) {
		return How{}, fmt.Errorf("%s binaries can't run here (%s): binfmt_misc is not mounted: mount -t binfmt_misc binfmt_misc %s, then %s", p, hostArch, dir, installQemu)
	}
	if err != nil {
		return How{}, fmt.Errorf("%s binaries: reading binfmt_misc: %w", p, err)
	}
	if strings.TrimSpace(string(status)) != "enabled" {
		return How{}, fmt.Errorf("%s binaries can't run here (%s): binfmt_misc is disabled: echo 1 > %s", p, hostArch, filepath.Join(dir, "status"))
	}
	// The usual name first, then any handler whose magic takes the architecture's ELF
	// files (registered under another name by some tool).
	var found []handler
	if h, err := readHandler(dir, arch.handler); err == nil {
		found = append(found, h)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return How{}, err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return How{}, fmt.Errorf("%s binaries: reading binfmt_misc: %w", p, err)
	}
	hdr := arch.header()
	for _, e := range entries {
		if n := e.Name(); n != arch.handler && n != "status" && n != "register" {
			if h, err := readHandler(dir, n); err == nil && h.matches(hdr) {
				found = append(found, h)
			}
		}
	}
	i := slices.IndexFunc(found, func(h handler) bool { return h.enabled })
	switch {
	case len(found) == 0:
		return How{}, fmt.Errorf("%s binaries can't run here (%s): no binfmt_misc handler (%s) is registered for them: %s", p, hostArch, arch.handler, installQemu)
	case i < 0:
		return How{}, fmt.Errorf("%s binaries can't run here (%s): binfmt_misc handler %s is disabled: echo 1 > %s", p, hostArch, found[0].name, filepath.Join(dir, found[0].name))
	}
	h := found[i]
	how := How{Handler: h.name, Interpreter: h.interpreter, FixBinary: strings.Contains(h.flags, "F")}
	if !how.FixBinary {
		// Without F the kernel opens the interpreter when a program starts, by its host
		// path, inside the sandbox's root filesystem, where it isn't.
		return how, fmt.Errorf("%s binaries can't run in a root filesystem here: binfmt_misc handler %s lacks the F (fix-binary) flag, so %s is looked for inside the image: %s, or re-register the handler with flags F", p, h.name, h.interpreter, installQemu)
	}
	return how, nil
}

func readHandler(dir, name string) (handler, error) {
	data, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return handler{}, err
	}
	return parseHandler(name, data)
}
