//go:build linux

package reliability

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
	"github.com/regclient/regclient/types/descriptor"
	"github.com/regclient/regclient/types/mediatype"

	"github.com/pycontainer/pycontainer/internal/clitest"
	"github.com/pycontainer/pycontainer/internal/testbase"
)

// hangBound is how long a row waits for a command before it calls it hung and kills it.
const hangBound = 25 * time.Second

// hangRows: registries and token servers that accept the connection and never answer,
// or stop part way (every request has a deadline: PYCONTAINER_STALL_TIMEOUT, 2 s here,
// 15 s by default); a 50 MB token; text from outside (file names, an image's config,
// an index's platforms, a registry's error body) printed escaped; messages that named
// the wrong fault; a package index token kept out of pip's argv; pip killed with the
// build.
func hangRows(t *testing.T) []reliabilityRow {
	var rows []reliabilityRow
	for _, section := range []func(*testing.T) []reliabilityRow{silentRegistryRows, terminalTextRows, messageRows, pipRows} {
		rows = append(rows, section(t)...)
	}
	return rows
}

// hangWorld is w with the hang rows' deadline, 2 s per request.
func hangWorld(w *clitest.World) *clitest.World {
	w.Setenv("PYCONTAINER_STALL_TIMEOUT", "2s")
	return w
}

// boundedRun is the result of a command run as its own process.
type boundedRun struct {
	code           int
	stdout, stderr string
	took           time.Duration
	hung           bool
	maxRSS         int64 // bytes
}

// runWithin runs this test binary as pycontainer with args in w, killing it after
// limit: a hang is reported, not waited out. The process has w's environment and
// directory, and env on top.
func runWithin(t *testing.T, w *clitest.World, limit time.Duration, stdin string, env []string, args ...string) boundedRun {
	t.Helper()
	cmd := w.Command(t, args, env...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	res := boundedRun{}
	select {
	case <-done:
	case <-time.After(limit):
		res.hung = true
		cmd.Process.Kill()
		<-done
	}
	res.took = time.Since(start)
	res.code, res.stdout, res.stderr = cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		res.maxRSS = int64(ru.Maxrss) << 10 // int32 on 32-bit Linux (arm, 386)
	}
	return res
}

// oneClearLine checks that a command failed with one line naming want within the
// bound, and says how it ended, as RELIABILITY.md shows it.
func oneClearLine(t *testing.T, what string, r boundedRun, want string, hosts ...string) string {
	t.Helper()
	for _, h := range hosts {
		r.stderr = strings.ReplaceAll(r.stderr, h, "HOST")
	}
	last := strings.TrimPrefix(lastLine(r.stderr), "Error: ")
	switch {
	case r.hung:
		t.Errorf("%s: hung; killed after %s", what, hangBound)
		return fmt.Sprintf("HUNG (killed after %s)", hangBound)
	case r.code != 1 || !strings.Contains(r.stderr, want) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0:
		t.Errorf("%s: exit %d after %s, want exit 1 and one line saying %q:\n%s", what, r.code, r.took, want, r.stderr)
		return "UNCLEAR: " + last
	}
	return fmt.Sprintf("clear error in %.1fs: %s", r.took.Seconds(), last)
}

