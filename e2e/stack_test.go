package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pycontainer/pycontainer/internal/testbase"
)

// TestComposeStackOnArm64 checks a Compose stack for linux/arm64 before anyone pulls:
// one service on a Debian python3.11 base built for amd64 only, one on the real
// multi-platform base, served by the Distribution registry. The check names the
// service and suggests a tag of the same version line that has arm64.
func TestComposeStackOnArm64(t *testing.T) {
	_, rootfs := pythonBases(t, arches[:2], 2, "go")
	host := testbase.StartDistribution(t)
	reg := testbase.Connect(host)
	amd64, arm64 := arches[0].platform, arches[1].platform
	only := func(p testbase.Platform) map[string]string { return map[string]string{p.String(): rootfs[p.String()]} }
	reg.Push(t, testbase.Spec{Repo: "library/python", Tag: "3.11-slim", Platforms: []testbase.Platform{amd64, arm64}, RootFS: rootfs, Attestation: true})
	reg.Push(t, testbase.Spec{Repo: "library/python", Tag: "3.11-amd64only", Platforms: []testbase.Platform{amd64}, RootFS: only(amd64)})
	reg.Push(t, testbase.Spec{Repo: "library/python", Tag: "3.11-single", Single: true, Platforms: []testbase.Platform{arm64}, RootFS: only(arm64)})

	bin := buildBinary(t)
	work := t.TempDir()
	compose := "services:\n  worker:\n    image: " + host + "/library/python:3.11-amd64only\n  web:\n    image: " + host + "/library/python:3.11-slim\n"
	if err := os.WriteFile(filepath.Join(work, "compose.yaml"), []byte(compose), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "platforms", "--compose", "--check", "linux/arm64")
	cmd.Dir = work
	out, err := cmd.CombinedOutput()
	t.Logf("pycontainer platforms --compose --check linux/arm64:\n%s", out)
	if code := cmd.ProcessState.ExitCode(); code != 1 {
		t.Fatalf("exit %d (%v), want 1: worker's image lacks linux/arm64", code, err)
	}
	text := string(out)
	for _, want := range []string{
		"worker         " + host + "/library/python:3.11-amd64only  ✗",
		"web            " + host + "/library/python:3.11-slim       ✓",
		"named at compose.yaml:3 (service worker)",
		"Error: 1 missing platform: " + host + "/library/python:3.11-amd64only lacks linux/arm64",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the check lacks %q", want)
		}
	}
	if !strings.Contains(text, "next: use "+host+"/library/python:3.11-slim: it has linux/arm64") &&
		!strings.Contains(text, "next: use "+host+"/library/python:3.11-single: it has linux/arm64") {
		t.Errorf("the check suggests neither 3.11-slim nor 3.11-single for worker")
	}
}
