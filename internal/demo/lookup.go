package demo

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/regclient/regclient/types/errs"
	"github.com/regclient/regclient/types/ref"
)

// holdings is a backend that knows what it holds, as the in-memory registry does; a
// registry reached over the network is asked only when pulled from.
type holdings interface {
	// repoTags is every repository's tags.
	repoTags() map[string][]string
	// holdsManifest reports whether repo holds the manifest with digest d.
	holdsManifest(repo, d string) bool
}

func (m *memory) repoTags() map[string][]string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make(map[string][]string, len(m.tags))
	for repo, tags := range m.tags {
		for tag := range tags {
			out[repo] = append(out[repo], tag)
		}
	}
	return out
}

func (m *memory) holdsManifest(repo, d string) bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.digests[repo][d]
}

// Images are the tagged images the registry holds, named as a user types them
// (python:3.11-slim, demo/legacy-python:3.8): the Catalog's first, in its order, then
// any other, sorted. Nil when that is not known: for a registry reached by Connect.
func (r *Registry) Images() []string {
	h, ok := r.backend.(holdings)
	if !ok {
		return nil
	}
	type image struct {
		name string
		rank int // place in the Catalog; after it when absent
	}
	var images []image
	for repo, tags := range h.repoTags() {
		for _, tag := range tags {
			rank := slices.IndexFunc(Catalog, func(s Spec) bool { return s.Repo == repo && s.Tag == tag })
			if rank < 0 {
				rank = len(Catalog)
			}
			images = append(images, image{name: shortName(repo) + ":" + tag, rank: rank})
		}
	}
	slices.SortFunc(images, func(a, b image) int {
		return cmp.Or(cmp.Compare(a.rank, b.rank), cmp.Compare(a.name, b.name))
	})
	out := make([]string, 0, len(images))
	for _, img := range images {
		out = append(out, img.name)
	}
	return out
}

// shortName is a repository as a user types it: Docker Hub's official images without
// their library/ prefix.
func shortName(repo string) string {
	if name, ok := strings.CutPrefix(repo, "library/"); ok && !strings.Contains(name, "/") {
		return name
	}
	return repo
}

// Lookup returns nil when the registry serves image, which names it as `pycontainer
// demo` resolves names: on Docker Hub (python:3.11-slim, library/python:3.11-slim and
// docker.io/library/python:3.11-slim are one image) or on the registry's own host. A
// digest names an image when the repository holds a manifest of that digest, whatever
// tag is beside it, as pulls go by the digest. Otherwise the error, a *NotHeldError
// that is also errs.ErrNotFound, says what the registry holds instead. A registry
// reached by Connect is not asked: Lookup returns nil.
func (r *Registry) Lookup(image string) error {
	h, ok := r.backend.(holdings)
	if !ok {
		return nil
	}
	notHeld := &NotHeldError{Image: image, Held: r.Images()}
	rr, err := ref.New(strings.TrimSpace(image))
	if err != nil || rr.Scheme != "reg" || (rr.Registry != "docker.io" && rr.Registry != r.Host) {
		return notHeld
	}
	if rr.Digest != "" {
		if h.holdsManifest(rr.Repository, rr.Digest) {
			return nil
		}
		return notHeld
	}
	if slices.Contains(h.repoTags()[rr.Repository], rr.Tag) {
		return nil
	}
	return notHeld
}

// NotHeldError is Lookup's answer for an image the demo registry does not hold.
type NotHeldError struct {
	Image string   // as asked
	Held  []string // what the registry holds, as Images names them
}

// Error is one sentence that names the image as asked and never the registry's
// address, which is no business of the user's: the demo resolves Docker Hub names to it.
func (e *NotHeldError) Error() string {
	name := e.Image
	if strings.TrimSpace(name) == "" {
		name = "An empty image name"
	}
	if len(e.Held) == 0 {
		return fmt.Sprintf("%s is not in the demo registry, which holds no images", name)
	}
	return fmt.Sprintf("%s is not in the demo registry; it holds %s", name, strings.Join(e.Held, ", "))
}

// Is makes the error errs.ErrNotFound, as the registry's own answer would be.
func (e *NotHeldError) Is(target error) bool { return target == errs.ErrNotFound }
