//go:build linux

package reliability

// The sections that make what only Linux has: a FIFO and a character device in a
// project, a tmpfs mounted to fill.

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// hostileContext builds a project directory holding what real ones hold by accident:
// secrets, symlinks out of the context, a FIFO, a virtualenv, odd names.
func hostileContext(t *testing.T) []reliabilityRow {
	w := newSeedWorld(t)
	// Each file, and the secret in it that must never reach the image or the output.
	secrets := map[string]struct{ body, secret string }{
		".env":                {"API_TOKEN=tok-123-secret", "tok-123-secret"},
		".env.production":     {"DB_PASSWORD=hunter2-secret", "hunter2-secret"},
		".git/config":         {"[remote \"origin\"]\n\turl = https://x-access-token:ghp_gitconfig_secret@github.com/me/app.git", "ghp_gitconfig_secret"},
		".git-credentials":    {"https://me:gitcred-secret@github.com", "gitcred-secret"},
		".netrc":              {"machine pypi.org login me password netrc-secret", "netrc-secret"},
		"id_rsa":              {"-----BEGIN OPENSSH PRIVATE KEY-----\nrsa-secret\n", "rsa-secret"},
		".ssh/id_ed25519":     {"-----BEGIN OPENSSH PRIVATE KEY-----\ned25519-secret\n", "ed25519-secret"},
		".npmrc":              {"//registry.npmjs.org/:_authToken=npm_secret", "npm_secret"},
		".pypirc":             {"[pypi]\npassword = pypi-secret", "pypi-secret"},
		".aws/credentials":    {"[default]\naws_secret_access_key = aws-secret", "aws-secret"},
		".docker/config.json": {`{"auths":{"ghcr.io":{"auth":"ZG9ja2VyLXNlY3JldA=="}}}`, "ZG9ja2VyLXNlY3JldA=="},
	}
	for name, f := range secrets {
		w.WriteFile(t, name, f.body)
	}
	if err := os.Symlink("/etc/shadow", w.Path("shadow-link")); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(w.Path("pipe"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A character device like /dev/zero: reading it would never end. Only root may make one.
	device := unix.Mknod(w.Path("zero-device"), unix.S_IFCHR|0o644, int(unix.Mkdev(1, 5))) == nil
	if err := os.MkdirAll(w.Path("venv-mac/bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	w.WriteFile(t, "venv-mac/pyvenv.cfg", "home = /opt/homebrew/bin")
	long := strings.Repeat("l", 200) + ".py"
	w.WriteFile(t, long, "print('long')\n")
	w.WriteFile(t, "caf\xe9-latin1.py", "print('bytes')\n")

	code, stdout, stderr := w.Run(t, "build --platform linux/amd64 --verbose")
	if code != 0 {
		t.Fatalf("build: %s", stderr)
	}
	validateLayout(t, w.Path("dist/image"))
	var rows []reliabilityRow
	layers := layerEntries(t, w.Path("dist/image"))
	layer := layers[len(layers)-1] // the app's
	leaked := 0
	for name, f := range secrets {
		if _, ok := layer["app/"+name]; ok {
			t.Errorf("%s went into the image", name)
			leaked++
		}
		// A directory is named, not each file in it; .docker/ holds other files.
		named := strings.Split(name, "/")[0]
		if named == ".docker" {
			named = name
		}
		if !strings.Contains(stderr, "excluded: "+named+" (") {
			t.Errorf("the build did not say it left %s out:\n%s", named, stderr)
		}
		if strings.Contains(stdout+stderr, f.secret) {
			t.Errorf("the secret of %s appeared in the output", name)
			leaked++
		}
	}
	rows = append(rows, reliabilityRow{What: ".env, .env.*, .git (a token in a remote's URL), .git-credentials, .netrc, id_rsa, .ssh/, .npmrc, .pypirc, .aws/, .docker/config.json in the context", Mode: "hostile input", Trials: 1,
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

// fullDisk fills a tiny tmpfs under the output, then under the cache, and builds: a
// one-line error, the previous image intact, no corrupt blob kept, and once there is
// room again the next build succeeds. It needs root (to mount) and skips without it.
func fullDisk(t *testing.T) []reliabilityRow {
	w := newSeedWorld(t)
	mount := func(name string) string {
		mnt := filepath.Join(t.TempDir(), name)
		if err := os.MkdirAll(mnt, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size=2M"); err != nil {
			t.Skipf("cannot mount a small tmpfs (needs root): %v", err)
		}
		t.Cleanup(func() { syscall.Unmount(mnt, 0) })
		return mnt
	}
	fill := func(dir string) string {
		name := filepath.Join(dir, "filler")
		filler, err := os.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		defer filler.Close()
		chunk := make([]byte, 64<<10)
		for {
			if _, err := filler.Write(chunk); err != nil {
				return name
			}
		}
	}
	failsClearly := func(what, cmdline, advice string) string {
		t.Helper()
		code, _, stderr := w.Run(t, cmdline)
		if code != 1 || !strings.Contains(stderr, "no space left on device") || !strings.Contains(stderr, advice) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("%s: exit %d\n%s", what, code, stderr)
		}
		return strings.TrimPrefix(strings.TrimSpace(stderr), "Error: ")
	}

	// The output's disk: the previous image must survive.
	out := filepath.Join(mount("output"), "image")
	w.MustBuild(t, "build --platform linux/amd64 --output "+out)
	before, _ := os.ReadFile(filepath.Join(out, "index.json"))
	filler := fill(filepath.Dir(out))
	w.WriteFile(t, "app.py", "print('a change that needs a new layer')\n"+strings.Repeat("# pad\n", 5000))
	outErr := failsClearly("the output's disk full", "build --platform linux/amd64 --progress json --output "+out,
		"the disk holding "+out+" is full (the previous image there is unchanged): free space or build into another --output")
	after, _ := os.ReadFile(filepath.Join(out, "index.json"))
	if !bytes.Equal(before, after) {
		t.Error("the failed build replaced index.json")
	}
	validateLayout(t, out)
	outCorrupt := corruptBlobs(t, out)
	os.Remove(filler)
	w.MustBuild(t, "build --platform linux/amd64 --output "+out)
	validateLayout(t, out)

	// The cache's disk: nothing half-written may stay in it as a blob.
	cache := mount("cache")
	w.Setenv("PYCONTAINER_CACHE", cache)
	filler = fill(cache)
	cacheErr := failsClearly("the cache's disk full", "build --platform linux/amd64,linux/arm64 --progress json --output dist/cache-full",
		"the disk holding the cache "+cache+" is full: free space, run `pycontainer cache prune`, or set PYCONTAINER_CACHE")
	if _, err := os.Stat(w.Path("dist/cache-full/index.json")); err == nil {
		t.Error("the build that failed on a full cache wrote a layout")
	}
	cacheCorrupt := corruptBlobs(t, cache)
	os.Remove(filler)
	w.MustBuild(t, "build --platform linux/amd64,linux/arm64 --output dist/cache-full")
	validateLayout(t, w.Path("dist/cache-full"))
	return []reliabilityRow{
		{What: "a full disk (a 2 MB tmpfs, filled) under the output", Mode: "hostile input", Trials: 1, Corrupt: outCorrupt,
			Outcome: "one-line error (" + reportable(outErr, filepath.Dir(out)) + "); the previous image intact and valid; once there is room the next build succeeds"},
		{What: "a full disk (a 2 MB tmpfs, filled) under the cache", Mode: "hostile input", Trials: 1, Corrupt: cacheCorrupt,
			Outcome: "one-line error (" + reportable(cacheErr, cache) + "); no partial blob kept; once there is room the next build succeeds"},
	}
}
