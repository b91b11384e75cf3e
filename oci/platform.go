// Package oci is pycontainer's OCI data model: platforms, the image layout on disk, and
// summaries of what a layout holds. It never talks to a registry and never draws a UI.
package oci

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/regclient/regclient/types/platform"
)

// Platform is an OCI platform (os, architecture, variant, ...), shared with regclient's
// data model so descriptors read from registries and layouts need no conversion.
type Platform = platform.Platform

// PlatformError is returned for a platform string that cannot be used.
type PlatformError struct {
	Value   string // what the user gave
	Problem string // what is wrong with it
	Hint    string // the correct form, when one can be guessed
}

func (e *PlatformError) Error() string {
	msg := fmt.Sprintf("Platform format invalid: %q: %s", e.Value, e.Problem)
	if e.Hint != "" {
		msg += "; " + e.Hint
	}
	return msg
}

// archAliases maps every spelling we accept to the normalised architecture and, for
// spellings that imply one, the variant.
var archAliases = map[string]struct{ arch, variant string }{
	"amd64":    {"amd64", ""},
	"x86_64":   {"amd64", ""},
	"x86-64":   {"amd64", ""},
	"x64":      {"amd64", ""},
	"arm64":    {"arm64", ""},
	"aarch64":  {"arm64", ""},
	"arm":      {"arm", ""},
	"armhf":    {"arm", "v7"},
	"armv7":    {"arm", "v7"},
	"armv7l":   {"arm", "v7"},
	"armel":    {"arm", "v6"},
	"armv6":    {"arm", "v6"},
	"armv6l":   {"arm", "v6"},
	"armv5":    {"arm", "v5"},
	"386":      {"386", ""},
	"i386":     {"386", ""},
	"i686":     {"386", ""},
	"ppc64le":  {"ppc64le", ""},
	"ppc64":    {"ppc64", ""},
	"s390x":    {"s390x", ""},
	"riscv64":  {"riscv64", ""},
	"mips":     {"mips", ""},
	"mipsle":   {"mipsle", ""},
	"mips64":   {"mips64", ""},
	"mips64le": {"mips64le", ""},
	"loong64":  {"loong64", ""},
	"wasm":     {"wasm", ""},
}

var knownOS = map[string]bool{
	"linux": true, "windows": true, "darwin": true, "freebsd": true, "netbsd": true,
	"openbsd": true, "solaris": true, "illumos": true, "aix": true, "wasip1": true, "js": true,
}

// validVariants lists the variants each architecture may carry after normalisation.
var validVariants = map[string][]string{
	"arm":   {"v5", "v6", "v7", "v8"},
	"arm64": {"v8", "v8.1", "v8.2", "v8.3", "v8.4", "v8.5", "v8.6", "v8.7", "v8.8", "v8.9", "v9", "v9.1", "v9.2", "v9.3", "v9.4", "v9.5"},
	"amd64": {"v1", "v2", "v3", "v4"},
}

const platformForm = `use os/arch[/variant], e.g. "linux/amd64", "linux/arm64" or "linux/arm/v7"`

