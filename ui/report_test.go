package ui

import (
	"bytes"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
	"github.com/regclient/regclient/types/descriptor"
	"github.com/regclient/regclient/types/mediatype"
	v1 "github.com/regclient/regclient/types/oci/v1"
	"github.com/regclient/regclient/types/ref"

	"github.com/pycontainer/pycontainer/build"
	"github.com/pycontainer/pycontainer/oci"
	"github.com/pycontainer/pycontainer/registry"
	"github.com/pycontainer/pycontainer/stack"
)

// The reports' hosts are fixed so that the ON THIS MACHINE column and the JSON's
// native and host are the same wherever the tests run.
var (
	// amd64Host has no emulator: arm64 and the rest say how to get QEMU.
	amd64Host = oci.Host{Platform: oci.Platform{OS: "linux", Architecture: "amd64"}, Emulators: map[string]string{}, BinfmtMounted: true}
	// arm64Host emulates amd64 only; arm runs natively if the CPU has AArch32.
	arm64Host = oci.Host{Platform: oci.Platform{OS: "linux", Architecture: "arm64"}, Emulators: map[string]string{"amd64": "/usr/bin/qemu-x86_64-static"}, BinfmtMounted: true}
)

// imageEntry is an index entry for an image manifest, raw as the index spells its
// platform; seed keeps the digests of different images apart.
func imageEntry(seed string, raw oci.Platform, size int64, layers int) registry.Entry {
	d := descriptor.Descriptor{MediaType: mediatype.OCI1Manifest, Digest: digest.FromString(seed + oci.PlatformString(raw) + raw.OSVersion), Size: 1_610, Platform: &raw}
	return registry.Entry{Platform: oci.NormalizePlatform(raw), Descriptor: d, Size: size, Layers: layers}
}

// attestationEntry is the attestation manifest buildx pushes beside an image.
func attestationEntry(of registry.Entry) registry.Entry {
	att := oci.Platform{OS: "unknown", Architecture: "unknown"}
	return registry.Entry{Platform: att, Attestation: true, Size: 24_310, Layers: 2, Descriptor: descriptor.Descriptor{
		MediaType: mediatype.OCI1Manifest, Digest: digest.FromString("attestation of " + of.Descriptor.Digest.String()), Size: 566, Platform: &att,
		Annotations: map[string]string{"vnd.docker.reference.digest": of.Descriptor.Digest.String(), "vnd.docker.reference.type": "attestation-manifest"},
	}}
}

func reportIndex(t testing.TB, name, mediaType string, entries ...registry.Entry) *registry.Index {
	t.Helper()
	r, err := ref.New(name)
	if err != nil {
		t.Fatal(err)
	}
	return &registry.Index{Ref: r, Digest: digest.FromString("index " + name), MediaType: mediaType, Entries: entries}
}

func linux(arch, variant string) oci.Platform {
	return oci.Platform{OS: "linux", Architecture: arch, Variant: variant}
}

// slimIndex is python:3.11-slim as Docker Hub serves it: arm64 spelt arm64/v8, and
// attestations; one is listed amid the images, as some pushers do, and shows last.
func slimIndex(t testing.TB) *registry.Index {
	s := "slim"
	amd64, arm64 := imageEntry(s, linux("amd64", ""), 41_210_000, 4), imageEntry(s, linux("arm64", "v8"), 40_530_000, 4)
	return reportIndex(t, "python:3.11-slim", mediatype.OCI1ManifestList,
		amd64, attestationEntry(amd64),
		imageEntry(s, linux("arm", "v5"), 36_920_000, 4), imageEntry(s, linux("arm", "v7"), 34_610_000, 4), arm64,
		imageEntry(s, linux("386", ""), 42_140_000, 4), imageEntry(s, linux("ppc64le", ""), 45_330_000, 4), imageEntry(s, linux("s390x", ""), 40_020_000, 4),
		attestationEntry(arm64))
}

// alpineIndex has riscv64 and arm/v6, and no arm/v5: the matrix shows the difference.
func alpineIndex(t testing.TB) *registry.Index {
	s := "alpine"
	amd64 := imageEntry(s, linux("amd64", ""), 19_050_000, 5)
	return reportIndex(t, "python:3.11-alpine", mediatype.OCI1ManifestList,
		amd64, imageEntry(s, linux("arm", "v6"), 17_380_000, 5), imageEntry(s, linux("arm", "v7"), 16_820_000, 5),
		imageEntry(s, linux("arm64", "v8"), 18_940_000, 5), imageEntry(s, linux("386", ""), 18_770_000, 5),
		imageEntry(s, linux("ppc64le", ""), 19_430_000, 5), imageEntry(s, linux("riscv64", ""), 18_610_000, 5),
		imageEntry(s, linux("s390x", ""), 19_160_000, 5), attestationEntry(amd64))
}

