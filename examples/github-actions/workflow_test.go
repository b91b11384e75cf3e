package githubactions_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v4"

	"github.com/pycontainer/pycontainer/internal/clitest"
	"github.com/pycontainer/pycontainer/internal/testbase"
)

// workflow is the part of a GitHub Actions workflow this test can run.
type workflow struct {
	Env  map[string]string
	Jobs map[string]job
}

type job struct {
	Needs    []string
	Strategy struct{ Matrix map[string][]string }
	Env      map[string]string
	Steps    []step
}

type step struct {
	Name, Uses, Run, Shell string
	With, Env              map[string]string
}

// UnmarshalYAML takes needs as GitHub does: one job name or a list of them.
func (j *job) UnmarshalYAML(n *yaml.Node) error {
	var raw struct {
		Needs    yaml.Node
		Strategy struct{ Matrix map[string][]string }
		Env      map[string]string
		Steps    []step
	}
	if err := n.Decode(&raw); err != nil {
		return err
	}
	j.Strategy, j.Env, j.Steps = raw.Strategy, raw.Env, raw.Steps
	switch raw.Needs.Kind {
	case 0:
	case yaml.ScalarNode:
		j.Needs = []string{raw.Needs.Value}
	default:
		return raw.Needs.Decode(&j.Needs)
	}
	return nil
}

const (
	actor   = "octocat"
	token   = "ghs_loopbackTokenNotARealOne0123456789"
	repo    = "Octo-Org/Hello-App" // capitals, as GitHub allows and registries do not
	sha     = "3f786850e387550fdab836ed7e6dc881de23001b"
	version = "v0.1.0"
)

// The example workflow's shell steps, run in order by job (the matrix expanded) against a
// loopback registry that stands in for ghcr.io and, like it, wants the token; pip installs
// pycontainer-build from this commit's wheel, offline. The pushed tag must be an index of
// linux/amd64 and linux/arm64.
func TestWorkflow(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a release wheel and runs three jobs; -short skips it")
	}
	if runtime.GOOS == "windows" {
		t.Skip("the workflow's runners are Linux; a venv on Windows has no bin/")
	}
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash is missing")
	}
	if err := exec.Command("python3", "-c", "import venv, ensurepip").Run(); err != nil {
		t.Skipf("python3 cannot make a venv with pip (python3-venv): %v", err)
	}
	wf := readWorkflow(t)
	reg := testbase.StartWith(t, requireLogin(actor, token))
	testbase.ConnectAuth(reg.Host, actor, token).Push(t, testbase.Spec{Repo: "library/python", Tag: "3.11-slim", Platforms: testbase.PythonPlatforms})
	// The registry and base image are the workflow's env, as a user would change them.
	for k, v := range map[string]string{"REGISTRY": "ghcr.io", "BASE_IMAGE": "python:3.11-slim"} {
		if wf.Env[k] != v {
			t.Fatalf("the workflow's env %s is %q; want %q", k, wf.Env[k], v)
		}
	}
	wf.Env["REGISTRY"], wf.Env["BASE_IMAGE"] = reg.Host, reg.Host+"/library/python:3.11-slim"

	r := &runner{t: t, project: project(t), pipEnv: pipEnv(t)}
	r.expr = map[string]string{"github.repository": repo, "github.sha": sha, "github.actor": actor, "secrets.GITHUB_TOKEN": token}
	for _, name := range jobOrder(t, wf) {
		for _, m := range matrix(wf.Jobs[name].Strategy.Matrix) {
			r.runJob(name, wf, m)
		}
	}
	if strings.Contains(r.log.String(), token) {
		t.Error("a step printed the token")
	}
	image := strings.ToLower(repo)
	d1, platforms := readIndex(t, reg.Host, image, sha)
	d2, _ := readIndex(t, reg.Host, image, "latest")
	if !slices.Equal(platforms, []string{"linux/amd64", "linux/arm64"}) || d1 != d2 {
		t.Errorf("%s:%s is %s of %v, latest is %s; want one index of linux/amd64 and linux/arm64", image, sha, d1, platforms, d2)
	}
	t.Logf("%s/%s:%s = %s: an index of %v", reg.Host, image, sha, d1, platforms)
}

func readWorkflow(t *testing.T) workflow {
	t.Helper()
	data, err := os.ReadFile("build.yml")
	if err != nil {
		t.Fatal(err)
	}
	var wf workflow
	if err := yaml.Unmarshal(data, &wf); err != nil {
		t.Fatalf("build.yml: %v", err)
	}
	return wf
}

// jobOrder is the jobs in an order GitHub could run them: each after the jobs it needs.
func jobOrder(t *testing.T, wf workflow) []string {
	t.Helper()
	var order []string
	for len(order) < len(wf.Jobs) {
		var ready []string
		for name, j := range wf.Jobs {
			done := !slices.Contains(order, name) && !slices.ContainsFunc(j.Needs, func(n string) bool { return !slices.Contains(order, n) })
			if done {
				ready = append(ready, name)
			}
		}
		if len(ready) == 0 {
			t.Fatalf("the jobs' needs form a cycle or name a missing job (ran %v)", order)
		}
		slices.Sort(ready)
		order = append(order, ready...)
	}
	return order
}

