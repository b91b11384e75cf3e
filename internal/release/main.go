// Command release builds a pycontainer release: reproducible, static binaries for every
// platform users run pycontainer on, the pycontainer-build wheels that carry them to pip,
// pipx and uv, and a SHA256SUMS of it all.
//
//	go run ./internal/release -version v0.1.0 [-out dist/release] [-commit SHA] [-targets linux/amd64,...]
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
)

// options are the command line's.
type options struct {
	Version    string // v0.1.0
	Out        string
	Commit     string // "" for the checkout's HEAD
	Targets    []target
	Root       string // the module; "" for the one around the working directory
	AllowDirty bool
	License    string    // SPDX expression for the wheels' METADATA
	Modified   time.Time // the wheels' zip entry times
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	opts, err := parseFlags(os.Args[1:], os.Getenv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err == nil {
		err = run(ctx, opts, os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "release:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string, getenv func(string) string, stderr io.Writer) (options, error) {
	var o options
	var targetList string
	fs := flag.NewFlagSet("release", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.Version, "version", "", "release version, vMAJOR.MINOR.PATCH[-rc.N] (required)")
	fs.StringVar(&o.Out, "out", filepath.Join("dist", "release"), "directory for the binaries, wheels and SHA256SUMS; must be empty or absent")
	fs.StringVar(&o.Commit, "commit", "", "commit the binaries report (default: git rev-parse HEAD of a clean checkout)")
	fs.StringVar(&targetList, "targets", "all", "comma-separated subset of: "+targetNames())
	fs.StringVar(&o.Root, "root", "", "the pycontainer module's directory (default: the module around the working directory)")
	fs.BoolVar(&o.AllowDirty, "allow-dirty", false, "release a checkout with uncommitted changes")
	fs.StringVar(&o.License, "license", "", "the wheels' License-Expression, an SPDX expression such as Apache-2.0 (default: none; the maintainers choose it)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.Version == "" {
		return o, fmt.Errorf("-version is required, e.g. -version v0.1.0")
	}
	if o.Commit != "" && !commitRE.MatchString(o.Commit) {
		return o, fmt.Errorf("-commit %q is not a hexadecimal git commit", o.Commit)
	}
	if o.License != "" && !spdxRE.MatchString(o.License) {
		return o, fmt.Errorf("-license %q is not an SPDX license expression, e.g. -license Apache-2.0", o.License)
	}
	var err error
	if o.Targets, err = parseTargets(targetList); err != nil {
		return o, err
	}
	o.Modified, err = sourceDate(getenv("SOURCE_DATE_EPOCH"))
	return o, err
}

// zipEpoch is the earliest time a zip entry can hold.
var zipEpoch = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)

// sourceDate is SOURCE_DATE_EPOCH (reproducible-builds.org) as a zip time, else the zip epoch.
func sourceDate(epoch string) (time.Time, error) {
	if epoch == "" {
		return zipEpoch, nil
	}
	sec, err := strconv.ParseInt(epoch, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH %q is not a number of seconds: %w", epoch, err)
	}
	t := time.Unix(sec, 0).UTC()
	if t.Before(zipEpoch) {
		return zipEpoch, nil
	}
	return t, nil
}

// run builds the release into opts.Out and prints what it wrote, with their SHA-256.
func run(ctx context.Context, opts options, stdout io.Writer) error {
	pyVersion, err := pythonVersion(opts.Version)
	if err != nil {
		return err
	}
	if opts.Root == "" {
		if opts.Root, err = moduleRoot(ctx); err != nil {
			return err
		}
	}
	if opts.Commit == "" {
		if opts.Commit, err = headCommit(ctx, opts.Root, opts.AllowDirty); err != nil {
			return err
		}
	}
	readme, err := os.ReadFile(filepath.Join(opts.Root, "README.md"))
	if err != nil {
		return fmt.Errorf("read the README for the wheels' description: %w", err)
	}
	proj := project{Version: pyVersion, License: opts.License, Modified: opts.Modified}
	if proj.Summary, proj.Description, err = describe(string(readme)); err != nil {
		return err
	}
	if err := emptyDir(opts.Out); err != nil {
		return err
	}
	files, err := buildAll(ctx, opts, proj)
	if err != nil {
		return err
	}
	sums, err := writeSums(opts.Out, files)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "%s (commit %s) in %s:\n%s", opts.Version, opts.Commit, opts.Out, sums)
	return err
}

// emptyDir makes dir, refusing one that holds files: a stale wheel of another version
// there would be in the release, or picked by pip instead of this one.
func emptyDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if err == nil && len(entries) > 0 {
		return fmt.Errorf("%s is not empty; remove it or pick another -out", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("make the output directory: %w", err)
	}
	return nil
}

// buildAll builds every target's binary and wheel, two at a time (each go build is
// parallel itself), and returns the names of the files written.
func buildAll(ctx context.Context, opts options, proj project) ([]string, error) {
	var mu sync.Mutex
	var files []string
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(1, min(2, runtime.NumCPU()/2)))
	for _, t := range opts.Targets {
		g.Go(func() error {
			bin := t.binaryName(opts.Version)
			if err := buildBinary(gctx, opts.Root, absPath(filepath.Join(opts.Out, bin)), t, opts.Version, opts.Commit); err != nil {
				return err
			}
			data, err := os.ReadFile(filepath.Join(opts.Out, bin))
			if err != nil {
				return fmt.Errorf("read the built binary: %w", err)
			}
			whl := wheelName(proj.Version, t)
			if err := writeWheel(filepath.Join(opts.Out, whl), proj, t, data); err != nil {
				return err
			}
			mu.Lock()
			files = append(files, bin, whl)
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	slices.Sort(files)
	return files, nil
}

// absPath makes p absolute: go build runs in the module root, not here.
func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// writeSums writes SHA256SUMS for files in dir, in sha256sum's format (checked with
// `sha256sum -c SHA256SUMS`), sorted by name, and returns its contents.
func writeSums(dir string, files []string) (string, error) {
	var b strings.Builder
	for _, name := range files {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return "", fmt.Errorf("checksum: %w", err)
		}
		sum := sha256.Sum256(data)
		fmt.Fprintf(&b, "%s  %s\n", hex.EncodeToString(sum[:]), name)
	}
	if err := os.WriteFile(filepath.Join(dir, "SHA256SUMS"), []byte(b.String()), 0o644); err != nil {
		return "", fmt.Errorf("write SHA256SUMS: %w", err)
	}
	return b.String(), nil
}