// singleIndex is an image pushed without an index: one manifest, its platform read
// from the config.
func singleIndex(t testing.TB) *registry.Index {
	e := imageEntry("api", linux("amd64", ""), 61_420_000, 7)
	ix := reportIndex(t, "ghcr.io/acme/api:2.4.1", mediatype.OCI1Manifest, e)
	ix.Single, ix.Digest = true, e.Descriptor.Digest
	return ix
}

// windowsIndex lists the same platform twice, apart only by os.version: the table
// gets an OS.VERSION column.
func windowsIndex(t testing.TB) *registry.Index {
	win := func(version string) oci.Platform {
		return oci.Platform{OS: "windows", Architecture: "amd64", OSVersion: version}
	}
	return reportIndex(t, "python:3.12-windowsservercore", mediatype.Docker2ManifestList,
		imageEntry("win", win("10.0.20348.2340"), 2_118_000_000, 12), imageEntry("win", win("10.0.17763.5576"), 2_467_000_000, 12))
}

// hostileIndex is what a hostile registry could send if nothing escaped it before the
// renderers: escape sequences in the tag, the media type, a platform's variant and
// os.version, and an attestation's reference.
func hostileIndex(t testing.TB) *registry.Index {
	raw := oci.Platform{OS: "linux", Architecture: "arm", Variant: "v7" + hostileText, OSVersion: hostileText}
	bad := imageEntry("hostile", raw, 30_000_000, 3)
	bad.Platform = raw // as if unnormalized
	att := attestationEntry(bad)
	att.Descriptor.Annotations["vnd.docker.reference.digest"] = "sha256:" + hostileText
	bare := attestationEntry(bad) // no reference: not said what it is about
	delete(bare.Descriptor.Annotations, "vnd.docker.reference.digest")
	bare.Descriptor.Digest = digest.FromString("bare attestation")
	ix := reportIndex(t, "registry.example/evil/app:1.0", mediatype.OCI1ManifestList+hostileText,
		imageEntry("hostile", linux("amd64", ""), 30_000_000, 3), bad, att, bare)
	ix.Ref.Tag = "1.0" + hostileText
	return ix
}

// missingOf is what the cli's check reports of a platform ix lacks: siblings are the
// diagnosis's suggestions; nil, there is no diagnosis (it failed or was not asked).
func missingOf(ix *registry.Index, req build.RequestedPlatform, siblings []registry.Sibling) MissingPlatform {
	e := &build.NoMatchError{Image: ix.Ref.CommonName(), Requested: req, Available: ix.Platforms()}
	if siblings != nil {
		e.Diagnosis = &registry.Diagnosis{Image: ix.Ref.CommonName(), Requested: req, Available: ix.Platforms(), Siblings: siblings, TagsChecked: 5, TagsTotal: 9}
	}
	return MissingPlatform{Image: ix.Ref.CommonName(), Err: e}
}

func checkRequests(t testing.TB, raws ...string) []build.RequestedPlatform {
	var req []build.RequestedPlatform
	for _, r := range raws {
		req = append(req, build.RequestedPlatform{Platform: mustPlatform(t, r), Raw: r, Source: "--check flag"})
	}
	return req
}

// checkFixture is `--check linux/amd64,linux/arm64,linux/riscv64` of python:3.11-slim
// and ghcr.io/acme/api:2.4.1: riscv64 is in two alpine tags, the api has amd64 only.
func checkFixture(t testing.TB, slim, api *registry.Index) PlatformsCheck {
	wanted := checkRequests(t, "linux/amd64", "linux/arm64", "linux/riscv64")
	return PlatformsCheck{Wanted: wanted, Missing: []MissingPlatform{
		missingOf(slim, wanted[2], []registry.Sibling{
			{Ref: "docker.io/library/python:3.11-alpine", Tag: "3.11-alpine", Platforms: []string{"linux/amd64", "linux/riscv64"}},
			{Ref: "docker.io/library/python:3.12-alpine", Tag: "3.12-alpine", Platforms: []string{"linux/riscv64"}},
		}),
		missingOf(api, wanted[1], nil),
		missingOf(api, wanted[2], []registry.Sibling{}),
	}}
}

