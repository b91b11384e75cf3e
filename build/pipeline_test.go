package build

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
	"github.com/regclient/regclient/types/descriptor"
	"github.com/regclient/regclient/types/mediatype"
	v1 "github.com/regclient/regclient/types/oci/v1"
	"github.com/regclient/regclient/types/ref"

	"github.com/pycontainer/pycontainer/oci"
	"github.com/pycontainer/pycontainer/registry"
)

// memSource is a registry held in memory: indexes by tag, images by manifest digest,
// blobs by digest. It counts the blob downloads asked of it.
type memSource struct {
	indexes map[string]*registry.Index
	images  map[digest.Digest]*registry.Image
	blobs   map[digest.Digest][]byte

	mu      sync.Mutex
	fetches map[digest.Digest]int

	// onFetch, when set, is told of each blob download asked; beforeConfig, when set,
	// runs before each config is read.
	onFetch      func()
	beforeConfig func(ctx context.Context) error
}

func newMemSource() *memSource {
	return &memSource{indexes: map[string]*registry.Index{}, images: map[digest.Digest]*registry.Image{},
		blobs: map[digest.Digest][]byte{}, fetches: map[digest.Digest]int{}}
}

func (s *memSource) Index(ctx context.Context, r ref.Ref) (*registry.Index, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ix, ok := s.indexes[r.Tag]
	if !ok {
		return nil, fmt.Errorf("%s: no such tag", r.CommonName())
	}
	c := *ix
	c.Ref, c.Entries = r, slices.Clone(ix.Entries)
	return &c, nil
}

func (s *memSource) Tags(context.Context, ref.Ref) ([]string, error) {
	var tags []string
	for t := range s.indexes {
		tags = append(tags, t)
	}
	slices.Sort(tags)
	return tags, nil
}

func (s *memSource) ImageManifest(ctx context.Context, _ ref.Ref, d descriptor.Descriptor) (*registry.Image, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	img, ok := s.images[d.Digest]
	if !ok {
		return nil, fmt.Errorf("no manifest %s", d.Digest)
	}
	return &registry.Image{Descriptor: img.Descriptor, Manifest: img.Manifest}, nil
}

func (s *memSource) ImageConfig(ctx context.Context, _ ref.Ref, img *registry.Image) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.beforeConfig != nil {
		if err := s.beforeConfig(ctx); err != nil {
			return err
		}
	}
	img.Config = s.images[img.Descriptor.Digest].Config
	return nil
}

func (s *memSource) FetchBlob(ctx context.Context, _ ref.Ref, d descriptor.Descriptor, sink registry.BlobSink, progress registry.BlobProgress) error {
	s.mu.Lock()
	s.fetches[d.Digest]++
	b, ok := s.blobs[d.Digest]
	s.mu.Unlock()
	if s.onFetch != nil {
		s.onFetch()
	}
	if !ok {
		return fmt.Errorf("no blob %s", d.Digest)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	w, err := sink.Begin()
	if err == nil {
		_, err = w.Write(b)
	}
	if err != nil {
		sink.Abort()
		return err
	}
	if progress.Read != nil {
		progress.Read(int64(len(b)))
	}
	return sink.Commit()
}

// baseLayer is a gzipped tar of one file, as a registry serves a layer.
func baseLayer(t *testing.T, name, body string) ([]byte, digest.Digest) {
	t.Helper()
	var buf bytes.Buffer
	epoch := time.Unix(0, 0).UTC()
	res, err := writeLayer(&buf, []layerEntry{{Name: name, Mode: 0o644, Size: int64(len(body)), Open: bytesOpener([]byte(body))}}, &epoch)
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), res.DiffID
}

