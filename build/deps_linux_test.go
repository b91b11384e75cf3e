//go:build linux

package build

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pycontainer/pycontainer/oci"
)

// Linux only: whether a process is gone is read from /proc. Elsewhere alive would find
// every process gone, and the test would pass whatever happened.

// TestPipDiesWithTheBuild: cancelling the build (SIGINT, SIGTERM, SIGHUP) kills pip
// and what it started, and returns at once, though a child holds pip's stderr.
func TestPipDiesWithTheBuild(t *testing.T) {
	out := fakePip(t, `sleep 300 & echo $! > $out/child; echo $$ > $out/pip; wait`)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	tmp := t.TempDir()
	go func() {
		p, _ := oci.ParsePlatform("linux/amd64")
		_, _, err := downloadWheels(ctx, &Options{}, "requirements.txt", p, "3.11", "3.11-slim", filepath.Join(tmp, "wheels"))
		done <- err
	}()
	pids := waitForPids(t, filepath.Join(out, "pip"), filepath.Join(out, "child"))
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("error %v, want the cancellation", err)
		}
	case <-time.After(pipWaitDelay + 3*time.Second):
		t.Fatal("downloadWheels did not return after the build was cancelled")
	}
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("process %d outlived the build", pid)
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(tmp, "*")); len(left) != 0 {
		t.Errorf("pip's temporary directory is left: %v", left)
	}
}

// waitForPids reads the pids written into files.
func waitForPids(t *testing.T, files ...string) []int {
	t.Helper()
	var pids []int
	deadline := time.Now().Add(10 * time.Second)
	for _, f := range files {
		for {
			b, err := os.ReadFile(f)
			if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && perr == nil {
				pids = append(pids, pid)
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s was never written", f)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return pids
}

// alive reports whether pid runs (a zombie, dead but not yet reaped, does not).
func alive(pid int) bool {
	for range 50 {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return false
		}
		if _, rest, ok := strings.Cut(string(stat), ") "); ok && strings.HasPrefix(rest, "Z") {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}
