package cli

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
	"github.com/regclient/regclient/types/descriptor"
	"github.com/regclient/regclient/types/mediatype"
	"github.com/regclient/regclient/types/platform"
	"golang.org/x/sys/unix"

	"github.com/pycontainer/pycontainer/internal/testbase"
)

// hostileContext builds a project directory holding what real ones hold by accident:
// secrets, symlinks out of the context, a FIFO, a virtualenv, odd names.
func hostileContext(t *testing.T) []reliabilityRow {
	newSeedWorld(t)
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
		os.MkdirAll(filepath.Dir(name), 0o755)
		writeFile(t, name, f.body)
	}
	if err := os.Symlink("/etc/shadow", "shadow-link"); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo("pipe", 0o644); err != nil {
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
	validateLayout(t, "dist/image")
	var rows []reliabilityRow
	layers := layerEntries(t, "dist/image")
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

// layerEntries maps each layer of the layout's first image, in order, from its entries'
// names to their link targets ("" for files).
func layerEntries(t *testing.T, dir string) []map[string]string {
	t.Helper()
	idx := readIndex(t, dir)
	var man struct {
		Layers []struct{ Digest string }
	}
	readBlobJSON(t, dir, idx.Manifests[0].Digest, &man)
	layers := make([]map[string]string, len(man.Layers))
	for i, l := range man.Layers {
		f, err := os.Open(filepath.Join(dir, "blobs", "sha256", strings.TrimPrefix(l.Digest, "sha256:")))
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		layers[i] = map[string]string{}
		tr := tar.NewReader(zr)
		for {
			h, err := tr.Next()
			if err != nil {
				break
			}
			layers[i][strings.TrimSuffix(h.Name, "/")] = h.Linkname
		}
		f.Close()
	}
	return layers
}

// tempName is a temporary file's random suffix.
var tempName = regexp.MustCompile(`blob-[0-9]+`)

// reportable is an error message as RELIABILITY.md shows it: without the test's temporary
// directory dir and temporary file names, so the file reads the same each run.
func reportable(msg, dir string) string {
	return tempName.ReplaceAllString(strings.ReplaceAll(msg, dir, "TMPFS"), "blob-N")
}

// fullDisk fills a tiny tmpfs under the output, then under the cache, and builds: a
// one-line error, the previous image intact, no corrupt blob kept, and once there is
// room again the next build succeeds. It needs root (to mount) and skips without it.
func fullDisk(t *testing.T) []reliabilityRow {
	newSeedWorld(t)
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
		code, _, stderr := pycontainer(t, cmdline)
		if code != 1 || !strings.Contains(stderr, "no space left on device") || !strings.Contains(stderr, advice) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("%s: exit %d\n%s", what, code, stderr)
		}
		return strings.TrimPrefix(strings.TrimSpace(stderr), "Error: ")
	}

	// The output's disk: the previous image must survive.
	out := filepath.Join(mount("output"), "image")
	mustBuild(t, "build --platform linux/amd64 --output "+out)
	before, _ := os.ReadFile(filepath.Join(out, "index.json"))
	filler := fill(filepath.Dir(out))
	writeFile(t, "app.py", "print('a change that needs a new layer')\n"+strings.Repeat("# pad\n", 5000))
	outErr := failsClearly("the output's disk full", "build --platform linux/amd64 --progress json --output "+out,
		"the disk holding "+out+" is full (the previous image there is unchanged): free space or build into another --output")
	after, _ := os.ReadFile(filepath.Join(out, "index.json"))
	if !bytes.Equal(before, after) {
		t.Error("the failed build replaced index.json")
	}
	validateLayout(t, out)
	outCorrupt := corruptBlobs(t, out)
	os.Remove(filler)
	mustBuild(t, "build --platform linux/amd64 --output "+out)
	validateLayout(t, out)

	// The cache's disk: nothing half-written may stay in it as a blob.
	cache := mount("cache")
	t.Setenv("PYCONTAINER_CACHE", cache)
	filler = fill(cache)
	cacheErr := failsClearly("the cache's disk full", "build --platform linux/amd64,linux/arm64 --progress json --output dist/cache-full",
		"the disk holding the cache "+cache+" is full: free space, run `pycontainer cache prune`, or set PYCONTAINER_CACHE")
	if _, err := os.Stat("dist/cache-full/index.json"); err == nil {
		t.Error("the build that failed on a full cache wrote a layout")
	}
	cacheCorrupt := corruptBlobs(t, cache)
	os.Remove(filler)
	mustBuild(t, "build --platform linux/amd64,linux/arm64 --output dist/cache-full")
	validateLayout(t, "dist/cache-full")
	return []reliabilityRow{
		{What: "a full disk (a 2 MB tmpfs, filled) under the output", Mode: "hostile input", Trials: 1, Corrupt: outCorrupt,
			Outcome: "one-line error (" + reportable(outErr, filepath.Dir(out)) + "); the previous image intact and valid; once there is room the next build succeeds"},
		{What: "a full disk (a 2 MB tmpfs, filled) under the cache", Mode: "hostile input", Trials: 1, Corrupt: cacheCorrupt,
			Outcome: "one-line error (" + reportable(cacheErr, cache) + "); no partial blob kept; once there is room the next build succeeds"},
	}
}

