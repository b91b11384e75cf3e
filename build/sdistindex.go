package build

// Fetching an sdist without running any of its code. pip download --no-binary=:all:
// prepares an sdist's metadata by running its build backend (its setup.py) on this
// host, outside the sandbox, and needs setuptools from the index to do it. Here the
// sdist is only read from the package index as the Simple Repository API lists it
// (PEP 503 HTML, PEP 691 JSON), chosen by its file name and the index's metadata
// (PEP 592 yanked, requires-python), downloaded and checked against the index's hash.

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	version "github.com/aquasecurity/go-pep440-version"
	"golang.org/x/net/html"
	"golang.org/x/net/http/httpproxy"

	"github.com/pycontainer/pycontainer/internal/cmdenv"
)

// defaultIndexURL is pip's index when none is given.
const defaultIndexURL = "https://pypi.org/simple/"

// Limits on what an index may send.
const (
	sdistMaxBytes = 512 << 20 // one sdist
	pageMaxBytes  = 64 << 20  // one project's page (PyPI's largest are a few MiB)
)

// simpleAccept asks for PEP 691 JSON, HTML (PEP 503) from an index without it.
const simpleAccept = "application/vnd.pypi.simple.v1+json, text/html;q=0.1"

// sdistSource is one place sdists are listed: an index (a project's page is
// INDEX/NAME/) or a --find-links page (one page listing files of any project).
type sdistSource struct {
	base      *url.URL      // the URL without its userinfo
	user      *url.Userinfo // the URL's credentials, sent as Basic auth to its own host only
	shown     string        // the URL for messages, credentials masked
	findLinks bool
}

// sdistFinder reads the build's indexes and --find-links pages for sdists.
type sdistFinder struct {
	client   *http.Client
	sources  []sdistSource
	skipped  []string // sources it cannot read, for messages
	python   string   // the target's Python, "3.11": files whose requires-python excludes it are skipped
	maxSdist int64
	maxPage  int64
}

// newSdistFinder reads the sources of d, with pip's environment variables in env as pip
// reads them (PIP_INDEX_URL, PIP_EXTRA_INDEX_URL, PIP_FIND_LINKS, PIP_NO_INDEX), and
// connects through env's proxy.
func newSdistFinder(d DepsOptions, env cmdenv.Env, python string) *sdistFinder {
	f := &sdistFinder{client: sdistClient(env), python: python, maxSdist: sdistMaxBytes, maxPage: pageMaxBytes}
	var indexes []string
	if !d.NoIndex && !pipTruthy(env.Getenv("PIP_NO_INDEX")) {
		idx := d.IndexURL
		if idx == "" {
			idx = env.Getenv("PIP_INDEX_URL")
		}
		if idx == "" {
			idx = defaultIndexURL
		}
		indexes = append(append([]string{idx}, strings.Fields(env.Getenv("PIP_EXTRA_INDEX_URL"))...), d.ExtraIndexURLs...)
	}
	seen := map[string]bool{}
	add := func(raw string, findLinks bool) {
		if seen[raw] {
			return
		}
		seen[raw] = true
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "file") || (u.Scheme == "file" && findLinks) {
			if !findLinks { // a find-links directory is localSdist's
				f.skipped = append(f.skipped, redactURL(raw)+" (not an http, https or file URL)")
			}
			return
		}
		src := sdistSource{user: u.User, shown: redactURL(raw), findLinks: findLinks}
		u.User = nil
		src.base = u
		f.sources = append(f.sources, src)
	}
	for _, idx := range indexes {
		add(idx, false)
	}
	for _, fl := range sdistFindLinks(d, env) {
		add(fl, true)
	}
	return f
}

// sdistFindLinks are the --find-links entries pip is given: PIP_FIND_LINKS's, then the
// flags'.
func sdistFindLinks(d DepsOptions, env cmdenv.Env) []string {
	return append(strings.Fields(env.Getenv("PIP_FIND_LINKS")), d.FindLinks...)
}

// pipTruthy is whether pip reads a boolean environment variable as set.
func pipTruthy(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "y", "yes", "t", "true", "on":
		return true
	}
	return false
}

