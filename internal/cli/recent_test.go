package cli

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/pycontainer/pycontainer/internal/cmdenv"
)

// TestRecentPathOn: the recent images live under XDG_CONFIG_HOME on every OS when it is
// set, else in the OS's config directory of the command's environment; with neither,
// the error says what is missing.
func TestRecentPathOn(t *testing.T) {
	tests := []struct {
		goos string
		env  map[string]string
		want string // a directory, or the error's end
	}{
		{"linux", map[string]string{"XDG_CONFIG_HOME": "/xdg", "HOME": "/home/me"}, "/xdg"},
		{"darwin", map[string]string{"XDG_CONFIG_HOME": "/xdg", "HOME": "/Users/me"}, "/xdg"},
		{"windows", map[string]string{"XDG_CONFIG_HOME": `C:\xdg`, "AppData": `C:\Users\me\AppData\Roaming`}, `C:\xdg`},
		{"linux", map[string]string{"HOME": "/home/me"}, "/home/me/.config"},
		{"darwin", map[string]string{"HOME": "/Users/me"}, "/Users/me/Library/Application Support"},
		{"windows", map[string]string{"HOME": `C:\Users\me`, "AppData": `C:\Users\me\AppData\Roaming`}, `C:\Users\me\AppData\Roaming`},
		{"linux", nil, "neither $XDG_CONFIG_HOME nor $HOME are defined"},
		{"darwin", nil, "$HOME is not defined"},
		{"windows", map[string]string{"HOME": `C:\Users\me`}, "%AppData% is not defined"},
	}
	for _, tt := range tests {
		got, err := recentPathOn(tt.goos, func(k string) string { return tt.env[k] })
		if err != nil {
			if !strings.HasPrefix(err.Error(), "find a config directory for the recent images: ") || !strings.HasSuffix(err.Error(), tt.want) {
				t.Errorf("%s %v: %v, want it to end in %q", tt.goos, tt.env, err, tt.want)
			}
			continue
		}
		if want := filepath.Join(tt.want, "pycontainer", "recent-images"); got != want {
			t.Errorf("%s %v: %q, want %q", tt.goos, tt.env, got, want)
		}
	}
}

// TestRecentPathReadsTheCommandsEnvironment: recentPath reads the command's environment,
// not the process's, on the OS running the test.
func TestRecentPathReadsTheCommandsEnvironment(t *testing.T) {
	home := t.TempDir()
	env := cmdenv.Env{Environ: []string{"HOME=" + home, "XDG_CONFIG_HOME=", "AppData=" + home}}
	got, err := recentPath(env)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got, home) {
		t.Errorf("recent images at %s, want them under the command's HOME (or AppData) %s", got, home)
	}
}
