package cli

import (
	"encoding/binary"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/pycontainer/pycontainer/internal/clitest"
	"github.com/pycontainer/pycontainer/internal/testbase"
)

// elfSharedObject is the header of a shared object for machine (62 x86-64, 183 aarch64).
func elfSharedObject(machine uint16) []byte {
	b := make([]byte, 128)
	copy(b, "\x7fELF")
	b[4], b[5], b[6] = 2, 1, 1               // 64-bit, little-endian, version 1
	binary.LittleEndian.PutUint16(b[16:], 3) // ET_DYN
	binary.LittleEndian.PutUint16(b[18:], machine)
	return b
}

// needPip is clitest.NeedPip, under the name hostile_test.go still calls.
func needPip(t *testing.T) {
	t.Helper()
	clitest.NeedPip(t)
}

// wheelhouse holds a pure-Python wheel, a package with x86_64 and aarch64 wheels, and a
// package with an x86_64 wheel only.
func wheelhouse(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	testbase.MakeWheel(t, dir, "purelib", "1.0", "py3-none-any", map[string][]byte{"purelib/__init__.py": []byte("GREETING = 'hello'\n")})
	for tag, machine := range map[string]uint16{"manylinux2014_x86_64": 62, "manylinux2014_aarch64": 183} {
		testbase.MakeWheel(t, dir, "fastcalc", "2.0", "py3-none-"+tag, map[string][]byte{
			"fastcalc/__init__.py": []byte("import ctypes, os\n_lib = ctypes.CDLL(os.path.join(os.path.dirname(__file__), 'libfast.so'))\ndef answer():\n    return _lib.answer()\n"),
			"fastcalc/libfast.so":  elfSharedObject(machine),
		})
	}
	testbase.MakeWheel(t, dir, "x86only", "0.3", "py3-none-manylinux2014_x86_64", map[string][]byte{"x86only/_impl.so": elfSharedObject(62)})
	return dir
}

func layersOf(t *testing.T, dir string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, m := range clitest.ReadImages(t, dir) {
		var man struct {
			Layers []struct{ Digest string }
		}
		clitest.ReadBlobJSON(t, dir, m.Digest, &man)
		var p struct{ Architecture string }
		_ = json.Unmarshal(m.Platform, &p)
		for _, l := range man.Layers {
			out[p.Architecture] = append(out[p.Architecture], l.Digest)
		}
	}
	return out
}

func TestIncludeDeps(t *testing.T) {
	clitest.NeedPip(t)
	t.Parallel()
	w := newSeedWorld(t)
	wh := wheelhouse(t)
	w.WriteFile(t, "requirements.txt", "purelib==1.0\nfastcalc==2.0\n")
	flags := " --include-deps --find-links " + wh + " --no-index"
	w.MustBuild(t, "build --platform linux/amd64,linux/arm64"+flags)

	layers := layersOf(t, w.Path("dist/image"))
	amd, arm := layers["amd64"], layers["arm64"]
	// base (2) + pure deps + platform deps + app
	if len(amd) != 5 || len(arm) != 5 {
		t.Fatalf("layers amd64 %d, arm64 %d; want 5 each", len(amd), len(arm))
	}
	if amd[2] != arm[2] {
		t.Errorf("the pure-Python layer differs between platforms: %s vs %s", amd[2], arm[2])
	}
	if amd[3] == arm[3] {
		t.Error("the platform dependency layers are identical")
	}
	if amd[4] != arm[4] {
		t.Error("the app layer differs between platforms")
	}
	code, stdout, stderr := w.Run(t, "inspect --verify")
	if code != 0 {
		t.Fatalf("inspect --verify: %s%s", stdout, stderr)
	}
	cfg := clitest.ConfigOf(t, w.Path("dist/image"), clitest.ReadImages(t, w.Path("dist/image"))[1].Digest)
	env := strings.Join(toStrings(cfg["config"].(map[string]any)["Env"]), " ")
	if !strings.Contains(env, "PYTHONPATH=/app:/opt/pycontainer/site-packages") || !strings.Contains(env, "PATH=/opt/pycontainer/bin:") {
		t.Errorf("env %s", env)
	}

	// Only app.py changes: the dependency layers keep their digests.
	w.WriteFile(t, "app.py", "print('v2')\n")
	w.MustBuild(t, "build --platform linux/amd64,linux/arm64"+flags)
	after := layersOf(t, w.Path("dist/image"))
	if after["amd64"][2] != amd[2] || after["amd64"][3] != amd[3] || after["arm64"][3] != arm[3] {
		t.Error("a change to app.py changed a dependency layer")
	}
	if after["amd64"][4] == amd[4] {
		t.Error("the app layer did not change")
	}
}

func TestIncludeDepsMissingWheel(t *testing.T) {
	clitest.NeedPip(t)
	t.Parallel()
	w := newSeedWorld(t)
	wh := wheelhouse(t)
	w.WriteFile(t, "requirements.txt", "purelib==1.0\nx86only==0.3\n")
	code, _, stderr := w.Run(t, "build --platform linux/amd64,linux/arm64 --include-deps --find-links "+wh+" --no-index")
	if code != 1 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	first, rest, _ := strings.Cut(stderr, "\n")
	for _, want := range []string{"Error: no wheel of x86only", "linux/arm64", "Python 3.11", "nothing was built"} {
		if !strings.Contains(first, want) {
			t.Errorf("first line %q lacks %q", first, want)
		}
	}
	for _, want := range []string{"linux/arm64", "x86only", "manylinux_2_36_aarch64", "pin a version", "--allow-sdist", "drop the platform"} {
		if !strings.Contains(rest, want) {
			t.Errorf("details lack %q:\n%s", want, rest)
		}
	}
	if _, err := os.Stat(w.Path("dist/image/index.json")); err == nil {
		t.Error("a failed resolution wrote dist/image")
	}
}

func TestIncludeDepsWithoutDependencies(t *testing.T) {
	t.Parallel()
	w := newSeedWorld(t)
	stderr := w.MustBuild(t, "build --platform linux/amd64 --include-deps")
	if !strings.Contains(stderr, "declares no dependencies") {
		t.Errorf("no note about nothing to install:\n%s", stderr)
	}
}

func toStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}