// hostileWheels installs, with --include-deps, wheels from strangers: entries that
// climb out of the install directory, names a layer cannot hold, a path that is both
// a file and a directory, console scripts whose names are not file names. Each is
// refused with one line naming the wheel, or installed without the bad entries; the
// previous image stays.
func hostileWheels(t *testing.T) []reliabilityRow {
	needPip(t)
	newSeedWorld(t)
	mustBuild(t, "build --platform linux/amd64")
	before, _ := os.ReadFile("dist/image/index.json")
	writeFile(t, "requirements.txt", "evilpkg==1.0\n")
	tests := []struct {
		name    string
		files   map[string]string
		wantErr string   // refused with this error
		absent  []string // or built without these entries
	}{
		{"zip slip (../../etc/cron.d/evil)", map[string]string{"../../etc/cron.d/evil": "* * * * * root sh"}, "leaves the install directory", nil},
		{"absolute path (/etc/passwd)", map[string]string{"/etc/passwd": "root::0:0::/:/bin/sh"}, "leaves the install directory", nil},
		{"newline in a name", map[string]string{"evilpkg/a\n.py": ""}, "has a control character in its name", nil},
		{"a path both file and directory", map[string]string{"evilpkg": "x", "evilpkg/m.py": ""}, "both as a file and as a directory", nil},
		{"console scripts named .., . and nothing", map[string]string{
			"evilpkg/__init__.py":                    "def main(): pass\n",
			"evilpkg-1.0.dist-info/entry_points.txt": "[console_scripts]\n.. = evilpkg:main\n. = evilpkg:main\n = evilpkg:main\nok = evilpkg:main\n",
		}, "", []string{"opt/pycontainer/bin/..", "opt/pycontainer/bin/."}},
	}
	var rows []reliabilityRow
	for _, tt := range tests {
		wh := t.TempDir()
		files := map[string][]byte{}
		for k, v := range tt.files {
			files[k] = []byte(v)
		}
		testbase.MakeWheel(t, wh, "evilpkg", "1.0", "py3-none-any", files)
		code, _, stderr := pycontainer(t, "build --platform linux/amd64 --progress plain --include-deps --no-index --find-links "+wh)
		last := lastLine(stderr)
		now, _ := os.ReadFile("dist/image/index.json")
		outcome := ""
		switch {
		case tt.wantErr != "":
			if code != 1 || !strings.Contains(last, tt.wantErr) || !strings.Contains(last, "evilpkg") || strings.Contains(stderr, "goroutine ") {
				t.Errorf("%s: exit %d, last line %q; want exit 1 naming the wheel and %q\n%s", tt.name, code, last, tt.wantErr, stderr)
			}
			if !bytes.Equal(now, before) {
				t.Errorf("%s: the refused build replaced the image", tt.name)
			}
			validateLayout(t, "dist/image")
			outcome = "refused: " + strings.TrimPrefix(last, "Error: ")
		default:
			if code != 0 {
				t.Fatalf("%s: exit %d\n%s", tt.name, code, stderr)
			}
			entries := map[string]bool{}
			for _, layer := range layerEntries(t, "dist/image") {
				for name := range layer {
					entries[name] = true
				}
			}
			for _, name := range tt.absent {
				if entries[name] {
					t.Errorf("%s: %s is in the image", tt.name, name)
				}
			}
			if !entries["opt/pycontainer/bin/ok"] {
				t.Errorf("%s: the valid console script ok is missing", tt.name)
			}
			validateLayout(t, "dist/image")
			outcome = "built; the bad script names skipped, ok installed"
		}
		rows = append(rows, reliabilityRow{What: "a wheel with " + tt.name, Mode: "hostile input", Trials: 1, Outcome: outcome})
	}
	return rows
}

