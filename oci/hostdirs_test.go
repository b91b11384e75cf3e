package oci

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// envOf is a getenv over vars alone.
func envOf(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// TestUserDirs: each OS's rule for the cache and config directories, as the Go standard
// library has them, read from the environment given, whatever OS runs the test.
func TestUserDirs(t *testing.T) {
	all := map[string]string{
		"HOME": "/home/me", "XDG_CACHE_HOME": "/xdg/cache", "XDG_CONFIG_HOME": "/xdg/config",
		"LocalAppData": `C:\Users\me\AppData\Local`, "AppData": `C:\Users\me\AppData\Roaming`,
	}
	home := map[string]string{"HOME": "/Users/me"}
	tests := []struct {
		name, goos    string
		env           map[string]string
		cache, config string // a want that is not a path is the error
	}{
		{"linux, XDG set", "linux", all, "/xdg/cache", "/xdg/config"},
		{"linux, HOME only", "linux", home, "/Users/me/.cache", "/Users/me/.config"},
		{"linux, relative XDG", "linux", map[string]string{"HOME": "/h", "XDG_CACHE_HOME": "c", "XDG_CONFIG_HOME": "c"},
			"path in $XDG_CACHE_HOME is relative", "path in $XDG_CONFIG_HOME is relative"},
		{"linux, nothing", "linux", nil, "neither $XDG_CACHE_HOME nor $HOME are defined", "neither $XDG_CONFIG_HOME nor $HOME are defined"},
		{"freebsd follows XDG", "freebsd", home, "/Users/me/.cache", "/Users/me/.config"},
		{"macOS ignores XDG", "darwin", all, "/home/me/Library/Caches", "/home/me/Library/Application Support"},
		{"macOS", "darwin", home, "/Users/me/Library/Caches", "/Users/me/Library/Application Support"},
		{"macOS without HOME", "darwin", map[string]string{"XDG_CACHE_HOME": "/xdg"}, "$HOME is not defined", "$HOME is not defined"},
		{"iOS", "ios", home, "/Users/me/Library/Caches", "/Users/me/Library/Application Support"},
		{"Windows", "windows", all, `C:\Users\me\AppData\Local`, `C:\Users\me\AppData\Roaming`},
		{"Windows ignores HOME and XDG", "windows", map[string]string{"HOME": "/h", "XDG_CACHE_HOME": "/x", "XDG_CONFIG_HOME": "/x"},
			"%LocalAppData% is not defined", "%AppData% is not defined"},
		{"Plan 9", "plan9", map[string]string{"home": "/usr/me"}, "/usr/me/lib/cache", "/usr/me/lib"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, c := range []struct {
				kind string
				dir  func(string, func(string) string) (string, error)
				want string
			}{{"cache", UserCacheDir, tt.cache}, {"config", UserConfigDir, tt.config}} {
				got, err := c.dir(tt.goos, envOf(tt.env))
				if err != nil {
					got = err.Error()
				}
				if got != c.want {
					t.Errorf("%s dir on %s: %q, want %q", c.kind, tt.goos, got, c.want)
				}
			}
		})
	}
}

// TestDefaultStoreDir: PYCONTAINER_CACHE on every OS, else pycontainer/ in the OS's cache
// directory; without one the error says to set PYCONTAINER_CACHE.
func TestDefaultStoreDir(t *testing.T) {
	tests := []struct {
		goos string
		env  map[string]string
		want string
	}{
		{"linux", map[string]string{"PYCONTAINER_CACHE": "/ci/cache", "HOME": "/home/me"}, "/ci/cache"},
		{"darwin", map[string]string{"PYCONTAINER_CACHE": "/ci/cache", "HOME": "/Users/me"}, "/ci/cache"},
		{"windows", map[string]string{"PYCONTAINER_CACHE": `D:\cache`}, `D:\cache`},
		{"linux", map[string]string{"HOME": "/home/me"}, filepath.Join("/home/me/.cache", "pycontainer")},
		{"linux", map[string]string{"HOME": "/home/me", "XDG_CACHE_HOME": "/xdg"}, filepath.Join("/xdg", "pycontainer")},
		{"darwin", map[string]string{"HOME": "/Users/me", "XDG_CACHE_HOME": "/xdg"}, filepath.Join("/Users/me/Library/Caches", "pycontainer")},
		{"windows", map[string]string{"LocalAppData": `C:\Users\me\AppData\Local`}, filepath.Join(`C:\Users\me\AppData\Local`, "pycontainer")},
	}
	for _, tt := range tests {
		got, err := defaultStoreDir(tt.goos, envOf(tt.env))
		if err != nil || got != tt.want {
			t.Errorf("%s %v: %q (%v), want %q", tt.goos, tt.env, got, err, tt.want)
		}
	}
	for _, goos := range []string{"linux", "darwin", "windows"} {
		_, err := defaultStoreDir(goos, envOf(nil))
		if err == nil || !strings.Contains(err.Error(), "find a cache directory (set PYCONTAINER_CACHE): ") {
			t.Errorf("%s with an empty environment: %v, want it to say to set PYCONTAINER_CACHE", goos, err)
		}
	}
	// On the OS running the test: from getenv, not the process's environment.
	home := t.TempDir()
	got, err := DefaultStoreDir(envOf(map[string]string{"HOME": home, "LocalAppData": home}))
	if err != nil || !strings.HasPrefix(got, home) {
		t.Errorf("DefaultStoreDir = %q (%v), want it under %s", got, err, home)
	}
}

// TestUserDirsMatchTheStandardLibrary: on the OS running the test, with the variables
// each rule reads set or empty, the answers are os.UserCacheDir's and os.UserConfigDir's
// (Plan 9's $home left out: Windows reads it as $HOME).
func TestUserDirsMatchTheStandardLibrary(t *testing.T) {
	vars := []string{"HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "LocalAppData", "AppData"}
	for _, env := range []map[string]string{
		{"HOME": "/home/me", "LocalAppData": `C:\L`, "AppData": `C:\R`},
		{"HOME": "/home/me", "XDG_CACHE_HOME": "/xdg/cache", "XDG_CONFIG_HOME": "/xdg/config"},
		{"HOME": "/home/me", "XDG_CACHE_HOME": "rel", "XDG_CONFIG_HOME": "rel"},
		{},
	} {
		for _, k := range vars {
			t.Setenv(k, env[k])
		}
		for _, c := range []struct {
			kind      string
			ours, std func() (string, error)
		}{
			{"cache", func() (string, error) { return UserCacheDir(runtime.GOOS, os.Getenv) }, os.UserCacheDir},
			{"config", func() (string, error) { return UserConfigDir(runtime.GOOS, os.Getenv) }, os.UserConfigDir},
		} {
			got, err := c.ours()
			want, wantErr := c.std()
			if got != want || fmt.Sprint(err) != fmt.Sprint(wantErr) { // the same words too
				t.Errorf("%s dir with %v: %q (%v), os says %q (%v)", c.kind, env, got, err, want, wantErr)
			}
		}
	}
}
