package main

import (
	"archive/tar"
	"compress/gzip"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"

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

// TestReliability runs the fault matrix and the hostile-input checks; with
// PYCONTAINER_RELIABILITY_REPORT=1 it writes their table to RELIABILITY.md.
func TestReliability(t *testing.T) {
	if testing.Short() {
		t.Skip("runs dozens of builds; skipped with -short")
	}
	var rows []reliabilityRow
	t.Run("faults/olareg", func(t *testing.T) {
		proxy := &faultproxy.Proxy{}
		rows = append(rows, faultMatrix(t, "olareg", proxy, testbase.StartWith(t, proxy.Wrap))...)
	})
	t.Run("faults/Distribution", func(t *testing.T) {
		proxy := &faultproxy.Proxy{}
		rows = append(rows, faultMatrix(t, "Distribution", proxy, testbase.StartDistributionWith(t, proxy.Wrap))...)
	})
	t.Run("hostile context", func(t *testing.T) { rows = append(rows, hostileContext(t)...) })
	if os.Getenv("PYCONTAINER_RELIABILITY_REPORT") != "" {
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
	t.Setenv("PYCONTAINER_STALL_TIMEOUT", "1s")
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
				cache := filepath.Join(w.dir, fmt.Sprintf("cache%d", trial))
				out := filepath.Join(w.dir, "dist", fmt.Sprintf("t%d", trial))
				t.Setenv("PYCONTAINER_CACHE", cache)
				proxy.Set(faultproxy.Rule{Method: "GET", Path: f.path, Fault: f.fault, Times: times, StallFor: 3 * time.Second})
				start := time.Now()
				code, _, stderr := pycontainer(t, "build --progress json --platform linux/amd64 --base-image "+base+" --output "+out)
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
	for _, r := range rows {
		if r.Corrupt != 0 {
			t.Errorf("%s (%s): %d corrupt blobs kept", r.What, r.Mode, r.Corrupt)
		}
	}
	return rows
}

// hostileContext builds a project directory holding what real ones hold by accident:
// secrets, symlinks out of the context, a FIFO, a virtualenv, odd names.
func hostileContext(t *testing.T) []reliabilityRow {
	newSeedWorld(t)
	secrets := map[string]string{
		".env": "API_TOKEN=tok-123-secret", ".env.production": "DB_PASSWORD=hunter2", "id_rsa": "-----BEGIN OPENSSH PRIVATE KEY-----",
		".npmrc": "//registry.npmjs.org/:_authToken=npm_secret", ".pypirc": "[pypi]\npassword = pypi-secret", ".aws/credentials": "aws_secret_access_key = x",
	}
	for name, body := range secrets {
		os.MkdirAll(filepath.Dir(name), 0o755)
		writeFile(t, name, body)
	}
	if err := os.Symlink("/etc/shadow", "shadow-link"); err != nil {
		t.Fatal(err)
	}
	if err := syscallMkfifo("pipe"); err != nil {
		t.Fatal(err)
	}
	// A character device like /dev/zero: reading it would never end. Only root may make one.
	device := unix.Mknod("zero-device", unix.S_IFCHR|0o644, int(unix.Mkdev(1, 5))) == nil
	os.MkdirAll("venv-mac/bin", 0o755)
	writeFile(t, "venv-mac/pyvenv.cfg", "home = /opt/homebrew/bin")
	long := strings.Repeat("l", 200) + ".py"
	writeFile(t, long, "print('long')\n")
	writeFile(t, "caf\xe9-latin1.py", "print('bytes')\n")

	code, stdout, stderr := pycontainer(t, "build --platform linux/amd64 --verbose")
	if code != 0 {
		t.Fatalf("build: %s", stderr)
	}
	var rows []reliabilityRow
	layer := appLayerFiles(t, "dist/image")
	leaked := 0
	for name, body := range secrets {
		if _, ok := layer["app/"+name]; ok {
			t.Errorf("%s went into the image", name)
			leaked++
		}
		if !strings.Contains(stderr, "excluded: "+strings.Split(name, "/")[0]) {
			t.Errorf("the build did not say it left %s out:\n%s", name, stderr)
		}
		if strings.Contains(stdout+stderr, body) {
			t.Errorf("the secret of %s appeared in the output", name)
			leaked++
		}
	}
	rows = append(rows, reliabilityRow{What: ".env, .env.*, id_rsa, .npmrc, .pypirc, .aws/ in the context", Mode: "hostile input", Trials: 1,
		Outcome: "left out of the image and named in the output; contents never printed (--verbose)", Leak: leaked})
	if target := layer["app/shadow-link"]; target != "/etc/shadow" {
		t.Errorf("symlink out of the context: %q, want it stored as a link", target)
	}
	rows = append(rows, reliabilityRow{What: "symlink to /etc/shadow", Mode: "hostile input", Trials: 1, Outcome: "stored as a symlink, never followed"})
	if _, ok := layer["app/pipe"]; ok || !strings.Contains(stderr, "excluded: pipe (not a regular file") {
		t.Errorf("FIFO: in layer %v\n%s", ok, stderr)
	}
	rows = append(rows, reliabilityRow{What: "FIFO in the context", Mode: "hostile input", Trials: 1, Outcome: "left out and named (reading it would block)"})
	if device {
		if _, ok := layer["app/zero-device"]; ok || !strings.Contains(stderr, "excluded: zero-device (not a regular file") {
			t.Errorf("character device: in layer %v\n%s", ok, stderr)
		}
		rows = append(rows, reliabilityRow{What: "character device (1,5: /dev/zero) in the context", Mode: "hostile input", Trials: 1, Outcome: "left out and named (reading it would never end)"})
	}
	if _, ok := layer["app/venv-mac/pyvenv.cfg"]; ok || !strings.Contains(stderr, "excluded: venv-mac/ (a virtualenv") {
		t.Errorf("virtualenv of an odd name went in")
	}
	rows = append(rows, reliabilityRow{What: "virtualenv under another name", Mode: "hostile input", Trials: 1, Outcome: "left out and named"})
	if _, ok := layer["app/"+long]; !ok {
		t.Error("a 200-character file name was lost")
	}
	if _, ok := layer["app/caf\xe9-latin1.py"]; !ok {
		t.Error("a non-UTF-8 file name was lost")
	}
	rows = append(rows, reliabilityRow{What: "200-character and non-UTF-8 file names", Mode: "hostile input", Trials: 1, Outcome: "stored byte for byte (PAX headers)"})
	return rows
}

// appLayerFiles maps the app layer's entries to their link targets ("" for files).
func appLayerFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	idx := readIndex(t, dir)
	var man struct {
		Layers []struct{ Digest string }
	}
	readBlobJSON(t, dir, idx.Manifests[0].Digest, &man)
	f, err := os.Open(filepath.Join(dir, "blobs", "sha256", strings.TrimPrefix(man.Layers[len(man.Layers)-1].Digest, "sha256:")))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		out[strings.TrimSuffix(h.Name, "/")] = h.Linkname
	}
	return out
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
	b.WriteString("# Reliability\n\nGenerated by `PYCONTAINER_RELIABILITY_REPORT=1 go test -run TestReliability .` (a fault-injecting proxy in front of olareg in process and of the Distribution registry binary; every blob of the cache and the layout is checked against its digest after each trial).\n\n")
	b.WriteString("| registry | fault or input | mode | trials | outcome | corrupt blobs kept | secrets leaked |\n|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		registry := r.Registry
		if registry == "" {
			registry = "—"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %d | %s | %d | %d |\n", registry, r.What, r.Mode, r.Trials, r.Outcome, r.Corrupt, r.Leak)
	}
	b.WriteString("\nAlso tested elsewhere: builds killed with SIGKILL and SIGINT at random points, 20 trials, each leaving the previous image or the new one, valid (`TestInterruptedBuildKeepsPreviousImage`); two builds into one layout (`TestConcurrentBuildsLock`); a full disk: a one-line `no space left on device` error, the previous image intact and valid (`TestFullDisk`); an unreadable file or directory in the project: a one-line error naming it, run as nobody (`TestUnreadableContext`); hostile wheels: zip slip, absolute paths, control characters in names, a path both file and directory, console scripts named `..` (`TestHostileWheels`); a registry announcing a 100 GB layer, 1,001 layers, a manifest of 100,000 layers, a config that is not JSON, an index whose entry is an index (`TestHostileRegistry`: each a one-line error or no image); nine fuzz targets (platform strings, image references, pycontainer.toml, pyproject.toml, ignore files, layout and manifest JSON, image archives, layer tars, wheels), each run for 5 minutes: FUZZING.md (`scripts/fuzz.sh`).\n")
	if err := os.WriteFile(filepath.Join(startDir, "RELIABILITY.md"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

func syscallMkfifo(path string) error { return syscall.Mkfifo(path, 0o644) }

// TestFullDisk builds into a tiny tmpfs, fills it, and builds again: a clear error, and
// the previous image still valid. It needs root (to mount) and skips without it.
func TestFullDisk(t *testing.T) {
	newSeedWorld(t)
	mnt := filepath.Join(t.TempDir(), "small")
	if err := os.MkdirAll(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size=2M"); err != nil {
		t.Skipf("cannot mount a small tmpfs (needs root): %v", err)
	}
	defer syscall.Unmount(mnt, 0)
	out := filepath.Join(mnt, "image")
	mustBuild(t, "build --platform linux/amd64 --output "+out)
	before, _ := os.ReadFile(filepath.Join(out, "index.json"))

	// Fill what is left, then change the app so the next build must write new blobs.
	filler, err := os.Create(filepath.Join(mnt, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 64<<10)
	for {
		if _, err := filler.Write(chunk); err != nil {
			break
		}
	}
	filler.Close()
	writeFile(t, "app.py", "print('a change that needs a new layer')\n"+strings.Repeat("# pad\n", 5000))
	code, _, stderr := pycontainer(t, "build --platform linux/amd64 --progress json --output "+out)
	if code != 1 || !strings.Contains(stderr, "no space left on device") || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
		t.Errorf("build on a full disk: exit %d\n%s", code, stderr)
	}
	after, _ := os.ReadFile(filepath.Join(out, "index.json"))
	if string(before) != string(after) {
		t.Error("the failed build replaced index.json")
	}
	validateLayout(t, out)
}