// silentRegistryRows: build, platforms and login against a registry, or a token server,
// that never answers, or stops in the middle of a manifest; a 50 MB token.
func silentRegistryRows(t *testing.T) []reliabilityRow {
	w := hangWorld(newSeedWorld(t)) // each part has a project of its own
	silent := testbase.SilentListener(t)
	stalled := testbase.StartWith(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodGet || !strings.Contains(r.URL.Path, "/manifests/") {
				h.ServeHTTP(w, r)
				return
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			w.Write(rec.Body.Bytes()[:rec.Body.Len()/2])
			w.(http.Flusher).Flush()
			<-r.Context().Done() // the rest never comes
		})
	})
	stalled.Push(t, testbase.Spec{Repo: "library/python", Tag: "3.11-slim", Platforms: testbase.PythonPlatforms[:1]})
	silentTokenServer := testbase.SilentListener(t)
	silentTokens := testbase.TokenChallenger(t, "http://"+silentTokenServer+"/token")
	bigToken := []byte(`{"token":"` + strings.Repeat("t", 50<<20) + `"}`)
	tokens := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(bigToken)
	}))
	t.Cleanup(tokens.Close)
	bigTokens := testbase.TokenChallenger(t, tokens.URL+"/token")

	build := func(host string) []string {
		return []string{"build", "--platform", "linux/amd64", "--progress", "plain", "--base-image", host + "/library/python:3.11-slim"}
	}
	tokenHost := strings.TrimPrefix(tokens.URL, "http://")
	hosts := []string{silent, silentTokenServer, silentTokens, stalled.Host, bigTokens, tokenHost}
	tests := []struct {
		what  string
		args  []string
		stdin string
		want  string
	}{
		{"a registry that accepts the connection and never answers: `build`", build(silent), "", "registry HOST sent no answer within 2s per request"},
		{"the same registry: `platforms IMAGE`", []string{"platforms", silent + "/library/python:3.11-slim"}, "", "registry HOST sent no answer within 2s per request"},
		// Needs registry.Login (auth.go) to check with checkClient, which has the deadlines.
		{"the same registry: `login`", []string{"login", silent, "-u", "me", "--password-stdin"}, "secret\n", "registry HOST sent no answer within 2s per request"},
		{"a registry whose token server accepts the connection and never answers: `build`", build(silentTokens), "", "the token server HOST of registry HOST sent no answer within 2s"},
		{"a registry that stops in the middle of a manifest: `build`", build(stalled.Host), "", "registry HOST sent no answer within 2s per request"},
	}
	var rows []reliabilityRow
	var failing int64 // the peak of a build that fails at once
	for _, tt := range tests {
		r := runWithin(t, w, hangBound, tt.stdin, nil, tt.args...)
		if failing == 0 {
			failing = r.maxRSS
		}
		rows = append(rows, reliabilityRow{What: tt.what, Mode: "hang", Trials: 1, Outcome: oneClearLine(t, tt.what, r, tt.want, hosts...)})
	}

	// A token of 50 MB: refused once 1 MiB has come, in a process that stays small.
	r := runWithin(t, w, hangBound, "", nil, build(bigTokens)...)
	outcome := oneClearLine(t, "a 50 MB token", r, "the token server HOST of registry HOST sent an answer over 1 MiB", hosts...)
	// Bytes the token costs: the peak over that of a build failing at once. The cap
	// lets a few MB through (1 MiB and the buffers reading it).
	const maxCost = 32 << 20
	if cost := r.maxRSS - failing; cost > maxCost {
		t.Errorf("a 50 MB token: the build peaked at %d MB, %d MB over a build that fails at once", r.maxRSS>>20, cost>>20)
		outcome += fmt.Sprintf("; TOO LARGE: %d MB", r.maxRSS>>20)
	}
	rows = append(rows, reliabilityRow{What: "a token server that answers with a 50 MB token: `build`", Mode: "hostile registry", Trials: 1,
		Outcome: outcome + fmt.Sprintf("; the process peaked at %d MB (a build failing at once: %d MB)", r.maxRSS>>20, failing>>20)})
	return rows
}

// servedManifest is a manifest a registry wrapper serves instead of the registry's.
type servedManifest struct {
	mediaType string
	body      []byte
}

// overridingRegistry is olareg with the manifests in instead served by path instead of
// its own, and the GETs of the blobs in blobs answered by their handler.
func overridingRegistry(t *testing.T) (*testbase.Registry, *sync.Map, *sync.Map) {
	t.Helper()
	var instead, blobs sync.Map
	reg := testbase.StartWith(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if v, ok := blobs.Load(r.URL.Path); ok && r.Method == http.MethodGet {
				v.(http.HandlerFunc)(w, r)
				return
			}
			v, ok := instead.Load(r.URL.Path)
			if !ok {
				h.ServeHTTP(w, r)
				return
			}
			m := v.(servedManifest)
			w.Header().Set("Content-Type", m.mediaType)
			w.Header().Set("Content-Length", fmt.Sprint(len(m.body)))
			w.Header().Set("Docker-Content-Digest", digest.FromBytes(m.body).String())
			if r.Method == http.MethodGet {
				w.Write(m.body)
			}
		})
	})
	return reg, &instead, &blobs
}

