package registry

import (
	"github.com/pycontainer/pycontainer/internal/termtext"
	"github.com/pycontainer/pycontainer/oci"
)

// printable escapes what a registry sent (an error body, a media type, a platform
// name) so that a terminal shows it as text, by termtext's rule: errors made here are
// printed by renderers outside ui too.
func printable(s string) string { return termtext.Escape(s) }

// printableError is err with a message a terminal shows as text; errors.Is and
// errors.As still see err.
type printableError struct{ err error }

func (e printableError) Error() string { return printable(e.err.Error()) }
func (e printableError) Unwrap() error { return e.err }

// printableErr makes err's message printable, when it is not.
func printableErr(err error) error {
	if err == nil || termtext.Printable(err.Error()) {
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
