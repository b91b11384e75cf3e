package faultproxy

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// TokenAuth makes a registry handler ask for tokens the way Docker Hub and ghcr.io do:
// every /v2/ request without a valid `Authorization: Bearer` token gets a 401 with a
// `WWW-Authenticate: Bearer realm="http://HOST/token",service="test",scope=...`
// challenge, and /token issues a token for the scopes asked (anonymously: there is no
// password). A token only opens what its scopes name: a write to a repository with a
// pull-only token is challenged for `pull,push`, a blob mount without pull on the
// repository it mounts from for that too. Tests read which tokens were issued.
type TokenAuth struct {
	mu     sync.Mutex
	tokens map[string][]string // token -> the scopes it was issued for
	issued [][]string          // the scopes of each token, in the order issued
}

// TokenService is the service name TokenAuth's challenges and tokens carry.
const TokenService = "test"

// NewTokenAuth returns a token server that has issued nothing yet.
func NewTokenAuth() *TokenAuth {
	return &TokenAuth{tokens: map[string][]string{}}
}

// Issued is the scopes of every token issued so far, one slice per token, in order.
func (a *TokenAuth) Issued() [][]string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([][]string, len(a.issued))
	for i, s := range a.issued {
		out[i] = slices.Clone(s)
	}
	return out
}

// Wrap puts token auth in front of h, which serves the registry API; /token is served
// by the wrapper itself.
func (a *TokenAuth) Wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/token":
			a.serveToken(w, r)
		case !strings.HasPrefix(r.URL.Path, "/v2/"):
			h.ServeHTTP(w, r)
		case a.allows(r):
			h.ServeHTTP(w, r)
		default:
			challenge(w, r)
		}
	})
}

// serveToken issues a token for the scopes of a GET's query or a POST's form (where
// regclient sends them space-separated).
func (a *TokenAuth) serveToken(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if s := r.Form.Get("service"); s != TokenService {
		http.Error(w, fmt.Sprintf("unknown service %q", s), http.StatusBadRequest)
		return
	}
	var scopes []string
	for _, s := range r.Form["scope"] {
		scopes = append(scopes, strings.Fields(s)...)
	}
	a.mu.Lock()
	token := fmt.Sprintf("token-%d", len(a.issued)+1)
	a.tokens[token] = scopes
	a.issued = append(a.issued, scopes)
	a.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"token": token, "access_token": token, "expires_in": 300,
		"issued_at": time.Now().UTC().Format(time.RFC3339),
	})
}

// allows reports whether r carries a token whose scopes cover what r does.
func (a *TokenAuth) allows(r *http.Request) bool {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return false
	}
	a.mu.Lock()
	scopes, ok := a.tokens[token]
	a.mu.Unlock()
	if !ok {
		return false
	}
	for _, n := range needs(r) {
		if !grants(scopes, n) {
			return false
		}
	}
	return true // /v2/ itself needs no scope: any valid token
}

// grants reports whether scopes hold need's repository with all its actions.
func grants(scopes []string, need access) bool {
	for _, s := range scopes {
		name, granted, ok := parseScope(s)
		if ok && name == need.repo && containsAll(granted, need.actions) {
			return true
		}
	}
	return false
}

// challenge sends the client to the token server for the scopes r needs, space-separated
// in one challenge as Distribution sends them.
func challenge(w http.ResponseWriter, r *http.Request) {
	h := fmt.Sprintf(`Bearer realm="http://%s/token",service=%q`, r.Host, TokenService)
	var scopes []string
	for _, n := range needs(r) {
		scopes = append(scopes, "repository:"+n.repo+":"+strings.Join(n.actions, ","))
	}
	if len(scopes) > 0 {
		h += `,scope="` + strings.Join(scopes, " ") + `"`
	}
	w.Header().Set("WWW-Authenticate", h)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusUnauthorized)
	_, _ = fmt.Fprint(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
}

// access is a repository and the actions a request takes there.
type access struct {
	repo    string
	actions []string
}

// needs is what r does: pull to read a repository, pull and push to write one, and for
// a blob mount pull on the repository it mounts from too; nothing for /v2/ itself.
func needs(r *http.Request) []access {
	path := strings.TrimPrefix(r.URL.Path, "/v2/")
	var repo string
	for _, part := range []string{"/manifests/", "/blobs/", "/tags/", "/referrers/"} {
		if i := strings.LastIndex(path, part); i > 0 {
			repo = path[:i]
			break
		}
	}
	switch {
	case repo == "":
		return nil
	case r.Method == http.MethodGet || r.Method == http.MethodHead:
		return []access{{repo, []string{"pull"}}}
	}
	out := []access{{repo, []string{"pull", "push"}}}
	if from := r.URL.Query().Get("from"); from != "" && r.URL.Query().Has("mount") {
		out = append(out, access{from, []string{"pull"}})
	}
	return out
}

// parseScope splits repository:NAME:ACTIONS.
func parseScope(s string) (name string, actions []string, ok bool) {
	rest, ok := strings.CutPrefix(s, "repository:")
	if !ok {
		return "", nil, false
	}
	i := strings.LastIndex(rest, ":")
	if i < 0 {
		return "", nil, false
	}
	return rest[:i], strings.Split(rest[i+1:], ","), true
}

func containsAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}
