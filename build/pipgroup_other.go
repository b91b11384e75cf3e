//go:build !unix

package build

import "os/exec"

// killWithChildren leaves cmd as it is: without process groups, cancelling kills pip
// itself (exec.CommandContext's default), and WaitDelay bounds what its children hold.
func killWithChildren(*exec.Cmd) {}
