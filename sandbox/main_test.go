package sandbox

import (
	"os"
	"testing"
)

// TestMain is where Run's re-executed child starts in this test binary, as in main().
func TestMain(m *testing.M) {
	if IsChild() {
		ChildMain()
	}
	os.Exit(m.Run())
}
