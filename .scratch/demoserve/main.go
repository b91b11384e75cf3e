package main

import (
	"context"
	"fmt"
	"time"

	"github.com/pycontainer/pycontainer/internal/demo"
)

func main() {
	reg, err := demo.Serve(nil)
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	if err := reg.Seed(ctx, 0); err != nil {
		panic(err)
	}
	if err := reg.SeedStack(ctx, 0); err != nil {
		panic(err)
	}
	fmt.Println(reg.Host)
	time.Sleep(3 * time.Hour)
}