// baseCreated is when the fake base image says it was made.
var baseCreated = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// addBase puts python:3.11-slim in s for platforms, every image on one shared layer and
// one of its own; it returns the index's digest.
func (s *memSource) addBase(t *testing.T, tag string, platforms ...string) digest.Digest {
	t.Helper()
	shared, sharedDiff := baseLayer(t, "usr/lib/os-release", "ID=debian\n")
	ix := &registry.Index{MediaType: mediatype.OCI1ManifestList}
	for _, raw := range platforms {
		p, err := oci.ParsePlatform(raw)
		if err != nil {
			t.Fatal(err)
		}
		own, ownDiff := baseLayer(t, "usr/bin/python3", "python for "+raw)
		cfg := v1.Image{Created: &baseCreated, Platform: p, RootFS: v1.RootFS{Type: "layers", DiffIDs: []digest.Digest{sharedDiff, ownDiff}}}
		cfg.Config.Env = []string{"PATH=/usr/local/bin:/usr/bin", "PYTHONPATH=/opt/base"}
		cfg.Config.Cmd = []string{"python3"}
		cfg.Config.Labels = map[string]string{"base": "python"}
		cfg.History = []v1.History{{Created: &baseCreated, CreatedBy: "debootstrap"}}
		layers := []descriptor.Descriptor{
			{MediaType: mediatype.Docker2LayerGzip, Digest: digest.FromBytes(shared), Size: int64(len(shared))},
			{MediaType: mediatype.OCI1LayerGzip, Digest: digest.FromBytes(own), Size: int64(len(own))},
		}
		s.blobs[layers[0].Digest], s.blobs[layers[1].Digest] = shared, own
		m := v1.Manifest{Versioned: v1.ManifestSchemaVersion, MediaType: mediatype.OCI1Manifest, Layers: layers}
		raw, _ := json.Marshal(m)
		d := descriptor.Descriptor{MediaType: mediatype.OCI1Manifest, Digest: digest.FromBytes(raw), Size: int64(len(raw)), Platform: &p}
		s.images[d.Digest] = &registry.Image{Descriptor: d, Manifest: m, Config: cfg}
		ix.Entries = append(ix.Entries, registry.Entry{Platform: p, Descriptor: d})
	}
	raw, _ := json.Marshal(ix.Entries)
	ix.Digest = digest.FromBytes(raw)
	s.indexes[tag] = ix
	return ix.Digest
}

// ticks is a clock that says start, then start+step, start+2*step … at each reading.
func ticks(start time.Time, step time.Duration) func() time.Time {
	var mu sync.Mutex
	next := start
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now := next
		next = next.Add(step)
		return now
	}
}

// memOptions builds the project of one app.py on python:3.11-slim for platforms, into
// a fresh output, without the shared cache.
func memOptions(t *testing.T, platforms ...string) *Options {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "app.py"), []byte("print('hi')\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	o := &Options{Context: dir, Output: filepath.Join(t.TempDir(), "image"), Tag: "demo:1", Workdir: "/app",
		BaseImage: "registry.example/library/python:3.11-slim", Env: map[string]string{"APP_MODE": "test"},
		Project: Project{Name: "demo", Version: "1.0"}}
	for _, raw := range platforms {
		p, err := oci.ParsePlatform(raw)
		if err != nil {
			t.Fatal(err)
		}
		o.Platforms = append(o.Platforms, RequestedPlatform{Platform: p, Raw: raw, Source: "test"})
	}
	return o
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// TestAssembleWithoutRegistry runs the whole pipeline on a base image held in memory
// and a clock that says what the test wants: each platform's config and manifest are
// derived from its base, a layer the platforms share is downloaded once, and the build
// time is the clock's at the start, for every platform alike.
func TestAssembleWithoutRegistry(t *testing.T) {
	src := newMemSource()
	baseDigest := src.addBase(t, "3.11-slim", "linux/amd64", "linux/arm64")
	o := memOptions(t, "linux/amd64", "linux/arm64")
	start := time.Date(2025, 1, 2, 3, 4, 5, 600, time.UTC)
	w := world{connect: func(ref.Ref, *oci.Store) blobSource { return src }, clock: ticks(start, 1500*time.Millisecond)}
	var events []Event
	var mu sync.Mutex
	if err := run(context.Background(), o, func(e Event) { mu.Lock(); events = append(events, e); mu.Unlock() }, w); err != nil {
		t.Fatal(err)
	}

	var plan PlanReady
	var fin Finished
	shared := 0
	for _, e := range events {
		switch e := e.(type) {
		case PlanReady:
			plan = e
		case Finished:
			fin = e
		case LayerDone:
			if e.SharedWith != "" {
				shared++
			}
		}
	}
	if plan.BaseDigest != baseDigest.String() || len(plan.Platforms) != 2 {
		t.Errorf("plan %+v, want base %s and two platforms", plan, baseDigest)
	}
	if fin.Duration != 1500*time.Millisecond {
		t.Errorf("duration %v, want the clock's 1.5s between the start and the end", fin.Duration)
	}
	for d, n := range src.fetches {
		if n != 1 {
			t.Errorf("blob %s downloaded %d times, want once", d, n)
		}
	}
	if len(src.fetches) != 3 || shared != 1 {
		t.Errorf("%d blobs downloaded and %d layers shared, want 3 (one shared, one each) and 1", len(src.fetches), shared)
	}

	var index, nested v1.Index
	readJSON(t, filepath.Join(o.Output, "index.json"), &index)
	if len(index.Manifests) != 1 {
		t.Fatalf("index.json has %d entries, want one nested index", len(index.Manifests))
	}
	readJSON(t, oci.BlobPath(o.Output, index.Manifests[0].Digest), &nested)
	if len(nested.Manifests) != 2 {
		t.Fatalf("the nested index has %d manifests, want 2", len(nested.Manifests))
	}
	created := start.Truncate(time.Second)
	for i, arch := range []string{"amd64", "arm64"} {
		var m v1.Manifest
		var cfg v1.Image
		readJSON(t, oci.BlobPath(o.Output, nested.Manifests[i].Digest), &m)
		readJSON(t, oci.BlobPath(o.Output, m.Config.Digest), &cfg)
		if cfg.Architecture != arch || cfg.Created == nil || !cfg.Created.Equal(created) {
			t.Errorf("%s config: architecture %s, created %v; want %s, %v (the clock at the start)", arch, cfg.Architecture, cfg.Created, arch, created)
		}
		if got := m.Annotations["org.opencontainers.image.created"]; got != created.Format(time.RFC3339) {
			t.Errorf("%s manifest created %q, want %q", arch, got, created.Format(time.RFC3339))
		}
		if m.Annotations["org.opencontainers.image.base.digest"] != baseDigest.String() || m.Annotations["org.opencontainers.image.title"] != "demo" {
			t.Errorf("%s manifest annotations %v", arch, m.Annotations)
		}
		if len(m.Layers) != 3 || m.Layers[0].MediaType != mediatype.OCI1LayerGzip || len(cfg.RootFS.DiffIDs) != 3 || len(cfg.History) != 2 {
			t.Errorf("%s: layers %v, diff_ids %v, history %d; want the base's two (OCI types) and the app's", arch, m.Layers, cfg.RootFS.DiffIDs, len(cfg.History))
		}
		if !slices.Equal(cfg.Config.Entrypoint, []string{"python3", "/app/app.py"}) || !slices.Contains(cfg.Config.Env, "APP_MODE=test") {
			t.Errorf("%s: entrypoint %q, env %q", arch, cfg.Config.Entrypoint, cfg.Config.Env)
		}
	}
}

