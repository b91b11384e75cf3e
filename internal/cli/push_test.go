package cli

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/pycontainer/pycontainer/internal/clitest"
	"github.com/pycontainer/pycontainer/internal/testbase"
	"github.com/pycontainer/pycontainer/registry"
)

func TestPush(t *testing.T) {
	t.Parallel()
	log := &requestLog{counts: map[string]int{}}
	reg := testbase.StartWith(t, log.wrap)
	reg.Push(t, testbase.Spec{Repo: "library/python", Tag: "3.11-slim", Platforms: testbase.PythonPlatforms, Attestation: true})
	w := newSeedWorldWith(t, reg)
	target := reg.Host + "/myorg/myapp"

	// One platform: the manifest goes under the tag.
	_, stdout, stderr := w.Run(t, "build --tag "+target+":amd64 --platform linux/amd64 --base-image "+reg.Host+"/library/python:3.11-slim --push")
	if !strings.Contains(stdout, "Pushed "+target+":amd64@sha256:") || !strings.Contains(stdout, "2 mounted") {
		t.Fatalf("push of one platform:\n%s%s", stdout, stderr)
	}
	m := getManifest(t, reg.Host, "myorg/myapp", "amd64")
	if m.MediaType != "application/vnd.oci.image.manifest.v1+json" {
		t.Errorf("single platform pushed as %s", m.MediaType)
	}

	// Three platforms: every manifest, then one index under the tag.
	_, stdout, stderr = w.Run(t, "build --tag "+target+":latest --platform linux/amd64,linux/arm64,linux/arm/v7 --base-image "+reg.Host+"/library/python:3.11-slim --push")
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
	// The registry's index is the layout's, byte for byte: one digest for the tag.
	if local := clitest.ReadIndex(t, w.Path("dist/image")).Manifests[0].Digest; !strings.Contains(stdout, "Pushed "+target+":latest@"+local+":") {
		t.Errorf("the layout's index is %s; the push said:\n%s", local, stdout)
	}

	// Pushing the same image again uploads nothing and says so.
	log.reset()
	_, stdout, _ = w.Run(t, "build --tag "+target+":latest --platform linux/amd64,linux/arm64,linux/arm/v7 --base-image "+reg.Host+"/library/python:3.11-slim --push")
	if !strings.Contains(stdout, "0 uploaded (0 B), 8 already there, 0 mounted") {
		t.Errorf("second push:\n%s", stdout)
	}
	if n := log.reset(); n["PUT blob"]+n["POST blob"]+n["PATCH blob"] != 0 {
		t.Errorf("second push uploaded: %v", n)
	}
}

