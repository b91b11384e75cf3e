package ui

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Sanitize makes text that came from outside pycontainer (file names, an image's
// config, an index's platforms, a registry's or pip's words) safe to print on a
// terminal. Every control character (C0, DEL, C1), invisible format character (bidi
// overrides, zero-width spaces, line separators) and byte that is not UTF-8 becomes a
// visible escape: \n, \r, \t, \x1b, \x9b, \u202e, \xff. Such text can neither move the
// cursor, erase or recolour the screen, set the window title, nor start a line of its
// own: it stays on the line it is printed on and says what it holds. Printable text is
// returned as it is (backslashes too), and Sanitize(Sanitize(s)) == Sanitize(s).
func Sanitize(s string) string {
	if printable(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case keep(r):
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

// SanitizeLines is Sanitize for text of several lines that pycontainer composed (an
// error's details): each line is sanitized and the line breaks are kept. Untrusted
// parts must not carry line breaks of their own into it.
func SanitizeLines(s string) string {
	if printable(strings.ReplaceAll(s, "\n", "")) {
		return s
	}
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = Sanitize(l)
	}
	return strings.Join(lines, "\n")
}

// keep reports whether r prints as itself (U+FFFD, a valid character, does).
func keep(r rune) bool { return r == ' ' || unicode.IsPrint(r) }

func printable(s string) bool {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || !keep(r) {
			return false
		}
		i += size
	}
	return true
}

// escapeJSON makes encoded JSON safe on a terminal: encoding/json escapes C0 controls,
// U+2028 and U+2029, but writes DEL, C1 controls and other invisible format characters
// as they are. They can only be inside strings, where \u escapes mean the same.
func escapeJSON(b []byte) []byte {
	if printableJSON(b) {
		return b
	}
	var out bytes.Buffer
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == '\n' || keep(r) || r == utf8.RuneError && size == 1 {
			out.Write(b[i : i+size]) // encoding/json never writes invalid UTF-8
		} else {
			fmt.Fprintf(&out, `\u%04x`, r)
		}
		i += size
	}
	return out.Bytes()
}

func printableJSON(b []byte) bool {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r != '\n' && !keep(r) && !(r == utf8.RuneError && size == 1) {
			return false
		}
		i += size
	}
	return true
}

// SanitizeJSON wraps w so that the JSON written through it shows on a terminal as text
// (see escapeJSON); the documents decode to the same values. Each Write must be whole
// documents, as json.Encoder writes them.
func SanitizeJSON(w io.Writer) io.Writer { return jsonWriter{w} }

type jsonWriter struct{ w io.Writer }

func (j jsonWriter) Write(b []byte) (int, error) {
	if _, err := j.w.Write(escapeJSON(b)); err != nil {
		return 0, err
	}
	return len(b), nil
}