// sdistClient is an HTTP client through the proxy env names (not the process's own
// environment: a build has its own), with file: URLs read from the file system.
func sdistClient(env cmdenv.Env) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = envProxy(env.Getenv)
	tr.ResponseHeaderTimeout = time.Minute
	tr.RegisterProtocol("file", http.NewFileTransport(http.Dir("/")))
	return &http.Client{Transport: tr}
}

// envProxy is http.ProxyFromEnvironment over getenv instead of the process's
// environment: httpproxy's rules (HTTPS_PROXY for https, HTTP_PROXY for http, never for
// localhost or loopback addresses, nor for NO_PROXY's hosts, domains, IP addresses and
// CIDR ranges), each variable upper case first, then lower, as net/http reads them.
// A proxy setting httpproxy cannot read, which it would drop and connect directly, is
// an error for the requests it would carry.
func envProxy(getenv func(string) string) func(*http.Request) (*url.URL, error) {
	get := func(k string) (value, name string) {
		for _, n := range []string{k, strings.ToLower(k)} {
			if v := getenv(n); v != "" {
				return v, n
			}
		}
		return "", ""
	}
	httpProxy, httpName := get("HTTP_PROXY")
	httpsProxy, httpsName := get("HTTPS_PROXY")
	noProxy, _ := get("NO_PROXY")
	cfg := httpproxy.Config{HTTPProxy: httpProxy, HTTPSProxy: httpsProxy, NoProxy: noProxy}
	proxy := cfg.ProxyFunc()
	proxied := (&httpproxy.Config{HTTPProxy: "proxy", HTTPSProxy: "proxy", NoProxy: noProxy}).ProxyFunc() // NO_PROXY's answer alone
	return func(r *http.Request) (*url.URL, error) {
		u, err := proxy(r.URL)
		if u != nil || err != nil {
			return u, err
		}
		raw, name := httpProxy, httpName
		if r.URL.Scheme == "https" {
			raw, name = httpsProxy, httpsName
		}
		if via, _ := proxied(r.URL); raw != "" && via != nil {
			return nil, fmt.Errorf("%s is not a proxy address", name) // not its value, which may hold a password
		}
		return nil, nil
	}
}

// pageFile is one file a page lists.
type pageFile struct {
	name           string // the file name
	url            *url.URL
	hashes         map[string]string // algorithm (lower case) → hex digest
	requiresPython string
	yanked         bool
	src            *sdistSource
	version        version.Version // an sdist's, once chosen
}

// NoSdistError is a package no source has an sdist of that fits.
type NoSdistError struct {
	Want    string   // the package and version, as in "fastcalc 1.0"
	Sources []string // each source and what it has, "https://pypi.org/simple/ (files: …)"
	Errs    []error  // the sources that could not be read
}

func (e *NoSdistError) Error() string {
	if len(e.Sources) == 0 {
		return fmt.Sprintf("no sdist of %s in the --find-links directories, and no index or --find-links page to read (--no-index)", e.Want)
	}
	return fmt.Sprintf("no sdist of %s on %s", e.Want, strings.Join(e.Sources, ", "))
}

func (e *NoSdistError) Unwrap() []error { return e.Errs }

// fetch finds the sdist r asks for and downloads it into dir. A pinned version is
// taken from the first source that has it; else the highest version any source has.
func (f *sdistFinder) fetch(ctx context.Context, r requirement, dir string) (string, error) {
	noSdist := &NoSdistError{Want: r.String()}
	var best *pageFile
	for i := range f.sources {
		src := &f.sources[i]
		files, err := f.page(ctx, src, r.name)
		if err != nil {
			if ctx.Err() != nil {
				return "", fmt.Errorf("sdist of %s: %w", r, context.Cause(ctx))
			}
			noSdist.Sources = append(noSdist.Sources, fmt.Sprintf("%s (%v)", src.shown, err))
			noSdist.Errs = append(noSdist.Errs, err)
			continue
		}
		pick, why := chooseSdist(r, f.python, files)
		if pick == nil {
			noSdist.Sources = append(noSdist.Sources, fmt.Sprintf("%s (%s)", src.shown, why))
			continue
		}
		if better(pick, best) {
			best = pick
		}
		if r.pin() != "" && !best.yanked {
			break
		}
	}
	if best == nil {
		noSdist.Sources = append(noSdist.Sources, f.skipped...)
		return "", noSdist
	}
	return f.download(ctx, best, dir)
}

