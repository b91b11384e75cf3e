// Command pycontainer builds OCI container images for Python apps, without Docker, for
// any Linux platform a base image offers. The commands live in internal/cli.
package main

import (
	"os"

	"github.com/pycontainer/pycontainer/internal/cli"
	"github.com/pycontainer/pycontainer/internal/cmdenv"
)

func main() {
	os.Exit(cli.Run(os.Args[1:], cmdenv.OS()))
}
