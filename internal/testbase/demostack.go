package testbase

import (
	"context"
	"testing"
)

// DemoStack is an olareg registry in this process holding the demo catalog and the
// Compose stack's images (demo.Stack), stopped when the test ends.
func DemoStack(t testing.TB) *Registry {
	t.Helper()
	reg := Start(t)
	ctx := context.Background()
	if err := reg.Seed(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if err := reg.SeedStack(ctx, 0); err != nil {
		t.Fatal(err)
	}
	return reg
}