// page lists the files src has of project name: an index's page of the project, or
// the files of a --find-links page named for it.
func (f *sdistFinder) page(ctx context.Context, src *sdistSource, name string) ([]pageFile, error) {
	u := *src.base
	if !src.findLinks {
		u = *u.JoinPath(normName(name))
		if !strings.HasPrefix(u.Path, "/") {
			u.Path = "/" + u.Path
		}
		u.Path += "/"
		u.RawPath = ""
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("read the page of %s: %w", name, err)
	}
	req.Header.Set("Accept", simpleAccept)
	f.auth(req, src)
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("read the page of %s: %w", name, unwrapURLError(err))
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		if src.findLinks {
			return nil, fmt.Errorf("the page is not there: HTTP %d", resp.StatusCode)
		}
		return nil, fmt.Errorf("no such project: HTTP %d", resp.StatusCode)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("read the page of %s: HTTP %s", name, resp.Status)
	}
	if resp.ContentLength > f.maxPage {
		return nil, fmt.Errorf("the page of %s is larger than %d MiB", name, f.maxPage>>20)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, f.maxPage+1))
	if err != nil {
		return nil, fmt.Errorf("read the page of %s: %w", name, unwrapURLError(err))
	}
	if int64(len(body)) > f.maxPage {
		return nil, fmt.Errorf("the page of %s is larger than %d MiB", name, f.maxPage>>20)
	}
	base := resp.Request.URL // after redirects: relative links are relative to it
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	var files []pageFile
	if mt == "application/vnd.pypi.simple.v1+json" || mt == "application/vnd.pypi.simple.latest+json" {
		files, err = parseSimpleJSON(body, base)
	} else {
		files, err = parseSimpleHTML(body, base)
	}
	if err != nil {
		return nil, fmt.Errorf("the page of %s: %w", name, err)
	}
	if src.findLinks { // a page of any project's files
		files = slices.DeleteFunc(files, func(pf pageFile) bool { _, ok := fileVersion(pf.name, name); return !ok })
	}
	for i := range files {
		files[i].src = src
	}
	return files, nil
}

// auth gives req the source's credentials when it goes to the source's own scheme and
// host (a file link may point at a CDN, which must not see them).
func (f *sdistFinder) auth(req *http.Request, src *sdistSource) {
	if src.user == nil || req.URL.Scheme != src.base.Scheme || !strings.EqualFold(req.URL.Host, src.base.Host) {
		return
	}
	pw, _ := src.user.Password()
	req.SetBasicAuth(src.user.Username(), pw)
}

// unwrapURLError drops net/http's "Get URL:" from err: messages name the URL
// themselves, credentials masked.
func unwrapURLError(err error) error {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		return ue.Err
	}
	return err
}

// simpleJSON is a PEP 691 project page.
type simpleJSON struct {
	Meta struct {
		APIVersion string `json:"api-version"`
	} `json:"meta"`
	Files []struct {
		Filename       string            `json:"filename"`
		URL            string            `json:"url"`
		Hashes         map[string]string `json:"hashes"`
		RequiresPython *string           `json:"requires-python"`
		Yanked         json.RawMessage   `json:"yanked"`
	} `json:"files"`
}

