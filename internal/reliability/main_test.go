package reliability

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/pycontainer/pycontainer/internal/cli"
	"github.com/pycontainer/pycontainer/internal/clitest"
	"github.com/pycontainer/pycontainer/internal/testbase"
)

// report asks TestReliability to write its rows to RELIABILITY.md.
var report = flag.Bool("report", false, "write RELIABILITY.md at the repository root from this run")

// TestMain lets a row run this test binary as the pycontainer command itself
// (clitest.World.Command), so it can signal, bound and measure a real process.
func TestMain(m *testing.M) {
	clitest.AsMain(cli.Run)
	os.Exit(m.Run())
}

// moduleDir is the repository's root, where RELIABILITY.md lives: a test binary starts
// in its package's directory, two below it.
var moduleDir = func() string {
	wd, err := os.Getwd()
	if err != nil {
		panic(err)
	}
	return filepath.Join(wd, "..", "..")
}()

// newSeedWorld is the seed document's world (python:3.11-slim on a loopback Docker Hub,
// the demo app in the project directory).
func newSeedWorld(t *testing.T) *clitest.World { return clitest.NewSeed(t, cli.Run) }

// newSeedWorldWith is newSeedWorld with reg as Docker Hub, holding what the row pushed.
func newSeedWorldWith(t *testing.T, reg *testbase.Registry) *clitest.World {
	return clitest.NewSeedWith(t, reg, cli.Run)
}
