// Package termtext holds the one rule by which text from outside pycontainer (file
// names, an image's config, an index's platforms, a registry's or pip's words) is made
// safe to print on a terminal. The registry escapes what it quotes in errors and the
// renderers escape what they print, both by it.
package termtext

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Escape makes s safe to print: every control character (C0, DEL, C1), invisible
// format character (bidi overrides, zero-width spaces, line separators) and byte that
// is not UTF-8 becomes a visible escape: \n, \r, \t, \x1b, \x9b, \u202e, \xff. Such
// text can neither move the cursor, erase or recolour the screen, set the window title,
// nor start a line of its own. Printable text is returned as it is (backslashes too),
// and Escape(Escape(s)) == Escape(s).
func Escape(s string) string {
	if Printable(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case Keep(r):
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

// Keep reports whether r prints as itself (U+FFFD, a valid character, does).
func Keep(r rune) bool { return r == ' ' || unicode.IsPrint(r) }

// Printable reports whether s prints as itself: valid UTF-8 of characters Keep keeps.
func Printable(s string) bool {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || !Keep(r) {
			return false
		}
		i += size
	}
	return true
}