func TestPushTargetRule(t *testing.T) {
	t.Parallel()
	w := newSeedWorld(t)
	tests := []struct{ cmdline, want string }{
		{"build --push --dry-run --tag ghcr.io/myorg/myapp:amd64", "push to ghcr.io/myorg/myapp:amd64"},
		{"build --push --dry-run --tag localhost:5000/app", "push to localhost:5000/app:latest"},
		{"build --push --dry-run --tag myapp:graviton", "push to docker.io/library/myapp:graviton"},
	}
	for _, tt := range tests {
		code, stdout, stderr := w.Run(t, tt.cmdline)
		if code != 0 || !strings.Contains(stdout, tt.want) {
			t.Errorf("%s: exit %d, want %q in\n%s%s", tt.cmdline, code, tt.want, stdout, stderr)
		}
	}
	// [registry] url supplies the repository when --tag names none.
	w.WriteFile(t, "pycontainer.toml", "[registry]\nurl = \"ghcr.io/myorg/myapp\"\n")
	code, stdout, _ := w.Run(t, "build --push --dry-run --tag myapp:graviton")
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

// TestIndexCreate is the seed's Use Case 4 without docker: per-platform tags built on
// separate machines, combined into one multi-platform tag.
func TestIndexCreate(t *testing.T) {
	t.Parallel()
	reg := testbase.Start(t)
	reg.Push(t, testbase.Spec{Repo: "library/python", Tag: "3.11-slim", Platforms: testbase.PythonPlatforms, Attestation: true})
	w := newSeedWorldWith(t, reg)
	repo := reg.Host + "/myorg/myapp"
	for _, arch := range []string{"amd64", "arm64"} {
		w.MustBuild(t, "build --tag "+repo+":"+arch+" --platform linux/"+arch+" --base-image "+reg.Host+"/library/python:3.11-slim --push")
	}
	code, stdout, stderr := w.Run(t, "index create "+repo+":latest "+repo+":amd64 "+repo+":arm64")
	if code != 0 || !strings.Contains(stdout, "not pushed") {
		t.Fatalf("index create without --push: exit %d\n%s%s", code, stdout, stderr)
	}
	preview := stdout
	code, stdout, stderr = w.Run(t, "index create --push "+repo+":latest "+repo+":amd64 "+repo+":arm64")
	if code != 0 || !strings.Contains(stdout, "Pushed "+repo+":latest@sha256:") {
		t.Fatalf("index create --push: exit %d\n%s%s", code, stdout, stderr)
	}
	// What was printed is what was pushed.
	printed := regexp.MustCompile(`as (sha256:[0-9a-f]{64})`).FindStringSubmatch(preview)
	pushed := regexp.MustCompile(`@(sha256:[0-9a-f]{64})`).FindStringSubmatch(stdout)
	if printed == nil || pushed == nil || printed[1] != pushed[1] {
		t.Errorf("index create printed %v, pushed %v; want one digest:\n%s\n%s", printed, pushed, preview, stdout)
	}
	idx := getManifest(t, reg.Host, "myorg/myapp", "latest")
	if len(idx.Manifests) != 2 || idx.Manifests[0].Platform.Architecture != "amd64" || idx.Manifests[1].Platform.Architecture != "arm64" {
		t.Errorf("index %+v", idx)
	}

	// From another repository (the base's index, attestations skipped) into ours.
	code, stdout, stderr = w.Run(t, "index create --push "+repo+":bases "+reg.Host+"/library/python:3.11-slim")
	if code != 0 || strings.Contains(stdout, "unknown") {
		t.Fatalf("index create from another repository: exit %d\n%s%s", code, stdout, stderr)
	}
	if idx := getManifest(t, reg.Host, "myorg/myapp", "bases"); len(idx.Manifests) != 3 {
		t.Errorf("copied index has %d entries, want the 3 images without attestations", len(idx.Manifests))
	}

	code, _, stderr = w.Run(t, "index create "+repo+":dup "+repo+":amd64 "+repo+":latest")
	if code != 1 || !strings.Contains(stderr, "both have linux/amd64") {
		t.Errorf("two sources of one platform: exit %d\n%s", code, stderr)
	}
}

func TestLoginStoresCredentials(t *testing.T) {
	t.Parallel()
	reg := testbase.Start(t)
	w := newWorld(t)
	dockerConfig := w.Env().Getenv("DOCKER_CONFIG") // the world's own, empty
	code, stdout, stderr := w.RunArgs(t, []string{"login", reg.Host, "-u", "ci-bot", "--password-stdin"}, "s3cret-token\n")
	if code != 0 || !strings.Contains(stdout, "Login Succeeded") || strings.Contains(stdout+stderr, "s3cret-token") {
		t.Fatalf("login: exit %d\n%s%s", code, stdout, stderr)
	}
	raw, err := os.ReadFile(filepath.Join(dockerConfig, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Auths map[string]struct{ Auth string } `json:"auths"`
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	if got := cfg.Auths[reg.Host].Auth; got != base64.StdEncoding.EncodeToString([]byte("ci-bot:s3cret-token")) {
		t.Errorf("stored auth %q", got)
	}
	if c := registry.CredentialFor(reg.Host, w.Env().Getenv); !strings.HasPrefix(c.Source, "docker config") || c.Pass != "" {
		t.Errorf("credential source after login: %+v", c)
	}
	if code, _, _ := w.RunArgs(t, []string{"login", reg.Host, "-u", "ci-bot"}, ""); code != 2 {
		t.Errorf("login without --password-stdin: exit %d", code)
	}
}

func TestCredentialOrder(t *testing.T) {
	t.Parallel()
	// An empty docker config: no login of the user's comes first.
	env := map[string]string{"GITHUB_TOKEN": "ghs_x", "GITHUB_ACTOR": "octo", "DOCKER_CONFIG": t.TempDir()}
	get := func(k string) string { return env[k] }
	if c := registry.CredentialFor("ghcr.io", get); c.Source != "GITHUB_TOKEN" || c.User != "octo" || c.Pass != "ghs_x" {
		t.Errorf("ghcr.io with GITHUB_TOKEN: %+v", c)
	}
	if c := registry.CredentialFor("registry.example.com", get); c.Source != "none (anonymous)" {
		t.Errorf("GITHUB_TOKEN must only go to ghcr.io: %+v", c)
	}
	env["REGISTRY_USERNAME"], env["REGISTRY_PASSWORD"] = "u", "p"
	if c := registry.CredentialFor("ghcr.io", get); c.Source != "REGISTRY_USERNAME/REGISTRY_PASSWORD" {
		t.Errorf("explicit variables first: %+v", c)
	}
}
