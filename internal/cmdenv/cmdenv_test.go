package cmdenv

import (
	"path/filepath"
	"testing"
	"time"
)

func TestGetenv(t *testing.T) {
	e := Env{Environ: []string{"A=1", "B=x=y", "A=2", "EMPTY="}}
	for _, tt := range []struct{ key, want string }{{"A", "2"}, {"B", "x=y"}, {"EMPTY", ""}, {"MISSING", ""}} {
		if got := e.Getenv(tt.key); got != tt.want {
			t.Errorf("Getenv(%q) = %q, want %q", tt.key, got, tt.want)
		}
	}
	if got := e.With("A=3").Getenv("A"); got != "3" {
		t.Errorf("With(A=3).Getenv(A) = %q", got)
	}
	if e.Getenv("A") != "2" {
		t.Error("With changed the Env it was called on")
	}
}

func TestZeroEnvIsTheProcess(t *testing.T) {
	t.Setenv("CMDENV_TEST", "here")
	var e Env
	if got := e.Getenv("CMDENV_TEST"); got != "here" {
		t.Errorf("zero Env's Getenv = %q, want the process's %q", got, "here")
	}
	if got := (Env{Environ: []string{}}).Getenv("CMDENV_TEST"); got != "" {
		t.Errorf("an empty environment reads %q", got)
	}
	if got := e.With("X=1").Getenv("CMDENV_TEST"); got != "here" {
		t.Errorf("With on the zero Env dropped the process's variables: %q", got)
	}
	if d := time.Since(e.Clock()); d < 0 || d > time.Minute {
		t.Errorf("zero Env's clock is %v off", d)
	}
}

func TestPath(t *testing.T) {
	abs := filepath.Join(string(filepath.Separator), "abs", "x")
	for _, tt := range []struct{ dir, p, want string }{
		{"/work", "dist/image", "/work/dist/image"},
		{"/work/", "dist/image", "/work/dist/image"},
		{"/work", "link/../x", "/work/link/../x"}, // the system resolves link before ..
		{"/work", abs, abs},
		{"", "dist/image", "dist/image"},
		{"/work", "", ""},
		{"/work", "../up", "/work/../up"},
	} {
		if got := (Env{Dir: tt.dir}).Path(tt.p); got != tt.want {
			t.Errorf("Env{Dir:%q}.Path(%q) = %q, want %q", tt.dir, tt.p, got, tt.want)
		}
	}
}

func TestRel(t *testing.T) {
	for _, tt := range []struct{ dir, p, want string }{
		{"/work", "/work/dist/image", filepath.Join("dist", "image")},
		{"/work", "/work", "."},
		{"/work", "/elsewhere/out", "/elsewhere/out"},
		{"/work", "/workshop/out", "/workshop/out"},
		{"/work", "dist/image", "dist/image"},
		{"", "/work/dist/image", "/work/dist/image"},
	} {
		if got := (Env{Dir: tt.dir}).Rel(tt.p); got != tt.want {
			t.Errorf("Env{Dir:%q}.Rel(%q) = %q, want %q", tt.dir, tt.p, got, tt.want)
		}
	}
}
