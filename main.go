// Command pycontainer builds OCI container images for Python apps, without Docker, for
// any Linux platform a base image offers. The commands live in internal/cli.
package main

import (
	"os"

	"github.com/pycontainer/pycontainer/internal/cli"
	"github.com/pycontainer/pycontainer/internal/cmdenv"
	"github.com/pycontainer/pycontainer/sandbox"
)

func main() {
	if sandbox.IsChild() { // sandbox.Run re-executes this binary to set up its namespaces
		sandbox.ChildMain()
	}
	os.Exit(cli.Run(os.Args[1:], cmdenv.OS()))
}