// reportSummary is a layout of two images, amd64 and arm64 (whose index entry says
// arm/v7), with attestations, two images the index lists and the layout lacks, and a
// manifest.json for docker load.
func reportSummary() *oci.Summary {
	created := time.Date(2026, 10, 1, 12, 0, 0, 0, time.UTC)
	base := time.Date(2026, 9, 12, 3, 4, 5, 0, time.UTC)
	img := func(arch, variant string, index oci.Platform, also []string, problems ...string) oci.ImageSummary {
		cfg := v1.Image{Created: &created}
		cfg.Architecture, cfg.OS, cfg.Variant = arch, "linux", variant
		cfg.Config.Entrypoint = []string{"python3", "-m", "app"}
		cfg.Config.Cmd = []string{"--port", "8080"}
		cfg.Config.WorkingDir, cfg.Config.User = "/app", "65532:65532"
		cfg.Config.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/opt/venv/bin", "PYTHONPATH=/app", "LANG=C.UTF-8"}
		cfg.Config.Labels = map[string]string{"org.opencontainers.image.source": "https://github.com/acme/api", "org.example.team": "web", "com.example.tier": "backend"}
		cfg.History = []v1.History{
			{Created: &base, CreatedBy: "/bin/sh -c #(nop) ADD file:4b1be1de1a1e5aa608c688cad2824587262081866180d7368feb79d33ca05953 in /"},
			{Created: &base, CreatedBy: "ENV LANG=C.UTF-8", EmptyLayer: true},
			{Created: &created, CreatedBy: "pycontainer build: COPY 3 files /app", Comment: "pycontainer"},
		}
		return oci.ImageSummary{
			RefName: "1.0", Name: "docker.io/library/demo:1.0", Also: also, Digest: digest.FromString("manifest " + arch), IndexPlatform: &index, Config: cfg,
			Layers: []descriptor.Descriptor{
				{MediaType: mediatype.OCI1LayerGzip, Digest: digest.FromString("base layer " + arch), Size: 29_130_000},
				{MediaType: mediatype.OCI1LayerGzip, Digest: digest.FromString("deps " + arch), Size: 14_200_000},
				{MediaType: mediatype.OCI1LayerGzip, Digest: digest.FromString("app"), Size: 1_200},
			},
			Problems: problems,
		}
	}
	s390x := linux("s390x", "")
	s := &oci.Summary{Dir: "dist/image", Attestations: 2, Images: []oci.ImageSummary{
		img("amd64", "", linux("amd64", ""), []string{"latest"}),
		img("arm64", "v8", linux("arm", "v7"), nil, "the index says linux/arm/v7 but the config says linux/arm64/v8"),
	}, Absent: []descriptor.Descriptor{
		{MediaType: mediatype.OCI1Manifest, Digest: digest.FromString("s390x"), Platform: &s390x},
		{MediaType: mediatype.OCI1Manifest, Digest: digest.FromString("no platform")},
	}}
	s.DockerLoad = &s.Images[0]
	return s
}

// reportFindings are what --verify finds in reportSummary: an amd64 extension and a
// macOS virtualenv in the arm64 image, and its config's platform.
func reportFindings(s *oci.Summary) []oci.Finding {
	deps := s.Images[1].Layers[1].Digest.String()
	return []oci.Finding{
		{Platform: "linux/arm64/v8", Layer: deps, File: "opt/venv/lib/python3.11/site-packages/numpy/_core/_multiarray_umath.cpython-311-x86_64-linux-gnu.so",
			Problem: "an ELF binary for X86_64 ELFCLASS64 ELFDATA2LSB, not linux/arm64/v8"},
		{Platform: "linux/arm64/v8", Layer: deps, File: "opt/venv/pyvenv.cfg", Problem: "a virtualenv (pyvenv.cfg): its interpreter and binaries belong to the machine that made it"},
		{Platform: "linux/arm64/v8", Problem: "the index says linux/arm/v7 but the config says linux/arm64/v8"},
	}
}

