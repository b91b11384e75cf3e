package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/pycontainer/pycontainer/internal/testbase"
	"github.com/pycontainer/pycontainer/registry"
)

func TestPush(t *testing.T) {
	log := &requestLog{counts: map[string]int{}}
	reg := testbase.StartWith(t, log.wrap)
	reg.Push(t, testbase.Spec{Repo: "library/python", Tag: "3.11-slim", Platforms: testbase.PythonPlatforms, Attestation: true})
	newSeedWorldWith(t, reg)
	target := reg.Host + "/myorg/myapp"

	// One platform: the manifest goes under the tag.
	_, stdout, stderr := pycontainer(t, "build --tag "+target+":amd64 --platform linux/amd64 --base-image "+reg.Host+"/library/python:3.11-slim --push")
	if !strings.Contains(stdout, "Pushed "+target+":amd64@sha256:") || !strings.Contains(stdout, "2 mounted") {
		t.Fatalf("push of one platform:\n%s%s", stdout, stderr)
	}
	m := getManifest(t, reg.Host, "myorg/myapp", "amd64")
	if m.MediaType != "application/vnd.oci.image.manifest.v1+json" {
		t.Errorf("single platform pushed as %s", m.MediaType)
	}

	// Three platforms: every manifest, then one index under the tag.
	_, stdout, stderr = pycontainer(t, "build --tag "+target+":latest --platform linux/amd64,linux/arm64,linux/arm/v7 --base-image "+reg.Host+"/library/python:3.11-slim --push")
	if !strings.Contains(stdout, "Pushed "+target+":latest@sha256:") {
		t.Fatalf("push of three platforms:\n%s%s", stdout, stderr)
	}
	idx := getManifest(t, reg.Host, "myorg/myapp", "latest")
	var plats []string
	for _, e := range idx.Manifests {
		plats = append(plats, e.Platform.Architecture+e.Platform.Variant)
	}
	if idx.MediaType != "application/vnd.oci.image.index.v1+json" || strings.Join(plats, ",") != "amd64,arm64,armv7" {
		t.Errorf("index %s with %v", idx.MediaType, plats)
	}

	// Pushing the same image again uploads nothing and says so.
	log.reset()
	_, stdout, _ = pycontainer(t, "build --tag "+target+":latest --platform linux/amd64,linux/arm64,linux/arm/v7 --base-image "+reg.Host+"/library/python:3.11-slim --push")
	if !strings.Contains(stdout, "0 uploaded (0 B), 8 already there, 0 mounted") {
		t.Errorf("second push:\n%s", stdout)
	}
	if n := log.reset(); n["PUT blob"]+n["POST blob"]+n["PATCH blob"] != 0 {
		t.Errorf("second push uploaded: %v", n)
	}
}

func TestPushTargetRule(t *testing.T) {
	newSeedWorld(t)
	tests := []struct{ cmdline, want string }{
		{"build --push --dry-run --tag ghcr.io/myorg/myapp:amd64", "push to ghcr.io/myorg/myapp:amd64"},
		{"build --push --dry-run --tag localhost:5000/app", "push to localhost:5000/app:latest"},
		{"build --push --dry-run --tag myapp:graviton", "push to docker.io/library/myapp:graviton"},
	}
	for _, tt := range tests {
		code, stdout, stderr := pycontainer(t, tt.cmdline)
		if code != 0 || !strings.Contains(stdout, tt.want) {
			t.Errorf("%s: exit %d, want %q in\n%s%s", tt.cmdline, code, tt.want, stdout, stderr)
		}
	}
	// [registry] url supplies the repository when --tag names none.
	writeFile(t, "pycontainer.toml", "[registry]\nurl = \"ghcr.io/myorg/myapp\"\n")
	code, stdout, _ := pycontainer(t, "build --push --dry-run --tag myapp:graviton")
	if code != 0 || !strings.Contains(stdout, "push to ghcr.io/myorg/myapp:graviton") {
		t.Errorf("[registry] url: exit %d\n%s", code, stdout)
	}
}

type manifestDoc struct {
	MediaType string `json:"mediaType"`
	Manifests []struct {
		Platform struct{ Architecture, Variant string }
	}
}

func getManifest(t *testing.T, host, repo, tag string) manifestDoc {
	t.Helper()
	c := registry.New(registry.Options{Registries: []string{host}})
	r, _ := registry.ParseReference(host + "/" + repo + ":" + tag)
	raw, err := c.RawManifest(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	var m manifestDoc
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}
