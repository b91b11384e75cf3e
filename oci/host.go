package oci

import (
	"bufio"
	"bytes"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
)

// HostPlatform is the platform of the machine pycontainer runs on.
func HostPlatform() Platform {
	return hostPlatform(runtime.GOOS, runtime.GOARCH)
}

func hostPlatform(goos, goarch string) Platform {
	return NormalizePlatform(Platform{OS: goos, Architecture: goarch})
}

// Host is the machine pycontainer runs on and what it can run: its platform and, on
// Linux, the emulators its kernel starts for binaries of other architectures.
type Host struct {
	Platform Platform
	// Emulators maps an architecture (arm64, arm, riscv64 …) to the interpreter of an
	// enabled binfmt_misc handler for it, e.g. /usr/bin/qemu-aarch64-static.
	Emulators map[string]string
	// BinfmtMounted says whether /proc/sys/fs/binfmt_misc could be read: unmounted, no
	// emulator is ever started, whatever is installed.
	BinfmtMounted bool
}

// binfmtDir is where Linux lists its binfmt_misc handlers.
const binfmtDir = "/proc/sys/fs/binfmt_misc"

// DetectHost describes this machine, reading its binfmt_misc handlers on Linux.
func DetectHost() Host {
	return detectHost(runtime.GOOS, runtime.GOARCH, binfmtDir)
}

// detectHost is DetectHost on a host of goos/goarch whose handlers binfmt lists. Only a
// Linux kernel starts emulators for us; on macOS and Windows the engine's Linux VM does,
// out of our sight.
func detectHost(goos, goarch, binfmt string) Host {
	h := Host{Platform: hostPlatform(goos, goarch)}
	if goos == "linux" {
		h.Emulators, h.BinfmtMounted = readBinfmt(binfmt)
	}
	return h
}

// readBinfmt lists the enabled handlers of a binfmt_misc directory by the architecture
// of the ELF files they match.
func readBinfmt(dir string) (map[string]string, bool) {
	status, err := os.ReadFile(filepath.Join(dir, "status"))
	if err != nil {
		return nil, false
	}
	out := map[string]string{}
	if strings.TrimSpace(string(status)) != "enabled" {
		return out, true
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return out, true
	}
	for _, e := range entries {
		if e.Name() == "status" || e.Name() == "register" {
			continue
		}
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		arch, interpreter, ok := parseBinfmtHandler(f)
		f.Close()
		if ok {
			out[arch] = interpreter
		}
	}
	return out, true
}

// parseBinfmtHandler reads one handler file ("enabled", "interpreter …", "magic …") and
// names the architecture whose ELF header its magic matches.
func parseBinfmtHandler(f *os.File) (arch, interpreter string, ok bool) {
	enabled := false
	var magic []byte
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(strings.TrimSpace(sc.Text()), " ")
		switch k {
		case "enabled":
			enabled = true
		case "interpreter":
			interpreter = v
		case "magic":
			magic, _ = hex.DecodeString(v)
		}
	}
	if !enabled || interpreter == "" {
		return "", "", false
	}
	arch = elfArchOfMagic(magic)
	return arch, interpreter, arch != ""
}

// elfArchOfMagic is the architecture of the ELF header prefix a handler matches, or "".
func elfArchOfMagic(m []byte) string {
	if len(m) < 20 || !bytes.HasPrefix(m, []byte("\x7fELF")) {
		return ""
	}
	var order binary.ByteOrder = binary.LittleEndian
	if elf.Data(m[5]) == elf.ELFDATA2MSB {
		order = binary.BigEndian
	}
	machine, class := elf.Machine(order.Uint16(m[18:20])), elf.Class(m[4])
	names := make([]string, 0, len(elfTargets))
	for name := range elfTargets {
		names = append(names, name)
	}
	slices.Sort(names) // one answer for one magic
	for _, name := range names {
		t := elfTargets[name]
		if t.machine == machine && t.class == class && t.order == order {
			return name
		}
	}
	return ""
}

// Execution says how a host runs an image of a platform.
type Execution struct {
	Native   bool // the CPU runs it as it is
	Emulated bool // it runs, through an emulator
	Note     string
}

// Runs reports whether the image runs on the host at all.
func (e Execution) Runs() bool { return e.Native || e.Emulated }

// HowRuns explains how h runs containers of target: natively, inside the Linux VM that
// Docker Desktop and friends use on macOS and Windows, under the QEMU emulator its
// kernel has registered, or not at all until one is.
func (h Host) HowRuns(target Platform) Execution {
	host, target := NormalizePlatform(h.Platform), NormalizePlatform(target)
	if target.OS != "linux" {
		if target.OS == host.OS && target.Architecture == host.Architecture {
			return Execution{Native: true, Note: "native on this machine"}
		}
		return Execution{Note: "needs a " + PlatformString(target) + " machine"}
	}
	if host.OS != "linux" {
		switch {
		case target.Architecture == host.Architecture && variantRunsOn(host, target):
			return Execution{Native: true, Note: "native in the Linux VM"}
		case host.Architecture == "amd64" && target.Architecture == "386":
			// The VMs' kernels (WSL 2, LinuxKit) run 32-bit x86 as a Linux host does.
			return Execution{Native: true, Note: "native in the Linux VM (32-bit)"}
		case host.OS == "darwin" && host.Architecture == "arm64" && target.Architecture == "amd64":
			return Execution{Emulated: true, Note: "emulated in the Linux VM (Rosetta or QEMU)"}
		}
		return Execution{Emulated: true, Note: "emulated in the Linux VM (QEMU)"}
	}
	switch {
	case target.Architecture == host.Architecture && variantRunsOn(host, target):
		return Execution{Native: true, Note: "native on this machine"}
	case host.Architecture == "amd64" && target.Architecture == "386":
		return Execution{Native: true, Note: "native on this machine (32-bit)"}
	case host.Architecture == "arm64" && target.Architecture == "arm":
		return Execution{Emulated: true, Note: "native if the CPU has AArch32, else emulated"}
	}
	if interpreter, ok := h.Emulators[target.Architecture]; ok {
		emulator := filepath.Base(interpreter)
		if strings.Contains(interpreter, "qemu") { // qemu-aarch64-static, qemu-binfmt/aarch64-binfmt-P
			emulator = "QEMU"
		}
		return Execution{Emulated: true, Note: "emulated by " + emulator}
	}
	if !h.BinfmtMounted {
		return Execution{Note: "no emulator: binfmt_misc is not mounted"}
	}
	return Execution{Note: "no QEMU for " + target.Architecture + ": install qemu-user-static"}
}

// variantRunsOn reports whether a host of the same architecture runs target's variant:
// an arm/v7 host runs v6 and v5 images, not the reverse.
func variantRunsOn(host, target Platform) bool {
	if host.Variant == "" || target.Variant == "" || host.Variant == target.Variant {
		return true
	}
	return variantLevel(target.Variant) <= variantLevel(host.Variant)
}

func variantLevel(v string) int {
	v = strings.TrimPrefix(v, "v")
	n := 0
	for _, c := range v {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int(c-'0')
	}
	return n
}
