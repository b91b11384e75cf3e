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
	"strconv"
	"strings"

	"github.com/pycontainer/pycontainer/internal/demo"
)

func main() {
	host := flag.String("registry", "127.0.0.1:5000", "registry host:port (plain HTTP)")
	rootfs := flag.String("rootfs", "/var/cache/pycontainer-e2e/rootfs", "directory with amd64/, arm64/ and armhf/ root filesystems")
	repo := flag.String("repo", "library/python", "repository")
	tag := flag.String("tag", "3.11-slim", "tag")
	demoCatalog := flag.Bool("demo", false, "push the generated demo catalog instead")
	padding := flag.Int("padding", 0, "with -demo: bytes added to each platform layer")
	synthetic := flag.String("synthetic", "", "push a generated base instead: comma-separated layer sizes in MB per platform, e.g. 30,12,5,3")
	platforms := flag.Int("platforms", 3, "with -synthetic: how many platforms (amd64, arm64/v8, arm/v7)")
	flag.Parse()
	if *synthetic != "" {
		if err := pushSynthetic(*host, *repo, *tag, *synthetic, *platforms); err != nil {
			fmt.Fprintln(os.Stderr, "pushbase:", err)
			os.Exit(1)
		}
		return
	}
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

// pushSynthetic pushes a base of incompressible layers of the given sizes per platform.
func pushSynthetic(host, repo, tag, sizes string, platforms int) error {
	spec := demo.Spec{Repo: repo, Tag: tag, Attestation: true}
	for _, f := range strings.Split(sizes, ",") {
		mb, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil {
			return fmt.Errorf("-synthetic %q: %w", sizes, err)
		}
		spec.LayerSizes = append(spec.LayerSizes, int(mb*(1<<20)))
	}
	all := []demo.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64", Variant: "v8"}, {OS: "linux", Architecture: "arm", Variant: "v7"}}
	spec.Platforms = all[:min(max(platforms, 1), len(all))]
	d, err := demo.Connect(host).Push(context.Background(), spec)
	if err != nil {
		return err
	}
	fmt.Printf("%s/%s:%s@%s\n", host, repo, tag, d)
	return nil
}
