package sandbox

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/pycontainer/pycontainer/oci"
)

// Handler files as this kernel shows them (Debian's qemu-user-static registrations).
const (
	aarch64Handler = "enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: PF\noffset 0\nmagic 7f454c460201010000000000000000000200b700\nmask ffffffffffffff00fffffffffffffffffeffffff\n"
	armHandler     = "enabled\ninterpreter /usr/libexec/qemu-binfmt/arm-binfmt-P\nflags: PF\noffset 0\nmagic 7f454c4601010100000000000000000002002800\nmask ffffffffffffff00fffffffffffffffffeffffff\n"
	jarHandler     = "enabled\ninterpreter /usr/bin/jexec\nflags: \nextension .jar\n"
)

func TestEmulation(t *testing.T) {
	linux := func(arch, variant string) oci.Platform {
		return oci.Platform{OS: "linux", Architecture: arch, Variant: variant}
	}
	tests := []struct {
		name     string
		p        oci.Platform
		host     string
		files    map[string]string // the binfmt_misc directory; nil: not mounted
		want     How
		wantErr  string
		noHandle bool
	}{
		{name: "native amd64", p: linux("amd64", ""), host: "amd64", want: How{Native: true}},
		{name: "native arm64", p: linux("arm64", ""), host: "arm64", want: How{Native: true}},
		{name: "386 on amd64 is native", p: linux("386", ""), host: "amd64", want: How{Native: true}},
		{name: "arm64 through qemu-aarch64", p: linux("arm64", ""), host: "amd64",
			files: map[string]string{"status": "enabled\n", "qemu-aarch64": aarch64Handler, "qemu-arm": armHandler, "jar": jarHandler},
			want:  How{Handler: "qemu-aarch64", Interpreter: "/usr/libexec/qemu-binfmt/aarch64-binfmt-P", FixBinary: true}},
		{name: "arm/v7 through qemu-arm", p: linux("arm", "v7"), host: "amd64",
			files: map[string]string{"status": "enabled\n", "qemu-aarch64": aarch64Handler, "qemu-arm": armHandler},
			want:  How{Handler: "qemu-arm", Interpreter: "/usr/libexec/qemu-binfmt/arm-binfmt-P", FixBinary: true}},
		{name: "arm/v7 on arm64 goes through qemu-arm too", p: linux("arm", "v7"), host: "arm64",
			files: map[string]string{"status": "enabled\n", "qemu-arm": armHandler},
			want:  How{Handler: "qemu-arm", Interpreter: "/usr/libexec/qemu-binfmt/arm-binfmt-P", FixBinary: true}},
		{name: "a handler under another name is found by its magic", p: linux("arm64", ""), host: "amd64",
			files: map[string]string{"status": "enabled\n", "qemu-arm": armHandler, "aarch64-custom": aarch64Handler},
			want:  How{Handler: "aarch64-custom", Interpreter: "/usr/libexec/qemu-binfmt/aarch64-binfmt-P", FixBinary: true}},
		{name: "an enabled handler is preferred to a disabled one", p: linux("arm64", ""), host: "amd64",
			files: map[string]string{"status": "enabled\n", "qemu-aarch64": strings.Replace(aarch64Handler, "enabled", "disabled", 1), "other": aarch64Handler},
			want:  How{Handler: "other", Interpreter: "/usr/libexec/qemu-binfmt/aarch64-binfmt-P", FixBinary: true}},
		{name: "disabled handler", p: linux("arm64", ""), host: "amd64",
			files:   map[string]string{"status": "enabled\n", "qemu-aarch64": strings.Replace(aarch64Handler, "enabled", "disabled", 1)},
			wantErr: "binfmt_misc handler qemu-aarch64 is disabled: echo 1 > "},
		{name: "missing handler", p: linux("arm64", ""), host: "amd64",
			files:   map[string]string{"status": "enabled\n", "qemu-arm": armHandler, "jar": jarHandler},
			wantErr: "no binfmt_misc handler (qemu-aarch64) is registered for them: apt-get install qemu-user-static binfmt-support"},
		{name: "handler without the F flag", p: linux("arm64", ""), host: "amd64",
			files:   map[string]string{"status": "enabled\n", "qemu-aarch64": strings.Replace(aarch64Handler, "flags: PF", "flags: P", 1)},
			wantErr: "lacks the F (fix-binary) flag", noHandle: true},
		{name: "binfmt_misc not mounted", p: linux("arm64", ""), host: "amd64",
			wantErr: "binfmt_misc is not mounted: mount -t binfmt_misc"},
		{name: "binfmt_misc disabled", p: linux("arm64", ""), host: "amd64",
			files:   map[string]string{"status": "disabled\n", "qemu-aarch64": aarch64Handler},
			wantErr: "binfmt_misc is disabled"},
		{name: "not linux", p: oci.Platform{OS: "windows", Architecture: "amd64"}, host: "amd64", wantErr: "only linux images"},
		{name: "unknown architecture", p: linux("wasm", ""), host: "amd64",
			files: map[string]string{"status": "enabled\n"}, wantErr: "no qemu emulator is known for wasm"},
		{name: "unparsable handler", p: linux("arm64", ""), host: "amd64",
			files:   map[string]string{"status": "enabled\n", "qemu-aarch64": "enabled\ninterpreter /x\nflags: F\noffset 0\nmagic zz\n"},
			wantErr: "binfmt_misc handler qemu-aarch64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "binfmt_misc")
			if tt.files != nil {
				os.Mkdir(dir, 0o755)
				for name, body := range tt.files {
					if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
			got, err := emulation(tt.p, tt.host, dir)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one saying %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "\n") {
					t.Errorf("error is more than one line: %q", err)
				}
				if !tt.noHandle && got != (How{}) {
					t.Errorf("with an error got %+v", got)
				}
				t.Log(err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestEmulationHere asks this host's kernel: an arm64 image runs through qemu-aarch64
// when the handler is registered.
func TestEmulationHere(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("the expectations are an amd64 host's")
	}
	if _, err := os.Stat(filepath.Join(binfmtDir, "qemu-aarch64")); err != nil {
		t.Skipf("no qemu-aarch64 binfmt_misc handler here: %v", err)
	}
	how, err := Emulation(oci.Platform{OS: "linux", Architecture: "arm64"})
	if err != nil {
		t.Fatal(err)
	}
	if how.Native || how.Handler != "qemu-aarch64" || how.Interpreter == "" {
		t.Errorf("got %+v, want qemu-aarch64 with its interpreter", how)
	}
	if how, err := Emulation(oci.Platform{OS: "linux", Architecture: "amd64"}); err != nil || !how.Native {
		t.Errorf("amd64: %+v %v, want native", how, err)
	}
}
