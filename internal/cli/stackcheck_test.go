package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/pycontainer/pycontainer/internal/testbase"
)

// TestPlatformsStack runs `platforms --compose/--dockerfile` on a real Compose file and
// Dockerfile against the demo stack on olareg (in this process): the matrix
// rows, the exit codes and each miss's next step.
func TestPlatformsStack(t *testing.T) {
	t.Parallel()
	reg := testbase.DemoStack(t)
	tests := []struct {
		name    string
		cmdline string
		env     []string
		code    int
		stdout  []string // lines or parts of lines, in order
		stderr  string
	}{
		{name: "default tag, checked for arm64", cmdline: "platforms --compose --check linux/arm64", code: 1,
			stdout: []string{"SERVICE/STAGE  IMAGE             linux/arm64", "app            python:3.11-slim  ✓", "db             mysql:5.7         ✗", "pg             postgres:16       ✓",
				"mysql:5.7 has no linux/arm64", "named at compose.yaml:3 (service db)", "next: use docker.io/library/mysql:8.0, the nearest newer version line: it has linux/arm64"},
			stderr: "Error: 1 missing platform: mysql:5.7 lacks linux/arm64\n"},
		{name: "a listing without --check exits 0", cmdline: "platforms --compose --platform linux/arm64", code: 0,
			stdout: []string{"db             mysql:5.7         ✗"}},
		{name: "TAG from the environment and the debug profile", cmdline: "platforms --compose --profile debug --check linux/arm64", env: []string{"TAG=8.0"}, code: 1,
			stdout: []string{"cache          node:8-alpine     ✗", "db             mysql:8.0         ✓",
				`next: run its linux/amd64 image under emulation: add "platform: linux/amd64" under service cache (compose.yaml:5)`},
			stderr: "Error: 1 missing platform: node:8-alpine lacks linux/arm64\n"},
		{name: "every platform there", cmdline: "platforms --compose --check linux/amd64", env: []string{"TAG=8.0"}, code: 0,
			stdout: []string{"db             mysql:8.0         ✓"}},
		{name: "the multi-stage Dockerfile", cmdline: "platforms --dockerfile Dockerfile --check linux/riscv64", code: 1,
			stdout: []string{"stage build    python:3.11-slim  ✗", "named at Dockerfile:2 (stage build)", "next: use docker.io/library/python:3.11-alpine: it has linux/riscv64"}},
		{name: "a build arg default another file overrides", cmdline: "platforms --dockerfile Dockerfile.312 --check linux/amd64", code: 0,
			stdout: []string{"stage 0        python:3.12-slim  ✓"}},
		{name: "a tag that does not exist", cmdline: "platforms --dockerfile Dockerfile.typo", code: 1,
			stdout: []string{"python:3.11-slimm", "did you mean 3.11-slim?"}, stderr: "Error: 1 of 1 images could not be read: python:3.11-slimm\n"},
		{name: "a bad platform", cmdline: "platforms --compose --check linux/sparc64", code: 2, stderr: "Error: --check: "},
		{name: "Dockerfiles are named by flag", cmdline: "platforms --dockerfile Dockerfile Dockerfile.312", code: 2, stderr: "Error: with --dockerfile, name Dockerfiles with --dockerfile"},
		{name: "--platform is for stacks", cmdline: "platforms --platform linux/arm64 python:3.11-slim", code: 2, stderr: "Error: --platform picks the targets of --compose or --dockerfile"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			w.Setenv("PYCONTAINER_REGISTRY_MIRROR", "docker.io="+reg.Host)
			for _, kv := range tt.env {
				k, v, _ := strings.Cut(kv, "=")
				w.Setenv(k, v)
			}
			w.WriteFile(t, "compose.yaml", "services:\n  db:\n    image: mysql:${TAG:-5.7}\n  cache:\n    image: node:8-alpine\n    profiles: [debug]\n  pg:\n    image: postgres:16\n  app:\n    build: .\n")
			w.WriteFile(t, "Dockerfile", "ARG PY=3.11\nFROM python:${PY}-slim AS build\nRUN true\nFROM build\n")
			w.WriteFile(t, "Dockerfile.312", "ARG PY=3.12\nFROM python:${PY}-slim\n")
			w.WriteFile(t, "Dockerfile.typo", "FROM python:3.11-slimm\n")
			code, stdout, stderr := w.Run(t, tt.cmdline)
			if code != tt.code {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, stdout, stderr)
			}
			rest := stdout
			for _, want := range tt.stdout {
				i := strings.Index(rest, want)
				if i < 0 {
					t.Errorf("stdout lacks %q (in order):\n%s", want, stdout)
					break
				}
				rest = rest[i+len(want):]
			}
			if !strings.HasPrefix(stderr, tt.stderr) {
				t.Errorf("stderr %q, want it to start %q", stderr, tt.stderr)
			}
		})
	}
}

// TestPlatformsStackJSON: --json names each image's places (file:line, service or
// stage) and each miss's next step, as one document.
func TestPlatformsStackJSON(t *testing.T) {
	t.Parallel()
	reg := testbase.DemoStack(t)
	w := newWorld(t)
	w.Setenv("PYCONTAINER_REGISTRY_MIRROR", "docker.io="+reg.Host)
	w.WriteFile(t, "docker-compose.yml", "services:\n  db:\n    image: mysql:5.7\n  replica:\n    image: mysql:5.7\n    platform: linux/arm64\n")
	code, stdout, stderr := w.Run(t, "platforms --compose --json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var doc struct {
		Images []struct {
			Image   string
			Sources []struct {
				Source, Service, Platform string
				Line                      int
			}
			Platforms []struct {
				Platform string
				From     string
				Found    bool
				Next     *struct{ Kind, Ref string }
			}
		}
		OK bool
	}
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatalf("%v:\n%s", err, stdout)
	}
	if len(doc.Images) != 1 || len(doc.Images[0].Sources) != 2 {
		t.Fatalf("want mysql:5.7 once, named by two services: %+v", doc.Images)
	}
	src := doc.Images[0].Sources
	if src[0].Source != "docker-compose.yml:3 (service db)" || src[1].Source != "docker-compose.yml:5 (service replica)" || src[1].Platform != "linux/arm64" {
		t.Errorf("sources %+v", src)
	}
	var arm64 bool
	for _, p := range doc.Images[0].Platforms {
		if p.Platform == "linux/arm64" {
			arm64 = true
			if p.Found || p.Next == nil || p.Next.Kind != "newer" || p.Next.Ref != "docker.io/library/mysql:8.0" || !strings.Contains(p.From, "service replica") {
				t.Errorf("linux/arm64 cell %+v, want missing, next the newer line mysql:8.0, asked by service replica", p)
			}
		}
	}
	if !arm64 || doc.OK {
		t.Errorf("the replica's platform: linux/arm64 was not checked, or the check says ok: %+v", doc)
	}
}
