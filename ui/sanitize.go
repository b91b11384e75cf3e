package ui

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/pycontainer/pycontainer/internal/termtext"
)

// Sanitize makes text that came from outside pycontainer (file names, an image's
// config, an index's platforms, a registry's or pip's words) safe to print on a
// terminal, by termtext's rule: it stays on the line it is printed on and says what it
// holds.
func Sanitize(s string) string { return termtext.Escape(s) }

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

func keep(r rune) bool { return termtext.Keep(r) }

func printable(s string) bool { return termtext.Printable(s) }

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
