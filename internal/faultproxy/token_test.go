package faultproxy_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/pycontainer/pycontainer/internal/faultproxy"
	"github.com/pycontainer/pycontainer/internal/testbase"
)

// TestTokenAuth: requests without a token, or with one whose scopes fall short, are
// challenged for exactly the scope they need; a token for that scope opens them.
func TestTokenAuth(t *testing.T) {
	a := faultproxy.NewTokenAuth()
	srv := httptest.NewServer(a.Wrap(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusAccepted) // the registry behind: reached
	})))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	token := func(scopes ...string) string {
		q := url.Values{"service": {faultproxy.TokenService}, "scope": scopes}
		resp, err := http.Get(srv.URL + "/token?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct{ Token string }
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Token == "" {
			t.Fatalf("token answer: %v (%+v)", err, body)
		}
		return body.Token
	}
	pull := token("repository:library/python:pull")
	push := token("repository:app:pull,push", "repository:library/python:pull")
	realm := `Bearer realm="http://` + host + `/token",service="test"`
	for _, tc := range []struct {
		name, method, path, token string
		status                    int
		challenge                 string
	}{
		{"ping without a token", http.MethodGet, "/v2/", "", 401, realm},
		{"ping with any token", http.MethodGet, "/v2/", pull, 202, ""},
		{"manifest without a token", http.MethodHead, "/v2/library/python/manifests/3.11", "", 401, realm + `,scope="repository:library/python:pull"`},
		{"manifest with a pull token", http.MethodGet, "/v2/library/python/manifests/3.11", pull, 202, ""},
		{"blob of another repository", http.MethodGet, "/v2/app/blobs/sha256:1", pull, 401, realm + `,scope="repository:app:pull"`},
		{"upload with a pull token", http.MethodPost, "/v2/library/python/blobs/uploads/", pull, 401, realm + `,scope="repository:library/python:pull,push"`},
		{"upload with a push token", http.MethodPost, "/v2/app/blobs/uploads/", push, 202, ""},
		{"manifest put with a push token", http.MethodPut, "/v2/app/manifests/1", push, 202, ""},
		{"unknown token", http.MethodGet, "/v2/app/manifests/1", "forged", 401, realm + `,scope="repository:app:pull"`},
		{"mount with pull on its source", http.MethodPost, "/v2/app/blobs/uploads/?mount=sha256:1&from=library/python", push, 202, ""},
		{"mount without pull on its source", http.MethodPost, "/v2/app/blobs/uploads/?mount=sha256:1&from=other/base", push, 401,
			realm + `,scope="repository:app:pull,push repository:other/base:pull"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, srv.URL+tc.path, nil)
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status || resp.Header.Get("WWW-Authenticate") != tc.challenge {
				t.Errorf("%d %q, want %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), tc.status, tc.challenge)
			}
		})
	}
	want := [][]string{{"repository:library/python:pull"}, {"repository:app:pull,push", "repository:library/python:pull"}}
	if got := a.Issued(); !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("issued %q, want %q", got, want)
	}
}

// TestTokenAuthInFrontOfOlareg: regclient pushes through the token server to olareg,
// with anonymous tokens that carry the push scope.
func TestTokenAuthInFrontOfOlareg(t *testing.T) {
	a := faultproxy.NewTokenAuth()
	reg := testbase.StartWith(t, a.Wrap)
	if _, err := reg.Registry.Push(context.Background(), testbase.Spec{Repo: "library/python", Tag: "3.11-slim", Platforms: testbase.PythonPlatforms[:1]}); err != nil {
		t.Fatal(err)
	}
	issued := a.Issued()
	if len(issued) == 0 || !slices.Contains(issued[len(issued)-1], "repository:library/python:pull,push") {
		t.Errorf("tokens issued %q, want the last for repository:library/python:pull,push", issued)
	}
}
