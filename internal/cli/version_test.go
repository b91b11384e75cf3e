package cli

import (
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestReadVersion(t *testing.T) {
	t.Parallel()
	installed := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.4.0"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.modified", Value: "true"}}}
	tests := []struct {
		name            string
		info            *debug.BuildInfo
		ok              bool
		version, commit string
		want            string // the line, less the platform at its end
	}{
		{"go install of a tag", installed, true, "", "", "pycontainer v1.4.0 (commit 0123456789ab+changes, go1.26.8, "},
		{"a release build", installed, true, "v1.5.0", "fedcba9876543210", "pycontainer v1.5.0 (commit fedcba987654, go1.26.8, "},
		{"a checkout without VCS stamps", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}}, true, "", "", "pycontainer (devel) (commit unknown, go1.26.8, "},
		{"no build information", nil, false, "", "", "pycontainer (devel) (commit unknown, go"},
	}
	for _, tt := range tests {
		got := readVersion(tt.info, tt.ok, tt.version, tt.commit).String()
		if !strings.HasPrefix(got, tt.want) || !strings.HasSuffix(got, "/"+runtime.GOARCH+")") {
			t.Errorf("%s: %q, want it to start %q", tt.name, got, tt.want)
		}
	}
}

// TestVersionFlag: --version and the version command print the same line.
func TestVersionFlag(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	_, flag, _ := w.Run(t, "--version")
	code, cmd, stderr := w.Run(t, "version")
	if code != 0 || flag != cmd || !strings.HasPrefix(flag, "pycontainer ") || strings.Count(flag, "\n") != 1 {
		t.Errorf("--version %q, version %q (exit %d, %s): want one same line", flag, cmd, code, stderr)
	}
}
