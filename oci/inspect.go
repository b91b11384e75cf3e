package oci

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	digest "github.com/opencontainers/go-digest"
	"github.com/regclient/regclient/types/descriptor"
	"github.com/regclient/regclient/types/mediatype"
	v1 "github.com/regclient/regclient/types/oci/v1"
)

// maxJSONBlob bounds what Inspect reads of a manifest or config.
const maxJSONBlob = 8 << 20

// ImageSummary is one image of a layout: its index entry, manifest and config.
type ImageSummary struct {
	RefName       string // org.opencontainers.image.ref.name
	Name          string // io.containerd.image.name
	Digest        digest.Digest
	Entry         descriptor.Descriptor // the manifest's descriptor, as the index lists it
	IndexPlatform *Platform             // as the index entry states it
	Config        v1.Image
	ConfigDigest  digest.Digest
	Layers        []descriptor.Descriptor
	Annotations   map[string]string // of the manifest
	// Problems are inconsistencies: an index platform that differs from the config's.
	Problems []string
	// Also are the layout's other names for this same manifest (another tag of it).
	Also     []string
	alsoFull []string // those of Also that are full references, for docker's RepoTags
}

// addName records a further index entry naming this image.
func (s *ImageSummary) addName(annotations map[string]string) {
	full, ref := annotations["io.containerd.image.name"], annotations["org.opencontainers.image.ref.name"]
	name := cmp.Or(full, ref)
	switch {
	case name == "" || name == cmp.Or(s.Name, s.RefName) || slices.Contains(s.Also, name),
		full == "" && ref == s.RefName: // the same tag, without its full name

	case s.Name == "" && s.RefName == "":
		s.Name, s.RefName = full, ref
	default:
		s.Also = append(s.Also, name)
		if full != "" {
			s.alsoFull = append(s.alsoFull, full)
		}
	}
}

// DisplayName is the image's name, and its other names if the layout gives it several;
// "" when it has none.
func (s ImageSummary) DisplayName() string {
	name := cmp.Or(s.Name, s.RefName)
	if len(s.Also) > 0 {
		name += " (also " + strings.Join(s.Also, ", ") + ")"
	}
	return name
}

// Renamed is the image under one name only, as `save --tag` writes it.
func (s ImageSummary) Renamed(full, ref string) ImageSummary {
	s.Name, s.RefName, s.Also, s.alsoFull = full, ref, nil, nil
	return s
}

// Platform is the image's platform as its config states it.
func (s ImageSummary) Platform() Platform {
	return NormalizePlatform(s.Config.Platform)
}

// LayersSize is the compressed size of the image's layers.
func (s ImageSummary) LayersSize() int64 {
	var n int64
	for _, l := range s.Layers {
		n += l.Size
	}
	return n
}

// Summary is what an OCI layout holds.
type Summary struct {
	Dir    string
	Images []ImageSummary
	// Attestations counts the attestation manifests (SBOMs, provenance) left out of
	// Images: they describe an image and are not one.
	Attestations int
	// Absent are images a nested index lists whose manifests the layout lacks.
	Absent []descriptor.Descriptor
	// DockerLoad is the image of Images that `docker load` of the layout gets, by the
	// manifest.json beside index.json; nil when it has none (or it names no such image).
	DockerLoad *ImageSummary
	// DockerProblems are ways manifest.json disagrees with index.json.
	DockerProblems []string

	fsys fs.FS
	// A layout may name an index or an image many times (a tag each); each is read once
	// and the further names go to its images' Also.
	indexImages map[digest.Digest][]int           // nested index -> its images' places in Images
	indexNames  map[digest.Digest]map[string]bool // nested index -> the names given to its images
	imageAt     map[digest.Digest]map[string]int  // image manifest -> platform key -> place in Images
	firstAt     map[digest.Digest]int             // image manifest -> its first place in Images
	manifests   map[digest.Digest]*v1.Manifest    // each manifest read once, whatever names it
	configs     map[digest.Digest]*v1.Image       // each config read once
	layerOK     map[sizedDigest]bool              // each layer's presence checked once
	entries     int                               // index entries walked, counting each name an index gives again
	bad         map[digest.Digest]digest.Digest   // blobs read whose bytes hash to another digest
}

// MaxIndexNesting is how deep indexes may nest indexes, in a layout or a registry; real
// ones nest once at most.
const MaxIndexNesting = 4