// serveManifest puts v (a manifest or index) at repo:tag and at its digest.
func serveManifest(t *testing.T, instead *sync.Map, repo, tag string, v map[string]any) descriptor.Descriptor {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	d := descriptor.Descriptor{MediaType: v["mediaType"].(string), Digest: digest.FromBytes(raw), Size: int64(len(raw))}
	for _, name := range []string{tag, d.Digest.String()} {
		instead.Store("/v2/"+repo+"/manifests/"+name, servedManifest{d.MediaType, raw})
	}
	return d
}

// hostileText is what an attacker puts in a name, a config or an error body: a window
// title, a screen clear, a carriage return and a newline that forge a line, cursor
// movement that erases the line before, a bidi override, DEL and a C1 CSI.
const hostileText = "x\x1b]0;pwned\x07\x1b[2J\r\nexcluded: nothing\x1b[1A\x1b[2K\u202egpj\x7f\u009b31m"

// rawControls lists what of hostileText reaches out as it is; none is safe.
func rawControls(out string) []string {
	var found []string
	for _, bad := range []string{"\x1b", "\r", "\x07", "\x7f", "\u009b", "\u202e"} {
		if strings.Contains(out, bad) {
			found = append(found, fmt.Sprintf("%q", bad))
		}
	}
	return found
}

// escapedRow checks that out holds no raw control of hostileText and shows it escaped.
func escapedRow(t *testing.T, what string, code int, out string, shown string) reliabilityRow {
	t.Helper()
	row := reliabilityRow{What: what, Mode: "hostile input", Trials: 1, Outcome: "escaped, on its own line: " + shown}
	if raw := rawControls(out); len(raw) > 0 || !strings.Contains(out, shown) {
		t.Errorf("%s: exit %d; raw %v; want %q shown escaped:\n%q", what, code, raw, shown, out)
		row.Outcome = "RAW: " + strings.Join(raw, " ") + " reach the terminal"
	}
	return row
}

