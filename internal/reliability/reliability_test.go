package reliability

import (
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"

	"github.com/pycontainer/pycontainer/internal/faultproxy"
	"github.com/pycontainer/pycontainer/internal/testbase"
)

// reliabilityRow is one line of RELIABILITY.md.
type reliabilityRow struct {
	Registry      string // what served the images: olareg, Distribution; empty for local input
	What, Mode    string
	Trials        int
	Outcome       string
	Corrupt, Leak int // corrupt blobs kept, secrets that reached the image or the output
}

// corruptBlobs counts files under dirs' blobs/ whose bytes do not match their name.
func corruptBlobs(t *testing.T, dirs ...string) int {
	t.Helper()
	n := 0
	for _, dir := range dirs {
		_ = filepath.WalkDir(filepath.Join(dir, "blobs"), func(p string, de fs.DirEntry, err error) error {
			if err != nil || de.IsDir() {
				return nil
			}
			b, err := os.ReadFile(p)
			if err == nil && digest.FromBytes(b).Encoded() != filepath.Base(p) {
				n++
			}
			return nil
		})
	}
	return n
}

// TestReliability runs every fault and hostile input of RELIABILITY.md, one section
// each, one after another (rows time what they do); with -report it writes their
// table there.
func TestReliability(t *testing.T) {
	if testing.Short() {
		t.Skip("runs dozens of builds; skipped with -short")
	}
	faults := func(name string, start func(testing.TB, func(http.Handler) http.Handler) *testbase.Registry) func(*testing.T) []reliabilityRow {
		return func(t *testing.T) []reliabilityRow {
			proxy := &faultproxy.Proxy{}
			return faultMatrix(t, name, proxy, start(t, proxy.Wrap))
		}
	}
	sections := []struct {
		name string
		run  func(*testing.T) []reliabilityRow
	}{
		{"faults/olareg", faults("olareg", testbase.StartWith)},
		{"faults/Distribution", faults("Distribution", testbase.StartDistributionWith)},
		{"interrupted builds", interruptedBuilds},
		{"interrupted push", interruptedPush},
		{"concurrent builds", concurrentBuilds},
		{"full disk", fullDisk},
		{"unreadable context", unreadableContext},
		{"hostile context", hostileContext},
		{"hostile wheels", hostileWheels},
		{"hostile registry", hostileRegistry},
		{"credentials", credentialsNeverPrinted},
		{"secrets below the top level", secretRows},
		{"hangs, terminal text and messages", hangRows},
		{"layout and cache integrity", layoutRows},
		{"project paths and files", pathRows},
	}
	var rows []reliabilityRow
	for _, s := range sections {
		var got []reliabilityRow
		t.Run(s.name, func(t *testing.T) {
			got = s.run(t)
			for _, r := range got {
				t.Logf("%s (%s, %d trials): %s", r.What, r.Mode, r.Trials, r.Outcome)
				if r.Corrupt != 0 || r.Leak != 0 {
					t.Errorf("%s (%s): %d corrupt blobs kept, %d secrets leaked", r.What, r.Mode, r.Corrupt, r.Leak)
				}
			}
		})
		if *report && len(got) == 0 {
			t.Errorf("%s did not run (skipped?): RELIABILITY.md would be incomplete", s.name)
		}
		rows = append(rows, got...)
	}
	if *report && !t.Failed() {
		writeReliability(t, rows)
	}
}

