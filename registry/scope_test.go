package registry

import (
	"net/http"
	"slices"
	"testing"

	"github.com/regclient/regclient/types/ref"
)

func TestWidenChallenge(t *testing.T) {
	const realm = `Bearer realm="https://auth.docker.io/token",service="registry.docker.io"`
	for _, tc := range []struct {
		name   string
		header []string
		scopes []string
		want   []string
	}{
		{"a scope of its own", []string{realm + `,scope="repository:library/python:pull"`}, []string{"repository:me/app:pull,push"},
			[]string{realm + `,scope="repository:library/python:pull"`, realm + `,scope="repository:me/app:pull,push"`}},
		{"a ping's, without scope", []string{realm}, []string{"repository:me/app:pull,push"},
			[]string{realm, realm + `,scope="repository:me/app:pull,push"`}},
		{"no service", []string{`Bearer realm="http://h/token"`}, []string{"repository:a:pull,push"},
			[]string{`Bearer realm="http://h/token"`, `Bearer realm="http://h/token",scope="repository:a:pull,push"`}},
		{"basic only", []string{`Basic realm="registry"`}, []string{"repository:a:pull,push"}, []string{`Basic realm="registry"`}},
		{"nothing to add", []string{realm}, nil, []string{realm}},
		{"no realm", []string{`Bearer service="x"`}, []string{"repository:a:pull,push"}, []string{`Bearer service="x"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{"Www-Authenticate": tc.header}
			widenChallenge(h, tc.scopes)
			if got := h.Values("WWW-Authenticate"); !slices.Equal(got, tc.want) {
				t.Errorf("got\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
}

func TestPushScopes(t *testing.T) {
	var targets []ref.Ref
	for _, s := range []string{"me/app:1", "ghcr.io/org/app:2", "localhost:5000/x/y:3"} {
		r, err := ParseReference(s)
		if err != nil {
			t.Fatal(err)
		}
		targets = append(targets, r)
	}
	got := pushScopes(targets)
	want := map[string][]string{
		"registry-1.docker.io": {"repository:me/app:pull,push"},
		"ghcr.io":              {"repository:org/app:pull,push"},
		"localhost:5000":       {"repository:x/y:pull,push"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	for host, scopes := range want {
		if !slices.Equal(got[host], scopes) {
			t.Errorf("%s: got %q, want %q", host, got[host], scopes)
		}
	}
}