func parseSimpleJSON(body []byte, base *url.URL) ([]pageFile, error) {
	var page simpleJSON
	if err := json.Unmarshal(body, &page); err != nil {
		return nil, fmt.Errorf("not PEP 691 JSON: %w", err)
	}
	if major, _, _ := strings.Cut(page.Meta.APIVersion, "."); major != "1" {
		return nil, fmt.Errorf("simple API version %q, not 1.x", page.Meta.APIVersion)
	}
	var files []pageFile
	for _, jf := range page.Files {
		u, err := base.Parse(jf.URL)
		if err != nil || !safeFileName(jf.Filename) {
			continue
		}
		pf := pageFile{name: jf.Filename, url: u, hashes: map[string]string{}}
		for k, v := range jf.Hashes {
			pf.hashes[strings.ToLower(k)] = strings.ToLower(v)
		}
		if jf.RequiresPython != nil {
			pf.requiresPython = *jf.RequiresPython
		}
		// yanked: true, or a string (the reason, maybe empty); false or absent is not.
		y := strings.TrimSpace(string(jf.Yanked))
		pf.yanked = y != "" && y != "false" && y != "null"
		files = append(files, pf)
	}
	return files, nil
}

// parseSimpleHTML reads the <a> elements of a PEP 503 page (the file name is the
// href's last path segment, as pip takes it), relative to the page's URL or a <base>
// before them, with golang.org/x/net/html's tokenizer: attribute values unescaped,
// comments and raw text (<script>, <style>) skipped.
func parseSimpleHTML(body []byte, base *url.URL) ([]pageFile, error) {
	var files []pageFile
	z := html.NewTokenizer(bytes.NewReader(body))
	for {
		switch z.Next() {
		case html.ErrorToken:
			if err := z.Err(); err != io.EOF {
				return nil, fmt.Errorf("not HTML: %w", err)
			}
			return files, nil
		case html.StartTagToken, html.SelfClosingTagToken:
		default:
			continue
		}
		t, more := z.TagName()
		tag := string(t) // lower case
		if tag != "a" && tag != "base" {
			continue
		}
		attrs := map[string]string{}
		for more {
			var k, v []byte
			k, v, more = z.TagAttr()
			if _, dup := attrs[string(k)]; !dup { // the first of a repeated attribute counts, as in HTML
				attrs[string(k)] = string(v)
			}
		}
		href, ok := attrs["href"]
		if !ok {
			continue
		}
		u, err := base.Parse(strings.TrimSpace(href))
		if err != nil {
			continue
		}
		if tag == "base" {
			base = u
			continue
		}
		name := path.Base(u.Path)
		if !safeFileName(name) {
			continue
		}
		pf := pageFile{name: name, url: u, hashes: map[string]string{}, requiresPython: attrs["data-requires-python"]}
		_, pf.yanked = attrs["data-yanked"]
		if alg, sum, ok := strings.Cut(u.Fragment, "="); ok {
			pf.hashes[strings.ToLower(alg)] = strings.ToLower(sum)
		}
		files = append(files, pf)
	}
}

// safeFileName is whether a name from a page may name a file in a directory of ours.
func safeFileName(n string) bool {
	return n != "" && n != "." && n != ".." && !strings.HasPrefix(n, ".") && !strings.ContainsAny(n, "/\\\x00")
}

// fileVersion is the version in the file name of a distribution of project:
// NAME-VERSION.tar.gz / .zip for an sdist, NAME-VERSION-… .whl for a wheel, the name
// compared as PEP 503 normalises it.
func fileVersion(file, project string) (string, bool) {
	var stem string
	switch {
	case strings.HasSuffix(file, ".whl"):
		parts := strings.Split(strings.TrimSuffix(file, ".whl"), "-")
		if len(parts) < 5 || normName(parts[0]) != normName(project) {
			return "", false
		}
		return parts[1], true
	case isSdist(file):
		stem = strings.TrimSuffix(strings.TrimSuffix(file, ".tar.gz"), ".zip")
	default:
		return "", false
	}
	want := normName(project)
	for i := 0; i < len(stem); i++ {
		if stem[i] == '-' && normName(stem[:i]) == want {
			return stem[i+1:], stem[i+1:] != ""
		}
	}
	return "", false
}