// maxImages bounds how many image entries Inspect reads, whatever the index claims.
const maxImages = 10000

// maxEntries bounds the index entries Inspect walks in all: an index named again
// (another tag of it) costs nothing when it brings no new name, and an entry per image
// it names when it does. Hostile layouts name one large index tens of thousands of times.
const maxEntries = 100_000

// Inspect reads the layout at dir: every image manifest its index lists (nested indexes
// are followed), with config and layers.
//
// A build commits index.json, then manifest.json: two renames, between which a reader
// sees the pair disagree (for as long as the second file takes to reach the disk). A
// disagreement is read again once either file changes, and reported when neither
// changes for settleTime.
func Inspect(dir string) (*Summary, error) {
	for attempt := 0; ; attempt++ {
		before := commitState(dir)
		s, err := InspectFS(os.DirFS(dir), dir)
		if err != nil || len(s.DockerProblems) == 0 || attempt == settleAttempts {
			return s, err
		}
		if !awaitChange(dir, before) {
			return s, nil
		}
	}
}

// settleAttempts bounds how many commits Inspect waits out; settleTime is how long the
// pair must stay as it is for a disagreement to count, polled every settlePoll.
const (
	settleAttempts = 10
	settleTime     = time.Second
	settlePoll     = 25 * time.Millisecond
)

// awaitChange reports whether the commit state of dir leaves state within settleTime.
func awaitChange(dir, state string) bool {
	for waited := time.Duration(0); waited < settleTime; waited += settlePoll {
		time.Sleep(settlePoll)
		if commitState(dir) != state {
			return true
		}
	}
	return false
}

// commitState is what a build's commit replaces: index.json and manifest.json, as read
// now ("" for one that cannot be read).
func commitState(dir string) string {
	var b strings.Builder
	for _, name := range []string{indexFile, dockerManifestFile} {
		data, _ := readFileLimit(os.DirFS(dir), name)
		b.Write(data)
		b.WriteByte(0)
	}
	return b.String()
}

// InspectFS reads the layout held by fsys; dir names it in errors.
func InspectFS(fsys fs.FS, dir string) (*Summary, error) {
	var idx v1.Index
	if err := readJSON(fsys, indexFile, &idx); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s is not an OCI image layout (no index.json): build one with `pycontainer build` or pass its directory", dir)
		}
		return nil, fmt.Errorf("read %s: %w", filepath.Join(dir, indexFile), err)
	}
	s := &Summary{Dir: dir, fsys: fsys, indexImages: map[digest.Digest][]int{}, indexNames: map[digest.Digest]map[string]bool{},
		imageAt: map[digest.Digest]map[string]int{}, firstAt: map[digest.Digest]int{}, manifests: map[digest.Digest]*v1.Manifest{},
		configs: map[digest.Digest]*v1.Image{}, layerOK: map[sizedDigest]bool{}, bad: map[digest.Digest]digest.Digest{}}
	if _, err := s.walk(idx.Manifests, 0); err != nil {
		return nil, err
	}
	s.checkDockerManifest()
	return s, nil
}

// sizedDigest is a blob as a manifest lists it.
type sizedDigest struct {
	digest digest.Digest
	size   int64
}

// count charges n index entries to the walk's bound.
func (s *Summary) count(n int) error {
	if s.entries += n; s.entries > maxEntries {
		return fmt.Errorf("%s: its indexes list more than %d entries in all (an index named again under new names counts its entries again); not a layout pycontainer reads", s.Dir, maxEntries)
	}
	return nil
}

// nameKey is the name an entry's annotations give, "" for none.
func nameKey(annotations map[string]string) string {
	full, ref := annotations["io.containerd.image.name"], annotations["org.opencontainers.image.ref.name"]
	if full == "" && ref == "" {
		return ""
	}
	return full + "\x00" + ref
}