// terminalTextRows: a file name in an "excluded" line, a base image's Env, Labels and
// history in `inspect`, an index's platforms in `platforms`, a registry's error body in
// the error line.
func terminalTextRows(t *testing.T) []reliabilityRow {
	ctx := context.Background()
	reg, instead, _ := overridingRegistry(t)
	reg.Push(t, testbase.Spec{Repo: "library/python", Tag: "3.11-slim", Platforms: testbase.PythonPlatforms[:1]})
	w := hangWorld(newSeedWorldWith(t, reg)) // each part has a project of its own
	var rows []reliabilityRow

	// A file name: .env.<hostileText>, a secret left out and named.
	name := ".env." + strings.ReplaceAll(hostileText, "/", "")
	w.WriteFile(t, name, "TOKEN=x")
	code, stdout, stderr := w.Run(t, "build --platform linux/amd64 --progress plain --dry-run")
	rows = append(rows, escapedRow(t, "a file named .env.ESC]0;pwned BEL ESC[2J CR LF excluded: nothing ESC[1A ESC[2K RLO gpj DEL CSI 31m (`build`, its \"excluded\" line)", code, stdout+stderr,
		`excluded: .env.x\x1b]0;pwned\x07\x1b[2J\r\nexcluded: nothing\x1b[1A\x1b[2K\u202egpj\x7f\x9b31m (`))
	os.Remove(w.Path(name))

	// A base image whose config and index carry the hostile text.
	const repo = "hostile/ctl"
	config, err := json.Marshal(map[string]any{"architecture": "amd64", "os": "linux",
		"config":  map[string]any{"Env": []string{"EVIL=" + hostileText}, "Labels": map[string]string{"evil": hostileText}},
		"rootfs":  map[string]any{"type": "layers", "diff_ids": []string{}},
		"history": []map[string]any{{"created_by": hostileText, "empty_layer": true}}})
	if err != nil {
		t.Fatal(err)
	}
	cd, err := reg.PutBlob(ctx, repo, config)
	if err != nil {
		t.Fatal(err)
	}
	cd.MediaType = mediatype.OCI1ImageConfig
	img := serveManifest(t, instead, repo, "image", map[string]any{"schemaVersion": 2, "mediaType": mediatype.OCI1Manifest, "config": cd, "layers": []any{}})
	entry := func(p map[string]string) map[string]any {
		return map[string]any{"mediaType": img.MediaType, "digest": img.Digest, "size": img.Size, "platform": p}
	}
	serveManifest(t, instead, repo, "ctl", map[string]any{"schemaVersion": 2, "mediaType": mediatype.OCI1ManifestList, "manifests": []any{
		entry(map[string]string{"os": "linux", "architecture": "amd64"}),
		entry(map[string]string{"os": "linux", "architecture": "riscv64", "variant": hostileText, "os.version": hostileText}),
	}})
	base := reg.Host + "/" + repo + ":ctl"
	w.MustBuild(t, "build --platform linux/amd64 --progress plain --output dist/ctl --base-image "+base)
	code, stdout, stderr = w.Run(t, "inspect --progress plain dist/ctl")
	row := escapedRow(t, "a base image whose config's Env, Labels and history hold the same text (`inspect`)", code, stdout+stderr, `env:        EVIL=x\x1b]0;pwned\x07\x1b[2J\r\nexcluded: nothing`)
	if !strings.Contains(stdout, `label:      evil=x\x1b]0;pwned`) || !strings.Contains(stdout, `history:    x\x1b]0;pwned`) {
		t.Errorf("inspect: the label or history is not shown escaped:\n%s", stdout)
		row.Outcome = "UNESCAPED label or history"
	}
	code, stdout, stderr = w.Run(t, "inspect --json dist/ctl")
	var doc struct{ Images []struct{ Env []string } }
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil || len(doc.Images) != 1 || !strings.Contains(strings.Join(doc.Images[0].Env, " "), "EVIL="+hostileText) {
		t.Errorf("inspect --json does not decode to the config's Env (%v):\n%s", err, stdout)
	}
	if raw := rawControls(stdout + stderr); len(raw) > 0 {
		t.Errorf("inspect --json: %v reach the terminal", raw)
		row.Outcome = "RAW in --json: " + strings.Join(raw, " ")
	} else {
		row.Outcome += "; --json escapes them too and decodes to the config's bytes"
	}
	rows = append(rows, row)

	code, stdout, stderr = w.Run(t, "platforms --check linux/arm64 "+base)
	rows = append(rows, escapedRow(t, "an index whose platform's variant and os.version hold it (`platforms --check linux/arm64`: the table and the diagnosis)", code, stdout+stderr,
		`linux/riscv64/x\x1b]0;pwned\x07\x1b[2j\r\nexcluded: nothing`))

	// A registry's error body.
	errReg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/" {
			return
		}
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte("denied: " + hostileText))
	}))
	t.Cleanup(errReg.Close)
	host := strings.TrimPrefix(errReg.URL, "http://")
	code, stdout, stderr = w.Run(t, "build --platform linux/amd64 --progress plain --base-image "+host+"/library/python:3.11-slim")
	rows = append(rows, escapedRow(t, "a registry whose error body (a 400) holds it (`build`, its error line)", code, stdout+stderr,
		`denied: x\x1b]0;pwned\x07\x1b[2J\r\nexcluded: nothing\x1b[1A\x1b[2K\u202egpj\x7f\x9b31m`))
	return rows
}