// TestNoMatchIsDiagnosedThroughTheSource: a platform the base lacks stops the build
// before any download, with a diagnosis that read the repository's other tags from
// the same source.
func TestNoMatchIsDiagnosedThroughTheSource(t *testing.T) {
	src := newMemSource()
	src.addBase(t, "3.11-slim", "linux/amd64")
	src.addBase(t, "3.12-slim", "linux/amd64", "linux/s390x")
	o := memOptions(t, "linux/s390x")
	w := world{connect: func(ref.Ref, *oci.Store) blobSource { return src }, clock: time.Now}
	err := run(context.Background(), o, nil, w)
	var nm *NoMatchError
	if !errors.As(err, &nm) || nm.Diagnosis == nil {
		t.Fatalf("err %v, want a diagnosed *NoMatchError", err)
	}
	if s := nm.Diagnosis.Siblings; len(s) != 1 || s[0].Tag != "3.12-slim" {
		t.Errorf("siblings %+v, want 3.12-slim", s)
	}
	if len(src.fetches) != 0 {
		t.Errorf("%d blobs downloaded before the miss was said", len(src.fetches))
	}
	if _, err := os.Stat(o.Output); !os.IsNotExist(err) {
		t.Errorf("the output was created (%v)", err)
	}
}

// TestBuildTime is the one rule for the times a build writes.
func TestBuildTime(t *testing.T) {
	start := time.Date(2025, 1, 2, 3, 4, 5, 600, time.FixedZone("CET", 3600))
	epoch, sde := time.Unix(0, 0).UTC(), time.Unix(1_700_000_000, 0).UTC()
	base := time.Date(2024, 5, 1, 12, 0, 0, 0, time.FixedZone("X", -7200))
	tests := []struct {
		name         string
		reproducible bool
		fixed        *time.Time
		base         *time.Time
		created      time.Time
		files        *time.Time
	}{
		{"not reproducible: the start, files their own", false, &sde, &base, start.UTC().Truncate(time.Second), nil},
		{"SOURCE_DATE_EPOCH", true, &sde, &base, sde, &sde},
		{"the base's time, files at 1970", true, nil, &base, base.UTC(), &epoch},
		{"a base without one: 1970", true, nil, nil, epoch, &epoch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bt := buildTimeOf(&Options{Reproducible: tt.reproducible, Created: tt.fixed}, start)
			if got := bt.created(tt.base); !got.Equal(tt.created) || got.Location() != time.UTC {
				t.Errorf("created %v, want %v in UTC", got, tt.created)
			}
			got := bt.files()
			if (got == nil) != (tt.files == nil) || got != nil && !got.Equal(*tt.files) {
				t.Errorf("files %v, want %v", got, tt.files)
			}
		})
	}
}

