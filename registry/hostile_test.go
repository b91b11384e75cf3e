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
	// An index whose only entry is an index (itself, as far as a client can tell).
	self := put("self", mediatype.OCI1ManifestList, map[string]any{"schemaVersion": 2, "mediaType": mediatype.OCI1ManifestList, "manifests": []any{}})
	put("loop", mediatype.OCI1ManifestList, map[string]any{"schemaVersion": 2, "mediaType": mediatype.OCI1ManifestList,
		"manifests": []any{map[string]any{"mediaType": mediatype.OCI1ManifestList, "digest": self.Digest, "size": self.Size, "platform": map[string]string{"os": "linux", "architecture": "amd64"}}}})

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
	} {
		err := image(tag)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Count(err.Error(), "\n") > 0 {
			t.Errorf("%s: err = %v, want one line with %q", tag, err, want)
		}
	}
	if err := image("loop"); err != nil {
		t.Errorf("an index naming an index: %v (it should read as an index with no images)", err)
	}
}
