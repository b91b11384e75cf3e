package build

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pycontainer/pycontainer/internal/cmdenv"
)

// sdistBody is the content the fake index serves for an sdist file name.
func sdistBody(name string) []byte { return []byte("sdist:" + name) }

func sdistSum(name string) string {
	s := sha256.Sum256(sdistBody(name))
	return hex.EncodeToString(s[:])
}

// fakePage is one page of a fake index.
type fakePage struct {
	json bool
	body string
}

// htmlLinks is a PEP 503 page of links to /files/NAME, each with its sha256, and the
// attributes extra gives a file.
func htmlLinks(names []string, extra map[string]string) fakePage {
	var b strings.Builder
	b.WriteString("<!DOCTYPE html>\n<html><body><!-- <a href=\"/files/commented-9.9.tar.gz\">x</a> -->\n")
	for _, n := range names {
		fmt.Fprintf(&b, "<a href=\"/files/%s#sha256=%s\" %s>%s</a><br/>\n", n, sdistSum(n), extra[n], n)
	}
	b.WriteString("</body></html>\n")
	return fakePage{body: b.String()}
}

// jsonFiles is a PEP 691 page of files at /files/NAME with their sha256; extra is JSON
// members to add to a file's object.
func jsonFiles(names []string, extra map[string]string) fakePage {
	var files []string
	for _, n := range names {
		f := fmt.Sprintf(`{"filename": %q, "url": "/files/%s", "hashes": {"sha256": %q}`, n, n, sdistSum(n))
		if e := extra[n]; e != "" {
			f += ", " + e
		}
		files = append(files, f+"}")
	}
	return fakePage{json: true, body: `{"meta": {"api-version": "1.1"}, "name": "x", "files": [` + strings.Join(files, ", ") + `]}`}
}

// fakeIndex serves pages by path and the files under /files/; it records each request's
// path and Authorization header. With user set, every request needs that Basic auth.
type fakeIndex struct {
	*httptest.Server
	pages      map[string]fakePage
	files      map[string][]byte // overrides sdistBody
	user, pass string
	block      bool // requests wait until the client goes away
	chunked    bool // files are sent in pieces, without a length

	mu   sync.Mutex
	seen []string // "PATH auth=..." per request
}

// newFakeIndex starts an index serving pages, set up by each of configure first.
func newFakeIndex(t *testing.T, pages map[string]fakePage, configure ...func(*fakeIndex)) *fakeIndex {
	ix := &fakeIndex{pages: pages}
	ix.Server = httptest.NewUnstartedServer(http.HandlerFunc(ix.serve))
	for _, c := range configure {
		c(ix)
	}
	ix.Start()
	t.Cleanup(ix.Close)
	return ix
}