// messageRows: an invalid digest, typed or in an index; a layer bigger than its
// descriptor; an unreachable --index-url.
func messageRows(t *testing.T) []reliabilityRow {
	ctx := context.Background()
	reg, instead, blobs := overridingRegistry(t)
	reg.Push(t, testbase.Spec{Repo: "library/python", Tag: "3.11-slim", Platforms: testbase.PythonPlatforms[:1]})
	w := hangWorld(newSeedWorldWith(t, reg)) // each part has a project of its own
	const repo = "hostile/msg"
	var rows []reliabilityRow
	// judge checks a command's end: exit 1 with a last line saying want, and nothing
	// that names another fault.
	judge := func(what string, code int, stderr string, took time.Duration, want string) {
		t.Helper()
		last := strings.TrimPrefix(lastLine(stderr), "Error: ")
		outcome := fmt.Sprintf("in %.1fs: %s", took.Seconds(), strings.ReplaceAll(last, reg.Host, "REGISTRY"))
		if code != 1 || !strings.Contains(last, want) || strings.Contains(last, "not found") || strings.Contains(last, "manifest over 8 MB") || strings.Contains(last, "no wheel") {
			t.Errorf("%s: exit %d, want a line saying %q:\n%s", what, code, want, stderr)
			outcome = "MISLEADING: " + outcome
		}
		rows = append(rows, reliabilityRow{What: what, Mode: "hostile input", Trials: 1, Outcome: outcome})
	}
	clear := func(what, cmdline, want string) {
		t.Helper()
		start := time.Now()
		code, _, stderr := w.Run(t, cmdline)
		judge(what, code, stderr, time.Since(start), want)
	}

	clear("`--base-image python@sha256:` and 32 hex digits (an invalid digest)",
		"build --platform linux/amd64 --progress plain --base-image "+reg.Host+"/library/python@sha256:"+strings.Repeat("0", 32),
		"has an invalid digest")

	bad := "sha256:" + strings.Repeat("0", 32)
	serveManifest(t, instead, repo, "bad-digest", map[string]any{"schemaVersion": 2, "mediaType": mediatype.OCI1ManifestList, "manifests": []any{
		map[string]any{"mediaType": mediatype.OCI1Manifest, "digest": bad, "size": 100, "platform": map[string]string{"os": "linux", "architecture": "amd64"}},
	}})
	clear("an index listing an image by an invalid digest (sha256: and 32 hex digits)",
		"build --platform linux/amd64 --progress plain --base-image "+reg.Host+"/"+repo+":bad-digest", "which is not a valid digest")

	// A layer the registry sends with more bytes than its descriptor announces: once
	// saying so (Content-Length), once streamed.
	layer := bytes.Repeat([]byte("layer bytes "), 1000)
	ld, err := reg.PutBlob(ctx, repo, layer)
	if err != nil {
		t.Fatal(err)
	}
	ld.MediaType = mediatype.OCI1LayerGzip
	config, _ := json.Marshal(map[string]any{"architecture": "amd64", "os": "linux", "rootfs": map[string]any{"type": "layers", "diff_ids": []string{ld.Digest.String()}}})
	cd, err := reg.PutBlob(ctx, repo, config)
	if err != nil {
		t.Fatal(err)
	}
	cd.MediaType = mediatype.OCI1ImageConfig
	serveManifest(t, instead, repo, "big-layer", map[string]any{"schemaVersion": 2, "mediaType": mediatype.OCI1Manifest, "config": cd, "layers": []any{ld}})
	for _, announce := range []bool{true, false} {
		blobs.Store("/v2/"+repo+"/blobs/"+ld.Digest.String(), http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			body := append(bytes.Clone(layer), bytes.Repeat([]byte("more "), 100_000)...)
			if announce {
				w.Header().Set("Content-Length", fmt.Sprint(len(body)))
			} else {
				w.(http.Flusher).Flush() // chunked: no length said
			}
			w.Write(body)
		}))
		how := "announcing its length"
		if !announce {
			how = "streamed without a length"
		}
		clear(fmt.Sprintf("a layer of %d bytes that the registry sends with 500 kB more, %s", len(layer), how),
			"build --platform linux/amd64 --progress plain --output dist/big --base-image "+reg.Host+"/"+repo+":big-layer",
			fmt.Sprintf("the registry sent more than the %d bytes the manifest announces for blob %s", len(layer), ld.Digest))
	}

	if !hasPip() {
		t.Log("python3 -m pip is not available: the --index-url row is left out")
		return rows
	}
	w.WriteFile(t, "requirements.txt", "pycontainer-absent-package==1.0\n")
	closed := testbase.ClosedPort(t)
	// pip retries a refused connection five times, for 19 s.
	cmd := quietPip(w.Command(t, strings.Fields("build --platform linux/amd64 --progress plain --include-deps --index-url http://"+closed+"/simple")), "PIP_RETRIES=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	code := exitCode(t, cmd)
	judge("`--include-deps --index-url http://127.0.0.1:CLOSED/simple` (nothing listens there)", code, stderr.String(), time.Since(start),
		"pip could not reach the package index http://"+closed+"/simple for linux/amd64 (connection refused)")
	rows[len(rows)-1].Outcome = strings.ReplaceAll(rows[len(rows)-1].Outcome, closed, "127.0.0.1:CLOSED")
	os.Remove(w.Path("requirements.txt"))
	return rows
}

func hasPip() bool {
	return exec.Command("python3", "-m", "pip", "--version").Run() == nil
}