// chooseSdist picks from a page's files the sdist r asks for: of a version r allows,
// whose requires-python admits python, not yanked (PEP 592: a yanked file only for an
// exact pin, and only when its version has no other), the highest version, final
// releases before pre-releases (PEP 440). With none it says what the page has.
func chooseSdist(r requirement, python string, files []pageFile) (*pageFile, string) {
	var pick *pageFile
	var rejected []string
	var pres []*pageFile
	pin := r.pin()
	for i := range files {
		pf := &files[i]
		raw, ok := fileVersion(pf.name, r.name)
		if !ok || !isSdist(pf.name) {
			continue
		}
		v, ok := parseVersion(raw)
		if !ok || !r.allows(v, raw) {
			continue
		}
		pf.version = v
		if !requiresPythonAllows(pf.requiresPython, python) {
			rejected = append(rejected, fmt.Sprintf("%s requires Python %s", pf.name, pf.requiresPython))
			continue
		}
		if pf.yanked && pin == "" {
			rejected = append(rejected, pf.name+" is yanked")
			continue
		}
		if v.IsPreRelease() && !r.pre {
			pres = append(pres, pf)
			continue
		}
		if better(pf, pick) {
			pick = pf
		}
	}
	if pick == nil { // only pre-releases fit: PEP 440 takes them then
		for _, pf := range pres {
			if better(pf, pick) {
				pick = pf
			}
		}
	}
	if pick != nil {
		return pick, ""
	}
	return nil, pageSummary(r, files, rejected)
}

// better is whether a is a better pick than b: a higher version, or the same one not
// yanked where b is.
func better(a, b *pageFile) bool {
	if b == nil {
		return true
	}
	c := a.version.Compare(b.version)
	return c > 0 || (c == 0 && b.yanked && !a.yanked)
}

// pageSummary says, in a few words, what a page without a fitting sdist has: the files
// of the version pinned (or all), and the sdists skipped and why.
func pageSummary(r requirement, files []pageFile, rejected []string) string {
	const most = 4
	var names []string
	for _, pf := range files {
		raw, ok := fileVersion(pf.name, r.name)
		if !ok {
			continue
		}
		if r.pin() != "" {
			if v, ok := parseVersion(raw); !ok || !r.allows(v, raw) {
				continue
			}
		}
		names = append(names, pf.name)
	}
	if len(rejected) > 0 {
		return strings.Join(rejected, ", ")
	}
	switch {
	case len(names) == 0 && len(files) == 0:
		return "no files"
	case len(names) == 0:
		return fmt.Sprintf("none of its %d files is %s", len(files), r.pin())
	case len(names) > most:
		return fmt.Sprintf("files: %s, … %d more", strings.Join(names[len(names)-most:], ", "), len(names)-most)
	}
	return "files: " + strings.Join(names, ", ")
}

// download puts pf into dir, under its name, through a temporary file: checked against
// every hash the index gives (sha256, sha384, sha512, md5; none given, none checked, as
// pip does), at most f.maxSdist bytes.
func (f *sdistFinder) download(ctx context.Context, pf *pageFile, dir string) (string, error) {
	shown := redactURL(pf.url.String())
	u := *pf.url
	u.Fragment, u.RawFragment = "", ""
	user := u.User
	u.User = nil
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", fmt.Errorf("download %s: %w", shown, err)
	}
	req.Header.Set("Accept-Encoding", "identity") // a .tar.gz is kept as it is, not un-gzipped
	if user != nil {
		pw, _ := user.Password()
		req.SetBasicAuth(user.Username(), pw)
	} else {
		f.auth(req, pf.src)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return "", fmt.Errorf("download %s: %w", shown, context.Cause(ctx))
		}
		return "", fmt.Errorf("download %s: %w", shown, unwrapURLError(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("download %s: HTTP %s", shown, resp.Status)
	}
	tooBig := fmt.Errorf("download %s: larger than %d MiB; refused", shown, f.maxSdist>>20)
	if resp.ContentLength > f.maxSdist {
		return "", tooBig
	}
	sums := map[string]hash.Hash{}
	for alg := range pf.hashes {
		if h := newHash(alg); h != nil {
			sums[alg] = h
		}
	}
	tmp, err := os.CreateTemp(dir, ".download-*")
	if err != nil {
		return "", fmt.Errorf("download %s: %w", shown, err)
	}
	defer os.Remove(tmp.Name()) // gone once renamed
	w := []io.Writer{tmp}
	for _, h := range sums {
		w = append(w, h)
	}
	n, err := io.Copy(io.MultiWriter(w...), io.LimitReader(resp.Body, f.maxSdist+1))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	switch {
	case err != nil && ctx.Err() != nil:
		return "", fmt.Errorf("download %s: %w", shown, context.Cause(ctx))
	case err != nil:
		return "", fmt.Errorf("download %s: %w", shown, unwrapURLError(err))
	case n > f.maxSdist:
		return "", tooBig
	}
	for alg, h := range sums {
		if got := hex.EncodeToString(h.Sum(nil)); got != pf.hashes[alg] {
			return "", fmt.Errorf("download %s: its %s is %s, the index says %s; refused", shown, alg, got, pf.hashes[alg])
		}
	}
	dst := filepath.Join(dir, pf.name)
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return "", fmt.Errorf("download %s: %w", shown, err)
	}
	return dst, nil
}

