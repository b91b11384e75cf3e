//go:build !linux

package reliability

import "testing"

// The sections below need Linux: /proc, a tmpfs mounted to fill, FIFOs and devices in a
// project, another user's credentials, flock and umask for a process of its own. On
// other systems they skip, and -report, which needs every section, refuses to write.

func hostileContext(t *testing.T) []reliabilityRow    { return skipOffLinux(t) }
func fullDisk(t *testing.T) []reliabilityRow          { return skipOffLinux(t) }
func unreadableContext(t *testing.T) []reliabilityRow { return skipOffLinux(t) }
func hangRows(t *testing.T) []reliabilityRow          { return skipOffLinux(t) }
func layoutRows(t *testing.T) []reliabilityRow        { return skipOffLinux(t) }
func pathRows(t *testing.T) []reliabilityRow          { return skipOffLinux(t) }

func skipOffLinux(t *testing.T) []reliabilityRow {
	t.Helper()
	t.Skip("this section runs on Linux only")
	return nil
}