// lastLine is the last non-empty line of s.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// hostileRegistry serves base images no real registry should: a layer announced at
// 100 GB, manifests of 1,001 and 100,000 layers, a config that is not JSON, and an index
// whose nested index the registry answers with the outer index, a loop. Each build is a
// one-line error naming the image, and no layout is written. An index nesting an index,
// which OCI allows, builds.
func hostileRegistry(t *testing.T) []reliabilityRow {
	ctx := context.Background()
	// Manifests olareg would refuse to store, or lies about one it stores, served
	// instead of what the registry holds at their path.
	type served struct {
		mediaType, digest string
		body              []byte
	}
	var instead sync.Map // request path -> served
	reg := testbase.StartWith(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			v, ok := instead.Load(r.URL.Path)
			if !ok {
				h.ServeHTTP(w, r)
				return
			}
			m := v.(served)
			w.Header().Set("Content-Type", m.mediaType)
			w.Header().Set("Content-Length", fmt.Sprint(len(m.body)))
			w.Header().Set("Docker-Content-Digest", m.digest)
			if r.Method == http.MethodGet {
				w.Write(m.body)
			}
		})
	})
	newSeedWorldWith(t, reg)
	const repo = "hostile/img"
	raws := map[digest.Digest][]byte{}
	put := func(tag string, v map[string]any) descriptor.Descriptor {
		raw, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		mt := v["mediaType"].(string)
		if len(raw) > 4<<20 { // over olareg's bound: served by the wrapper
			d := digest.FromBytes(raw)
			for _, name := range []string{tag, d.String()} {
				instead.Store("/v2/"+repo+"/manifests/"+name, served{mt, d.String(), raw})
			}
			return descriptor.Descriptor{MediaType: mt, Digest: d, Size: int64(len(raw))}
		}
		d, err := reg.PutManifest(ctx, repo, tag, mt, raw)
		if err != nil {
			t.Fatal(err)
		}
		raws[d.Digest] = raw
		return d
	}
	blob := func(data string, mt string) descriptor.Descriptor {
		d, err := reg.PutBlob(ctx, repo, []byte(data))
		if err != nil {
			t.Fatal(err)
		}
		d.MediaType = mt
		return d
	}
	image := func(tag string, config descriptor.Descriptor, layers []descriptor.Descriptor) descriptor.Descriptor {
		return put(tag, map[string]any{"schemaVersion": 2, "mediaType": mediatype.OCI1Manifest, "config": config, "layers": layers})
	}
	index := func(tag string, entries ...descriptor.Descriptor) descriptor.Descriptor {
		return put(tag, map[string]any{"schemaVersion": 2, "mediaType": mediatype.OCI1ManifestList, "manifests": entries})
	}
	amd64 := &platform.Platform{OS: "linux", Architecture: "amd64"}
	config := blob(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`, mediatype.OCI1ImageConfig)
	layer := blob("not really a layer", mediatype.OCI1LayerGzip)
	many := make([]descriptor.Descriptor, 100_000)
	for i := range many {
		many[i] = layer
	}
	image("huge-layer", config, []descriptor.Descriptor{{MediaType: mediatype.OCI1LayerGzip, Digest: layer.Digest, Size: 100 << 30}})
	image("1001-layers", config, many[:1001])
	big := image("100k-layers", config, many)
	image("config-not-json", blob("<html>502 Bad Gateway</html>", mediatype.OCI1ImageConfig), nil)

	img := image("image", config, []descriptor.Descriptor{})
	index("nested", withPlatform(index("inner", withPlatform(img, amd64)), amd64))
	inner := index("loop-inner", withPlatform(img, amd64), withPlatform(img, &platform.Platform{OS: "linux", Architecture: "arm64"}))
	outer := index("loop", withPlatform(inner, amd64))
	// The lie told whole: the outer index's bytes, under the digest the client asked for.
	instead.Store("/v2/"+repo+"/manifests/"+inner.Digest.String(), served{mediatype.OCI1ManifestList, inner.Digest.String(), raws[outer.Digest]})

	tests := []struct {
		tag, what, want string
	}{
		{"huge-layer", "a layer announced at 100 GB", "refusing layers over 64 GiB"},
		{"1001-layers", "a manifest of 1,001 layers", "lists 1001 layers; more than 1000"},
		{"100k-layers", fmt.Sprintf("a manifest of 100,000 layers (%d MB)", big.Size>>20), "manifest over 8 MB"},
		{"config-not-json", "a config blob that is not JSON", "is not valid JSON"},
		{"loop", "an index whose nested index the registry answers with the outer index (a loop)", "the registry answered with other bytes than that digest names"},
		{"nested", "an index whose linux/amd64 entry is an index", ""},
	}
	var rows []reliabilityRow
	for _, tt := range tests {
		out := filepath.Join("dist", tt.tag)
		start := time.Now()
		code, _, stderr := pycontainer(t, "build --platform linux/amd64 --progress plain --output "+out+" --base-image "+reg.Host+"/"+repo+":"+tt.tag)
		took := time.Since(start)
		if tt.want == "" {
			if code != 0 {
				t.Fatalf("%s: exit %d\n%s", tt.what, code, stderr)
			}
			validateLayout(t, out)
			rows = append(rows, reliabilityRow{What: tt.what, Mode: "hostile registry", Trials: 1, Outcome: "followed (as OCI allows): built from the nested index's linux/amd64 image"})
			continue
		}
		first := strings.SplitN(strings.TrimSpace(stderr), "\n", 2)[0]
		if code != 1 || !strings.HasPrefix(first, "Error: ") || !strings.Contains(first, tt.want) || !strings.Contains(first, repo) || strings.Contains(stderr, "goroutine ") {
			t.Errorf("%s: exit %d; want exit 1 and a first line naming %s and saying %q:\n%s", tt.what, code, repo, tt.want, stderr)
		}
		if _, err := os.Stat(filepath.Join(out, "index.json")); err == nil {
			t.Errorf("%s: a layout was written", tt.what)
		}
		rows = append(rows, reliabilityRow{What: tt.what, Mode: "hostile registry", Trials: 1,
			Outcome: fmt.Sprintf("in %.1fs: %s", took.Seconds(), strings.ReplaceAll(strings.TrimPrefix(first, "Error: "), reg.Host, "REGISTRY"))})
	}
	return rows
}

func withPlatform(d descriptor.Descriptor, p *platform.Platform) descriptor.Descriptor {
	d.Platform = p
	return d
}
