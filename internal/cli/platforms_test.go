package cli

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/pycontainer/pycontainer/build"
	"github.com/pycontainer/pycontainer/internal/clitest"
	"github.com/pycontainer/pycontainer/internal/demo"
	"github.com/pycontainer/pycontainer/internal/testbase"
	"github.com/pycontainer/pycontainer/oci"
)

// The sanitized missing-platform error keeps its detail lines for main's error printer.
var _ build.Detailer = sanitizedNoMatch{}

// demoWorld is the seed's world with the demo catalog (the platform sets of real python
// tags) as Docker Hub; its Registry serves the catalog.
func demoWorld(t *testing.T) *clitest.World {
	t.Helper()
	reg := testbase.Start(t)
	if err := reg.Seed(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	return newSeedWorldWith(t, reg)
}

func TestPlatformsCommand(t *testing.T) {
	t.Parallel()
	w := demoWorld(t)
	tests := []struct {
		name    string
		cmdline string
		code    int
		stdout  []string
		notOut  []string
		stderr  []string
	}{
		{"table", "platforms python:3.11-slim", 0,
			[]string{"docker.io/library/python:3.11-slim  index sha256:", "linux/arm64      linux/arm64/v8", "linux/arm/v5", "linux/s390x", "native on this machine"},
			[]string{"attestation"}, nil},
		{"attestations with --all", "platforms --all python:3.11-slim", 0, []string{"attestation      unknown/unknown", "attestation for linux/amd64"}, nil, nil},
		{"matrix", "platforms python:3.11-slim python:3.11-alpine", 0,
			[]string{"PLATFORM          python:3.11-slim  python:3.11-alpine", "linux/riscv64     –", "linux/arm/v5      ✓"}, nil, nil},
		{"check passes", "platforms --check linux/amd64,linux/arm64/v8 python:3.11-slim python:3.11-alpine", 0, nil, nil, nil},
		{"check fails", "platforms --check linux/arm64 --check linux/riscv64 python:3.11-slim demo/legacy-python:3.8", 1, nil, nil,
			[]string{"Error: No matching manifest for platform linux/riscv64 in docker.io/library/python:3.11-slim (from --check flag)", "python:3.11-alpine",
				"Error: No matching manifest for platform linux/arm64 in docker.io/demo/legacy-python:3.8",
				"try        --base-image docker.io/demo/legacy-python:3.10"}},
		{"bad platform", "platforms --check arm64 python:3.11-slim", 2, nil, nil, []string{"Platform format invalid"}},
		{"no image: the project's base", "platforms", 0, []string{"docker.io/library/python:3.11-slim  index sha256:"}, nil,
			[]string{`the project's base image python:3.11-slim (from default for requires-python ">=3.11")`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := w.Run(t, tt.cmdline)
			if code != tt.code {
				t.Errorf("exit %d, want %d\n%s%s", code, tt.code, stdout, stderr)
			}
			for _, want := range tt.stdout {
				if !strings.Contains(stdout, want) {
					t.Errorf("stdout lacks %q:\n%s", want, stdout)
				}
			}
			for _, bad := range tt.notOut {
				if strings.Contains(stdout, bad) {
					t.Errorf("stdout has %q:\n%s", bad, stdout)
				}
			}
			// In this order: errors come in the order of the images and platforms asked.
			rest := stderr
			for _, want := range tt.stderr {
				i := strings.Index(rest, want)
				if i < 0 {
					t.Errorf("stderr lacks %q after the lines before it:\n%s", want, stderr)
					break
				}
				rest = rest[i+len(want):]
			}
		})
	}
}

// TestPlatformsBrokenConfig: platforms needs no project, so a broken pycontainer.toml in
// the directory is a warning beside the table, not the command's failure; a build there
// still stops on it.
func TestPlatformsBrokenConfig(t *testing.T) {
	t.Parallel()
	w := demoWorld(t)
	w.WriteFile(t, "pycontainer.toml", "[build\nplatform = 1\n")
	code, stdout, stderr := w.Run(t, "platforms python:3.11-slim")
	if code != 0 || !strings.Contains(stdout, "linux/arm64      linux/arm64/v8") ||
		!strings.Contains(stderr, "warning: pycontainer.toml:1: expected ']' to close table name (its settings are left out)") {
		t.Errorf("platforms beside a broken pycontainer.toml: exit %d\n%s%s", code, stdout, stderr)
	}
	if code, _, stderr := w.Run(t, "build --dry-run"); code != 1 || !strings.Contains(stderr, "Error: pycontainer.toml:1:") {
		t.Errorf("build beside a broken pycontainer.toml: exit %d\n%s", code, stderr)
	}
}

// TestPlatformsJSON pins the --json schema documented in the README.
func TestPlatformsJSON(t *testing.T) {
	t.Parallel()
	w := demoWorld(t)
	code, stdout, _ := w.Run(t, "platforms --json --all --check linux/arm64,linux/arm/v6 python:3.11-slim demo/legacy-python:3.8-arm64-only")
	if code != 1 {
		t.Errorf("exit %d, want 1 (arm/v6 is missing)", code)
	}
	var doc struct {
		Images []struct {
			Image     string `json:"image"`
			Digest    string `json:"digest"`
			MediaType string `json:"media_type"`
			Single    bool   `json:"single_manifest"`
			Platforms []struct {
				Platform      string `json:"platform"`
				IndexPlatform string `json:"index_platform"`
				OS            string `json:"os"`
				Architecture  string `json:"architecture"`
				Variant       string `json:"variant"`
				Digest        string `json:"digest"`
				Size          int64  `json:"size"`
				Layers        int    `json:"layers"`
				Attestation   bool   `json:"attestation"`
				Native        bool   `json:"native"`
				Host          string `json:"host"`
			} `json:"platforms"`
		} `json:"images"`
		Check struct {
			Platforms []string `json:"platforms"`
			OK        bool     `json:"ok"`
			Missing   []struct {
				Image       string   `json:"image"`
				Platform    string   `json:"platform"`
				Available   []string `json:"available"`
				Suggestions []string `json:"suggestions"`
			} `json:"missing"`
		} `json:"check"`
	}
	dec := json.NewDecoder(strings.NewReader(stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("--json does not match the documented schema: %v\n%s", err, stdout)
	}
	if len(doc.Images) != 2 || doc.Images[0].Image != "docker.io/library/python:3.11-slim" || !doc.Images[1].Single {
		t.Fatalf("images %+v", doc.Images)
	}
	slim := doc.Images[0]
	if len(slim.Platforms) != 14 || !slim.Platforms[13].Attestation {
		t.Errorf("python:3.11-slim has %d entries (want 7 images + 7 attestations, attestations last)", len(slim.Platforms))
	}
	arm := slim.Platforms[1]
	if arm.Platform != "linux/arm64" || arm.IndexPlatform != "linux/arm64/v8" || arm.Architecture != "arm64" || arm.Size <= 0 || arm.Layers != 2 || arm.Host == "" {
		t.Errorf("arm64 entry %+v", arm)
	}
	c := doc.Check
	if c.OK || len(c.Platforms) != 2 || len(c.Missing) != 2 {
		t.Fatalf("check %+v", c)
	}
	if m := c.Missing[0]; m.Image != "docker.io/library/python:3.11-slim" || m.Platform != "linux/arm/v6" || len(m.Available) != 7 ||
		len(m.Suggestions) == 0 || m.Suggestions[0] != "docker.io/library/python:3.11-alpine" {
		t.Errorf("missing[0] %+v", m)
	}
}

// TestCompletePlatforms: `--platform <TAB>` offers the base image's platforms (never its
// attestations), with how each runs here; a comma-separated list completes its last
// element and leaves out what it already holds; a base that cannot be read says why.
func TestCompletePlatforms(t *testing.T) {
	t.Parallel()
	w := newSeedWorld(t)
	// How arm64 runs depends on this machine's emulators: the note says what it says.
	armNote := oci.DetectHost().HowRuns(oci.Platform{OS: "linux", Architecture: "arm64"}).Note
	tests := []struct {
		name         string
		args         []string
		want, absent []string
	}{
		{"first", []string{"--platform", ""}, []string{"linux/amd64\t", "linux/arm64\t" + armNote, "linux/arm/v7\t"}, []string{"unknown"}},
		{"list", []string{"--platform", "linux/arm64,"}, []string{"linux/arm64,linux/amd64\t", "linux/arm64,linux/arm/v7\t"}, []string{"linux/arm64,linux/arm64"}},
		{"unreadable base", []string{"--base-image", w.Registry.Host + "/library/nothing:1", "--platform", ""},
			[]string{"_activeHelp_ cannot list the platforms of " + w.Registry.Host + "/library/nothing:1"}, []string{"linux/"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := w.RunArgs(t, append([]string{"__complete", "build"}, tt.args...), "")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			for _, want := range tt.want {
				if !strings.Contains(stdout, want) {
					t.Errorf("completions lack %q:\n%s", want, stdout)
				}
			}
			for _, bad := range tt.absent {
				if strings.Contains(stdout, bad) {
					t.Errorf("completions hold %q:\n%s", bad, stdout)
				}
			}
		})
	}
}

// TestCompleteRecentImages: image arguments complete from the images opened lately.
func TestCompleteRecentImages(t *testing.T) {
	t.Parallel()
	// Its own XDG_CONFIG_HOME and HOME: the recent images start empty.
	w := newWorld(t)
	w.Setenv("HOME", t.TempDir())
	for _, image := range []string{"python:3.12-slim", "python:3.11-slim"} {
		if err := rememberImage(w.Env(), image); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{{"__complete", "platforms", ""}, {"__complete", "build", "--base-image", ""}} {
		code, stdout, stderr := w.RunArgs(t, args, "")
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, stderr)
		}
		if !strings.HasPrefix(stdout, "python:3.11-slim\npython:3.12-slim\n") {
			t.Errorf("%v: completions %q, want the recent images newest first", args, stdout)
		}
	}
}

// TestDemoServices: the demo says at once that an image is not among its own, without
// its registry's address, and remembers nothing in the user's recent images.
func TestDemoServices(t *testing.T) {
	t.Parallel()
	reg, err := demo.Serve(nil) // the demo's own registry, as `pycontainer demo` starts it
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	if err := reg.Seed(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	w := newSeedWorldWith(t, testbase.Connect(reg.Host))
	opts, err := build.Resolve(build.Inputs{Process: w.Env()})
	if err != nil {
		t.Fatal(err)
	}
	s := demoServices(opts, w.Env(), reg)
	if s.Remember != nil {
		t.Error("the demo remembers the images opened")
	}
	start := time.Now()
	_, err = s.FetchIndex(context.Background(), "python:3.11-slimm")
	if err == nil || !strings.Contains(err.Error(), "python:3.11-slimm is not in the demo registry; it holds python:3.11-slim") ||
		strings.Contains(err.Error(), reg.Host) || time.Since(start) > time.Second {
		t.Errorf("a mistyped image after %s: %v", time.Since(start), err)
	}
	if ix, err := s.FetchIndex(context.Background(), "python:3.11-alpine"); err != nil || len(ix.Platforms()) == 0 {
		t.Errorf("an image the demo holds: %v", err)
	}
}
