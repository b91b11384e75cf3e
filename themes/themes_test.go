package themes

import "testing"

func TestByName(t *testing.T) {
	tests := []struct {
		name string
		dark bool
		want string
		err  bool
	}{
		{"auto", true, "dark", false},
		{"", false, "light", false},
		{"light", true, "light", false},
		{"high-contrast", false, "high-contrast", false},
		{"HC", true, "high-contrast", false},
		{"neon", true, "", true},
	}
	for _, tt := range tests {
		p, err := ByName(tt.name, tt.dark)
		if (err != nil) != tt.err || (!tt.err && p.Name != tt.want) {
			t.Errorf("ByName(%q, %v) = %q, %v", tt.name, tt.dark, p.Name, err)
		}
	}
}

func TestEveryPaletteIsComplete(t *testing.T) {
	for _, p := range []Palette{Dark, Light, HighContrast} {
		for name, c := range map[string]any{"Text": p.Text, "Muted": p.Muted, "Accent": p.Accent, "Select": p.Select,
			"Success": p.Success, "Warning": p.Warning, "Error": p.Error, "Border": p.Border, "Badge": p.Badge, "BadgeFg": p.BadgeFg, "BarEmpty": p.BarEmpty} {
			if c == nil {
				t.Errorf("%s palette has no %s colour", p.Name, name)
			}
		}
		if NewStyles(p).Title.Render("x") == "" {
			t.Errorf("%s: styles render nothing", p.Name)
		}
	}
}
