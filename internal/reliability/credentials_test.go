package reliability

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/pycontainer/pycontainer/internal/testbase"
)

// tokenAuth puts a registry behind docker's token authentication, as Docker Hub, ghcr.io
// and most private registries do: a request without the bearer token gets a 401 naming
// /token, which trades user:password for the token. Until on is set everyone may pass,
// so the test can push its base image first.
func tokenAuth(on *atomic.Bool, user, password, token string) func(http.Handler) http.Handler {
	repo := regexp.MustCompile(`^/v2/(.+?)/(manifests|blobs|tags)/`)
	unauthorized := func(w http.ResponseWriter, challenge string) {
		w.Header().Set("WWW-Authenticate", challenge)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
	}
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch {
			case !on.Load():
				h.ServeHTTP(w, r)
			case r.URL.Path == "/token":
				if u, p, ok := r.BasicAuth(); !ok || u != user || p != password {
					unauthorized(w, `Basic realm="test"`)
					return
				}
				w.Header().Set("Content-Type", "application/json")
				_ = json.NewEncoder(w).Encode(map[string]string{"token": token})
			case r.Header.Get("Authorization") != "Bearer "+token:
				challenge := fmt.Sprintf(`Bearer realm="http://%s/token",service="test"`, r.Host)
				if m := repo.FindStringSubmatch(r.URL.Path); m != nil {
					challenge += fmt.Sprintf(`,scope="repository:%s:pull,push"`, m[1])
				}
				unauthorized(w, challenge)
			default:
				h.ServeHTTP(w, r)
			}
		})
	}
}

// credentialsNeverPrinted configures a password every way pycontainer reads one (login
// into docker's config.json, REGISTRY_USERNAME/REGISTRY_PASSWORD), against a registry
// that trades it for a bearer token, and runs builds, pushes and failures with --verbose:
// neither the password, nor the token, nor their base64 form may appear in any output.
func credentialsNeverPrinted(t *testing.T) []reliabilityRow {
	const user, password, token, wrong = "ci-bot", "pw-7f3a-not-for-logs", "tok-91c2-bearer-secret", "pw-wrong-also-secret"
	var on atomic.Bool
	reg := testbase.StartWith(t, tokenAuth(&on, user, password, token))
	reg.Push(t, testbase.Spec{Repo: "private/python", Tag: "3.11-slim", Platforms: testbase.PythonPlatforms[:2]})
	on.Store(true)
	// The world has a docker config of its own and no REGISTRY_* variables.
	w := newSeedWorldWith(t, reg)
	secrets := []string{password, token, wrong,
		base64.StdEncoding.EncodeToString([]byte(user + ":" + password)), base64.StdEncoding.EncodeToString([]byte(user + ":" + wrong))}
	base := " --base-image " + reg.Host + "/private/python:3.11-slim"
	push := " --tag " + reg.Host + "/me/app:1 --push"

	steps := []struct {
		what    string
		env     map[string]string // set for this step only
		stdin   string
		cmdline string
		fails   string // the error it must end with, if it fails
	}{
		{"login with the wrong password", nil, wrong + "\n", "login " + reg.Host + " -u " + user + " --password-stdin",
			"Error: login to " + reg.Host + " failed: it refused the password or token of user ci-bot (401); nothing was stored: unauthorized"},
		{"login", nil, password + "\n", "login " + reg.Host + " -u " + user + " --password-stdin", ""},
		{"build from a private base (docker config)", nil, "", "build --verbose --progress plain --platform linux/amd64,linux/arm64" + base, ""},
		{"platforms of a private image", nil, "", "platforms " + reg.Host + "/private/python:3.11-slim", ""},
		{"push with REGISTRY_USERNAME/REGISTRY_PASSWORD", map[string]string{"REGISTRY_USERNAME": user, "REGISTRY_PASSWORD": password},
			"", "build --verbose --progress plain --platform linux/amd64" + base + push, ""},
		{"push with progress as JSON", map[string]string{"REGISTRY_USERNAME": user, "REGISTRY_PASSWORD": password},
			"", "build --verbose --progress json --platform linux/arm64" + base + push, ""},
		{"push with the wrong REGISTRY_PASSWORD", map[string]string{"REGISTRY_USERNAME": user, "REGISTRY_PASSWORD": wrong},
			"", "build --verbose --progress plain --platform linux/amd64" + base + push,
			"(401/403; credentials tried: REGISTRY_USERNAME/REGISTRY_PASSWORD): fix REGISTRY_USERNAME/REGISTRY_PASSWORD (they come before any login) or check the repository name: unauthorized"},
		{"push with --dry-run", map[string]string{"REGISTRY_USERNAME": user, "REGISTRY_PASSWORD": password},
			"", "build --verbose --dry-run --platform linux/amd64" + base + push, ""},
	}
	leaked := 0
	var names []string
	for _, s := range steps {
		for k, v := range s.env {
			w.Setenv(k, v)
		}
		code, stdout, stderr := w.RunArgs(t, strings.Fields(s.cmdline), s.stdin)
		for k := range s.env {
			w.Setenv(k, "")
		}
		switch {
		case s.fails == "" && code != 0:
			t.Errorf("%s: exit %d\n%s", s.what, code, stderr)
		case s.fails != "" && (code != 1 || !strings.HasSuffix(strings.TrimSpace(stderr), s.fails)):
			t.Errorf("%s: exit %d; want exit 1 and an error ending %q:\n%s", s.what, code, s.fails, stderr)
		}
		for _, secret := range secrets {
			if strings.Contains(stdout+stderr, secret) {
				t.Errorf("%s: a secret (%.6s…) appeared in the output:\n%s%s", s.what, secret, stdout, stderr)
				leaked++
			}
		}
		names = append(names, s.what)
	}
	validateLayout(t, w.Path("dist/image"))
	// What login stored must be the credential, else the builds above proved nothing.
	stored, err := os.ReadFile(filepath.Join(w.Env().Getenv("DOCKER_CONFIG"), "config.json"))
	if err != nil || !strings.Contains(string(stored), secrets[3]) {
		t.Errorf("login did not store the credential: %v", err)
	}
	return []reliabilityRow{{What: "a configured password and the registry's bearer token", Mode: "credentials", Trials: len(steps),
		Outcome: "never in stdout or stderr (plain, JSON, --verbose, errors): " + strings.Join(names, ", "), Leak: leaked}}
}