// quietPip is cmd (a World's Command) without what this machine's environment tells pip
// (a wheelhouse, a timeout), so rows run alike everywhere, and with env on top. The pip
// rows run pycontainer as a process for this: a World cannot unset a variable, and pip
// refuses an empty one (PIP_DEFAULT_TIMEOUT= is not a number).
func quietPip(cmd *exec.Cmd, env ...string) *exec.Cmd {
	var kept []string
	for _, kv := range cmd.Env {
		if !strings.HasPrefix(kv, "PIP_") {
			kept = append(kept, kv)
		}
	}
	cmd.Env = append(kept, env...)
	return cmd
}

// exitCode runs cmd and returns its exit code; a process that cannot start fails the test.
func exitCode(t *testing.T, cmd *exec.Cmd) int {
	t.Helper()
	var exit *exec.ExitError
	if err := cmd.Run(); err != nil && !errors.As(err, &exit) {
		t.Fatalf("%s: %v", cmd.Args, err)
	}
	return cmd.ProcessState.ExitCode()
}

// pipRows: a token in --index-url stays out of pip's argv, and pip dies with a build
// stopped by SIGHUP or SIGTERM, its temporary files removed.
func pipRows(t *testing.T) []reliabilityRow {
	if !hasPip() {
		t.Log("python3 -m pip is not available: the pip rows are left out")
		return nil
	}
	w := hangWorld(newSeedWorld(t)) // each part has a project of its own
	var rows []reliabilityRow

	// A package index that asks for user:TOKEN, as a private one does.
	wheels := t.TempDir()
	wheel := testbase.MakeWheel(t, wheels, "purelib", "1.0", "py3-none-any", map[string][]byte{"purelib/__init__.py": []byte("X = 1\n")})
	var authorized sync.Map
	index := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "user" || p != "TOKEN-3f9a" {
			w.Header().Set("WWW-Authenticate", `Basic realm="index"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		authorized.Store(r.URL.Path, true)
		switch {
		case strings.HasPrefix(r.URL.Path, "/simple/purelib"):
			fmt.Fprintf(w, `<html><body><a href="/files/%s">%s</a></body></html>`, filepath.Base(wheel), filepath.Base(wheel))
		case strings.HasPrefix(r.URL.Path, "/files/"):
			http.ServeFile(w, r, wheel)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(index.Close)
	// pip behind a script that records its argv, as `ps` shows it to every local user.
	spy := t.TempDir()
	script := filepath.Join(spy, "pip.sh")
	w.WriteFile(t, script, "#!/bin/sh\nprintf '%s\\n' \"$@\" >> "+filepath.Join(spy, "argv")+"\nexec python3 -m pip \"$@\"\n")
	w.WriteFile(t, "requirements.txt", "purelib==1.0\n")
	url := strings.Replace(index.URL, "http://", "http://user:TOKEN-3f9a@", 1) + "/simple"
	cmd := quietPip(w.Command(t, strings.Fields("build --platform linux/amd64 --progress plain --include-deps --index-url "+url)), "PYCONTAINER_PIP=sh "+script)
	var stderrBuf bytes.Buffer
	cmd.Stderr = &stderrBuf
	code := exitCode(t, cmd)
	stderr := stderrBuf.String()
	argv, _ := os.ReadFile(filepath.Join(spy, "argv"))
	_, fetched := authorized.Load("/files/" + filepath.Base(wheel))
	outcome := "built with the wheel from the index (pip had the token); the token is not in pip's argv (PIP_INDEX_URL)"
	switch {
	case code != 0 || !fetched:
		t.Errorf("--index-url with a token: exit %d, wheel fetched %v:\n%s", code, fetched, stderr)
		outcome = "FAILED: " + lastLine(stderr)
	case strings.Contains(string(argv), "TOKEN-3f9a"):
		t.Errorf("the index token is in pip's argv:\n%s", argv)
		outcome = "TOKEN IN ARGV: every local user sees it with ps"
	}
	if strings.Contains(stderr, "TOKEN-3f9a") {
		t.Errorf("the index token was printed:\n%s", stderr)
		outcome = "TOKEN PRINTED"
	}
	rows = append(rows, reliabilityRow{What: "`--include-deps --index-url http://user:TOKEN@HOST/simple` (an index that asks for the token)", Mode: "credentials", Trials: 1,
		Outcome: outcome, Leak: strings.Count(string(argv)+stderr, "TOKEN-3f9a")})

	// pip waiting on an index that never answers when the build is stopped: pip itself,
	// and pip behind a wrapper script (PYCONTAINER_PIP), where pip is the script's child.
	silent := testbase.SilentListener(t)
	for _, wrapped := range []bool{false, true} {
		trials := []string{}
		for _, sig := range []syscall.Signal{syscall.SIGHUP, syscall.SIGTERM} {
			trials = append(trials, killDuringPip(t, w, silent, wrapped, sig))
		}
		what := "SIGHUP, then SIGTERM, while pip waits on an --index-url that never answers"
		if wrapped {
			what += ", pip run by a wrapper script (PYCONTAINER_PIP)"
		}
		rows = append(rows, reliabilityRow{What: what, Mode: "interruption", Trials: 2, Outcome: strings.Join(dedupe(trials), "; ")})
	}
	os.Remove(w.Path("requirements.txt"))
	return rows
}

