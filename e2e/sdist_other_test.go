//go:build !linux

package e2e

import "os/exec"

// asUser leaves cmd as it is: the unprivileged sdist compile is tested on Linux only
// (TestSdistCompiledForEveryPlatform skips elsewhere before it gets here).
func asUser(cmd *exec.Cmd, _, _ uint32) *exec.Cmd { return cmd }
