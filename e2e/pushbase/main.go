// Command pushbase pushes real Python base images, built from Debian's packages by
// e2e/make-python-rootfs.sh, to a registry as one multi-platform index, the way Docker
// Hub's python images look (arm64 as arm64/v8, attestations beside the images). With
// -demo it pushes the generated demo catalog instead. For trying pycontainer against the
// Distribution registry on loopback:
//
//	docker-registry serve config.yml &
//	go run ./e2e/pushbase -registry 127.0.0.1:5000 -rootfs /var/cache/pycontainer-e2e/rootfs
//	pycontainer build --registry-mirror docker.io=127.0.0.1:5000 --platform linux/arm64
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/pycontainer/pycontainer/internal/demo"
)

func main() {
	host := flag.String("registry", "127.0.0.1:5000", "registry host:port (plain HTTP)")
	rootfs := flag.String("rootfs", "/var/cache/pycontainer-e2e/rootfs", "directory with amd64/, arm64/ and armhf/ root filesystems")
	repo := flag.String("repo", "library/python", "repository")
	tag := flag.String("tag", "3.11-slim", "tag")
	demoCatalog := flag.Bool("demo", false, "push the generated demo catalog instead")
	padding := flag.Int("padding", 0, "with -demo: bytes added to each platform layer")
	flag.Parse()
	if err := run(*host, *rootfs, *repo, *tag, *demoCatalog, *padding); err != nil {
		fmt.Fprintln(os.Stderr, "pushbase:", err)
		os.Exit(1)
	}
}

func run(host, rootfs, repo, tag string, demoCatalog bool, padding int) error {
	ctx := context.Background()
	reg := demo.Connect(host)
	if demoCatalog {
		return reg.Seed(ctx, padding)
	}
	arches := []struct {
		dir      string
		platform demo.Platform
	}{
		{"amd64", demo.Platform{OS: "linux", Architecture: "amd64"}},
		{"arm64", demo.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}},
		{"armhf", demo.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}},
	}
	spec := demo.Spec{Repo: repo, Tag: tag, Attestation: true, RootFS: map[string]string{}}
	for _, a := range arches {
		dir := filepath.Join(rootfs, a.dir)
		if _, err := os.Stat(filepath.Join(dir, "usr", "bin", "python3")); err != nil {
			fmt.Fprintf(os.Stderr, "pushbase: skipping %s: no python in %s\n", a.dir, dir)
			continue
		}
		spec.Platforms = append(spec.Platforms, a.platform)
		spec.RootFS[a.platform.String()] = dir
	}
	if len(spec.Platforms) == 0 {
		return fmt.Errorf("no root filesystem under %s: build them with e2e/make-python-rootfs.sh", rootfs)
	}
	d, err := reg.Push(ctx, spec)
	if err != nil {
		return err
	}
	fmt.Printf("%s/%s:%s@%s (%d platforms)\n", host, repo, tag, d, len(spec.Platforms))
	return nil
}
