// Package themes holds pycontainer's colour palettes and the style sheet built from one.
// A palette is picked from the terminal's background (dark or light) unless the user
// names one; NO_COLOR is honoured by the terminal renderer, which then drops colour.
package themes

import (
	"fmt"
	"image/color"
	"strings"

	"charm.land/lipgloss/v2"
)

// Palette is the set of colours one theme uses.
type Palette struct {
	Name     string
	Text     color.Color
	Muted    color.Color
	Accent   color.Color // titles, the cursor, progress bars
	Select   color.Color // selected rows
	Success  color.Color
	Warning  color.Color
	Error    color.Color
	Border   color.Color
	Badge    color.Color // background of labels such as DEMO
	BadgeFg  color.Color
	BarEmpty color.Color
	RowBg    color.Color // background of the row under the cursor
}

var (
	// Dark suits terminals with a dark background.
	Dark = Palette{
		Name: "dark", Text: lipgloss.Color("#E4E4E7"), Muted: lipgloss.Color("#8B8B94"),
		Accent: lipgloss.Color("#7DD3FC"), Select: lipgloss.Color("#FDE68A"), Success: lipgloss.Color("#86EFAC"),
		Warning: lipgloss.Color("#FCD34D"), Error: lipgloss.Color("#FCA5A5"), Border: lipgloss.Color("#3F3F46"),
		Badge: lipgloss.Color("#A78BFA"), BadgeFg: lipgloss.Color("#18181B"), BarEmpty: lipgloss.Color("#3F3F46"),
		RowBg: lipgloss.Color("#334155"),
	}
	// Light suits terminals with a light background.
	Light = Palette{
		Name: "light", Text: lipgloss.Color("#27272A"), Muted: lipgloss.Color("#6B6B74"),
		Accent: lipgloss.Color("#0369A1"), Select: lipgloss.Color("#92400E"), Success: lipgloss.Color("#15803D"),
		Warning: lipgloss.Color("#A16207"), Error: lipgloss.Color("#B91C1C"), Border: lipgloss.Color("#D4D4D8"),
		Badge: lipgloss.Color("#6D28D9"), BadgeFg: lipgloss.Color("#FFFFFF"), BarEmpty: lipgloss.Color("#D4D4D8"),
		RowBg: lipgloss.Color("#DBEAFE"),
	}
	// HighContrast uses the terminal's basic colours at full strength.
	HighContrast = Palette{
		Name: "high-contrast", Text: lipgloss.Color("15"), Muted: lipgloss.Color("7"),
		Accent: lipgloss.Color("14"), Select: lipgloss.Color("11"), Success: lipgloss.Color("10"),
		Warning: lipgloss.Color("11"), Error: lipgloss.Color("9"), Border: lipgloss.Color("15"),
		Badge: lipgloss.Color("13"), BadgeFg: lipgloss.Color("0"), BarEmpty: lipgloss.Color("8"),
		RowBg: lipgloss.Color("4"),
	}
)

// Names lists the themes a user can pick, plus "auto".
var Names = []string{"auto", Dark.Name, Light.Name, HighContrast.Name}

// ByName returns the named palette; "auto" (or "") picks by background.
func ByName(name string, darkBackground bool) (Palette, error) {
	switch strings.ToLower(name) {
	case "", "auto":
		if darkBackground {
			return Dark, nil
		}
		return Light, nil
	case Dark.Name:
		return Dark, nil
	case Light.Name:
		return Light, nil
	case HighContrast.Name, "contrast", "hc":
		return HighContrast, nil
	}
	return Palette{}, fmt.Errorf("unknown theme %q: choose one of %s", name, strings.Join(Names, ", "))
}

// Styles is the style sheet every screen draws with.
type Styles struct {
	Palette  Palette
	Title    lipgloss.Style
	Badge    lipgloss.Style
	Text     lipgloss.Style
	Muted    lipgloss.Style
	Accent   lipgloss.Style
	Selected lipgloss.Style
	Cursor   lipgloss.Style
	OK       lipgloss.Style
	Warn     lipgloss.Style
	Err      lipgloss.Style
	Header   lipgloss.Style
	Border   lipgloss.Style
	HelpKey  lipgloss.Style
	HelpDesc lipgloss.Style
	BarFull  lipgloss.Style
	BarEmpty lipgloss.Style
	// CursorRow is the whole row under the cursor.
	CursorRow lipgloss.Style
}

// NewStyles builds the style sheet of a palette.
func NewStyles(p Palette) *Styles {
	s := lipgloss.NewStyle
	return &Styles{
		Palette:   p,
		Title:     s().Foreground(p.Accent).Bold(true),
		Badge:     s().Foreground(p.BadgeFg).Background(p.Badge).Bold(true).Padding(0, 1),
		Text:      s().Foreground(p.Text),
		Muted:     s().Foreground(p.Muted),
		Accent:    s().Foreground(p.Accent),
		Selected:  s().Foreground(p.Select).Bold(true),
		Cursor:    s().Foreground(p.Accent).Bold(true),
		OK:        s().Foreground(p.Success),
		Warn:      s().Foreground(p.Warning),
		Err:       s().Foreground(p.Error).Bold(true),
		Header:    s().Foreground(p.Muted).Bold(true),
		Border:    s().Foreground(p.Border),
		HelpKey:   s().Foreground(p.Accent),
		HelpDesc:  s().Foreground(p.Muted),
		BarFull:   s().Foreground(p.Accent),
		BarEmpty:  s().Foreground(p.BarEmpty),
		CursorRow: s().Foreground(p.Text).Background(p.RowBg).Bold(true),
	}
}
