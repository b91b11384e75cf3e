package oci

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestHowRuns(t *testing.T) {
	p := func(s string) Platform {
		pl, err := ParsePlatform(s)
		if err != nil {
			t.Fatal(err)
		}
		return pl
	}
	withQEMU := map[string]string{"arm64": "/usr/bin/qemu-aarch64-static"}
	tests := []struct {
		host, target string
		emulators    map[string]string
		mounted      bool
		native, runs bool
		note         string
	}{
		{"linux/amd64", "linux/amd64", nil, true, true, true, "native on this machine"},
		{"linux/amd64", "linux/arm64", withQEMU, true, false, true, "emulated by QEMU"},
		{"linux/amd64", "linux/riscv64", withQEMU, true, false, false, "no QEMU for riscv64: install qemu-user-static"},
		{"linux/amd64", "linux/arm64", nil, false, false, false, "binfmt_misc is not mounted"},
		{"linux/amd64", "linux/386", nil, false, true, true, "32-bit"},
		{"darwin/arm64", "linux/arm64", nil, false, true, true, "native in the Linux VM"},
		{"darwin/arm64", "linux/amd64", nil, false, false, true, "emulated in the Linux VM (Rosetta or QEMU)"},
		{"linux/arm64", "linux/arm/v7", nil, true, false, true, "AArch32"},
		{"linux/arm/v7", "linux/arm/v6", nil, true, true, true, "native"},
		{"linux/arm/v6", "linux/arm/v7", nil, true, false, false, "no QEMU for arm"},
		{"linux/arm64", "linux/amd64", nil, true, false, false, "no QEMU for amd64: install qemu-user-static"},
		{"linux/amd64", "linux/arm/v7", map[string]string{"arm": "/usr/bin/qemu-arm-static"}, true, false, true, "emulated by QEMU"},
		{"linux/arm64", "linux/amd64", map[string]string{"amd64": "/usr/local/bin/box64"}, true, false, true, "emulated by box64"},
		// macOS and Windows run Linux images in the engine's Linux VM (Docker Desktop,
		// Podman machine, colima …): this host's binfmt_misc, never mounted there, says nothing.
		{"darwin/arm64", "linux/arm/v7", nil, false, false, true, "emulated in the Linux VM (QEMU)"},
		{"darwin/arm64", "linux/riscv64", nil, false, false, true, "emulated in the Linux VM (QEMU)"},
		{"darwin/amd64", "linux/amd64", nil, false, true, true, "native in the Linux VM"},
		{"darwin/amd64", "linux/arm64", nil, false, false, true, "emulated in the Linux VM (QEMU)"},
		{"windows/amd64", "linux/amd64", nil, false, true, true, "native in the Linux VM"},
		{"windows/amd64", "linux/386", nil, false, true, true, "native in the Linux VM (32-bit)"},
		{"darwin/arm64", "linux/386", nil, false, false, true, "emulated in the Linux VM (QEMU)"}, // Rosetta runs x86-64 only
		{"windows/amd64", "linux/arm64", nil, false, false, true, "emulated in the Linux VM (QEMU)"},
		{"windows/arm64", "linux/arm64", nil, false, true, true, "native in the Linux VM"},
		{"windows/arm64", "linux/amd64", nil, false, false, true, "emulated in the Linux VM (QEMU)"},
		// Images of the host's own OS run on the machine itself, or not at all.
		{"darwin/arm64", "darwin/arm64", nil, false, true, true, "native on this machine"},
		{"windows/amd64", "windows/amd64", nil, false, true, true, "native on this machine"},
		{"darwin/arm64", "windows/amd64", nil, false, false, false, "needs a windows/amd64 machine"},
		{"linux/amd64", "windows/amd64", withQEMU, true, false, false, "needs a windows/amd64 machine"},
	}
	for _, tt := range tests {
		h := Host{Platform: p(tt.host), Emulators: tt.emulators, BinfmtMounted: tt.mounted}
		got := h.HowRuns(p(tt.target))
		if got.Native != tt.native || got.Runs() != tt.runs || !strings.Contains(got.Note, tt.note) {
			t.Errorf("%s runs %s: %+v, want native=%v runs=%v and %q", tt.host, tt.target, got, tt.native, tt.runs, tt.note)
		}
	}
	for goos, want := range map[[2]string]string{
		{"darwin", "arm64"}: "darwin/arm64", {"darwin", "amd64"}: "darwin/amd64",
		{"windows", "amd64"}: "windows/amd64", {"linux", "arm"}: "linux/arm/v7",
	} {
		if h := hostPlatform(goos[0], goos[1]); PlatformString(h) != want {
			t.Errorf("host platform of %s/%s: %s, want %s", goos[0], goos[1], PlatformString(h), want)
		}
	}
}

