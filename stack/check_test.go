package stack

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/regclient/regclient/types/ref"

	"github.com/pycontainer/pycontainer/internal/testbase"
	"github.com/pycontainer/pycontainer/oci"
	"github.com/pycontainer/pycontainer/registry"
)

// A stack as people run it on an arm64 machine: mysql:5.7 (amd64 only), a debug-profile
// node:8-alpine (amd64 only), postgres:16, and the app built from a multi-stage
// Dockerfile on python:3.11-slim.
const (
	checkCompose = `services:
  db:
    image: mysql:${TAG:-5.7}
  cache:
    image: node:8-alpine
    profiles: [debug]
  pg:
    image: postgres:16
  app:
    build: .
`
	checkDockerfile = `ARG PY=3.11
FROM python:${PY}-slim AS build
RUN true
FROM build
`
)

// cellText sums a row up for comparison: each platform found (✓) or the next step's kind.
func cellText(r Row) string {
	if r.Err != nil {
		return "error: " + r.Err.Error()
	}
	var parts []string
	for _, c := range r.Cells {
		mark := "✓"
		if !c.Found {
			mark = [...]string{"?", "sibling " + c.Next.Ref, "newer " + c.Next.Ref, "emulate " + c.Next.Ref, "nothing"}[c.Next.Kind]
		}
		parts = append(parts, c.Platform.String()+" "+mark)
	}
	return r.Image + ": " + strings.Join(parts, ", ")
}

func TestRunCheck(t *testing.T) {
	t.Parallel()
	reg := testbase.DemoStack(t)
	ctx := context.Background()
	connect := func(r ref.Ref) *registry.Client {
		return registry.New(registry.Options{Registries: []string{r.Registry}, Mirrors: map[string]string{"docker.io": reg.Host}})
	}
	dir := t.TempDir()
	for name, text := range map[string]string{"compose.yaml": checkCompose, "Dockerfile": checkDockerfile} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	arm64 := registry.PlatformRequest{Platform: oci.Platform{OS: "linux", Architecture: "arm64"}, Raw: "linux/arm64", Source: "--check flag"}
	riscv := registry.PlatformRequest{Platform: oci.Platform{OS: "linux", Architecture: "riscv64"}, Raw: "linux/riscv64", Source: "--check flag"}
	amd64Host := oci.Host{Platform: oci.Platform{OS: "linux", Architecture: "amd64"}}
	tests := []struct {
		name     string
		environ  []string
		profiles []string
		asked    []registry.PlatformRequest
		want     []string
		steps    map[string]string // image -> its first miss's next step, in part
	}{
		{name: "default tag, no profile", asked: []registry.PlatformRequest{arm64}, want: []string{
			"python:3.11-slim: linux/arm64 ✓",
			"mysql:5.7: linux/arm64 newer docker.io/library/mysql:8.0",
			"postgres:16: linux/arm64 ✓",
		}, steps: map[string]string{"mysql:5.7": "use docker.io/library/mysql:8.0, the nearest newer version line: it has linux/arm64"}},
		{name: "the debug profile and TAG=8.0", environ: []string{"TAG=8.0"}, profiles: []string{"debug"}, asked: []registry.PlatformRequest{arm64}, want: []string{
			"python:3.11-slim: linux/arm64 ✓",
			"node:8-alpine: linux/arm64 emulate linux/amd64",
			"mysql:8.0: linux/arm64 ✓",
			"postgres:16: linux/arm64 ✓",
		}, steps: map[string]string{"node:8-alpine": `run its linux/amd64 image under emulation: add "platform: linux/amd64" under service cache (` +
			filepath.Join(dir, "compose.yaml") + `:5); this machine runs linux/amd64 natively`}},
		{name: "a platform only a sibling of the same line has", asked: []registry.PlatformRequest{riscv}, want: []string{
			"python:3.11-slim: linux/riscv64 sibling docker.io/library/python:3.11-alpine",
			"mysql:5.7: linux/riscv64 emulate linux/amd64",
			"postgres:16: linux/riscv64 emulate linux/amd64",
		}, steps: map[string]string{"python:3.11-slim": "use docker.io/library/python:3.11-alpine: it has linux/riscv64"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			images, err := ReadCompose(ctx, []string{filepath.Join(dir, "compose.yaml")}, tt.environ, tt.profiles)
			if err != nil {
				t.Fatal(err)
			}
			c := RunCheck(ctx, images, Targets{Asked: tt.asked, Host: amd64Host}, connect)
			var got []string
			for _, r := range c.Rows {
				got = append(got, cellText(r))
				if want, ok := tt.steps[r.Image]; ok && (len(r.Cells) == 0 || r.Cells[0].Next.Text != want) {
					t.Errorf("%s: next step %+v, want %q", r.Image, r.Cells, want)
				}
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			if want := len(tt.asked); len(c.Platforms) != want {
				t.Errorf("columns %v, want %d", c.Platforms, want)
			}
		})
	}
}
