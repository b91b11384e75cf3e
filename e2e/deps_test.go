package e2e

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pycontainer/pycontainer/internal/testbase"
)

const fastSource = `int answer(void) { return 6 * 7; }
`

// TestDependenciesPerPlatform builds a wheelhouse with a pure-Python wheel and a package
// whose x86_64 and aarch64 wheels carry real shared objects (compiled with gcc and
// Debian's aarch64 cross-compiler), builds the demo with --include-deps for both
// platforms, and runs each image: the app imports the package and prints what the
// native code computes.
func TestDependenciesPerPlatform(t *testing.T) {
	if err := exec.Command("python3", "-m", "pip", "--version").Run(); err != nil {
		t.Skip("python3 -m pip is not available")
	}
	present, rootfs := pythonBases(t, arches[:2], 2, "gcc", "aarch64-linux-gnu-gcc", "umoci")

	wheels := t.TempDir()
	src := filepath.Join(t.TempDir(), "fast.c")
	if err := os.WriteFile(src, []byte(fastSource), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ cc, tag string }{{"gcc", "manylinux2014_x86_64"}, {"aarch64-linux-gnu-gcc", "manylinux2014_aarch64"}} {
		so := filepath.Join(t.TempDir(), "libfast.so")
		if out, err := exec.Command(c.cc, "-shared", "-fPIC", "-O2", "-o", so, src).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", c.cc, err, out)
		}
		lib, _ := os.ReadFile(so)
		testbase.MakeWheel(t, wheels, "fastcalc", "2.0", "py3-none-"+c.tag, map[string][]byte{
			"fastcalc/__init__.py": []byte("import ctypes, os\n_lib = ctypes.CDLL(os.path.join(os.path.dirname(__file__), 'libfast.so'))\ndef answer():\n    return _lib.answer()\n"),
			"fastcalc/libfast.so":  lib,
		})
	}
	testbase.MakeWheel(t, wheels, "purelib", "1.0", "py3-none-any", map[string][]byte{"purelib/__init__.py": []byte("GREETING = 'hello from a pure wheel'\n")})

	host := testbase.StartDistribution(t)
	var plats []testbase.Platform
	for _, a := range present {
		plats = append(plats, a.platform)
	}
	testbase.Connect(host).Push(t, testbase.Spec{Repo: "library/python", Tag: "3.11-slim", Platforms: plats, RootFS: rootfs})

	bin := buildBinary(t)
	work := t.TempDir()
	files := map[string]string{
		"app.py":           "import fastcalc, purelib, platform\n\ndef main():\n    print(purelib.GREETING)\n    print('native says', fastcalc.answer(), 'on', platform.machine())\n\nif __name__ == '__main__':\n    main()\n",
		"pyproject.toml":   "[project]\nname = \"native-demo\"\nversion = \"1.0\"\ndependencies = [\"fastcalc==2.0\", \"purelib==1.0\"]\n\n[project.scripts]\nnative-demo = \"app:main\"\n",
		".venv/pyvenv.cfg": "home = /opt/homebrew/bin\n",
	}
	for name, content := range files {
		p := filepath.Join(work, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(bin, "build", "--tag", "native-demo:1", "--platform", "linux/amd64,linux/arm64", "--base-image", host+"/library/python:3.11-slim",
		"--include-deps", "--find-links", wheels, "--no-index", "--progress", "plain")
	cmd.Dir = work
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "excluded: .venv/ (a virtualenv") {
		t.Errorf("the build did not say it left the virtualenv out:\n%s", out)
	}
	layout := filepath.Join(work, "dist", "image")
	if out, err := exec.Command(bin, "inspect", "--verify", "--progress", "plain", layout).CombinedOutput(); err != nil {
		t.Errorf("inspect --verify: %v\n%s", err, out)
	}

	images := map[string]layoutImage{}
	for _, img := range layoutImages(t, layout) {
		images[img.platform] = img
	}
	for i, a := range present {
		t.Run(a.deb, func(t *testing.T) {
			img, ok := images[normPlatform(a.platform.String())]
			if !ok {
				t.Fatalf("the layout has no %s image", a.platform)
			}
			bundle := unpackLayoutImage(t, layout, img)
			so := filepath.Join(bundle, "rootfs", "opt", "pycontainer", "site-packages", "fastcalc", "libfast.so")
			f, err := elf.Open(so)
			if err != nil {
				t.Fatalf("libfast.so in the %s image: %v", a.deb, err)
			}
			want := []elf.Machine{elf.EM_X86_64, elf.EM_AARCH64}[i]
			if f.Machine != want {
				t.Errorf("the %s image holds a %s libfast.so", a.deb, f.Machine)
			}
			f.Close()
			got := runBundle(t, bundle, a)
			if !strings.Contains(got, "hello from a pure wheel") || !strings.Contains(got, "native says 42 on "+a.machine) {
				t.Errorf("the %s image printed:\n%s", a.deb, got)
			}
			if _, err := os.Stat(filepath.Join(bundle, "rootfs", "app", ".venv")); err == nil {
				t.Error("the virtualenv is in the image")
			}
		})
	}
}
