package testbase

import (
	"context"
	"testing"

	"github.com/pycontainer/pycontainer/internal/demo"
)

// DemoStack is the demo registry in this process holding the demo catalog and the
// Compose stack's images (demo.Stack), closed when the test ends.
func DemoStack(t testing.TB) *demo.Registry {
	t.Helper()
	reg, err := demo.Serve(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	ctx := context.Background()
	if err := reg.Seed(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if err := reg.SeedStack(ctx, 0); err != nil {
		t.Fatal(err)
	}
	return reg
}
