package cli

import (
	"os"
	"strings"
	"testing"

	"github.com/pycontainer/pycontainer/internal/clitest"
)

// TestBadInput checks that each kind of bad input ends in a clear one-line error and a
// non-zero exit, never a stack trace.
func TestBadInput(t *testing.T) {
	t.Parallel()
	reg := newSeedWorld(t).Registry
	// world is a project with the bad inputs beside the demo app. Each row has its own,
	// so no row sees another's output (a push may write dist/image before it fails).
	world := func(t *testing.T) *clitest.World {
		t.Helper()
		w := newSeedWorldWith(t, reg)
		w.WriteFile(t, "bad.toml", "[build\nplatform = 'linux/amd64'\n")
		w.WriteFile(t, "wrongtype.toml", "[build]\nreproducible = \"yes\"\n")
		if err := os.MkdirAll(w.Path("empty"), 0o755); err != nil {
			t.Fatal(err)
		}
		return w
	}
	tests := []struct {
		name    string
		cmdline string
		code    int
		want    []string // substrings of the first line of stderr
		detail  string   // substring expected in the following lines
	}{
		{"platform without os", "build --platform amd64", 1, []string{"Platform format invalid", `"amd64"`, `"linux/amd64"`}, ""},
		{"platform with dash", "build --platform linux-amd64", 1, []string{"Platform format invalid", `"linux-amd64"`, `"linux/amd64"`}, ""},
		{"unknown architecture", "build --platform linux/sparc64", 1, []string{"Platform format invalid", `unknown architecture "sparc64"`}, ""},
		{"platform the base lacks", "build --platform linux/s390x --base-image python:3.11-slim", 1,
			[]string{"No matching manifest for platform linux/s390x", "docker.io/library/python:3.11-slim", "--platform flag"}, "linux/arm64"},
		{"arm/v6 is not arm/v7", "build --platform linux/arm/v6", 1, []string{"No matching manifest for platform linux/arm/v6"}, "linux/arm/v7"},
		{"missing tag", "build --base-image " + reg.Host + "/library/python:3.99-nope", 1, []string{"python:3.99-nope", "not found"}, ""},
		{"missing repository", "build --base-image " + reg.Host + "/nobody/nothing:1", 1, []string{"nobody/nothing:1", "not found"}, ""},
		{"invalid reference", "build --base-image Not_A_Valid::Ref", 1, []string{"image reference", "not valid"}, ""},
		{"malformed toml", "build --config bad.toml", 1, []string{"bad.toml:1:"}, ""},
		{"wrong type in toml", "build --config wrongtype.toml", 1, []string{"wrongtype.toml:2:", "reproducible"}, ""},
		{"config that does not exist", "build --config nowhere.toml", 1, []string{"nowhere.toml does not exist"}, ""},
		{"missing context", "build --context does-not-exist", 1, []string{`build context "does-not-exist" is not a directory`}, ""},
		{"no entrypoint", "build --context empty", 1, []string{"no entrypoint found", "--entrypoint"}, ""},
		{"bad env flag", "build --env NOVALUE", 2, []string{`--env "NOVALUE": expected KEY=VALUE`}, ""},
		{"unknown flag", "build --plattform linux/amd64", 2, []string{"unknown flag: --plattform"}, ""},
		{"bad progress mode", "build --progress fancy", 2, []string{`--progress "fancy"`}, ""},
		{"push to an unreachable registry", "build --push --tag 127.0.0.1:1/app:1 --progress json", 1, []string{"push 127.0.0.1:1/app:1", "cannot reach registry 127.0.0.1:1"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := world(t)
			code, _, stderr := w.Run(t, tt.cmdline)
			if code != tt.code {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, tt.code, stderr)
			}
			first, rest, _ := strings.Cut(stderr, "\n")
			if !strings.HasPrefix(first, "Error: ") {
				t.Errorf("first line %q does not start with \"Error: \"", first)
			}
			for _, want := range tt.want {
				if !strings.Contains(first, want) {
					t.Errorf("first line %q lacks %q", first, want)
				}
			}
			if tt.detail != "" && !strings.Contains(rest, tt.detail) {
				t.Errorf("details lack %q:\n%s", tt.detail, rest)
			}
			for _, bad := range []string{"goroutine ", "panic:", ".go:"} {
				if strings.Contains(stderr, bad) {
					t.Errorf("stderr looks like a stack trace (%q):\n%s", bad, stderr)
				}
			}
			if _, err := os.Stat(w.Path("dist/image/index.json")); err == nil && !strings.Contains(tt.name, "push") {
				t.Errorf("a failed build wrote dist/image")
			}
		})
	}
}

// TestUnknownKeyWarns checks that a misspelt key is named with its file and line and the
// build goes on.
func TestUnknownKeyWarns(t *testing.T) {
	t.Parallel()
	w := newSeedWorld(t)
	w.WriteFile(t, "pycontainer.toml", "[build]\nbase_image = \"python:3.11-slim\"\nplatfrom = \"linux/arm64\"\n")
	code, _, stderr := w.Run(t, "build")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	if !strings.Contains(stderr, `warning: pycontainer.toml:3: unknown key "build.platfrom" (ignored)`) {
		t.Errorf("no warning for the misspelt key:\n%s", stderr)
	}
}

// TestUnreachableRegistry checks a registry nobody listens on fails clearly.
func TestUnreachableRegistry(t *testing.T) {
	t.Parallel()
	w := newSeedWorld(t)
	code, _, stderr := w.Run(t, "build --base-image 127.0.0.1:1/python:3.11-slim")
	if code != 1 || !strings.Contains(stderr, "cannot reach registry 127.0.0.1:1") || strings.Count(stderr, "\n") != 1 {
		t.Errorf("exit %d, stderr:\n%s", code, stderr)
	}
}