func newHash(alg string) hash.Hash {
	switch alg {
	case "sha256":
		return sha256.New()
	case "sha384":
		return sha512.New384()
	case "sha512":
		return sha512.New()
	case "md5":
		return md5.New()
	}
	return nil
}

// requirement is what pip names a package by in a failure: a name, extras (ignored),
// and version clauses, e.g. fastcalc==1.0 or fastcalc<2,>=1.0.
type requirement struct {
	name    string
	spec    string // the clauses as written, for messages
	clauses []verClause
	pre     bool // a clause names a pre-release (PEP 440: then pre-releases are taken)
	pad     int  // release segments of the longest clause version (see padRelease)
}

type verClause struct {
	op, raw string              // ==, !=, <=, >=, <, >, ~=, ===; the version as written
	check   *version.Specifiers // the clause as PEP 440 reads it; nil for === (see allows)
	// A prefix match (==V.*, !=V.*, ~=V) has its epoch ("1!", or "") compared here and
	// the rest by check: the library's prefix matching misreads an epoch.
	prefix bool
	epoch  string
}

var reqHead = regexp.MustCompile(`^\s*([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(?:\[[^\]]*\])?\s*(.*)$`)
var verClausePattern = regexp.MustCompile(`^\s*(~=|===|==|!=|<=|>=|<|>)\s*(\S+)\s*$`)

// parseRequirement reads a requirement as pip writes it; environment markers after ";"
// are dropped (pip evaluated them already). Each clause is one PEP 440 specifier with an
// operator, read by go-pep440-version but for ===, which names a version as written.
func parseRequirement(spec string) (requirement, error) {
	m := reqHead.FindStringSubmatch(spec)
	if m == nil {
		return requirement{}, fmt.Errorf("cannot read the requirement %q", spec)
	}
	r := requirement{name: m[1]}
	rest, _, _ := strings.Cut(m[2], ";")
	rest = strings.TrimSpace(rest)
	if strings.HasPrefix(rest, "(") && strings.HasSuffix(rest, ")") {
		rest = strings.TrimSpace(rest[1 : len(rest)-1])
	}
	if strings.HasPrefix(rest, "@") {
		return requirement{}, fmt.Errorf("%s is a direct reference (%s), not a package on an index", r.name, redactURL(strings.TrimSpace(rest[1:])))
	}
	if rest == "" {
		return r, nil
	}
	r.spec = rest
	for _, c := range strings.Split(rest, ",") {
		bad := fmt.Errorf("cannot read the version %q of the requirement %s", strings.TrimSpace(c), spec)
		cm := verClausePattern.FindStringSubmatch(c)
		if cm == nil {
			return requirement{}, bad
		}
		vc := verClause{op: cm[1], raw: cm[2]}
		if vc.op != "===" {
			s, wildcard := strings.CutSuffix(vc.raw, ".*")
			v, ok := parseVersion(s)
			// A wildcard follows a release alone (PEP 440; the library reads one after a
			// pre- or post-release, and wrongly).
			if !ok || wildcard && v.String() != v.BaseVersion() {
				return requirement{}, bad
			}
			epoch, ev := splitEpoch(v)
			segs := strings.Split(ev.BaseVersion(), ".")
			text := vc.op + v.String()
			switch {
			case wildcard:
				text = vc.op + ev.String() + ".*"
			case vc.op == "~=" && len(segs) >= 2:
				// ~=V is >=V and V's release but its last segment as a prefix, any
				// suffix ignored (PEP 440: ~=1.4.5a4 is 1.4.*; the library takes 1.4.5.*).
				text = ">=" + ev.String() + ",==" + strings.Join(segs[:len(segs)-1], ".") + ".*"
			}
			vc.prefix, vc.epoch = wildcard || vc.op == "~=", epoch
			check, err := version.NewSpecifiers(text)
			if err != nil {
				return requirement{}, bad
			}
			vc.check = &check
			r.pad = max(r.pad, len(segs))
			if vc.op != "!=" && v.IsPreRelease() {
				r.pre = true
			}
		}
		r.clauses = append(r.clauses, vc)
	}
	return r, nil
}

