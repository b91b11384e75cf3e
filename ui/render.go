package ui

import (
	"fmt"
	"regexp"
	"strings"

	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/pycontainer/pycontainer/oci"
	"github.com/pycontainer/pycontainer/themes"
)

// truncate cuts s to width cells, keeping ANSI styles intact.
func truncate(s string, width int) string {
	if width <= 0 || lipgloss.Width(s) <= width {
		return s
	}
	return ansiTruncate(s, width)
}

func ansiTruncate(s string, width int) string { return ansi.Truncate(s, width, "…") }

// wrap breaks s into lines of at most width cells: at spaces, else at the separators of
// PATH-like values and lists, else anywhere.
func wrap(s string, width int) []string {
	return strings.Split(ansi.Wrap(s, max(width, 20), " :,"), "\n")
}

// cursorRow is the row under the cursor: one highlight across the full width (the
// row's own colours give way to it, as in lazygit and k9s).
func cursorRow(s *themes.Styles, line string, width int) string {
	plain := truncate(ansi.Strip(line), width)
	if pad := width - lipgloss.Width(plain); pad > 0 {
		plain += strings.Repeat(" ", pad)
	}
	return s.CursorRow.Render(plain)
}

// longDigest is a digest in full, as errors spell it.
var longDigest = regexp.MustCompile(`sha256:[0-9a-f]{64}`)

// shortDigests abbreviates the digests in an error for the screen (plain output and
// --verbose keep them whole); the "…" says there is more of it.
func shortDigests(s string) string {
	return longDigest.ReplaceAllStringFunc(s, func(d string) string { return oci.ShortDigest(d) + "…" })
}

type column struct {
	title string
	width int
}

// renderCells lays cells out in fixed-width columns, cutting what does not fit.
func renderCells(cols []column, cell func(i int, c column) string) string {
	var b strings.Builder
	for i, c := range cols {
		v := ansiTruncate(cell(i, c), c.width)
		b.WriteString(v)
		if i < len(cols)-1 {
			b.WriteString(strings.Repeat(" ", max(c.width-lipgloss.Width(v), 0)+1))
		}
	}
	return strings.TrimRight(b.String(), " ")
}

// SizeOrDash formats a size, or a dash when it is unknown.
func SizeOrDash(n int64) string {
	if n <= 0 {
		return "–"
	}
	return HumanBytes(n)
}

// CountOrDash formats a count, or a dash when it is unknown.
func CountOrDash(n int) string {
	if n <= 0 {
		return "–"
	}
	return fmt.Sprint(n)
}

func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}
