package cli

import (
	"context"
	"io"
	"path/filepath"
	"testing"

	tea "charm.land/bubbletea/v2"

	"github.com/pycontainer/pycontainer/build"
	"github.com/pycontainer/pycontainer/internal/clitest"
	"github.com/pycontainer/pycontainer/internal/testbase"
	"github.com/pycontainer/pycontainer/oci"
	"github.com/pycontainer/pycontainer/ui"
)

// BenchmarkBuildLargeLayer builds one platform whose base has a 200 MB layer, from a
// registry on loopback into a fresh layout, once with plain progress lines and once
// with the terminal app drawing every progress update (to a discarded output). The
// ratio of the two is the cost of the TUI:
//
//	go test -run '^$' -bench BuildLargeLayer -benchtime 5x ./internal/cli
func BenchmarkBuildLargeLayer(b *testing.B) {
	reg := testbase.Start(b)
	reg.Push(b, testbase.Spec{Repo: "library/python", Tag: "big", Platforms: testbase.PythonPlatforms[:1], PaddingBytes: 200 << 20})
	w := clitest.New(b, Run) // the demo app, with a cache and config of its own
	clitest.CopyDemoApp(b, w.Dir)
	base := reg.Host + "/library/python:big"
	opts := func(b *testing.B, out string) *build.Options {
		o, err := build.Resolve(build.Inputs{Flags: build.Settings{BaseImage: &base, Output: &out}, Process: w.Env()})
		if err != nil {
			b.Fatal(err)
		}
		o.NoCache = true // every iteration downloads the layer
		return o
	}

	b.Run("plain", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			o := opts(b, filepath.Join(b.TempDir(), "image"))
			if err := build.Run(context.Background(), o, ui.NewPlain(io.Discard, io.Discard, true).Emit); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("tui", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			o := opts(b, filepath.Join(b.TempDir(), "image"))
			// As `pycontainer build --platform …` in a terminal: the index, then the build.
			app := ui.New(ui.Config{Services: appServices(o, w.Env()), BaseImage: o.BaseImage, Requested: o.Platforms, AutoFetch: true,
				BuildAtOnce: true, Host: oci.DetectHost(), Theme: "dark", Output: o.Output})
			p := tea.NewProgram(quitWhenBuilt{app}, tea.WithInput(nil), tea.WithOutput(io.Discard), tea.WithWindowSize(120, 40), tea.WithoutSignals())
			if _, err := p.Run(); err != nil {
				b.Fatal(err)
			}
			if err := app.Result(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// quitWhenBuilt ends the program when the app's build is over.
type quitWhenBuilt struct{ *ui.App }

func (q quitWhenBuilt) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	_, cmd := q.App.Update(msg)
	if q.Built() {
		return q, tea.Quit
	}
	return q, cmd
}