// faultMatrix puts a fault-injecting proxy in front of the registry. Transient faults
// (once per trial, on a blob or the manifest): the build retries and succeeds.
// Persistent faults: a clear one-line error within a bounded time. Either way no byte
// that failed its digest is kept, in the cache or the layout.
func faultMatrix(t *testing.T, registry string, proxy *faultproxy.Proxy, reg *testbase.Registry) []reliabilityRow {
	reg.Push(t, testbase.Spec{Repo: "library/python", Tag: "3.11-slim", Platforms: testbase.PythonPlatforms[:1], PaddingBytes: 256 << 10})
	w := newSeedWorldWith(t, reg)
	caches := t.TempDir() // outside the project, whose files go into the image
	w.Setenv("PYCONTAINER_STALL_TIMEOUT", "1s")
	base := reg.Host + "/library/python:3.11-slim"

	faults := []struct {
		fault faultproxy.Fault
		path  string
	}{
		{faultproxy.Reset, "/blobs/"}, {faultproxy.Status500, "/blobs/"}, {faultproxy.Status502, "/blobs/"},
		{faultproxy.Status503, "/blobs/"}, {faultproxy.TooMany, "/blobs/"}, {faultproxy.Truncate, "/blobs/"},
		{faultproxy.FlipBytes, "/blobs/"}, {faultproxy.Stall, "/blobs/"}, {faultproxy.StallMidBody, "/blobs/"},
		{faultproxy.WrongMediaType, "/manifests/"},
	}
	var rows []reliabilityRow
	trial := 0
	for _, f := range faults {
		for _, persistent := range []bool{false, true} {
			mode, trials, times := "transient (once)", 3, 1
			if persistent {
				mode, trials, times = "persistent", 1, -1
			}
			row := reliabilityRow{Registry: registry, What: string(f.fault), Mode: mode, Trials: trials}
			var outcomes []string
			for range trials {
				trial++
				cache := filepath.Join(caches, fmt.Sprint(trial))
				out := w.Path(fmt.Sprintf("dist/t%d", trial))
				w.Setenv("PYCONTAINER_CACHE", cache)
				proxy.Set(faultproxy.Rule{Method: "GET", Path: f.path, Fault: f.fault, Times: times, StallFor: 3 * time.Second})
				start := time.Now()
				code, _, stderr := w.Run(t, "build --progress json --platform linux/amd64 --base-image "+base+" --output "+out)
				took := time.Since(start)
				if proxy.Hits() == 0 {
					t.Errorf("%s, %s: the fault never fired", f.fault, mode)
				}
				row.Corrupt += corruptBlobs(t, cache, out)
				switch {
				case !persistent && code == 0:
					validateLayout(t, out)
					outcomes = append(outcomes, "retried, built")
				case !persistent:
					t.Errorf("%s, %s: the build failed: %s", f.fault, mode, stderr)
					outcomes = append(outcomes, "FAILED")
				case code == 1 && strings.Count(strings.TrimSpace(stderr), "\n") == 0 && took < 60*time.Second:
					if _, err := os.Stat(filepath.Join(out, "index.json")); err == nil {
						t.Errorf("%s: a failed build wrote a layout", f.fault)
					}
					outcomes = append(outcomes, fmt.Sprintf("clear error in %.1fs", took.Seconds()))
				default:
					t.Errorf("%s, %s: exit %d after %s:\n%s", f.fault, mode, code, took, stderr)
					outcomes = append(outcomes, "UNCLEAR")
				}
			}
			row.Outcome = strings.Join(dedupe(outcomes), "; ")
			rows = append(rows, row)
		}
	}
	return rows
}

func dedupe(in []string) []string {
	var out []string
	for _, s := range in {
		if len(out) == 0 || out[len(out)-1] != s {
			out = append(out, s)
		}
	}
	return out
}

func writeReliability(t *testing.T, rows []reliabilityRow) {
	t.Helper()
	var b strings.Builder
	b.WriteString("# Reliability\n\nGenerated by `go test ./internal/reliability -run TestReliability -report` on " + time.Now().UTC().Format("2006-01-02") + ": faults injected by a proxy in front of olareg (in process) and of the Distribution registry binary, builds interrupted by signals, and hostile projects, wheels, registries and credentials. After each trial every blob of the cache and the layout is checked against its digest (\"corrupt blobs kept\"), and every layout a trial leaves is validated: each manifest, config and layer it names is present and matches its digest, and skopeo reads it. A corrupt layout fails the run, and only a passing run writes this file, so it records zero corrupt layouts. \"Secrets leaked\" counts secrets found in the image or in any output.\n\n")
	b.WriteString("| registry | fault or input | mode | trials | outcome | corrupt blobs kept | secrets leaked |\n|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		registry := r.Registry
		if registry == "" {
			registry = "—"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %d | %s | %d | %d |\n", registry, r.What, r.Mode, r.Trials, r.Outcome, r.Corrupt, r.Leak)
	}
	b.WriteString("\nEvery row is a user's command line run as the binary runs it. Beneath them, package tests check the same bounds one level down (`TestHostileWheels` in build, with NUL in names too; `TestHostileRegistry` in registry), and nine fuzz targets (platform strings, image references, pycontainer.toml, pyproject.toml, ignore files, layout and manifest JSON, image archives, layer tars, wheels) each ran for 5 minutes: FUZZING.md (`scripts/fuzz.sh`).\n")
	if err := os.WriteFile(filepath.Join(moduleDir, "RELIABILITY.md"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}
