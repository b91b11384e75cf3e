package registry

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/pycontainer/pycontainer/oci"
)

// printable escapes what a registry sent (an error body, a media type, a platform
// name) so that a terminal shows it as text: control characters, invisible format
// characters (bidi overrides, zero-width spaces) and bytes that are not UTF-8 become
// \n, \x1b, \u202e, \xff. It is ui.Sanitize's rule; registry cannot import ui (ui
// imports registry), and errors made here are printed by renderers outside ui too.
func printable(s string) string {
	if isPrintable(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == ' ' || unicode.IsPrint(r):
			b.WriteString(s[i : i+size])
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x100:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			fmt.Fprintf(&b, `\u%04x`, r)
		}
		i += size
	}
	return b.String()
}

func isPrintable(s string) bool {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || r != ' ' && !unicode.IsPrint(r) {
			return false
		}
		i += size
	}
	return true
}

// printableError is err with a message a terminal shows as text; errors.Is and
// errors.As still see err.
type printableError struct{ err error }

func (e printableError) Error() string { return printable(e.err.Error()) }
func (e printableError) Unwrap() error { return e.err }

// printableErr makes err's message printable, when it is not.
func printableErr(err error) error {
	if err == nil || isPrintable(err.Error()) {
		return err
	}
	return printableError{err}
}

// printablePlatform is p with every field printable: an index's platform names go into
// tables, diagnoses and error messages.
func printablePlatform(p oci.Platform) oci.Platform {
	p.OS, p.Architecture, p.Variant, p.OSVersion = printable(p.OS), printable(p.Architecture), printable(p.Variant), printable(p.OSVersion)
	if p.OSFeatures != nil {
		features := make([]string, len(p.OSFeatures))
		for i, f := range p.OSFeatures {
			features[i] = printable(f)
		}
		p.OSFeatures = features
	}
	return p
}