func (ix *fakeIndex) serve(w http.ResponseWriter, r *http.Request) {
	ix.mu.Lock()
	ix.seen = append(ix.seen, r.URL.Path+" auth="+r.Header.Get("Authorization")+" accept="+r.Header.Get("Accept"))
	ix.mu.Unlock()
	if ix.block {
		<-r.Context().Done()
		return
	}
	if ix.user != "" {
		if u, p, ok := r.BasicAuth(); !ok || u != ix.user || p != ix.pass {
			http.Error(w, "who are you", http.StatusUnauthorized)
			return
		}
	}
	if name, ok := strings.CutPrefix(r.URL.Path, "/files/"); ok {
		body, ok := ix.files[name]
		if !ok {
			body = sdistBody(name)
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		if !ix.chunked {
			w.Write(body)
			return
		}
		for len(body) > 0 {
			n := min(len(body), 1024)
			w.Write(body[:n])
			w.(http.Flusher).Flush()
			body = body[n:]
		}
		return
	}
	p, ok := ix.pages[r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	if p.json {
		w.Header().Set("Content-Type", "application/vnd.pypi.simple.v1+json")
	} else {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
	}
	fmt.Fprint(w, p.body)
}

func (ix *fakeIndex) requests() []string {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return append([]string(nil), ix.seen...)
}

// noEnv is an environment without pip's variables or a proxy.
var noEnv = cmdenv.Env{Environ: []string{}}

// TestSdistFinder: the sdist a requirement asks for is found on the index's page, JSON
// or HTML, chosen by name, version, yanked and requires-python, and downloaded checked.
func TestSdistFinder(t *testing.T) {
	whl := "fastcalc-1.0-cp311-cp311-manylinux_2_17_x86_64.whl"
	tests := []struct {
		name    string
		pages   map[string]fakePage
		deps    func(url string) DepsOptions // default: the index at /simple/
		env     func(url string) []string    // the build's environment; default none
		spec    string
		py      string // default 3.11
		want    string // the file fetched
		wantErr []string
	}{
		{name: "json, exact version", spec: "fastcalc==1.0", want: "fastcalc-1.0.tar.gz",
			pages: map[string]fakePage{"/simple/fastcalc/": jsonFiles([]string{whl, "fastcalc-1.0.tar.gz", "fastcalc-1.1.tar.gz"}, nil)}},
		{name: "html, exact version", spec: "fastcalc==1.0", want: "fastcalc-1.0.zip",
			pages: map[string]fakePage{"/simple/fastcalc/": htmlLinks([]string{whl, "fastcalc-1.0.zip", "fastcalc-1.1.tar.gz"}, nil)}},
		{name: "zero-padded pin", spec: "fastcalc==1", want: "fastcalc-1.0.tar.gz",
			pages: map[string]fakePage{"/simple/fastcalc/": jsonFiles([]string{"fastcalc-1.0.tar.gz", "fastcalc-1.1.tar.gz"}, nil)}},
		{name: "normalised names", spec: "Foo_Bar==2.0", want: "foo.bar-2.0.tar.gz",
			pages: map[string]fakePage{"/simple/foo-bar/": htmlLinks([]string{"foo_bar-1.0.tar.gz", "foo.bar-2.0.tar.gz", "foo_bar_baz-2.0.tar.gz"}, nil)}},
		{name: "a name with a hyphen and a version", spec: "foo-bar", want: "foo-bar-1.2.tar.gz",
			pages: map[string]fakePage{"/simple/foo-bar/": jsonFiles([]string{"foo-bar-1.2.tar.gz", "foo-bar-1.10-py3-none-any.whl"}, nil)}},
		{name: "highest version", spec: "fastcalc", want: "fastcalc-1.10.post1.tar.gz",
			pages: map[string]fakePage{"/simple/fastcalc/": jsonFiles([]string{"fastcalc-1.9.tar.gz", "fastcalc-1.10.post1.tar.gz", "fastcalc-1.10.tar.gz", "fastcalc-2.0rc1.tar.gz", "fastcalc-1.11.dev3.tar.gz", "fastcalc-1.2.tar.gz"}, nil)}},
		{name: "highest version a range allows", spec: "fastcalc<1.10,>=1.0", want: "fastcalc-1.9.tar.gz",
			pages: map[string]fakePage{"/simple/fastcalc/": htmlLinks([]string{"fastcalc-1.9.tar.gz", "fastcalc-1.10.tar.gz", "fastcalc-1.10rc1.tar.gz"}, nil)}},
		{name: "pre-releases when nothing else fits", spec: "fastcalc>1.0", want: "fastcalc-2.0b2.tar.gz",
			pages: map[string]fakePage{"/simple/fastcalc/": jsonFiles([]string{"fastcalc-1.0.tar.gz", "fastcalc-2.0b1.tar.gz", "fastcalc-2.0b2.tar.gz", "fastcalc-2.0a9.tar.gz"}, nil)}},
		{name: "yanked skipped, json", spec: "fastcalc", want: "fastcalc-1.0.tar.gz",
			pages: map[string]fakePage{"/simple/fastcalc/": jsonFiles([]string{"fastcalc-1.0.tar.gz", "fastcalc-1.1.tar.gz", "fastcalc-1.2.tar.gz"},
				map[string]string{"fastcalc-1.1.tar.gz": `"yanked": "broken"`, "fastcalc-1.2.tar.gz": `"yanked": true`, "fastcalc-1.0.tar.gz": `"yanked": false`})}},
		{name: "yanked skipped, html", spec: "fastcalc", want: "fastcalc-1.0.tar.gz",
			pages: map[string]fakePage{"/simple/fastcalc/": htmlLinks([]string{"fastcalc-1.0.tar.gz", "fastcalc-1.1.tar.gz"},
				map[string]string{"fastcalc-1.1.tar.gz": `data-yanked=""`})}},
		{name: "yanked taken for an exact pin when there is nothing else", spec: "fastcalc==1.1", want: "fastcalc-1.1.tar.gz",
			pages: map[string]fakePage{"/simple/fastcalc/": jsonFiles([]string{"fastcalc-1.0.tar.gz", "fastcalc-1.1.tar.gz"},
				map[string]string{"fastcalc-1.1.tar.gz": `"yanked": true`})}},
		{name: "not yanked before yanked for a pin", spec: "fastcalc==1.1", want: "fastcalc-1.1.tar.gz",
			pages: map[string]fakePage{"/simple/fastcalc/": jsonFiles([]string{"fastcalc-1.1.zip", "fastcalc-1.1.tar.gz"},
				map[string]string{"fastcalc-1.1.zip": `"yanked": true`})}},
		{name: "requires-python, json", spec: "fastcalc", want: "fastcalc-1.0.tar.gz",
			pages: map[string]fakePage{"/simple/fastcalc/": jsonFiles([]string{"fastcalc-1.0.tar.gz", "fastcalc-1.1.tar.gz"},
				map[string]string{"fastcalc-1.0.tar.gz": `"requires-python": ">=3.8, !=3.10.*"`, "fastcalc-1.1.tar.gz": `"requires-python": ">=3.12"`})}},
		{name: "requires-python, html escaped", spec: "fastcalc", want: "fastcalc-1.1.tar.gz", py: "3.12",
			pages: map[string]fakePage{"/simple/fastcalc/": htmlLinks([]string{"fastcalc-1.0.tar.gz", "fastcalc-1.1.tar.gz", "fastcalc-1.2.tar.gz"},
				map[string]string{"fastcalc-1.1.tar.gz": `data-requires-python="&gt;=3.12"`, "fastcalc-1.2.tar.gz": `data-requires-python=">=3.13"`})}},
		{name: "requires-python excludes the pin", spec: "fastcalc==1.1", wantErr: []string{"no sdist of fastcalc 1.1 on http://", "fastcalc-1.1.tar.gz requires Python >=3.12"},
			pages: map[string]fakePage{"/simple/fastcalc/": jsonFiles([]string{"fastcalc-1.0.tar.gz", "fastcalc-1.1.tar.gz"},
				map[string]string{"fastcalc-1.1.tar.gz": `"requires-python": ">=3.12"`})}},
		{name: "a relative href", spec: "fastcalc==1.0", want: "fastcalc-1.0.tar.gz",
			pages: map[string]fakePage{"/simple/fastcalc/": {body: `<a href="../../files/fastcalc-1.0.tar.gz#sha256=` + sdistSum("fastcalc-1.0.tar.gz") + `" data-requires-python=">=3.8">fastcalc-1.0.tar.gz</a>`}}},
		{name: "a base element", spec: "fastcalc==1.0", want: "fastcalc-1.0.tar.gz",
			pages: map[string]fakePage{"/simple/fastcalc/": {body: `<html><head><base href="/files/"></head><a href='fastcalc-1.0.tar.gz'>x</a>`}}},
		{name: "html as browsers read it", spec: "fastcalc", want: "fastcalc-1.0.tar.gz",
			pages: map[string]fakePage{"/simple/fastcalc/": {body: `<HTML><script>var a = '<a href="/files/fastcalc-9.0.tar.gz">';</script>` +
				`<A HREF=/files/fastcalc-1.0.tar.gz data-requires-python=&gt;=3.8 href="/files/fastcalc-8.0.tar.gz">x</a>` +
				`<a href="/files/fastcalc-1.1.tar.gz" data-requires-python="&gt;=3.12"/>`}}},
		{name: "only wheels", spec: "fastcalc==1.0", wantErr: []string{"no sdist of fastcalc 1.0 on http://", "/simple/ (files: " + whl + ")"},
			pages: map[string]fakePage{"/simple/fastcalc/": jsonFiles([]string{whl, "fastcalc-1.1.tar.gz"}, nil)}},
		{name: "sha256 mismatch refused", spec: "fastcalc==1.0", wantErr: []string{"its sha256 is " + sdistSum("fastcalc-1.0.tar.gz") + ", the index says 00", "refused"},
			pages: map[string]fakePage{"/simple/fastcalc/": {body: `<a href="/files/fastcalc-1.0.tar.gz#sha256=00">fastcalc-1.0.tar.gz</a>`}}},
		{name: "json sha256 mismatch refused", spec: "fastcalc==1.0", wantErr: []string{"the index says ab", "refused"},
			pages: map[string]fakePage{"/simple/fastcalc/": {json: true, body: `{"meta": {"api-version": "1.0"}, "files": [{"filename": "fastcalc-1.0.tar.gz", "url": "/files/fastcalc-1.0.tar.gz", "hashes": {"sha256": "ab"}}]}`}}},
		{name: "no hash given, none checked", spec: "fastcalc==1.0", want: "fastcalc-1.0.tar.gz",
			pages: map[string]fakePage{"/simple/fastcalc/": {body: `<a href="/files/fastcalc-1.0.tar.gz">fastcalc-1.0.tar.gz</a>`}}},
		{name: "extra index after a 404", spec: "fastcalc==1.0", want: "fastcalc-1.0.tar.gz",
			deps: func(u string) DepsOptions {
				return DepsOptions{IndexURL: u + "/empty/", ExtraIndexURLs: []string{u + "/simple/"}}
			},
			pages: map[string]fakePage{"/simple/fastcalc/": jsonFiles([]string{"fastcalc-1.0.tar.gz"}, nil)}},
		{name: "the highest version of all indexes", spec: "fastcalc", want: "fastcalc-1.1.tar.gz",
			deps: func(u string) DepsOptions {
				return DepsOptions{IndexURL: u + "/a/", ExtraIndexURLs: []string{u + "/b"}}
			},
			pages: map[string]fakePage{"/a/fastcalc/": jsonFiles([]string{"fastcalc-1.0.tar.gz"}, nil), "/b/fastcalc/": jsonFiles([]string{"fastcalc-1.1.tar.gz"}, nil)}},
		{name: "every index named in the error", spec: "fastcalc==1.0", wantErr: []string{"no sdist of fastcalc 1.0 on http://", "/empty/ (no such project: HTTP 404), http://", "/simple/ (none of its 1 files is 1.0)"},
			deps: func(u string) DepsOptions {
				return DepsOptions{IndexURL: u + "/empty/", ExtraIndexURLs: []string{u + "/simple/"}}
			},
			pages: map[string]fakePage{"/simple/fastcalc/": jsonFiles([]string{"fastcalc-2.0.tar.gz"}, nil)}},
		{name: "no index, a find-links page", spec: "fastcalc==1.0", want: "FastCalc-1.0.tar.gz",
			deps: func(u string) DepsOptions {
				return DepsOptions{NoIndex: true, IndexURL: u + "/simple/", FindLinks: []string{t.TempDir(), u + "/links/"}}
			},
			pages: map[string]fakePage{"/links/": htmlLinks([]string{"fastcalc_extra-1.0.tar.gz", "purelib-1.0-py3-none-any.whl", "FastCalc-1.0.tar.gz"}, nil)}},
		{name: "pip's environment", spec: "fastcalc==1.0", want: "fastcalc-1.0.tar.gz",
			deps: func(string) DepsOptions { return DepsOptions{ExtraIndexURLs: []string{"http://127.0.0.1:1/never/"}} },
			env: func(u string) []string {
				return []string{"PIP_INDEX_URL=" + u + "/simple/", "PIP_EXTRA_INDEX_URL=" + u + "/also/"}
			},
			pages: map[string]fakePage{"/simple/fastcalc/": jsonFiles([]string{"fastcalc-1.0.tar.gz"}, nil)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ix := newFakeIndex(t, tc.pages)
			d := DepsOptions{IndexURL: ix.URL + "/simple/"}
			if tc.deps != nil {
				d = tc.deps(ix.URL)
			}
			env := noEnv
			if tc.env != nil {
				env = cmdenv.Env{Environ: tc.env(ix.URL)}
			}
			py := tc.py
			if py == "" {
				py = "3.11"
			}
			r, err := parseRequirement(tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			got, err := newSdistFinder(d, env, py).fetch(t.Context(), r, dir)
			if tc.wantErr != nil {
				if err == nil {
					t.Fatalf("fetched %s, want an error", got)
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not say %q", err, w)
					}
				}
				if strings.Contains(err.Error(), "\n") {
					t.Errorf("error %q is more than one line", err)
				}
				if entries, _ := os.ReadDir(dir); len(entries) != 0 {
					t.Errorf("a failed fetch left %d files in the directory", len(entries))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != filepath.Join(dir, tc.want) {
				t.Fatalf("fetched %s, want %s", got, tc.want)
			}
			if b, _ := os.ReadFile(got); string(b) != string(sdistBody(path.Base(got))) {
				t.Errorf("the file holds %q", b)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 1 {
				t.Errorf("the directory holds %d files, not the sdist alone", len(entries))
			}
			for _, req := range ix.requests() {
				if !strings.HasPrefix(req, "/files/") && !strings.HasPrefix(req, "/links/") && !strings.Contains(req, "accept="+simpleAccept) {
					t.Errorf("a page was asked for without the simple API's Accept: %s", req)
				}
			}
		})
	}
}

// TestSdistFinderAuth: an index's credentials go as Basic auth to its own host, for its
// pages and files, never to another host its links point at, and never into a message.
func TestSdistFinderAuth(t *testing.T) {
	cdn := newFakeIndex(t, nil)
	ix := newFakeIndex(t, map[string]fakePage{
		"/simple/fastcalc/": {body: `<a href="/files/fastcalc-1.0.tar.gz#sha256=` + sdistSum("fastcalc-1.0.tar.gz") + `">a</a>` +
			`<a href="` + cdn.URL + `/files/fastcalc-1.1.tar.gz#sha256=` + sdistSum("fastcalc-1.1.tar.gz") + `">b</a>`},
	}, func(ix *fakeIndex) { ix.user, ix.pass = "me", "s3cret" })
	u, _ := url.Parse(ix.URL + "/simple/")
	u.User = url.UserPassword("me", "s3cret")
	d := DepsOptions{IndexURL: u.String()}
	for _, spec := range []string{"fastcalc==1.0", "fastcalc==1.1"} {
		r, _ := parseRequirement(spec)
		if _, err := newSdistFinder(d, noEnv, "3.11").fetch(t.Context(), r, t.TempDir()); err != nil {
			t.Fatal(err)
		}
	}
	want := "Basic " + "bWU6czNjcmV0" // me:s3cret
	for _, req := range ix.requests() {
		if !strings.Contains(req, "auth="+want) {
			t.Errorf("the index was asked without its credentials: %s", req)
		}
	}
	for _, req := range cdn.requests() {
		if !strings.Contains(req, "auth= ") {
			t.Errorf("another host was sent the index's credentials: %s", req)
		}
	}

	// Wrong credentials, a missing version, a token alone: none shows in the message.
	for _, idx := range []string{
		strings.Replace(u.String(), "s3cret", "wr0ng", 1),
		u.String(),
		strings.Replace(u.String(), "me:s3cret@", "t0ken@", 1),
	} {
		r, _ := parseRequirement("fastcalc==9.0")
		_, err := newSdistFinder(DepsOptions{IndexURL: idx}, noEnv, "3.11").fetch(t.Context(), r, t.TempDir())
		if err == nil {
			t.Fatal("fetched a version the index does not have")
		}
		for _, secret := range []string{"s3cret", "wr0ng", "t0ken"} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("the error shows a credential: %v", err)
			}
		}
		if !strings.Contains(err.Error(), "xxxxx@127.0.0.1") {
			t.Errorf("the error does not name the index, masked: %v", err)
		}
	}
}

// TestSdistFinderTooLarge: an sdist over the limit is refused, whether or not the server
// says its length first, and nothing is left of it.
func TestSdistFinderTooLarge(t *testing.T) {
	big := []byte(strings.Repeat("x", 4096))
	page := map[string]fakePage{"/simple/fastcalc/": {body: `<a href="/files/fastcalc-1.0.tar.gz">a</a>`}}
	sized := newFakeIndex(t, page, func(ix *fakeIndex) { ix.files = map[string][]byte{"fastcalc-1.0.tar.gz": big} })
	chunked := newFakeIndex(t, page, func(ix *fakeIndex) { ix.files, ix.chunked = map[string][]byte{"fastcalc-1.0.tar.gz": big}, true })
	for _, ix := range []*fakeIndex{sized, chunked} {
		t.Run(fmt.Sprintf("chunked=%v", ix.chunked), func(t *testing.T) {
			r, _ := parseRequirement("fastcalc==1.0")
			f := newSdistFinder(DepsOptions{IndexURL: ix.URL + "/simple/"}, noEnv, "3.11")
			f.maxSdist = 1000
			dir := t.TempDir()
			_, err := f.fetch(t.Context(), r, dir)
			if err == nil || !strings.Contains(err.Error(), "refused") {
				t.Fatalf("err = %v, want a refusal", err)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("the refused download left %d files", len(entries))
			}
		})
	}
	t.Run("page", func(t *testing.T) {
		r, _ := parseRequirement("fastcalc")
		f := newSdistFinder(DepsOptions{IndexURL: sized.URL + "/simple/"}, noEnv, "3.11")
		f.maxPage = 10
		if _, err := f.fetch(t.Context(), r, t.TempDir()); err == nil || !strings.Contains(err.Error(), "larger than") {
			t.Fatalf("err = %v, want the page refused", err)
		}
	})
}

// TestSdistFinderCancel: cancelling the context ends a fetch waiting on the index at once.
func TestSdistFinderCancel(t *testing.T) {
	ix := newFakeIndex(t, nil, func(ix *fakeIndex) { ix.block = true })
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	r, _ := parseRequirement("fastcalc==1.0")
	_, err := newSdistFinder(DepsOptions{IndexURL: ix.URL + "/simple/"}, noEnv, "3.11").fetch(ctx, r, t.TempDir())
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the fetch took %v to end after the cancel", d)
	}
}

// TestFetchSdist: fetchSdist takes a --find-links directory's sdist first, reads a page
// without any index with --no-index, and runs no pip.
func TestFetchSdist(t *testing.T) {
	wh := t.TempDir()
	for _, n := range []string{"fastcalc-1.0.tar.gz", "fastcalc-0.9.tar.gz", "other-2.0.tar.gz"} {
		if err := os.WriteFile(filepath.Join(wh, n), []byte("local"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ix := newFakeIndex(t, map[string]fakePage{"/links/": htmlLinks([]string{"fastcalc-1.1.tar.gz", "other-2.1.tar.gz"}, nil)})
	s := &sdists{o: &Options{
		Deps:    DepsOptions{NoIndex: true, FindLinks: []string{wh, ix.URL + "/links/"}},
		Process: cmdenv.Env{Environ: []string{"PATH=/nonexistent"}}, // no pip to run
	}}
	for spec, want := range map[string]string{
		"fastcalc==1.0": filepath.Join("fastcalc-1.0.tar.gz"),
		"fastcalc<1.0":  filepath.Join("fastcalc-0.9.tar.gz"),
		"fastcalc==1.1": filepath.Join("fastcalc-1.1.tar.gz"),
		"Other>2.0":     filepath.Join("other-2.1.tar.gz"),
	} {
		dir := t.TempDir()
		got, err := s.fetchSdist(t.Context(), spec, "3.11", dir)
		if err != nil {
			t.Fatalf("%s: %v", spec, err)
		}
		if got != filepath.Join(dir, want) {
			t.Errorf("%s: fetched %s, want %s", spec, got, want)
		}
	}
	_, err := s.fetchSdist(t.Context(), "fastcalc==2.0", "3.11", t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "no sdist of fastcalc 2.0 on "+ix.URL+"/links/ (none of its 1 files is 2.0)") {
		t.Errorf("err = %v", err)
	}
	s.o.Deps.FindLinks = []string{wh}
	_, err = s.fetchSdist(t.Context(), "fastcalc==2.0", "3.11", t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "no sdist of fastcalc 2.0 in the --find-links directories") {
		t.Errorf("err = %v", err)
	}
}

// TestPyVersionOrder: versions sort as PEP 440 orders them.
func TestPyVersionOrder(t *testing.T) {
	ordered := []string{"0!0.1", "1.0.dev1", "1.0a1.dev1", "1.0a1", "1.0a2", "1.0b1", "1.0rc1", "1.0", "1.0+local.1", "1.0+local.2", "1.0.post1.dev1", "1.0.post1", "1.0.1", "1.1.dev1", "1.1", "1.10", "2!0.5"}
	for i := range ordered {
		for j := range ordered {
			a, ok1 := parseVersion(ordered[i])
			b, ok2 := parseVersion(ordered[j])
			if !ok1 || !ok2 {
				t.Fatalf("cannot parse %s or %s", ordered[i], ordered[j])
			}
			if got, want := a.Compare(b), cmp.Compare(i, j); got != want {
				t.Errorf("cmp(%s, %s) = %d, want %d", ordered[i], ordered[j], got, want)
			}
		}
	}
	for a, b := range map[string]string{"1.0": "1.0.0", "1.0RC1": "1.0rc1", "1.0-alpha.1": "1.0a1", "1.0c2": "1.0rc2", "v1.0-1": "1.0.post1", "1.0-r2": "1.0.post2", "1.0.dev": "1.0.dev0"} {
		va, _ := parseVersion(a)
		vb, _ := parseVersion(b)
		if va.Compare(vb) != 0 {
			t.Errorf("%s is not %s", a, b)
		}
	}
	for _, bad := range []string{"", "abc", "1.0-foo", "1..0"} {
		if _, ok := parseVersion(bad); ok {
			t.Errorf("read %q as a version", bad)
		}
	}
}

// TestRequirementAllows: the clauses of a requirement, and requires-python.
func TestRequirementAllows(t *testing.T) {
	tests := []struct {
		spec string
		yes  []string
		no   []string
	}{
		{"x==1.0", []string{"1.0", "1.0.0", "1.0+local"}, []string{"1.0.1", "1.0rc1", "1.0.post1"}},
		{"x==1.1.*", []string{"1.1", "1.1.5", "1.1rc1", "1.1.post2"}, []string{"1.10", "1.2"}},
		{"x!=1.1.*", []string{"1.10", "1.0"}, []string{"1.1.3"}},
		{"x~=1.4.2", []string{"1.4.2", "1.4.9"}, []string{"1.5", "1.4.1"}},
		{"x~=2.2", []string{"2.2", "2.9"}, []string{"3.0", "2.1"}},
		{"x<2.0", []string{"1.9", "1.9.post1"}, []string{"2.0", "2.0rc1", "2.0.post1"}},
		{"x>1.0", []string{"1.1", "1.0.1"}, []string{"1.0", "1.0.post1", "1.0+local"}},
		{"x>=1.0,<=1.5,!=1.3", []string{"1.0", "1.5", "1.4"}, []string{"1.3", "1.6", "0.9"}},
		{"x[extra] (>=2)", []string{"2.0"}, []string{"1.0"}},
		{"x===1.0-weird", []string{"1.0-weird"}, []string{"1.0"}},
		{"x; python_version < '3.12'", []string{"1.0"}, nil},
		// Where the library's own prefix matching errs, zero-padding and ~= rewritten:
		{"x==1.0.*", []string{"1", "1.0.3", "1.0rc1"}, []string{"1.1", "2"}},
		{"x!=3.0.*", []string{"3.1", "4"}, []string{"3", "3.0.2"}},
		{"x~=1.0.0", []string{"1", "1.0.5"}, []string{"1.1", "0.9"}},
		{"x~=1.4.5a4", []string{"1.4.5a4", "1.4.5", "1.4.6"}, []string{"1.4.5a3", "1.5"}},
		{"x~=2.2.post3", []string{"2.2.post3", "2.9"}, []string{"2.2", "3.0"}},
		{"x==1!1.*", []string{"1!1", "1!1.5"}, []string{"1!2.0", "1.0", "2!1.0"}},
		{"x!=1!1.*", []string{"1!2.0", "1.0"}, []string{"1!1.5"}},
		{"x==1.*", []string{"1.5"}, []string{"1!1.0"}},
		{"x~=1!2.2", []string{"1!2.2", "1!2.9"}, []string{"1!3.0", "2.5", "1!2.1"}},
		// and its local versions read as PEP 440 normalises them.
		{"x==1.0+ubuntu-1", []string{"1.0+ubuntu.1", "1.0+Ubuntu_1"}, []string{"1.0", "1.0+ubuntu.2"}},
	}
	for _, tc := range tests {
		r, err := parseRequirement(tc.spec)
		if err != nil {
			t.Fatalf("%s: %v", tc.spec, err)
		}
		for _, v := range tc.yes {
			pv, _ := parseVersion(v)
			if !r.allows(pv, v) {
				t.Errorf("%s does not allow %s", tc.spec, v)
			}
		}
		for _, v := range tc.no {
			pv, _ := parseVersion(v)
			if r.allows(pv, v) {
				t.Errorf("%s allows %s", tc.spec, v)
			}
		}
	}
	for _, bad := range []string{"x==", "x=>1", "x @ https://u:p@host/x.tar.gz", "x~=1", "x 1.0", "x==1.0||2.0", "x==1.0rc1.*", "x>=1.0.*", "x~=1.0.*", "x>=1.0+local", "x==1.0.dev1.*"} {
		if _, err := parseRequirement(bad); err == nil {
			t.Errorf("read %q", bad)
		} else if strings.Contains(err.Error(), "u:p") {
			t.Errorf("the error shows a credential: %v", err)
		}
	}
	for spec, want := range map[string]bool{">=3.8": true, ">=3.12": false, "!=3.11.*": false, ">=3.11.2": false, "~=3.9": true, ">=3.8,<4": true, "junk": true, "": true} {
		if got := requiresPythonAllows(spec, "3.11"); got != want {
			t.Errorf("requires-python %q for 3.11: %v, want %v", spec, got, want)
		}
	}
}

// TestEnvProxy: the proxy comes from the build's environment, NO_PROXY obeyed.
func TestEnvProxy(t *testing.T) {
	env := map[string]string{"HTTPS_PROXY": "proxy.corp:3128", "http_proxy": "http://u:p@plain:80", "NO_PROXY": "internal.corp, .sub.example, 10.0.0.0/8, 192.168.1.5, only.port:8443"}
	proxy := envProxy(func(k string) string { return env[k] })
	for target, want := range map[string]string{
		"https://pypi.org/simple/":          "http://proxy.corp:3128",
		"http://pypi.org/simple/":           "http://u:p@plain:80",
		"https://internal.corp/simple/":     "",
		"https://x.internal.corp/simple/":   "",
		"https://sub.example/":              "http://proxy.corp:3128",
		"https://a.sub.example/":            "",
		"https://10.1.2.3/":                 "",
		"https://192.168.1.5/":              "",
		"https://192.168.1.6/":              "http://proxy.corp:3128",
		"https://only.port:8443/":           "",
		"https://only.port/":                "http://proxy.corp:3128",
		"http://127.0.0.1:8080/simple/":     "",
		"http://localhost:8080/simple/":     "",
		"https://notinternal.corp/simple/":  "http://proxy.corp:3128",
		"https://[::1]:8443/simple/":        "",
		"https://files.pythonhosted.org/x/": "http://proxy.corp:3128",
	} {
		req, _ := http.NewRequest(http.MethodGet, target, nil)
		u, err := proxy(req)
		if err != nil {
			t.Fatalf("%s: %v", target, err)
		}
		got := ""
		if u != nil {
			got = u.String()
		}
		if got != want {
			t.Errorf("proxy for %s = %q, want %q", target, got, want)
		}
	}
}

// TestEnvProxyVariables: upper case before lower, as net/http reads them; a proxy that
// cannot be read is an error where it would be used, without its value.
func TestEnvProxyVariables(t *testing.T) {
	env := map[string]string{"HTTP_PROXY": "http://upper:3128", "http_proxy": "http://lower:3128", "no_proxy": "pypi.org",
		"https_proxy": "http://u:s3cret@proxy%zz:3128"}
	proxy := envProxy(func(k string) string { return env[k] })
	for target, want := range map[string]string{
		"http://files.example/":    "http://upper:3128",
		"http://pypi.org/simple/":  "",
		"https://pypi.org/simple/": "",
		"https://[::1]/":           "",
		"https://files.example/":   "error",
	} {
		req, _ := http.NewRequest(http.MethodGet, target, nil)
		u, err := proxy(req)
		got := ""
		switch {
		case err != nil:
			got = "error"
			if !strings.Contains(err.Error(), "https_proxy") || strings.Contains(err.Error(), "s3cret") {
				t.Errorf("proxy for %s: %v", target, err)
			}
		case u != nil:
			got = u.String()
		}
		if got != want {
			t.Errorf("proxy for %s = %q, want %q", target, got, want)
		}
	}
}