// walk reads the images descs name and returns their places in Images, whether read
// now or named before, each once.
func (s *Summary) walk(descs []descriptor.Descriptor, depth int) ([]int, error) {
	if depth > MaxIndexNesting {
		return nil, fmt.Errorf("%s: indexes nested more than %d deep", s.Dir, MaxIndexNesting)
	}
	var named []int
	seen := map[int]bool{}
	indexSeen := map[digest.Digest]bool{} // an index's images are added once per level
	add := func(i int) {
		if !seen[i] {
			seen[i] = true
			named = append(named, i)
		}
	}
	for _, d := range descs {
		if err := s.count(1); err != nil {
			return nil, err
		}
		if d.Digest.Validate() != nil {
			return nil, fmt.Errorf("%s: index entry with invalid digest %q", s.Dir, d.Digest)
		}
		switch d.MediaType {
		case mediatype.OCI1ManifestList, mediatype.Docker2ManifestList:
			images, err := s.walkIndex(d, depth)
			if err != nil {
				return nil, err
			}
			if !indexSeen[d.Digest] {
				indexSeen[d.Digest] = true
				for _, i := range images {
					add(i)
				}
			}
		case mediatype.OCI1Manifest, mediatype.Docker2Manifest:
			if IsAttestation(d.Platform) || d.Annotations["vnd.docker.reference.type"] != "" {
				s.Attestations++
				continue
			}
			if i, ok := s.sameImage(d); ok {
				s.Images[i].addName(d.Annotations)
				add(i)
				continue
			}
			if len(s.Images) >= maxImages {
				return nil, fmt.Errorf("%s: more than %d images; not a layout pycontainer reads", s.Dir, maxImages)
			}
			if _, err := statBlob(s.fsys, d.Digest); depth > 0 && errors.Is(err, fs.ErrNotExist) {
				// A nested index may list more platforms than were pulled: docker save with
				// the containerd image store keeps the whole index, not every image of it.
				s.Absent = append(s.Absent, d)
				continue
			}
			img, err := s.image(d)
			if err != nil {
				return nil, err
			}
			s.placeImage(d, img)
			add(len(s.Images))
			s.Images = append(s.Images, img)
		}
	}
	return named, nil
}

// walkIndex reads the images of the nested index d names, once however many tags name
// it; a further tag adds its name to them.
func (s *Summary) walkIndex(d descriptor.Descriptor, depth int) ([]int, error) {
	key := nameKey(d.Annotations)
	if images, ok := s.indexImages[d.Digest]; ok { // another tag of an index already walked
		if key != "" && !s.indexNames[d.Digest][key] {
			s.indexNames[d.Digest][key] = true
			if err := s.count(len(images)); err != nil {
				return nil, err
			}
			for _, i := range images {
				s.Images[i].addName(d.Annotations)
			}
		}
		return images, nil
	}
	s.indexImages[d.Digest] = nil // walked once, even if it names itself
	s.indexNames[d.Digest] = map[string]bool{key: true}
	var child v1.Index
	if err := s.readBlobJSON(d.Digest, &child); err != nil {
		return nil, fmt.Errorf("read index %s: %w", d.Digest, err)
	}
	inheritNames(child.Manifests, d.Annotations)
	images, err := s.walk(child.Manifests, depth+1)
	if err != nil {
		return nil, err
	}
	s.indexImages[d.Digest] = images
	return images, nil
}

// platformKey is p normalised, as SamePlatform compares platforms.
func platformKey(p Platform) string {
	p = NormalizePlatform(p)
	return p.OS + "\x00" + p.Architecture + "\x00" + p.Variant
}

// placeImage records where the image d names will stand in Images (at its end), under
// each platform an entry may give for it (its config's, its first entry's).
func (s *Summary) placeImage(d descriptor.Descriptor, img ImageSummary) {
	i := len(s.Images)
	at := s.imageAt[d.Digest]
	if at == nil {
		at = map[string]int{}
		s.imageAt[d.Digest] = at
		s.firstAt[d.Digest] = i
	}
	for _, p := range []*Platform{&img.Config.Platform, img.IndexPlatform} {
		if p == nil {
			continue
		}
		if _, ok := at[platformKey(*p)]; !ok {
			at[platformKey(*p)] = i
		}
	}
}

// sameImage finds the image already read that entry d names again: the same manifest,
// with no platform stated (as skopeo writes a second tag), or the platform its config or
// its first entry gives. An entry stating yet another platform stays apart, so that its
// mismatch is reported.
func (s *Summary) sameImage(d descriptor.Descriptor) (int, bool) {
	if d.Platform == nil {
		i, ok := s.firstAt[d.Digest]
		return i, ok
	}
	i, ok := s.imageAt[d.Digest][platformKey(*d.Platform)]
	return i, ok
}

// nameAnnotations name an image in a layout's index.
var nameAnnotations = []string{"org.opencontainers.image.ref.name", "io.containerd.image.name"}

