package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pycontainer/pycontainer/internal/testbase"
)

// TestPushToAuthenticatedRegistry: the Distribution registry with htpasswd; the real
// Python bases; push one platform, then three as one index; read them back with skopeo,
// pull each platform and run it; a second push uploads nothing; a wrong password fails
// naming the registry and never prints the password; index create merges two tags.
func TestPushToAuthenticatedRegistry(t *testing.T) {
	present, rootfs := pythonBases(t, arches, 2, "skopeo", "umoci")
	const user, password = "ci-bot", "pa55-w0rd-do-not-print"
	host := testbase.StartDistributionAuth(t, user, password)
	var plats []testbase.Platform
	for _, a := range present {
		plats = append(plats, a.platform)
	}
	testbase.ConnectAuth(host, user, password).Push(t, testbase.Spec{Repo: "library/python", Tag: "3.11-slim", Platforms: plats, RootFS: rootfs, Attestation: true})

	bin := buildBinary(t)
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	work := demoProject(t)
	pyc := func(stdin string, args ...string) (string, error) {
		cmd := exec.Command(bin, args...)
		cmd.Dir = work
		cmd.Stdin = strings.NewReader(stdin)
		cmd.Env = append(os.Environ(), "PYCONTAINER_REGISTRY_MIRROR=docker.io="+host)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	if out, err := pyc(password+"\n", "login", host, "-u", user, "--password-stdin"); err != nil || !strings.Contains(out, "Login Succeeded") {
		t.Fatalf("login: %v\n%s", err, out)
	}

	// A wrong password for the push target (REGISTRY_* override the stored login): a clear
	// error naming the registry and the credential source; the password never printed.
	cmd := exec.Command(bin, "build", "--tag", host+"/myorg/app:amd64", "--platform", "linux/amd64", "--push", "--verbose")
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "PYCONTAINER_REGISTRY_MIRROR=docker.io="+host, "REGISTRY_USERNAME="+user, "REGISTRY_PASSWORD=wrong-"+password)
	wrong, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(wrong), "refused access") || !strings.Contains(string(wrong), "REGISTRY_USERNAME/REGISTRY_PASSWORD") {
		t.Errorf("wrong password: %v\n%s", err, wrong)
	}
	if !strings.Contains(string(wrong), "registry "+host+" refused access") {
		t.Errorf("the error does not name the registry:\n%s", wrong)
	}
	if strings.Contains(string(wrong), password) {
		t.Errorf("the password appeared in the output:\n%s", wrong)
	}

	// One platform, then all of them as one index.
	if out, err := pyc("", "build", "--tag", host+"/myorg/app:amd64", "--platform", "linux/amd64", "--push"); err != nil {
		t.Fatalf("push amd64: %v\n%s", err, out)
	}
	var all []string
	for _, a := range present {
		all = append(all, strings.TrimSuffix(a.platform.String(), "/v8"))
	}
	out, err := pyc("", "build", "--tag", host+"/myorg/app:latest", "--platform", strings.Join(all, ","), "--push", "--verbose")
	if err != nil {
		t.Fatalf("push all: %v\n%s", err, out)
	}
	if strings.Contains(out, password) {
		t.Errorf("the password appeared in the output")
	}
	raw, err := exec.Command("skopeo", "inspect", "--raw", "--tls-verify=false", "--creds", user+":"+password, "docker://"+host+"/myorg/app:latest").Output()
	if err != nil {
		t.Fatalf("skopeo inspect --raw: %v", err)
	}
	var idx struct {
		MediaType string
		Manifests []struct {
			Platform struct{ Architecture, Variant string }
		}
	}
	if err := json.Unmarshal(raw, &idx); err != nil || len(idx.Manifests) != len(present) {
		t.Fatalf("index %s (%v)", raw, err)
	}

	// A second push of the same image uploads nothing.
	out, err = pyc("", "build", "--tag", host+"/myorg/app:latest", "--platform", strings.Join(all, ","), "--push")
	if err != nil || !strings.Contains(out, "0 uploaded (0 B)") {
		t.Errorf("second push: %v\n%s", err, out)
	}

	// Pull each platform back with skopeo and run it.
	for _, a := range present {
		t.Run("pull "+a.deb, func(t *testing.T) {
			layout := filepath.Join(t.TempDir(), "pulled")
			args := []string{"copy", "--src-tls-verify=false", "--src-creds", user + ":" + password, "--override-os", "linux", "--override-arch", a.platform.Architecture}
			if a.platform.Variant != "" && a.platform.Architecture == "arm" {
				args = append(args, "--override-variant", a.platform.Variant)
			}
			args = append(args, "docker://"+host+"/myorg/app:latest", "oci:"+layout+":app")
			if out, err := exec.Command("skopeo", args...).CombinedOutput(); err != nil {
				t.Fatalf("skopeo copy: %v\n%s", err, out)
			}
			bundle := filepath.Join(t.TempDir(), "bundle")
			if out, err := exec.Command("umoci", "unpack", "--rootless", "--image", layout+":app", bundle).CombinedOutput(); err != nil {
				t.Fatalf("umoci unpack: %v\n%s", err, out)
			}
			got := runBundle(t, bundle, a)
			if !strings.Contains(got, "Platform: "+a.machine) {
				t.Errorf("the pulled %s image printed\n%s", a.deb, got)
			}
		})
	}

	// Two single-platform tags merged into one.
	if out, err := pyc("", "build", "--tag", host+"/myorg/app:arm64", "--platform", "linux/arm64", "--push"); err != nil {
		t.Fatalf("push arm64: %v\n%s", err, out)
	}
	if out, err := pyc("", "index", "create", "--push", host+"/myorg/app:multi", host+"/myorg/app:amd64", host+"/myorg/app:arm64"); err != nil {
		t.Fatalf("index create: %v\n%s", err, out)
	}
	raw, err = exec.Command("skopeo", "inspect", "--raw", "--tls-verify=false", "--creds", user+":"+password, "docker://"+host+"/myorg/app:multi").Output()
	if err != nil || !strings.Contains(string(raw), `"architecture":"amd64"`) || !strings.Contains(string(raw), `"architecture":"arm64"`) {
		t.Errorf("merged index: %v\n%s", err, raw)
	}
}