// killDuringPip starts a build whose pip waits on silent, signals it once pip runs, and
// checks that the build ends at once, pip and its children with it, and the build's
// temporary directory is gone.
func killDuringPip(t *testing.T, w *clitest.World, silent string, wrapped bool, sig syscall.Signal) string {
	t.Helper()
	tmp := t.TempDir() // the build's TMPDIR: what it leaves there is its own
	env := []string{"TMPDIR=" + tmp, "PIP_DEFAULT_TIMEOUT=60"}
	if wrapped {
		script := filepath.Join(t.TempDir(), "pip.sh")
		w.WriteFile(t, script, "#!/bin/sh\npython3 -m pip \"$@\"\n") // no exec: pip is the script's child
		env = append(env, "PYCONTAINER_PIP=sh "+script)
	}
	cmd := quietPip(w.Command(t, []string{"build", "--platform", "linux/amd64", "--progress", "plain", "--include-deps", "--index-url", "http://" + silent + "/simple"}), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	defer func() {
		for _, pid := range pipProcesses(tmp) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}()
	// pip's argv names its --dest, inside the build's temporary directory.
	deadline := time.Now().Add(30 * time.Second)
	for len(pipProcesses(tmp)) == 0 {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-done
			t.Fatalf("pip never started:\n%s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // pip reaches the index
	pids := pipProcesses(tmp)
	cmd.Process.Signal(sig)
	start := time.Now()
	var problems []string
	select {
	case <-done:
	case <-time.After(hangBound):
		problems = append(problems, fmt.Sprintf("the build hung (killed after %s)", hangBound))
		cmd.Process.Kill()
		<-done
	}
	took := time.Since(start)
	time.Sleep(200 * time.Millisecond) // the kernel tears the processes down
	var alive []string
	for _, pid := range pids {
		if processRunning(pid) {
			alive = append(alive, strconv.Itoa(pid))
		}
	}
	if len(alive) > 0 {
		problems = append(problems, fmt.Sprintf("%d of %d pip processes orphaned", len(alive), len(pids)))
	}
	if left, _ := filepath.Glob(filepath.Join(tmp, "pycontainer-wheels-*")); len(left) > 0 {
		problems = append(problems, "$TMPDIR/pycontainer-wheels-* left")
	}
	name := signalName[sig]
	if len(problems) > 0 {
		t.Errorf("%s during pip (wrapped %v): %s\n%s", name, wrapped, strings.Join(problems, "; "), stderr.String())
		return name + ": " + strings.ToUpper(strings.Join(problems, "; "))
	}
	return fmt.Sprintf("%s: exit %d in %.1fs, pip (%d processes) ended with it, $TMPDIR/pycontainer-wheels-* removed", name, cmd.ProcessState.ExitCode(), took.Seconds(), len(pids))
}

// pipProcesses are the running processes whose argv names dir.
func pipProcesses(dir string) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		argv, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(argv, []byte(dir)) && processRunning(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// processRunning reports whether pid runs; a zombie (dead, not yet reaped) does not.
func processRunning(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	_, rest, ok := strings.Cut(string(stat), ") ")
	return ok && !strings.HasPrefix(rest, "Z")
}
