package reliability

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pycontainer/pycontainer/internal/clitest"
)

// secretRows builds, through the command line, projects whose secrets reached the image
// without a word (issue 14, items 1 and 2): a "!" line naming their folder, a nested git
// repository, the secrets added to the list, each below the top level. With them, an
// output whose name reads as a pattern, and a file growing while the layer is written.
func secretRows(t *testing.T) []reliabilityRow {
	seed := newSeedWorld(t)
	cache := seed.Env().Getenv("PYCONTAINER_CACHE")
	const build = "build --platform linux/amd64 --progress plain"
	// project is a world of its own, on the same registry and cache: a fresh copy of the
	// seed's app with files (path -> body).
	project := func(files map[string]string) *clitest.World {
		t.Helper()
		w := newSeedWorldWith(t, seed.Registry)
		w.Setenv("PYCONTAINER_CACHE", cache)
		for name, body := range files {
			w.WriteFile(t, name, body)
		}
		return w
	}
	// appLayer is the set of paths in the app layer of the layout at out (absolute).
	appLayer := func(out string) map[string]string {
		t.Helper()
		validateLayout(t, out)
		layers := layerEntries(t, out)
		return layers[len(layers)-1]
	}
	// leaks counts the secrets found in the app layer, unless asked for, or printed.
	leaks := func(what string, layer map[string]string, output string, secrets map[string]secretFile, asked ...string) int {
		t.Helper()
		n := 0
		for name, f := range secrets {
			_, in := layer["app/"+name]
			switch wanted := slices.Contains(asked, name); {
			case in && !wanted:
				t.Errorf("%s: %s went into the image", what, name)
				n++
			case !in && wanted:
				t.Errorf("%s: %s, asked for by name, is not in the image", what, name)
			}
			if strings.Contains(output, f.token) {
				t.Errorf("%s: the secret in %s was printed", what, name)
				n++
			}
		}
		return n
	}
	// named checks that the build said it left each of these out.
	named := func(what, stderr string, roots ...string) {
		t.Helper()
		for _, r := range roots {
			if !strings.Contains(stderr, "excluded: "+r+" (it may hold secrets") {
				t.Errorf("%s: the build did not say it left %s out:\n%s", what, r, stderr)
			}
		}
	}
	var rows []reliabilityRow

	// Item 1: a "!" line naming the folder above the secrets.
	srcSecrets := map[string]secretFile{
		"src/.env":        {"TOKEN=env-below-src", "env-below-src"},
		"src/.ssh/id_rsa": {"-----BEGIN OPENSSH PRIVATE KEY-----\nssh-below-src", "ssh-below-src"},
		"src/.netrc":      {"machine h login u password netrc-below-src", "netrc-below-src"},
		"src/.git/config": {"[remote \"origin\"]\n\turl = https://u:git-below-src@host/x", "git-below-src"},
	}
	for _, tt := range []struct {
		what, ignore string
		asked        []string
	}{
		{"`!src` in .dockerignore, src/ holding .env, .ssh/id_rsa, .netrc and .git/config (a token in a remote's URL)", "!src\n", nil},
		{"the allow-list `*`, `!app.py`, `!src`, src/ holding the same secrets", "*\n!app.py\n!src\n", nil},
		{"`*`, `!app.py`, `!src` and `!src/.env`: one secret named", "*\n!app.py\n!src\n!src/.env\n", []string{"src/.env"}},
	} {
		files := map[string]string{".dockerignore": tt.ignore, "src/util.py": "X = 1\n"}
		for name, f := range srcSecrets {
			files[name] = f.body
		}
		w := project(files)
		code, stdout, stderr := w.Run(t, build)
		if code != 0 {
			t.Fatalf("%s: exit %d\n%s", tt.what, code, stderr)
		}
		layer := appLayer(w.Path("dist/image"))
		if _, ok := layer["app/src/util.py"]; !ok {
			t.Errorf("%s: src/util.py, which !src asks for, is missing", tt.what)
		}
		leak := leaks(tt.what, layer, stdout+stderr, srcSecrets, tt.asked...)
		var out []string
		for _, root := range []string{"src/.env", "src/.git", "src/.netrc", "src/.ssh"} {
			if !slices.Contains(tt.asked, root) {
				named(tt.what, stderr, root)
				out = append(out, root)
			}
		}
		outcome := "src/ goes in without its secrets, each named: " + lineStarting(stderr, "excluded: src/.netrc")
		if len(tt.asked) > 0 {
			outcome = "src/.env goes in, as named; " + strings.Join(out, ", ") + " stay out, each named"
			line := lineStarting(stderr, "included on request: ")
			if line == "" {
				t.Errorf("%s: the build does not say src/.env went in on request:\n%s", tt.what, stderr)
			}
			outcome += "; the build says: " + line
		}
		if leak > 0 {
			outcome = fmt.Sprintf("%d secrets went into the image without a word", leak)
		}
		rows = append(rows, reliabilityRow{What: tt.what, Mode: "hostile input", Trials: 1, Outcome: outcome, Leak: leak})
	}

	// Item 2: a git repository below the top level, its remote's URL holding a token.
	what := "a nested git repository (`git -C sub init; git -C sub remote add origin https://u:TOKEN@host/x`)"
	w := project(map[string]string{"sub/tool.py": "Y = 2\n"})
	if _, err := exec.LookPath("git"); err == nil {
		for _, args := range [][]string{{"init", "-q"}, {"remote", "add", "origin", "https://u:nested-git-token@host/x"}} {
			if out, err := exec.Command("git", append([]string{"-C", w.Path("sub")}, args...)...).CombinedOutput(); err != nil {
				t.Fatalf("git %s: %v\n%s", args, err, out)
			}
		}
	} else { // the bytes git writes
		w.WriteFile(t, "sub/.git/config", "[remote \"origin\"]\n\turl = https://u:nested-git-token@host/x\n")
	}
	code, stdout, stderr := w.Run(t, build)
	if code != 0 {
		t.Fatalf("%s: exit %d\n%s", what, code, stderr)
	}
	leak := leaks(what, appLayer(w.Path("dist/image")), stdout+stderr, map[string]secretFile{"sub/.git/config": {token: "nested-git-token"}})
	named(what, stderr, "sub/.git")
	outcome := "sub/.git stays out, named: " + lineStarting(stderr, "excluded: sub/.git")
	if leak > 0 {
		outcome = "sub/.git/config, token and all, went into the image without a word"
	}
	rows = append(rows, reliabilityRow{What: what, Mode: "hostile input", Trials: 1, Leak: leak, Outcome: outcome})

	// Item 2: the secrets the list lacked, at depth 0, 1 and 3.
	added := map[string]string{ // path -> body, the token in it made unique per depth
		".kube/config":         "token: kube-secret",
		".config/gh/hosts.yml": "oauth_token: gh-secret",
		".docker/config.json":  `{"auths":{"r":{"auth":"docker-secret`,
		".aws/credentials":     "aws_secret_access_key = aws-secret",
		".git-credentials":     "https://u:gitcred-secret",
		"server.pem":           "-----BEGIN PRIVATE KEY-----\npem-secret",
		"tls.key":              "-----BEGIN EC PRIVATE KEY-----\nkey-secret",
	}
	files, secrets := map[string]string{}, map[string]secretFile{}
	var roots []string
	for depth, prefix := range map[int]string{0: "", 1: "svc/", 3: "a/b/c/"} {
		for name, body := range added {
			body += fmt.Sprint(depth)
			files[prefix+name] = body
			secrets[prefix+name] = secretFile{body, body[strings.LastIndexAny(body, " \n\":")+1:]}
			root := prefix + name
			if strings.HasPrefix(name, ".aws/") {
				root = prefix + ".aws" // the folder is named, not each file in it
			}
			roots = append(roots, root)
		}
	}
	what = ".kube/config, .config/gh/hosts.yml, .docker/config.json, .aws/credentials, .git-credentials, a *.pem and a *.key private key, each at depth 0, 1 and 3"
	w = project(files)
	code, stdout, stderr = w.Run(t, build)
	if code != 0 {
		t.Fatalf("%s: exit %d\n%s", what, code, stderr)
	}
	leak = leaks(what, appLayer(w.Path("dist/image")), stdout+stderr, secrets)
	named(what, stderr, roots...)
	outcome = fmt.Sprintf("all %d stay out, each named (e.g. %s)", len(roots), lineStarting(stderr, "excluded: a/b/c/tls.key"))
	if leak > 0 {
		outcome = fmt.Sprintf("%d of %d went into the image without a word", leak, len(roots))
	}
	rows = append(rows, reliabilityRow{What: what, Mode: "hostile input", Trials: 1, Leak: leak, Outcome: outcome})

	// Item 4: the output is a path, not an ignore pattern.
	what = "`-o 'out*'` beside outline.py, built twice (the second time out*/ holds the layout)"
	w = project(map[string]string{"outline.py": "print('outline')\n"})
	w.MustBuild(t, build+" -o out*")
	w.MustBuild(t, build+" -o out*")
	layer := appLayer(w.Path("out*"))
	outcome = "outline.py goes in; out*/ (the layout) stays out"
	if _, ok := layer["app/outline.py"]; !ok {
		t.Errorf("%s: outline.py was left out", what)
		outcome = "outline.py silently left out"
	}
	for name := range layer {
		if strings.HasPrefix(name, "app/out*") {
			t.Errorf("%s: the layout went into the app layer: %s", what, name)
			outcome = "the layout went into the app layer"
		}
	}
	rows = append(rows, reliabilityRow{What: what, Mode: "hostile input", Trials: 1, Outcome: outcome})

	// Low: a file growing while the layer is written.
	what = "a log file in the context appended to every millisecond during the build"
	w = project(map[string]string{"growing.log": ""})
	outcome = ""
	for range 3 { // a build can fall between two appends; three cannot
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			f, err := os.OpenFile(w.Path("growing.log"), os.O_APPEND|os.O_WRONLY, 0o644)
			if err != nil {
				t.Error(err)
				return
			}
			defer f.Close()
			tick := time.NewTicker(time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
					f.WriteString(strings.Repeat("log line\n", 100))
				}
			}
		})
		code, _, stderr = w.Run(t, build)
		close(stop)
		wg.Wait()
		if code == 0 {
			continue
		}
		last := strings.TrimPrefix(lastLine(stderr), "Error: ")
		if code != 1 || !strings.HasPrefix(lastLine(stderr), "Error: ") || !strings.Contains(last, "growing.log changed while being read") {
			t.Errorf("%s: exit %d, want one line naming growing.log and saying it changed while being read:\n%s", what, code, stderr)
		}
		outcome = "exit 1, one line: " + regexp.MustCompile(`\d+ bytes`).ReplaceAllString(regexp.MustCompile(`, \d+ when read`).ReplaceAllString(last, ", M when read"), "N bytes")
		break
	}
	if outcome == "" {
		t.Errorf("%s: three builds succeeded while the file grew", what)
	}
	rows = append(rows, reliabilityRow{What: what, Mode: "hostile input", Trials: 1, Outcome: outcome})
	return rows
}

// secretFile is a file planted in a project and the secret in it.
type secretFile struct{ body, token string }

// lineStarting is the first line of s that starts with prefix, or "".
func lineStarting(s, prefix string) string {
	for _, line := range strings.Split(s, "\n") {
		if strings.HasPrefix(line, prefix) {
			return line
		}
	}
	return ""
}