// TestImageConfigIsPure: the config follows from its arguments alone, and the base's
// config, shared by every platform built on it, is left as it was.
func TestImageConfigIsPure(t *testing.T) {
	base := v1.Image{Created: &baseCreated, RootFS: v1.RootFS{Type: "layers", DiffIDs: []digest.Digest{digest.FromString("base")}}}
	base.Config.Env = []string{"PATH=/usr/bin", "PYTHONPATH=/opt/base"}
	base.Config.Labels = map[string]string{"base": "python"}
	base.OSVersion = "10.0"
	before, _ := json.Marshal(base)
	p, _ := oci.ParsePlatform("linux/arm/v7")
	in := imageInputs{platform: p, launch: launch{Entrypoint: []string{"python3", "-m", "app"}, PythonPath: []string{"/app/src"}},
		env: map[string]string{"B": "2", "A": "1"}, cmd: []string{"serve"}, workdir: "/app", user: "app",
		labels: map[string]string{"app": "demo"}, ports: []string{"8080", "53/udp"},
		added: []builtLayer{{diffID: digest.FromString("deps"), kind: LayerDeps, createdBy: "deps"}, {diffID: digest.FromString("app"), kind: LayerApp, createdBy: "app"}}}
	created := time.Date(2025, 1, 2, 0, 0, 0, 0, time.UTC)

	cfg := imageConfig(base, in, created)
	again, _ := json.Marshal(imageConfig(base, in, created))
	if first, _ := json.Marshal(cfg); !bytes.Equal(first, again) {
		t.Errorf("two calls with the same arguments differ:\n%s\n%s", first, again)
	}
	if after, _ := json.Marshal(base); !bytes.Equal(before, after) {
		t.Errorf("the base config changed:\n%s\n%s", before, after)
	}
	want := []string{"PATH=" + DepsBin + ":/usr/bin", "PYTHONPATH=/app/src:" + DepsSite + ":/opt/base", "A=1", "B=2"}
	if !slices.Equal(cfg.Config.Env, want) {
		t.Errorf("env %q, want %q", cfg.Config.Env, want)
	}
	if cfg.Architecture != "arm" || cfg.Variant != "v7" || cfg.OSVersion != "10.0" || !cfg.Created.Equal(created) {
		t.Errorf("platform %s/%s/%s os.version %q created %v", cfg.OS, cfg.Architecture, cfg.Variant, cfg.OSVersion, cfg.Created)
	}
	if cfg.Config.User != "app" || !slices.Equal(cfg.Config.Cmd, []string{"serve"}) || cfg.Config.Labels["base"] != "python" || cfg.Config.Labels["app"] != "demo" {
		t.Errorf("config %+v", cfg.Config)
	}
	if _, ok := cfg.Config.ExposedPorts["8080/tcp"]; !ok || len(cfg.Config.ExposedPorts) != 2 {
		t.Errorf("exposed ports %v, want 8080/tcp and 53/udp", cfg.Config.ExposedPorts)
	}
	if len(cfg.RootFS.DiffIDs) != 3 || len(cfg.History) != 2 || !cfg.History[1].Created.Equal(created) {
		t.Errorf("diff_ids %v, history %+v", cfg.RootFS.DiffIDs, cfg.History)
	}
}

// TestRunSaysInterrupted: a build its context stopped says so by ErrInterrupted, the
// cause still in the chain and its text unchanged; a failure of its own does not.
func TestRunSaysInterrupted(t *testing.T) {
	o := memOptions(t, "linux/amd64")
	o.BaseImage = "127.0.0.1:1/library/python:3.11-slim" // nothing listens there
	o.NoCache = true
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := Run(ctx, o, nil)
	if !errors.Is(err, ErrInterrupted) || !errors.Is(err, context.Canceled) {
		t.Errorf("a stopped build returned %v, want ErrInterrupted around context.Canceled", err)
	}
	var ie *InterruptedError
	if errors.As(err, &ie) && err.Error() != ie.Err.Error() {
		t.Errorf("text %q, want the cause's %q", err.Error(), ie.Err.Error())
	}
	o.Platforms = nil
	o.Tag = "Not A Tag"
	if err := Run(context.Background(), o, nil); err == nil || errors.Is(err, ErrInterrupted) {
		t.Errorf("a refused tag returned %v, want an error that is no interruption", err)
	}
}