// matrix is every combination of a job's matrix values (one empty combination without a matrix).
func matrix(m map[string][]string) []map[string]string {
	out := []map[string]string{{}}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		var next []map[string]string
		for _, combo := range out {
			for _, v := range m[k] {
				c := map[string]string{k: v}
				for ck, cv := range combo {
					c[ck] = cv
				}
				next = append(next, c)
			}
		}
		out = next
	}
	return out
}

// requireLogin lets only actor with the token in, as ghcr.io does for pushes: what the
// workflow pushes, it must push with the login it made.
func requireLogin(user, pass string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if u, p, ok := r.BasicAuth(); !ok || u != user || p != pass {
				w.Header().Set("WWW-Authenticate", `Basic realm="ghcr.io stand-in"`)
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusUnauthorized)
				fmt.Fprint(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// project is the repository the workflow checks out: the demo app, with a dependency
// that --include-deps installs from a local wheelhouse.
func project(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	clitest.CopyDemoApp(t, dir)
	if err := os.WriteFile(filepath.Join(dir, "requirements.txt"), []byte("purelib==1.0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// pipEnv is how this runner reaches "PyPI": offline, pip's own variables pointing at a
// release wheel of this commit for the host, built now, and a wheelhouse for the app's
// dependency. The workflow's `pip install pycontainer-build` runs as written.
func pipEnv(t *testing.T) []string {
	t.Helper()
	dist := filepath.Join(t.TempDir(), "dist")
	host := runtime.GOOS + "/" + runtime.GOARCH
	if runtime.GOARCH == "arm" {
		host += "/v7"
	}
	cmd := exec.CommandContext(t.Context(), "go", "run", "./internal/release", "-version", version, "-commit", sha, "-targets", host, "-out", dist)
	cmd.Dir = filepath.Join("..", "..")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go run ./internal/release: %v\n%s", err, out)
	}
	wheelhouse := t.TempDir()
	testbase.MakeWheel(t, wheelhouse, "purelib", "1.0", "py3-none-any", map[string][]byte{"purelib/__init__.py": []byte("GREETING = 'hello'\n")})
	return []string{"PIP_NO_INDEX=1", "PIP_FIND_LINKS=" + dist + " " + wheelhouse,
		"PIP_CONFIG_FILE=" + os.DevNull, "PIP_DISABLE_PIP_VERSION_CHECK=1", "PIP_NO_INPUT=1"}
}

// registryGet is GET http://host/v2/path with the login, its body and digest.
func registryGet(t *testing.T, host, path string) ([]byte, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+host+"/v2/"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(actor, token)
	req.Header.Set("Accept", "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s, %v", path, resp.Status, err)
	}
	return body, resp.Header.Get("Docker-Content-Digest")
}

// readIndex reads image:tag back from the registry and returns its digest and platforms,
// failing unless it is an index; it checks each platform's image has the app's dependency.
func readIndex(t *testing.T, host, image, tag string) (string, []string) {
	t.Helper()
	body, digest := registryGet(t, host, image+"/manifests/"+tag)
	var index struct {
		MediaType string
		Manifests []struct {
			Digest   string
			Platform struct{ OS, Architecture, Variant string }
		}
	}
	if err := json.Unmarshal(body, &index); err != nil {
		t.Fatalf("%s:%s: %v", image, tag, err)
	}
	if !strings.HasSuffix(index.MediaType, "image.index.v1+json") && !strings.HasSuffix(index.MediaType, "manifest.list.v2+json") {
		t.Fatalf("%s:%s is a %s, not an index", image, tag, index.MediaType)
	}
	var platforms []string
	for _, m := range index.Manifests {
		p := m.Platform.OS + "/" + m.Platform.Architecture
		if m.Platform.Variant != "" {
			p += "/" + m.Platform.Variant
		}
		platforms = append(platforms, p)
		checkDeps(t, host, image, m.Digest, p)
	}
	slices.Sort(platforms)
	return digest, platforms
}

// checkDeps fails unless the image has --include-deps' packages on its PYTHONPATH: the
// wheelhouse reached pip through the runner's PIP_FIND_LINKS.
func checkDeps(t *testing.T, host, image, digest, platform string) {
	t.Helper()
	body, _ := registryGet(t, host, image+"/manifests/"+digest)
	var m struct{ Config struct{ Digest string } }
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("%s@%s: %v", image, digest, err)
	}
	body, _ = registryGet(t, host, image+"/blobs/"+m.Config.Digest)
	var cfg struct{ Config struct{ Env []string } }
	if err := json.Unmarshal(body, &cfg); err != nil {
		t.Fatalf("config of %s@%s: %v", image, digest, err)
	}
	if !slices.ContainsFunc(cfg.Config.Env, func(e string) bool { return strings.Contains(e, "/opt/pycontainer/site-packages") }) {
		t.Errorf("%s: no dependencies installed (env %v)", platform, cfg.Config.Env)
	}
}
