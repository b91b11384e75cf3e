package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestStoreCredentialWritesSafely: whatever sits at config.json.tmp (a planted symlink,
// a world-writable file), login writes config.json alone, mode 0600, through a fresh
// temporary file.
func TestStoreCredentialWritesSafely(t *testing.T) {
	tests := []struct {
		name  string
		plant func(t *testing.T, dir, victim string)
		check func(t *testing.T, dir, victim string)
	}{
		{"a symlink planted at config.json.tmp", func(t *testing.T, dir, victim string) {
			if err := os.Symlink(victim, filepath.Join(dir, "config.json.tmp")); err != nil {
				t.Fatal(err)
			}
		}, func(t *testing.T, dir, victim string) {
			if b, _ := os.ReadFile(victim); string(b) != "victim" {
				t.Errorf("the symlink's target was written: %q", b)
			}
		}},
		{"a 0666 file planted at config.json.tmp", func(t *testing.T, dir, victim string) {
			p := filepath.Join(dir, "config.json.tmp")
			if err := os.WriteFile(p, nil, 0o666); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(p, 0o666); err != nil { // past the umask
				t.Fatal(err)
			}
		}, nil},
		{"an existing 0644 config.json", func(t *testing.T, dir, victim string) {
			if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"credHelpers":{},"psFormat":"x"}`), 0o644); err != nil {
				t.Fatal(err)
			}
		}, func(t *testing.T, dir, victim string) {
			if b, _ := os.ReadFile(filepath.Join(dir, "config.json")); !strings.Contains(string(b), `"psFormat": "x"`) {
				t.Errorf("other settings lost: %s", b)
			}
		}},
		{"config.json a symlink to a dotfiles repository", func(t *testing.T, dir, victim string) {
			if err := os.WriteFile(victim, []byte(`{}`), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(victim, filepath.Join(dir, "config.json")); err != nil {
				t.Fatal(err)
			}
		}, func(t *testing.T, dir, victim string) {
			if fi, err := os.Lstat(filepath.Join(dir, "config.json")); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
				t.Errorf("the link was replaced: %v", err)
			}
			if b, _ := os.ReadFile(victim); !strings.Contains(string(b), "auths") {
				t.Errorf("the login did not reach the link's target: %s", b)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			victim := filepath.Join(t.TempDir(), "victim")
			if err := os.WriteFile(victim, []byte("victim"), 0o644); err != nil {
				t.Fatal(err)
			}
			tt.plant(t, dir, victim)
			getenv := func(k string) string {
				if k == "DOCKER_CONFIG" {
					return dir
				}
				return ""
			}
			where, err := storeCredential("reg.example", "me", "pw", getenv)
			if err != nil {
				t.Fatal(err)
			}
			if where != filepath.Join(dir, "config.json") {
				t.Errorf("stored in %s", where)
			}
			real, _ := filepath.EvalSymlinks(where)
			fi, err := os.Stat(real)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("config.json mode %v, want 0600", fi.Mode().Perm())
			}
			var doc struct {
				Auths map[string]struct{ Auth string }
			}
			b, _ := os.ReadFile(real)
			if err := json.Unmarshal(b, &doc); err != nil || doc.Auths["reg.example"].Auth != "bWU6cHc=" {
				t.Errorf("config.json holds %s (%v)", b, err)
			}
			if tt.check != nil {
				tt.check(t, dir, victim)
			}
			// Nothing of ours is left beside it (what was planted may stay).
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				if strings.Contains(e.Name(), ".tmp-") {
					t.Errorf("temporary file left: %s", e.Name())
				}
			}
		})
	}
}

// TestLoginNamesTheStatus: a 403 reads as access denied, a 401 as a refused password,
// and a 500 or 502 whose body or digest holds the digits 403 as neither.
func TestLoginNamesTheStatus(t *testing.T) {
	tests := []struct {
		code      int
		challenge string
		body      string
		want      string
		not       []string
	}{
		{403, "", "denied", "access denied (403;", []string{"(401)"}},
		{401, `Basic realm="test"`, "", "refused the password or token of user u (401)", []string{"403"}},
		{500, "", "upstream said 403", "[http 500]", []string{"access denied", "(401)"}},
		{502, "", "sha256:4031", "[http 502]", []string{"access denied", "(401)"}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.code), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.challenge != "" {
					w.Header().Set("WWW-Authenticate", tt.challenge)
				}
				w.WriteHeader(tt.code)
				io.WriteString(w, tt.body)
			}))
			defer srv.Close()
			dir := t.TempDir()
			getenv := func(k string) string {
				if k == "DOCKER_CONFIG" {
					return dir
				}
				return ""
			}
			host := strings.TrimPrefix(srv.URL, "http://")
			_, err := Login(context.Background(), host, "u", "p", false, getenv)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to say %q", err, tt.want)
			}
			// Without the host: its random port may hold the digits 403.
			msg := strings.ReplaceAll(err.Error(), host, "HOST")
			for _, not := range tt.not {
				if strings.Contains(msg, not) {
					t.Errorf("err = %v, should not say %q", err, not)
				}
			}
			if _, statErr := os.Stat(filepath.Join(dir, "config.json")); statErr == nil {
				t.Error("a failed login stored credentials")
			}
		})
	}
}
