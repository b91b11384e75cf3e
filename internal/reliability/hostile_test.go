package reliability

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
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
	"github.com/regclient/regclient/types/descriptor"
	"github.com/regclient/regclient/types/mediatype"
	"github.com/regclient/regclient/types/platform"

	"github.com/pycontainer/pycontainer/internal/clitest"
	"github.com/pycontainer/pycontainer/internal/testbase"
)

// layerEntries maps each layer of the first image of the layout at dir (absolute), in
// order, from its entries' names to their link targets ("" for files).
func layerEntries(t *testing.T, dir string) []map[string]string {
	t.Helper()
	if !filepath.IsAbs(dir) {
		t.Fatalf("layerEntries(%q): a relative path reads the process's directory, not the world's", dir)
	}
	idx := clitest.ReadIndex(t, dir)
	var man struct {
		Layers []struct{ Digest string }
	}
	clitest.ReadBlobJSON(t, dir, idx.Manifests[0].Digest, &man)
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

// hostileWheels installs, with --include-deps, wheels from strangers: entries that
// climb out of the install directory, names a layer cannot hold, a path that is both
// a file and a directory, console scripts whose names are not file names. Each is
// refused with one line naming the wheel, or installed without the bad entries; the
// previous image stays.
func hostileWheels(t *testing.T) []reliabilityRow {
	clitest.NeedPip(t)
	w := newSeedWorld(t)
	w.MustBuild(t, "build --platform linux/amd64")
	before, _ := os.ReadFile(w.Path("dist/image/index.json"))
	w.WriteFile(t, "requirements.txt", "evilpkg==1.0\n")
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
		code, _, stderr := w.Run(t, "build --platform linux/amd64 --progress plain --include-deps --no-index --find-links "+wh)
		last := lastLine(stderr)
		now, _ := os.ReadFile(w.Path("dist/image/index.json"))
		outcome := ""
		switch {
		case tt.wantErr != "":
			if code != 1 || !strings.Contains(last, tt.wantErr) || !strings.Contains(last, "evilpkg") || strings.Contains(stderr, "goroutine ") {
				t.Errorf("%s: exit %d, last line %q; want exit 1 naming the wheel and %q\n%s", tt.name, code, last, tt.wantErr, stderr)
			}
			if !bytes.Equal(now, before) {
				t.Errorf("%s: the refused build replaced the image", tt.name)
			}
			validateLayout(t, w.Path("dist/image"))
			outcome = "refused: " + strings.TrimPrefix(last, "Error: ")
		default:
			if code != 0 {
				t.Fatalf("%s: exit %d\n%s", tt.name, code, stderr)
			}
			entries := map[string]bool{}
			for _, layer := range layerEntries(t, w.Path("dist/image")) {
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
			validateLayout(t, w.Path("dist/image"))
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
	w := newSeedWorldWith(t, reg)
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
		code, _, stderr := w.Run(t, "build --platform linux/amd64 --progress plain --output "+out+" --base-image "+reg.Host+"/"+repo+":"+tt.tag)
		took := time.Since(start)
		if tt.want == "" {
			if code != 0 {
				t.Fatalf("%s: exit %d\n%s", tt.what, code, stderr)
			}
			validateLayout(t, w.Path(out))
			rows = append(rows, reliabilityRow{What: tt.what, Mode: "hostile registry", Trials: 1, Outcome: "followed (as OCI allows): built from the nested index's linux/amd64 image"})
			continue
		}
		first := strings.SplitN(strings.TrimSpace(stderr), "\n", 2)[0]
		if code != 1 || !strings.HasPrefix(first, "Error: ") || !strings.Contains(first, tt.want) || !strings.Contains(first, repo) || strings.Contains(stderr, "goroutine ") {
			t.Errorf("%s: exit %d; want exit 1 and a first line naming %s and saying %q:\n%s", tt.what, code, repo, tt.want, stderr)
		}
		if _, err := os.Stat(w.Path(filepath.Join(out, "index.json"))); err == nil {
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
