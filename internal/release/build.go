package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
)

// cliPackage holds the variables a release build sets with -X (see internal/cli/version.go).
const cliPackage = "github.com/pycontainer/pycontainer/internal/cli"

// runTool runs a tool (go, git) in dir and returns its standard output; standard error
// goes into the error, since that is where the compiler says what is wrong.
func runTool(ctx context.Context, dir string, env []string, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(stdout.String()), nil
}

// buildEnv is environ with the target set and every variable that would change the
// binary's bytes pinned: a GOFLAGS=-race or GOAMD64=v3 in the caller's shell must not leak
// into a release.
func buildEnv(environ []string, t target) []string {
	pinned := map[string]bool{"GOOS": true, "GOARCH": true, "GOARM": true, "GOAMD64": true, "GOARM64": true,
		"CGO_ENABLED": true, "GOFLAGS": true, "GOEXPERIMENT": true}
	var env []string
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		if !pinned[k] {
			env = append(env, kv)
		}
	}
	env = append(env, "GOOS="+t.GOOS, "GOARCH="+t.GOARCH, "CGO_ENABLED=0", "GOFLAGS=", "GOEXPERIMENT=")
	switch t.GOARCH {
	case "amd64":
		env = append(env, "GOAMD64=v1")
	case "arm64":
		env = append(env, "GOARM64=v8.0")
	case "arm":
		env = append(env, "GOARM="+t.GOARM)
	}
	return env
}

// buildBinary builds the pycontainer command of the module at root for t into out:
// static, stripped, without paths of this machine or a build ID, stamped with version
// and commit, so the same source and toolchain give the same bytes anywhere.
func buildBinary(ctx context.Context, root, out string, t target, version, commit string) error {
	ldflags := fmt.Sprintf("-s -w -buildid= -X %s.releaseVersion=%s -X %s.releaseCommit=%s", cliPackage, version, cliPackage, commit)
	_, err := runTool(ctx, root, buildEnv(os.Environ(), t), "go", "build", "-trimpath", "-buildvcs=false", "-ldflags", ldflags, "-o", out, ".")
	if err != nil {
		return fmt.Errorf("build %s: %w", t, err)
	}
	return nil
}

// moduleRoot is the directory of the main module's go.mod, where `go build .` builds pycontainer.
func moduleRoot(ctx context.Context) (string, error) {
	gomod, err := runTool(ctx, "", os.Environ(), "go", "env", "GOMOD")
	if err != nil {
		return "", err
	}
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("not inside a Go module; run from the pycontainer checkout or pass -root")
	}
	return filepath.Dir(gomod), nil
}

var commitRE = regexp.MustCompile(`^[0-9a-f]{7,64}$`)

// spdxRE is the shape of an SPDX license expression: identifiers (LicenseRef- ones
// too), joined by AND, OR and WITH, in parentheses or not. pip checks no more than that.
var spdxRE = regexp.MustCompile(`^[(]*[A-Za-z0-9.+-]+[)]*( (AND|OR|WITH) [(]*[A-Za-z0-9.+-]+[)]*)*$`)

// headCommit is the checkout's commit. A checkout with changes is refused unless
// allowDirty: the binaries would name a commit whose source they were not built from.
func headCommit(ctx context.Context, root string, allowDirty bool) (string, error) {
	commit, err := runTool(ctx, root, os.Environ(), "git", "rev-parse", "HEAD")
	if err != nil {
		return "", fmt.Errorf("find the commit (or pass -commit): %w", err)
	}
	status, err := runTool(ctx, root, os.Environ(), "git", "status", "--porcelain", "--untracked-files=no")
	if err != nil {
		return "", fmt.Errorf("check the checkout for changes: %w", err)
	}
	if status != "" && !allowDirty {
		return "", fmt.Errorf("the checkout has uncommitted changes, so the binaries would not be commit %s; commit them, or pass -allow-dirty:\n%s", commit[:12], status)
	}
	return commit, nil
}
