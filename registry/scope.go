package registry

import (
	"net/http"
	"regexp"
	"strings"

	"github.com/regclient/regclient/config"
	"github.com/regclient/regclient/types/ref"
)

// A registry with token auth (Docker Hub, ghcr.io) issues a token per set of scopes.
// regclient keeps one token per registry and asks for a new one each time a request
// needs a scope the token lacks: a push to a repository other than the base's pays a
// token exchange for pulling there (its blob HEADs), then another for pushing. Asked
// for pull and push on the target from the first exchange, a run needs one token.
// regclient has no option to name scopes up front; it takes them from the registry's
// 401 challenges, so the transport adds the push scopes to those challenges.

// pushScopes maps the host regclient sends requests to (registry-1.docker.io for
// docker.io) to the scopes a push to each of targets needs there.
func pushScopes(targets []ref.Ref) map[string][]string {
	out := map[string][]string{}
	for _, t := range targets {
		host := config.HostNewName(t.Registry).Hostname
		out[host] = append(out[host], "repository:"+t.Repository+":pull,push")
	}
	return out
}

var (
	bearerChallenge = regexp.MustCompile(`(?i)^\s*bearer\s`)
	challengeParam  = regexp.MustCompile(`(\w+)\s*=\s*"([^"]*)"`)
)

// widenChallenge adds to a 401's bearer challenge one challenge per scope, with the same
// realm and service: regclient then asks for a token that carries those scopes too.
func widenChallenge(h http.Header, scopes []string) {
	if len(scopes) == 0 {
		return
	}
	for _, c := range h.Values("WWW-Authenticate") {
		if !bearerChallenge.MatchString(c) {
			continue
		}
		params := map[string]string{}
		for _, m := range challengeParam.FindAllStringSubmatch(c, -1) {
			params[strings.ToLower(m[1])] = m[2]
		}
		if params["realm"] == "" {
			return
		}
		base := `Bearer realm="` + params["realm"] + `"`
		if s, ok := params["service"]; ok {
			base += `,service="` + s + `"`
		}
		for _, s := range scopes {
			h.Add("WWW-Authenticate", base+`,scope="`+s+`"`)
		}
		return
	}
}
