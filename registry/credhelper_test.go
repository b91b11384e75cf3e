package registry

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// fakeHelperPrefix is how this test binary knows it was started as a credential helper:
// TestLoginStoresThroughTheNamedHelper copies it to docker-credential-NAME on PATH.
const fakeHelperPrefix = "docker-credential-"

// init makes this binary, run under a helper's name, a credential helper that keeps its
// logins in store.json and logs each call to calls.log, beside itself. Any OS runs it,
// which a shell script would not.
func init() {
	exe, err := os.Executable()
	name := strings.TrimSuffix(filepath.Base(exe), ".exe")
	if err != nil || !strings.HasPrefix(name, fakeHelperPrefix) || len(os.Args) != 2 {
		return
	}
	if err := fakeCredentialHelper(filepath.Dir(exe), strings.TrimPrefix(name, fakeHelperPrefix), os.Args[1]); err != nil {
		fmt.Println(err) // helpers report on stdout
		os.Exit(1)
	}
	os.Exit(0)
}

// fakeCredential is a login as the helper protocol passes it.
type fakeCredential struct{ ServerURL, Username, Secret string }

// fakeCredentialHelper answers one call of the docker-credential-helpers protocol
// (store, get, list, erase) as the helper called name.
func fakeCredentialHelper(dir, name, op string) error {
	in, err := io.ReadAll(os.Stdin)
	if err != nil {
		return err
	}
	storePath := filepath.Join(dir, "store.json")
	store := map[string]fakeCredential{}
	if b, err := os.ReadFile(storePath); err == nil {
		if err := json.Unmarshal(b, &store); err != nil {
			return err
		}
	}
	server := strings.TrimSpace(string(in))
	switch op {
	case "store":
		var c fakeCredential
		if err := json.Unmarshal(in, &c); err != nil {
			return fmt.Errorf("store: %w", err)
		}
		server, store[name+" "+c.ServerURL] = c.ServerURL, c
	case "get":
		c, ok := store[name+" "+server]
		if !ok {
			return errors.New("credentials not found in native keychain")
		}
		return json.NewEncoder(os.Stdout).Encode(c)
	case "list":
		out := map[string]string{}
		for _, c := range store {
			out[c.ServerURL] = c.Username
		}
		server = ""
		if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
			return err
		}
	default:
		return fmt.Errorf("unknown operation %q", op)
	}
	log, err := os.OpenFile(filepath.Join(dir, "calls.log"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer log.Close()
	if _, err := fmt.Fprintln(log, strings.TrimSpace(name+" "+op+" "+server)); err != nil {
		return err
	}
	b, err := json.Marshal(store)
	if err != nil {
		return err
	}
	return os.WriteFile(storePath, b, 0o600)
}

// installFakeHelpers puts this test binary on a PATH of its own as the helpers names.
func installFakeHelpers(t *testing.T, names ...string) (dir string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Skipf("cannot find the test binary to run as a credential helper: %v", err)
	}
	dir = t.TempDir()
	for _, name := range names {
		dst := filepath.Join(dir, fakeHelperPrefix+name)
		if runtime.GOOS == "windows" {
			dst += ".exe"
		}
		if err := copyExecutable(exe, dst); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", dir) // exec.Command looks helpers up in the process's PATH
	return dir
}

// copyExecutable links src at dst, else copies it (the test binary is some megabytes).
func copyExecutable(src, dst string) error {
	if os.Link(src, dst) == nil {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// readCalls is the fake helpers' calls, one "name op server" line each.
func readCalls(t *testing.T, dir string) []string {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "calls.log"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var calls []string
	for sc := bufio.NewScanner(f); sc.Scan(); {
		calls = append(calls, sc.Text())
	}
	return calls
}

// TestStoreCredentialUsesTheNamedHelper: the login goes to the helper config.json
// names, as docker does: credHelpers for the registry first, then credsStore —
// osxkeychain as Docker Desktop sets it on macOS, wincred on Windows. pycontainer picks
// no helper by OS itself: with none named, the login goes into config.json, though
// docker-credential-secretservice is on PATH here.
func TestStoreCredentialUsesTheNamedHelper(t *testing.T) {
	path := installFakeHelpers(t, "osxkeychain", "wincred", "pass", "desktop", "secretservice")
	tests := []struct {
		name, registry, config string
		call                   string // the helper's call, "" for config.json
	}{
		{"credsStore osxkeychain", "reg.example", `{"credsStore": "osxkeychain"}`, "osxkeychain store reg.example"},
		{"credsStore wincred", "reg.example", `{"credsStore": "wincred"}`, "wincred store reg.example"},
		{"credHelpers before credsStore", "reg.example", `{"credsStore": "osxkeychain", "credHelpers": {"reg.example": "pass"}}`, "pass store reg.example"},
		{"another registry's credHelpers", "reg.example", `{"credsStore": "desktop", "credHelpers": {"ghcr.io": "pass"}}`, "desktop store reg.example"},
		{"Docker Hub under docker's key", "docker.io", `{"credsStore": "osxkeychain"}`, "osxkeychain store " + dockerHubAuthKey},
		{"no helper named", "reg.example", `{}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			os.Remove(filepath.Join(path, "calls.log"))
			config := t.TempDir()
			if err := os.WriteFile(filepath.Join(config, "config.json"), []byte(tt.config), 0o600); err != nil {
				t.Fatal(err)
			}
			getenv := func(k string) string { return map[string]string{"DOCKER_CONFIG": config}[k] }
			where, err := storeCredential(tt.registry, "me", "s3cret", getenv)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := os.ReadFile(filepath.Join(config, "config.json"))
			calls := readCalls(t, path)
			if tt.call == "" {
				if where != filepath.Join(config, "config.json") || !strings.Contains(string(b), `"auths"`) || len(calls) != 0 {
					t.Errorf("stored in %s (helper calls %q): %s", where, calls, b)
				}
				return
			}
			helper, _, _ := strings.Cut(tt.call, " ")
			if want := "credential helper docker-credential-" + helper; where != want {
				t.Errorf("stored in %q, want %q", where, want)
			}
			if !slices.Equal(calls, []string{tt.call}) {
				t.Errorf("helper calls %q, want %q", calls, tt.call)
			}
			if strings.Contains(string(b), "s3cret") || strings.Contains(string(b), `"auths"`) {
				t.Errorf("config.json got the login too: %s", b)
			}
		})
	}
}

// TestLoginThroughOSXKeychain: `pycontainer login` against a registry with credsStore
// osxkeychain stores the login in docker-credential-osxkeychain, and pycontainer then
// finds it there.
func TestLoginThroughOSXKeychain(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	reg := strings.TrimPrefix(srv.URL, "http://")
	path := installFakeHelpers(t, "osxkeychain")
	config := t.TempDir()
	if err := os.WriteFile(filepath.Join(config, "config.json"), []byte(`{"credsStore": "osxkeychain"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	getenv := func(k string) string { return map[string]string{"DOCKER_CONFIG": config}[k] }
	where, err := Login(context.Background(), reg, "me", "s3cret", false, getenv)
	if err != nil || where != "credential helper docker-credential-osxkeychain" {
		t.Fatalf("Login: stored in %q, %v", where, err)
	}
	if got := CredentialFor(reg, getenv); got.Source != "docker config "+filepath.Join(config, "config.json") {
		t.Errorf("CredentialFor after login: %+v, want it from the docker config", got)
	}
	want := []string{"osxkeychain store " + reg, "osxkeychain list"}
	if calls := readCalls(t, path); !slices.Equal(calls, want) {
		t.Errorf("helper calls %q, want %q", calls, want)
	}
}

// TestLoginWithAMissingHelper: a helper config.json names that is not installed fails
// the login, saying which; the password is not put in config.json instead.
func TestLoginWithAMissingHelper(t *testing.T) {
	path := installFakeHelpers(t, "osxkeychain")
	config := t.TempDir()
	if err := os.WriteFile(filepath.Join(config, "config.json"), []byte(`{"credsStore": "secretservice"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	getenv := func(k string) string { return map[string]string{"DOCKER_CONFIG": config}[k] }
	_, err := storeCredential("docker.io", "me", "s3cret", getenv)
	if err == nil || !strings.Contains(err.Error(), "credential helper docker-credential-secretservice could not store the login") {
		t.Errorf("err = %v, want it to name docker-credential-secretservice", err)
	}
	if b, _ := os.ReadFile(filepath.Join(config, "config.json")); strings.Contains(string(b), "auths") {
		t.Errorf("config.json got the login: %s", b)
	}
	if calls := readCalls(t, path); len(calls) != 0 {
		t.Errorf("another helper was called: %q", calls)
	}
}