// hostileSummary carries escape sequences everywhere an image's maker controls: names,
// config, env, labels, history, a problem, and a finding's file.
func hostileSummary() (*oci.Summary, []oci.Finding) {
	h := hostileText
	s := reportSummary()
	img := &s.Images[0]
	img.Name, img.Also, img.Problems = "docker.io/library/demo:"+h, []string{h}, []string{h}
	img.Config.Variant, img.Config.Config.User = h, h
	img.Config.Config.Entrypoint, img.Config.Config.WorkingDir = []string{"python3", h}, h
	img.Config.Config.Env = append(img.Config.Config.Env, "EVIL="+h)
	img.Config.Config.Labels = map[string]string{h: h}
	img.Config.History = append(img.Config.History, v1.History{CreatedBy: h})
	s.Images, s.Dir = s.Images[:1], "dist/"+h
	return s, []oci.Finding{{Platform: "linux/amd64", Layer: img.Layers[2].Digest.String(), File: "app/" + h, Problem: "its shebang points at a host path (" + h + "), which does not exist in the image"}}
}

// TestReports renders each report of `platforms` and `inspect` from fixed inputs and
// compares it with its golden file (go test ./ui -update rewrites them). Nothing a
// terminal would act on may reach the output, and every JSON report must decode.
func TestReports(t *testing.T) {
	slim, alpine, api, win, evil := slimIndex(t), alpineIndex(t), singleIndex(t), windowsIndex(t), hostileIndex(t)
	summary := reportSummary()
	evilSummary, evilFindings := hostileSummary()
	tests := []struct {
		name  string
		json  bool
		write func(w *bytes.Buffer) error
	}{
		{"platforms-table", false, func(w *bytes.Buffer) error { WritePlatformTable(w, slim, false, amd64Host); return nil }},
		{"platforms-table-all", false, func(w *bytes.Buffer) error { WritePlatformTable(w, slim, true, arm64Host); return nil }},
		{"platforms-table-single", false, func(w *bytes.Buffer) error { WritePlatformTable(w, api, false, arm64Host); return nil }},
		{"platforms-table-os-version", false, func(w *bytes.Buffer) error { WritePlatformTable(w, win, false, amd64Host); return nil }},
		{"platforms-table-hostile", false, func(w *bytes.Buffer) error { WritePlatformTable(w, evil, true, arm64Host); return nil }},
		{"platforms-matrix", false, func(w *bytes.Buffer) error {
			WritePlatformMatrix(w, []*registry.Index{slim, alpine, api}, false)
			return nil
		}},
		{"platforms-matrix-all", false, func(w *bytes.Buffer) error {
			WritePlatformMatrix(w, []*registry.Index{slim, alpine, api}, true)
			return nil
		}},
		{"platforms-matrix-hostile", false, func(w *bytes.Buffer) error {
			WritePlatformMatrix(w, []*registry.Index{slim, evil}, true)
			return nil
		}},
		{"platforms-json", true, func(w *bytes.Buffer) error {
			return WritePlatformsJSON(w, []*registry.Index{slim, win}, PlatformsCheck{}, true, amd64Host)
		}},
		{"platforms-json-check", true, func(w *bytes.Buffer) error {
			return WritePlatformsJSON(w, []*registry.Index{slim, api}, checkFixture(t, slim, api), false, arm64Host)
		}},
		{"platforms-json-check-ok", true, func(w *bytes.Buffer) error {
			return WritePlatformsJSON(w, []*registry.Index{api}, PlatformsCheck{Wanted: checkRequests(t, "linux/amd64")}, false, amd64Host)
		}},
		{"platforms-json-hostile", true, func(w *bytes.Buffer) error {
			return WritePlatformsJSON(w, []*registry.Index{evil}, PlatformsCheck{}, true, arm64Host)
		}},
		{"inspect", false, func(w *bytes.Buffer) error { WriteInspectSummary(w, summary); return nil }},
		{"inspect-verified", false, func(w *bytes.Buffer) error {
			WriteInspectSummary(w, summary)
			WriteFindings(w, reportFindings(summary))
			return nil
		}},
		{"inspect-hostile", false, func(w *bytes.Buffer) error {
			WriteInspectSummary(w, evilSummary)
			WriteFindings(w, evilFindings)
			return nil
		}},
		{"inspect-findings-ok", false, func(w *bytes.Buffer) error { WriteFindings(w, nil); return nil }},
		{"inspect-findings", false, func(w *bytes.Buffer) error { WriteFindings(w, reportFindings(summary)); return nil }},
		{"inspect-json", true, func(w *bytes.Buffer) error { return WriteInspectJSON(w, summary, nil, false) }},
		{"inspect-json-verified", true, func(w *bytes.Buffer) error { return WriteInspectJSON(w, summary, reportFindings(summary), true) }},
		{"inspect-json-hostile", true, func(w *bytes.Buffer) error { return WriteInspectJSON(w, evilSummary, evilFindings, true) }},
		{"stack", false, func(w *bytes.Buffer) error { WriteStackMatrix(w, reportStack(t, slim, evil)); return nil }},
		{"stack-json", true, func(w *bytes.Buffer) error { return WriteStackJSON(w, reportStack(t, slim, evil)) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := tt.write(&out); err != nil {
				t.Fatal(err)
			}
			got := out.String()
			if !printable(strings.ReplaceAll(got, "\n", "")) {
				t.Errorf("a control or invisible character reaches the terminal: %q", got)
			}
			if tt.json && !json.Valid(out.Bytes()) {
				t.Errorf("not one JSON document:\n%s", got)
			}
			golden(t, filepath.Join("testdata", "report-"+tt.name+".golden"), got)
		})
	}
}