// ParsePlatform parses an os/arch[/variant] string and normalises it: aarch64 and arm64/v8
// become arm64, x86_64 becomes amd64, armhf and a bare arm become arm/v7.
func ParsePlatform(s string) (Platform, error) {
	raw := s
	s = strings.ToLower(strings.TrimSpace(s))
	parts := strings.Split(s, "/")
	if s == "" {
		return Platform{}, &PlatformError{Value: raw, Problem: "empty", Hint: platformForm}
	}
	if len(parts) < 2 || len(parts) > 3 {
		return Platform{}, &PlatformError{Value: raw, Problem: "expected os/arch[/variant]", Hint: guessForm(s)}
	}
	for _, p := range parts {
		if p == "" {
			return Platform{}, &PlatformError{Value: raw, Problem: "empty component", Hint: platformForm}
		}
	}
	p := Platform{OS: parts[0], Architecture: parts[1]}
	if len(parts) == 3 {
		p.Variant = parts[2]
	}
	if !knownOS[p.OS] {
		if _, isArch := archAliases[p.OS]; isArch {
			return Platform{}, &PlatformError{Value: raw, Problem: "the os comes first", Hint: fmt.Sprintf("did you mean %q?", "linux/"+s)}
		}
		return Platform{}, &PlatformError{Value: raw, Problem: fmt.Sprintf("unknown os %q", p.OS), Hint: platformForm}
	}
	alias, ok := archAliases[p.Architecture]
	if !ok {
		return Platform{}, &PlatformError{Value: raw, Problem: fmt.Sprintf("unknown architecture %q (known: %s)", p.Architecture, knownArchList())}
	}
	if alias.variant != "" && p.Variant != "" && p.Variant != alias.variant {
		return Platform{}, &PlatformError{Value: raw, Problem: fmt.Sprintf("%q already means %s/%s", p.Architecture, alias.arch, alias.variant)}
	}
	p.Architecture = alias.arch
	if p.Variant == "" {
		p.Variant = alias.variant
	}
	if p.Variant != "" && !strings.HasPrefix(p.Variant, "v") {
		p.Variant = "v" + p.Variant // "arm/7" is a common shorthand for arm/v7
	}
	if p.Variant != "" && !slices.Contains(validVariants[p.Architecture], p.Variant) {
		return Platform{}, &PlatformError{Value: raw, Problem: fmt.Sprintf("unknown variant %q for %s", p.Variant, p.Architecture), Hint: platformForm}
	}
	return NormalizePlatform(p), nil
}

// NormalizePlatform returns p in the canonical form used for matching and for the
// platforms pycontainer writes: arm64/v8 -> arm64, arm -> arm/v7, amd64/v1 -> amd64.
// OS version and features are kept.
func NormalizePlatform(p Platform) Platform {
	p.OS = strings.ToLower(p.OS)
	p.Architecture = strings.ToLower(p.Architecture)
	p.Variant = strings.ToLower(p.Variant)
	if a, ok := archAliases[p.Architecture]; ok {
		p.Architecture = a.arch
		if p.Variant == "" {
			p.Variant = a.variant
		}
	}
	switch {
	case p.Architecture == "arm64" && p.Variant == "v8":
		p.Variant = ""
	case p.Architecture == "arm" && p.Variant == "":
		p.Variant = "v7"
	case p.Architecture == "amd64" && p.Variant == "v1":
		p.Variant = ""
	}
	return p
}

// PlatformString formats p as os/arch[/variant].
func PlatformString(p Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// SamePlatform reports whether a and b name the same platform after normalisation.
// Unlike a compatibility check it never lets arm/v7 stand in for arm/v6.
func SamePlatform(a, b Platform) bool {
	a, b = NormalizePlatform(a), NormalizePlatform(b)
	return a.OS == b.OS && a.Architecture == b.Architecture && a.Variant == b.Variant
}

// IsAttestation reports whether an index entry's platform marks it as an attestation
// manifest (BuildKit's provenance and SBOM entries use unknown/unknown).
func IsAttestation(p *Platform) bool {
	return p != nil && p.OS == "unknown" && p.Architecture == "unknown"
}

func guessForm(s string) string {
	if a, ok := archAliases[s]; ok {
		return fmt.Sprintf("did you mean %q? (%s)", PlatformString(NormalizePlatform(Platform{OS: "linux", Architecture: a.arch, Variant: a.variant})), platformForm)
	}
	for _, sep := range []string{"-", "_", ":", " "} {
		if i := strings.Index(s, sep); i > 0 {
			if knownOS[s[:i]] {
				return fmt.Sprintf("did you mean %q? (%s)", s[:i]+"/"+strings.ReplaceAll(s[i+1:], sep, "/"), platformForm)
			}
		}
	}
	return platformForm
}

func knownArchList() string {
	seen := map[string]bool{}
	for _, a := range archAliases {
		seen[a.arch] = true
	}
	return strings.Join(slices.Sorted(maps.Keys(seen)), ", ")
}