// TestDetectHost: only on Linux are this host's binfmt_misc handlers read; on macOS and
// Windows the engine's Linux VM emulates, and an amd64 image on Apple silicon names
// Rosetta.
func TestDetectHost(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "binfmt_misc")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFileT(t, filepath.Join(dir, "status"), "enabled\n")
	writeFileT(t, filepath.Join(dir, "qemu-aarch64"), "enabled\ninterpreter /usr/bin/qemu-aarch64-static\nmagic 7f454c460201010000000000000000000200b700\n")
	amd64, _ := ParsePlatform("linux/amd64")
	arm64, _ := ParsePlatform("linux/arm64")
	tests := []struct {
		goos, goarch, binfmt string
		mounted              bool
		emulators            int
		amd64, arm64         string // HowRuns' notes
	}{
		{"linux", "amd64", dir, true, 1, "native on this machine", "emulated by QEMU"},
		{"linux", "amd64", filepath.Join(dir, "missing"), false, 0, "native on this machine", "no emulator: binfmt_misc is not mounted"},
		{"darwin", "arm64", dir, false, 0, "emulated in the Linux VM (Rosetta or QEMU)", "native in the Linux VM"},
		{"darwin", "amd64", dir, false, 0, "native in the Linux VM", "emulated in the Linux VM (QEMU)"},
		{"windows", "amd64", dir, false, 0, "native in the Linux VM", "emulated in the Linux VM (QEMU)"},
	}
	for _, tt := range tests {
		h := detectHost(tt.goos, tt.goarch, tt.binfmt)
		name := tt.goos + "/" + tt.goarch
		if PlatformString(h.Platform) != name || h.BinfmtMounted != tt.mounted || len(h.Emulators) != tt.emulators {
			t.Errorf("%s: %+v, want mounted=%v and %d emulators", name, h, tt.mounted, tt.emulators)
		}
		if got := h.HowRuns(amd64).Note; got != tt.amd64 {
			t.Errorf("%s runs linux/amd64: %q, want %q", name, got, tt.amd64)
		}
		if got := h.HowRuns(arm64).Note; got != tt.arm64 {
			t.Errorf("%s runs linux/arm64: %q, want %q", name, got, tt.arm64)
		}
	}
}

// TestReadBinfmt reads handler files as the kernel writes them (these are Debian's
// qemu-user-static registrations).
func TestReadBinfmt(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string
		want    map[string]string
		mounted bool
	}{
		{"not mounted", nil, nil, false},
		{"disabled as a whole", map[string]string{"status": "disabled\n"}, map[string]string{}, true},
		{"qemu handlers", map[string]string{
			"status":       "enabled\n",
			"register":     "",
			"qemu-aarch64": "enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: POCF\noffset 0\nmagic 7f454c460201010000000000000000000200b700\nmask ffffffffffffff00fffffffffffffffffeffffff\n",
			"qemu-arm":     "enabled\ninterpreter /usr/bin/qemu-arm-static\nflags: F\noffset 0\nmagic 7f454c4601010100000000000000000002002800\nmask ffffffffffffff00fffffffffffffffffeffffff\n",
			"qemu-s390x":   "enabled\ninterpreter /usr/bin/qemu-s390x-static\nflags: F\noffset 0\nmagic 7f454c4602020100000000000000000000020016\nmask ffffffffffffff00fffffffffffffffffffeffff\n",
			"qemu-riscv64": "disabled\ninterpreter /usr/bin/qemu-riscv64-static\nflags: F\noffset 0\nmagic 7f454c460201010000000000000000000200f300\n",
			"python3.11":   "enabled\ninterpreter /usr/bin/python3.11\nflags: \noffset 0\nmagic a70d0d0a\n",
		}, map[string]string{
			"arm64": "/usr/libexec/qemu-binfmt/aarch64-binfmt-P",
			"arm":   "/usr/bin/qemu-arm-static",
			"s390x": "/usr/bin/qemu-s390x-static",
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "binfmt_misc")
			if tt.files != nil {
				if err := os.Mkdir(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				for name, body := range tt.files {
					if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
			got, mounted := readBinfmt(dir)
			if mounted != tt.mounted || len(got) != len(tt.want) {
				t.Fatalf("readBinfmt = %v, mounted %v; want %v, mounted %v", got, mounted, tt.want, tt.mounted)
			}
			for arch, interp := range tt.want {
				if got[arch] != interp {
					t.Errorf("%s: %q, want %q", arch, got[arch], interp)
				}
			}
		})
	}
}
