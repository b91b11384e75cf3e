package oci

import (
	"errors"
	"path"
)

// The per-user directories of a host, by its OS. They follow os.UserCacheDir and
// os.UserConfigDir rule for rule, with the OS and the environment passed in: tests
// check every OS's rule from any host, and a command reads its own environment
// (cmdenv), not the process's.

// userDirRule is where one OS keeps one kind of per-user directory.
type userDirRule struct {
	windowsVar string // %LocalAppData% or %AppData%: the directory itself
	darwinSub  string // under $HOME on macOS (and iOS)
	plan9Sub   string // under $home on Plan 9
	xdgVar     string // XDG_CACHE_HOME or XDG_CONFIG_HOME: the directory itself, elsewhere
	xdgSub     string // under $HOME when xdgVar is unset
}

var (
	cacheDirRule  = userDirRule{"LocalAppData", "/Library/Caches", "/lib/cache", "XDG_CACHE_HOME", "/.cache"}
	configDirRule = userDirRule{"AppData", "/Library/Application Support", "/lib", "XDG_CONFIG_HOME", "/.config"}
)

// UserCacheDir is the user's cache directory on a host of goos whose environment getenv
// reads: %LocalAppData% on Windows, $HOME/Library/Caches on macOS, else $XDG_CACHE_HOME
// (absolute) or $HOME/.cache.
func UserCacheDir(goos string, getenv func(string) string) (string, error) {
	return cacheDirRule.dir(goos, getenv)
}

// UserConfigDir is the user's config directory on a host of goos whose environment
// getenv reads: %AppData% on Windows, $HOME/Library/Application Support on macOS, else
// $XDG_CONFIG_HOME (absolute) or $HOME/.config.
func UserConfigDir(goos string, getenv func(string) string) (string, error) {
	return configDirRule.dir(goos, getenv)
}

func (r userDirRule) dir(goos string, getenv func(string) string) (string, error) {
	switch goos {
	case "windows":
		if dir := getenv(r.windowsVar); dir != "" {
			return dir, nil
		}
		return "", errors.New("%" + r.windowsVar + "% is not defined")
	case "darwin", "ios":
		if home := getenv("HOME"); home != "" {
			return home + r.darwinSub, nil
		}
		return "", errors.New("$HOME is not defined")
	case "plan9":
		if home := getenv("home"); home != "" {
			return home + r.plan9Sub, nil
		}
		return "", errors.New("$home is not defined")
	}
	// Unix. A relative XDG directory would move with the working directory.
	if dir := getenv(r.xdgVar); dir != "" {
		if !path.IsAbs(dir) {
			return "", errors.New("path in $" + r.xdgVar + " is relative")
		}
		return dir, nil
	}
	if home := getenv("HOME"); home != "" {
		return home + r.xdgSub, nil
	}
	return "", errors.New("neither $" + r.xdgVar + " nor $HOME are defined")
}