// reportStack is a checked Compose stack on arm64 and amd64: the app's base found on
// both, mysql:5.7 lacking arm64 (a newer line has it), node:8-alpine lacking it (only
// emulation), an image that does not exist, and a hostile image name.
func reportStack(t testing.TB, slim, evil *registry.Index) *stack.Check {
	amd, arm := checkRequests(t, "linux/amd64")[0], checkRequests(t, "linux/arm64")[0]
	mysql := reportIndex(t, "docker.io/library/mysql:5.7", mediatype.OCI1ManifestList, imageEntry("mysql", linux("amd64", ""), 140<<20, 11))
	place := func(ref, service string, line int) stack.Image {
		return stack.Image{Ref: ref, Source: stack.Source{File: "compose.yaml", Line: line, Service: service}}
	}
	stage := stack.Image{Ref: "python:3.11-slim", Source: stack.Source{File: "Dockerfile", Line: 2, Service: "app", Stage: "build",
		Instruction: stack.InstrFrom, ComposeFile: "compose.yaml", ComposeLine: 9}}
	found := func(p registry.PlatformRequest) stack.Cell { return stack.Cell{Platform: p, Found: true} }
	miss := func(p registry.PlatformRequest, kind stack.NextKind, ref, text string) stack.Cell {
		return stack.Cell{Platform: p, Next: stack.Next{Kind: kind, Ref: ref, Text: text}}
	}
	return &stack.Check{Platforms: []registry.PlatformRequest{amd, arm}, Rows: []stack.Row{
		{Image: "python:3.11-slim", Ref: "docker.io/library/python:3.11-slim", Places: []stack.Image{stage}, Index: slim, Cells: []stack.Cell{found(amd), found(arm)}},
		{Image: "mysql:5.7", Ref: "docker.io/library/mysql:5.7", Places: []stack.Image{place("mysql:5.7", "db", 3), place("mysql:5.7", "db-replica", 12)}, Index: mysql,
			Cells: []stack.Cell{found(amd), miss(arm, stack.NextNewer, "docker.io/library/mysql:8.0", "use docker.io/library/mysql:8.0, the nearest newer version line: it has linux/arm64")}},
		{Image: "node:8-alpine", Ref: "docker.io/library/node:8-alpine", Places: []stack.Image{place("node:8-alpine", "cache", 5)}, Index: mysql,
			Cells: []stack.Cell{miss(arm, stack.NextEmulate, "linux/amd64", `run its linux/amd64 image under emulation: add "platform: linux/amd64" under service cache (compose.yaml:5); this machine: emulated by QEMU`)}},
		{Image: "nope:1", Ref: "docker.io/library/nope:1", Places: []stack.Image{place("nope:1", "ghost", 15)},
			Err: errors.New("image docker.io/library/nope:1 not found: repository library/nope was not found on docker.io")},
		{Image: evil.Ref.Tag + "\x1b]0;owned\a", Ref: evil.Ref.CommonName(), Places: []stack.Image{place("evil\x1b[2J", "evil\x1b[31m", 20)}, Index: evil,
			Cells: []stack.Cell{found(amd), miss(arm, stack.NextNothing, "", "nothing published of \x1b[2Jevil runs on linux/arm64")}},
	}}
}