// pin is the one version r asks for exactly (==V, ===V), or "".
func (r requirement) pin() string {
	if len(r.clauses) == 1 && (r.clauses[0].op == "==" && !strings.HasSuffix(r.clauses[0].raw, ".*") || r.clauses[0].op == "===") {
		return r.clauses[0].raw
	}
	return ""
}

func (r requirement) String() string {
	if pin := r.pin(); pin != "" {
		return r.name + " " + pin
	}
	if r.spec != "" {
		return r.name + " " + r.spec
	}
	return r.name
}

// allows is whether version v, read from raw, satisfies every clause of r: === compares
// raw as written (one parseVersion cannot read too), the others v.
func (r requirement) allows(v version.Version, raw string) bool {
	parsed := v.BaseVersion() != ""
	v = padRelease(v, r.pad)
	epoch, ev := splitEpoch(v)
	for _, c := range r.clauses {
		var ok bool
		switch {
		case c.check == nil:
			ok = strings.EqualFold(strings.TrimSpace(raw), c.raw)
		case !parsed:
		case c.prefix && epoch != c.epoch:
			ok = c.op == "!="
		case c.prefix:
			ok = c.check.Check(ev)
		default:
			ok = c.check.Check(v)
		}
		if !ok {
			return false
		}
	}
	return true
}

// splitEpoch is v's epoch ("1!", or "" for 0) and v without it.
func splitEpoch(v version.Version) (string, version.Version) {
	epoch, _, ok := strings.Cut(v.BaseVersion(), "!")
	if !ok {
		return "", v
	}
	ev, err := version.Parse(strings.TrimPrefix(v.String(), epoch+"!"))
	if err != nil {
		return "", v
	}
	return epoch + "!", ev
}

// padRelease is v with its release zero-padded to n segments: the same version (1 is
// 1.0), which the library's prefix matching needs (it takes 1 for no 1.0.*, and 3 for no
// 3.0.*).
func padRelease(v version.Version, n int) version.Version {
	base := v.BaseVersion()
	k := n - strings.Count(base, ".") - 1
	if base == "" || k <= 0 {
		return v
	}
	p, err := version.Parse(base + strings.Repeat(".0", k) + strings.TrimPrefix(v.String(), base))
	if err != nil {
		return v
	}
	return p
}

// requiresPythonAllows is whether a file's requires-python admits python; one it
// cannot read admits all, as pip takes it.
func requiresPythonAllows(spec, python string) bool {
	spec = strings.TrimSpace(spec)
	if spec == "" || python == "" {
		return true
	}
	r, err := parseRequirement("python" + spec)
	if err != nil {
		return true
	}
	v, ok := parseVersion(python)
	return !ok || r.allows(v, python)
}

// parseVersion reads a PEP 440 version with go-pep440-version, a local version's
// separators normalised to "." first, as PEP 440 does and the library does not.
func parseVersion(s string) (version.Version, bool) {
	if public, local, ok := strings.Cut(s, "+"); ok {
		s = public + "+" + strings.NewReplacer("-", ".", "_", ".").Replace(local)
	}
	v, err := version.Parse(s)
	return v, err == nil
}
