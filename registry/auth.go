package registry

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/regclient/regclient/config"
	"github.com/regclient/regclient/types/errs"
	"github.com/regclient/regclient/types/ref"

	"github.com/pycontainer/pycontainer/oci"
)

// Credential is a login for one registry and where it came from. The secret never
// appears in messages; Source does.
type Credential struct {
	User, Pass string
	Source     string
}

// dockerHubAuthKey is where docker stores Docker Hub credentials in config.json.
const dockerHubAuthKey = "https://index.docker.io/v1/"

// CredentialFor picks the credential for a registry, in the order a CI user expects:
// REGISTRY_USERNAME and REGISTRY_PASSWORD; then docker's config.json (DOCKER_CONFIG),
// with its credHelpers and credsStore, as `docker login` and `pycontainer login` write
// it; then GITHUB_TOKEN (user GITHUB_ACTOR when set) for ghcr.io. No credential: anonymous.
func CredentialFor(registry string, getenv func(string) string) Credential {
	if u, p := getenv("REGISTRY_USERNAME"), getenv("REGISTRY_PASSWORD"); u != "" && p != "" {
		return Credential{User: u, Pass: p, Source: "REGISTRY_USERNAME/REGISTRY_PASSWORD"}
	}
	path := DockerConfigPath(getenv)
	if hosts, err := config.DockerLoadFile(path); err == nil {
		for _, h := range hosts {
			if h.Name == registry && (h.User != "" || h.CredHelper != "" || h.Token != "") {
				return Credential{Source: "docker config " + path}
			}
		}
	}
	if registry == "ghcr.io" {
		if tok := getenv("GITHUB_TOKEN"); tok != "" {
			user := getenv("GITHUB_ACTOR")
			if user == "" {
				user = "github-actions" // ghcr.io checks the token, not the user name
			}
			return Credential{User: user, Pass: tok, Source: "GITHUB_TOKEN"}
		}
	}
	return Credential{Source: "none (anonymous)"}
}

// DockerConfigPath is the config.json docker reads logins from in the environment
// getenv reads: $DOCKER_CONFIG/config.json, else ~/.docker/config.json.
func DockerConfigPath(getenv func(string) string) string {
	if d := getenv("DOCKER_CONFIG"); d != "" {
		return filepath.Join(d, "config.json")
	}
	home := getenv("HOME")
	if home == "" {
		home, _ = os.UserHomeDir()
	}
	return filepath.Join(home, ".docker", "config.json")
}

// Login checks user and password against registry and stores them the way `docker
// login` does: with the credential helper config.json names for it (credHelpers or
// credsStore), else base64-encoded in config.json's auths. It returns where they went.
func Login(ctx context.Context, registry, user, pass string, insecure bool, getenv func(string) string) (string, error) {
	host := config.HostNewName(registry)
	host.User, host.Pass = user, pass
	if insecure || IsLoopback(registry) {
		host.TLS = config.TLSDisabled
	}
	// Not New's client: see checkClient.
	rc := checkClient(*host, getenv)
	r, err := ref.New(registry + "/library/pycontainer-login-check")
	if err != nil {
		return "", fmt.Errorf("registry %q is not a host[:port]: %w", registry, err)
	}
	if _, err := rc.Ping(ctx, r); err != nil {
		switch {
		// Before the 401 case: regclient reports a 403 as errs.ErrHTTPUnauthorized too.
		case isForbidden(err):
			return "", fmt.Errorf("login to %s failed: access denied (403; the account may lack a permission, or a proxy refused it); nothing was stored: %w", registry, err)
		case errors.Is(err, errs.ErrHTTPUnauthorized):
			return "", fmt.Errorf("login to %s failed: it refused the password or token of user %s (401); nothing was stored: %w", registry, user, errs.ErrHTTPUnauthorized)
		}
		return "", fmt.Errorf("login to %s failed: %w", registry, DescribeError(r, err))
	}
	return storeCredential(registry, user, pass, getenv)
}

func storeCredential(registry, user, pass string, getenv func(string) string) (string, error) {
	path := DockerConfigPath(getenv)
	doc := map[string]any{}
	if b, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(b, &doc); err != nil {
			return "", fmt.Errorf("%s is not valid JSON: %w", path, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	key := registry
	if registry == "docker.io" || registry == "index.docker.io" {
		key = dockerHubAuthKey
	}
	helper := ""
	if helpers, ok := doc["credHelpers"].(map[string]any); ok {
		helper, _ = helpers[registry].(string)
	}
	if store, ok := doc["credsStore"].(string); ok && helper == "" {
		helper = store
	}
	if helper != "" {
		cmd := exec.Command("docker-credential-"+helper, "store")
		payload, _ := json.Marshal(map[string]string{"ServerURL": key, "Username": user, "Secret": pass})
		cmd.Stdin = strings.NewReader(string(payload))
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("credential helper docker-credential-%s could not store the login: %v: %s", helper, err, strings.TrimSpace(string(out)))
		}
		return "credential helper docker-credential-" + helper, nil
	}
	auths, _ := doc["auths"].(map[string]any)
	if auths == nil {
		auths = map[string]any{}
	}
	auths[key] = map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))}
	doc["auths"] = auths
	b, err := json.MarshalIndent(doc, "", "\t")
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("store the login: %w", err)
	}
	// A config.json that is a symlink (dotfiles kept elsewhere) is written where it
	// points, as docker does; the link itself stays.
	shown := path
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real
	}
	// A fresh temporary file of a random name, created exclusively with mode 0600, then
	// renamed over: a fixed name could be a planted symlink or a file others can read.
	write := func(w io.Writer) error { _, err := w.Write(b); return err }
	if err := oci.WriteFileAtomic(path, filepath.Dir(path), 0o600, write); err != nil {
		return "", fmt.Errorf("store the login: %w", err)
	}
	return shown, nil
}