// inheritNames gives the images of a nested index the names its own entry has (a tag
// names the whole index, as `skopeo copy --all` and `docker save` write it), unless
// they have their own.
func inheritNames(children []descriptor.Descriptor, parent map[string]string) {
	for i := range children {
		for _, k := range nameAnnotations {
			if v := parent[k]; v != "" && children[i].Annotations[k] == "" {
				if children[i].Annotations == nil {
					children[i].Annotations = map[string]string{}
				}
				children[i].Annotations[k] = v
			}
		}
	}
}

func (s *Summary) image(d descriptor.Descriptor) (ImageSummary, error) {
	img := ImageSummary{
		RefName: d.Annotations["org.opencontainers.image.ref.name"], Name: d.Annotations["io.containerd.image.name"],
		Digest: d.Digest, Entry: d, IndexPlatform: d.Platform,
	}
	m := s.manifests[d.Digest]
	if m == nil {
		m = new(v1.Manifest)
		if err := s.readBlobJSON(d.Digest, m); err != nil {
			return img, fmt.Errorf("read manifest %s: %w", d.Digest, err)
		}
		s.manifests[d.Digest] = m
	}
	img.Layers, img.Annotations, img.ConfigDigest = m.Layers, m.Annotations, m.Config.Digest
	cfg := s.configs[m.Config.Digest]
	if cfg == nil {
		cfg = new(v1.Image)
		if err := s.readBlobJSON(m.Config.Digest, cfg); err != nil {
			return img, fmt.Errorf("read config %s of manifest %s: %w", m.Config.Digest, d.Digest, err)
		}
		s.configs[m.Config.Digest] = cfg
	}
	img.Config = *cfg
	if d.Platform != nil && !SamePlatform(*d.Platform, img.Config.Platform) {
		img.Problems = append(img.Problems, fmt.Sprintf("the index says %s but the config says %s",
			PlatformString(NormalizePlatform(*d.Platform)), PlatformString(img.Platform())))
	}
	for _, l := range m.Layers {
		key := sizedDigest{l.Digest, l.Size}
		ok, checked := s.layerOK[key]
		if !checked {
			fi, err := statBlob(s.fsys, l.Digest)
			ok = err == nil && fi.Size() == l.Size
			s.layerOK[key] = ok
		}
		if !ok {
			img.Problems = append(img.Problems, fmt.Sprintf("layer %s is missing or has the wrong size", l.Digest))
		}
	}
	return img, nil
}

// readBlobJSON reads a manifest, index or config of the layout, and notes whether its
// bytes match its digest (for Verify).
func (s *Summary) readBlobJSON(d digest.Digest, v any) error {
	name, err := blobName(d)
	if err != nil {
		return err
	}
	b, err := readFileLimit(s.fsys, name)
	if err != nil {
		return err
	}
	if d.Algorithm().Available() {
		if got := d.Algorithm().FromBytes(b); got != d {
			s.bad[d] = got
		}
	}
	return json.Unmarshal(b, v)
}

// blobName is the name of blob d in a layout, for a digest that is valid: a digest
// from a hostile file must never name a path outside blobs/.
func blobName(d digest.Digest) (string, error) {
	if err := d.Validate(); err != nil {
		return "", fmt.Errorf("invalid digest %q: %w", d, err)
	}
	return "blobs/" + d.Algorithm().String() + "/" + d.Encoded(), nil
}

func statBlob(fsys fs.FS, d digest.Digest) (fs.FileInfo, error) {
	name, err := blobName(d)
	if err != nil {
		return nil, err
	}
	return fs.Stat(fsys, name)
}

func openBlob(fsys fs.FS, d digest.Digest) (fs.File, error) {
	name, err := blobName(d)
	if err != nil {
		return nil, err
	}
	return fsys.Open(name)
}

func readBlobJSON(fsys fs.FS, d digest.Digest, v any) error {
	name, err := blobName(d)
	if err != nil {
		return err
	}
	return readJSON(fsys, name, v)
}

func readJSON(fsys fs.FS, path string, v any) error {
	b, err := readFileLimit(fsys, path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// readFileLimit reads a JSON file of a layout, up to maxJSONBlob bytes.
func readFileLimit(fsys fs.FS, path string) ([]byte, error) {
	f, err := fsys.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxJSONBlob+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxJSONBlob {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxJSONBlob)
	}
	return b, nil
}
