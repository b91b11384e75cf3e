package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/regclient/regclient/types/descriptor"
	"github.com/regclient/regclient/types/mediatype"
	"github.com/regclient/regclient/types/ref"

	"github.com/pycontainer/pycontainer/internal/demo"
	"github.com/pycontainer/pycontainer/oci"
)

// TestHostileRegistry serves what no real registry should, from memory (the demo
// registry stores whatever it is given), and expects a clear error or a safe result.
func TestHostileRegistry(t *testing.T) {
	ctx := context.Background()
	reg, err := demo.Serve(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	put := func(tag, mt string, v any) descriptor.Descriptor {
		raw, _ := json.Marshal(v)
		d, err := reg.PutManifest(ctx, "hostile/img", tag, mt, raw)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	cfg, _ := reg.PutBlob(ctx, "hostile/img", []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`))
	cfg.MediaType = mediatype.OCI1ImageConfig
	notJSON, _ := reg.PutBlob(ctx, "hostile/img", []byte("<html>not a config</html>"))
	notJSON.MediaType = mediatype.OCI1ImageConfig

	huge := descriptor.Descriptor{MediaType: mediatype.OCI1LayerGzip, Digest: cfg.Digest, Size: 100 << 30}
	put("huge-layer", mediatype.OCI1Manifest, map[string]any{"schemaVersion": 2, "mediaType": mediatype.OCI1Manifest, "config": cfg, "layers": []descriptor.Descriptor{huge}})
	many := make([]descriptor.Descriptor, 100000)
	for i := range many {
		many[i] = descriptor.Descriptor{MediaType: mediatype.OCI1LayerGzip, Digest: cfg.Digest, Size: 1}
	}
	put("many-layers", mediatype.OCI1Manifest, map[string]any{"schemaVersion": 2, "mediaType": mediatype.OCI1Manifest, "config": cfg, "layers": many[:1001]})
	put("100k-layers", mediatype.OCI1Manifest, map[string]any{"schemaVersion": 2, "mediaType": mediatype.OCI1Manifest, "config": cfg, "layers": many})
	put("bad-config", mediatype.OCI1Manifest, map[string]any{"schemaVersion": 2, "mediaType": mediatype.OCI1Manifest, "config": notJSON, "layers": []descriptor.Descriptor{}})
	// Nested indexes are followed, as OCI allows, within bounds.
	amd64 := map[string]string{"os": "linux", "architecture": "amd64"}
	entry := func(d descriptor.Descriptor) map[string]any {
		return map[string]any{"mediaType": d.MediaType, "digest": d.Digest, "size": d.Size, "platform": amd64}
	}
	index := func(tag string, d descriptor.Descriptor) descriptor.Descriptor {
		return put(tag, mediatype.OCI1ManifestList, map[string]any{"schemaVersion": 2, "mediaType": mediatype.OCI1ManifestList, "manifests": []any{entry(d)}})
	}
	img := put("image", mediatype.OCI1Manifest, map[string]any{"schemaVersion": 2, "mediaType": mediatype.OCI1Manifest, "config": cfg, "layers": []descriptor.Descriptor{}})
	index("nested", index("nested-inner", img))
	deep := img
	for i := range oci.MaxIndexNesting + 2 { // the top one and oci.MaxIndexNesting+1 below it
		deep = index(fmt.Sprintf("deep%d", i), deep)
	}
	mislabelled := img
	mislabelled.MediaType = mediatype.OCI1ManifestList
	index("mislabelled", mislabelled)

	c := New(Options{Registries: []string{reg.Host}})
	image := func(tag string) error {
		r, _ := ref.New(reg.Host + "/hostile/img:" + tag)
		ix, err := c.Index(ctx, r)
		if err != nil {
			return err
		}
		if ix.Single {
			return nil // Index read the config already
		}
		for _, e := range ix.Entries {
			if !e.Attestation {
				return fmt.Errorf("%s: entry %s is treated as an image", tag, e.Descriptor.Digest)
			}
		}
		return nil
	}
	for tag, want := range map[string]string{
		"huge-layer":  "refusing layers over 64 GiB",
		"many-layers": "lists 1001 layers; more than 1000",
		"bad-config":  "is not valid JSON",
		"100k-layers": "manifest over 8 MB",
		fmt.Sprintf("deep%d", oci.MaxIndexNesting+1): "nests indexes more than 4 deep",
		"mislabelled": "is listed as an index but is a " + mediatype.OCI1Manifest,
	} {
		err := image(tag)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Count(err.Error(), "\n") > 0 {
			t.Errorf("%s: err = %v, want one line with %q", tag, err, want)
		}
	}
	// Nested once, and as deep as allowed: the image, for the platform its index gives.
	for _, tag := range []string{"nested", fmt.Sprintf("deep%d", oci.MaxIndexNesting)} {
		r, _ := ref.New(reg.Host + "/hostile/img:" + tag)
		ix, err := c.Index(ctx, r)
		if err != nil {
			t.Fatalf("%s: %v", tag, err)
		}
		if e, ok := ix.Find(oci.Platform{OS: "linux", Architecture: "amd64"}); !ok || e.Descriptor.Digest != img.Digest || len(ix.Entries) != 1 {
			t.Errorf("%s: entries %+v, want its one image for linux/amd64", tag, ix.Entries)
		}
	}
}
