package build

// Fetching an sdist without running any of its code. pip download --no-binary=:all:
// prepares an sdist's metadata by running its build backend (its setup.py) on this
// host, outside the sandbox, and needs setuptools from the index to do it. Here the
// sdist is only read from the package index as the Simple Repository API lists it
// (PEP 503 HTML, PEP 691 JSON), chosen by its file name and the index's metadata
// (PEP 592 yanked, requires-python), downloaded and checked against the index's hash.

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"html"
	"io"
	"math"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

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
// environment (golang.org/x/net/http/httpproxy, which does this, is not a dependency):
// HTTPS_PROXY for https, HTTP_PROXY for http (each upper case first, then lower), never
// for loopback hosts, nor for NO_PROXY's: "*", IP addresses, CIDR ranges and domains
// (example.com is it and its subdomains, .example.com its subdomains only), each with
// an optional :port.
func envProxy(getenv func(string) string) func(*http.Request) (*url.URL, error) {
	get := func(k string) string {
		if v := getenv(k); v != "" {
			return v
		}
		return getenv(strings.ToLower(k))
	}
	httpProxy, httpsProxy, noProxy := get("HTTP_PROXY"), get("HTTPS_PROXY"), get("NO_PROXY")
	return func(r *http.Request) (*url.URL, error) {
		raw := httpProxy
		if r.URL.Scheme == "https" {
			raw = httpsProxy
		}
		if raw == "" || !useProxy(noProxy, r.URL) {
			return nil, nil
		}
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "socks5" && u.Scheme != "socks5h") {
			if u2, err2 := url.Parse("http://" + raw); err2 == nil && u2.Host != "" {
				return u2, nil
			}
			return nil, fmt.Errorf("invalid proxy address %s", redactURL(raw))
		}
		return u, nil
	}
}

// useProxy is whether a request to u goes through the proxy, by NO_PROXY.
func useProxy(noProxy string, u *url.URL) bool {
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return false
	}
	ip := net.ParseIP(host)
	if ip != nil && ip.IsLoopback() {
		return false
	}
	for _, e := range strings.Split(noProxy, ",") {
		e = strings.ToLower(strings.TrimSpace(e))
		switch {
		case e == "":
			continue
		case e == "*":
			return false
		}
		if _, cidr, err := net.ParseCIDR(e); err == nil {
			if ip != nil && cidr.Contains(ip) {
				return false
			}
			continue
		}
		h, p := e, ""
		if hh, pp, err := net.SplitHostPort(e); err == nil {
			h, p = hh, pp
		}
		if p != "" && p != port {
			continue
		}
		if eip := net.ParseIP(h); eip != nil {
			if ip != nil && eip.Equal(ip) {
				return false
			}
			continue
		}
		h = strings.TrimPrefix(h, "*")
		if strings.HasPrefix(h, ".") {
			if strings.HasSuffix(host, h) {
				return false
			}
		} else if host == h || strings.HasSuffix(host, "."+h) {
			return false
		}
	}
	return true
}

// pageFile is one file a page lists.
type pageFile struct {
	name           string // the file name
	url            *url.URL
	hashes         map[string]string // algorithm (lower case) → hex digest
	requiresPython string
	yanked         bool
	src            *sdistSource
	version        pyVersion // an sdist's, once chosen
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
		files, err = parseSimpleHTML(string(body), base)
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

// The HTML of a PEP 503 page, read with regular expressions: golang.org/x/net/html is
// not a dependency and the standard library has no HTML tokenizer. A page is a list of
// <a> elements; only their start tags matter (the file name is the href's last path
// segment, as pip takes it), so the expressions find start tags, quoted attribute
// values kept whole (a raw ">" in data-requires-python=">=3.8" does not end the tag),
// outside comments. Attribute values are HTML-unescaped.
var (
	htmlComment  = regexp.MustCompile(`(?s)<!--.*?-->`)
	htmlStartTag = regexp.MustCompile(`(?i)<(a|base)((?:\s+[^\s"'<>/=]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'=<>` + "`" + `]+))?)*)\s*/?>`)
	htmlAttr     = regexp.MustCompile(`([^\s"'<>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>` + "`" + `]+)))?`)
)

func parseSimpleHTML(body string, base *url.URL) ([]pageFile, error) {
	body = htmlComment.ReplaceAllString(body, "")
	var files []pageFile
	for _, m := range htmlStartTag.FindAllStringSubmatch(body, -1) {
		attrs := map[string]string{}
		for _, a := range htmlAttr.FindAllStringSubmatch(m[2], -1) {
			k := strings.ToLower(a[1])
			if _, dup := attrs[k]; !dup { // the first of a repeated attribute counts, as in HTML
				attrs[k] = html.UnescapeString(a[2] + a[3] + a[4])
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
		if strings.EqualFold(m[1], "base") {
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
	return files, nil
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
		if v.isPre() && !r.allowsPre() {
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
	c := cmpVersion(a.version, b.version)
	return c > 0 || (c == 0 && b.yanked && !a.yanked)
}

// pageSummary says, in a few words, what a page without a fitting sdist has: the files
// of the version pinned (or all), and the sdists skipped and why.
func pageSummary(r requirement, files []pageFile, rejected []string) string {
	const most = 4
	var names []string
	pin, _ := parseVersion(r.pin())
	for _, pf := range files {
		raw, ok := fileVersion(pf.name, r.name)
		if !ok {
			continue
		}
		if r.pin() != "" {
			if v, ok := parseVersion(raw); !ok || cmpVersion(v.public(), pin) != 0 {
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
}

type verClause struct {
	op       string // ==, !=, <=, >=, <, >, ~=, ===
	raw      string // the version as written (for ===)
	v        pyVersion
	wildcard bool // ==1.2.* / !=1.2.*
}

var reqHead = regexp.MustCompile(`^\s*([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(?:\[[^\]]*\])?\s*(.*)$`)
var verClausePattern = regexp.MustCompile(`^\s*(~=|===|==|!=|<=|>=|<|>)\s*(\S+)\s*$`)

// parseRequirement reads a requirement as pip writes it; environment markers after ";"
// are dropped (pip evaluated them already).
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
		cm := verClausePattern.FindStringSubmatch(c)
		if cm == nil {
			return requirement{}, fmt.Errorf("cannot read the version %q of the requirement %s", strings.TrimSpace(c), spec)
		}
		vc := verClause{op: cm[1], raw: cm[2]}
		if vc.op != "===" {
			s := vc.raw
			if (vc.op == "==" || vc.op == "!=") && strings.HasSuffix(s, ".*") {
				vc.wildcard, s = true, strings.TrimSuffix(s, ".*")
			}
			v, ok := parseVersion(s)
			if !ok || (vc.wildcard && (v.pre != 0 || v.post >= 0 || v.dev >= 0 || v.local != "")) || (vc.op == "~=" && len(v.release) < 2) {
				return requirement{}, fmt.Errorf("cannot read the version %q of the requirement %s", strings.TrimSpace(c), spec)
			}
			vc.v = v
		}
		r.clauses = append(r.clauses, vc)
	}
	return r, nil
}

// pin is the one version r asks for exactly (==V, ===V), or "".
func (r requirement) pin() string {
	if len(r.clauses) == 1 && (r.clauses[0].op == "==" && !r.clauses[0].wildcard || r.clauses[0].op == "===") {
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

// allowsPre is whether r takes pre-releases before final releases: when a clause names
// one (PEP 440).
func (r requirement) allowsPre() bool {
	for _, c := range r.clauses {
		if c.op != "!=" && c.op != "===" && c.v.isPre() {
			return true
		}
	}
	return false
}

// allows is whether version v (raw as written) satisfies every clause of r.
func (r requirement) allows(v pyVersion, raw string) bool {
	for _, c := range r.clauses {
		if !c.allows(v, raw) {
			return false
		}
	}
	return true
}

func (c verClause) allows(v pyVersion, raw string) bool {
	switch c.op {
	case "===":
		return strings.EqualFold(strings.TrimSpace(raw), c.raw)
	case "==":
		return c.equal(v)
	case "!=":
		return !c.equal(v)
	case "<=":
		return cmpVersion(v.public(), c.v) <= 0
	case ">=":
		return cmpVersion(v.public(), c.v) >= 0
	case "<": // not a pre-release of V itself, unless V is one
		return cmpVersion(v.public(), c.v) < 0 && !(v.isPre() && !c.v.isPre() && v.sameBase(c.v))
	case ">": // not a post-release or local version of V itself, unless V is one
		return cmpVersion(v.public(), c.v) > 0 && !(v.post >= 0 && c.v.post < 0 && v.sameBase(c.v)) && !(v.local != "" && v.sameBase(c.v))
	case "~=":
		prefix := verClause{op: "==", v: pyVersion{epoch: c.v.epoch, release: c.v.release[:len(c.v.release)-1], post: -1, dev: -1}, wildcard: true}
		return cmpVersion(v.public(), c.v) >= 0 && prefix.equal(v)
	}
	return false
}

// equal is ==: the same version (zero-padded; v's local version ignored unless the
// clause has one), or with a wildcard, the same release prefix.
func (c verClause) equal(v pyVersion) bool {
	if c.wildcard {
		if v.epoch != c.v.epoch {
			return false
		}
		for i, n := range c.v.release {
			if v.releaseAt(i) != n {
				return false
			}
		}
		return true
	}
	if c.v.local == "" {
		v = v.public()
	}
	return cmpVersion(v, c.v) == 0
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

// pyVersion is a PEP 440 version: N!R.R.R[{a|b|rc}N][.postN][.devN][+local], the
// spellings PEP 440 normalises (1.0-alpha.1, 1.0c1, 1.0-1, v1.0, case) read too.
type pyVersion struct {
	epoch   int
	release []int
	pre     int // 0 none, 1 a, 2 b, 3 rc
	preN    int
	post    int    // -1: none
	dev     int    // -1: none
	local   string // normalised: lower case, "." separated; "" none
}

var versionPattern = regexp.MustCompile(`(?i)^\s*v?(?:([0-9]+)!)?([0-9]+(?:\.[0-9]+)*)` +
	`(?:[-_.]?(a|b|c|rc|alpha|beta|pre|preview)[-_.]?([0-9]+)?)?` +
	`(?:-([0-9]+)|[-_.]?(post|rev|r)[-_.]?([0-9]+)?)?` +
	`(?:[-_.]?(dev)[-_.]?([0-9]+)?)?` +
	`(?:\+([a-z0-9]+(?:[-_.][a-z0-9]+)*))?\s*$`)

func parseVersion(s string) (pyVersion, bool) {
	m := versionPattern.FindStringSubmatch(s)
	if m == nil {
		return pyVersion{}, false
	}
	ok := true
	num := func(s string) int {
		if s == "" {
			return 0
		}
		n, err := strconv.Atoi(s)
		if err != nil {
			ok = false
		}
		return n
	}
	v := pyVersion{epoch: num(m[1]), post: -1, dev: -1}
	for _, r := range strings.Split(m[2], ".") {
		v.release = append(v.release, num(r))
	}
	if m[3] != "" {
		v.pre = map[string]int{"a": 1, "alpha": 1, "b": 2, "beta": 2, "c": 3, "rc": 3, "pre": 3, "preview": 3}[strings.ToLower(m[3])]
		v.preN = num(m[4])
	}
	switch {
	case m[5] != "":
		v.post = num(m[5])
	case m[6] != "":
		v.post = num(m[7])
	}
	if m[8] != "" {
		v.dev = num(m[9])
	}
	if m[10] != "" {
		v.local = strings.ToLower(strings.NewReplacer("-", ".", "_", ".").Replace(m[10]))
	}
	return v, ok
}

func (v pyVersion) isPre() bool { return v.pre != 0 || v.dev >= 0 }

// public is v without its local version.
func (v pyVersion) public() pyVersion { v.local = ""; return v }

// sameBase is whether v and w have the same epoch and release.
func (v pyVersion) sameBase(w pyVersion) bool {
	return cmpVersion(pyVersion{epoch: v.epoch, release: v.release, post: -1, dev: -1}, pyVersion{epoch: w.epoch, release: w.release, post: -1, dev: -1}) == 0
}

func (v pyVersion) releaseAt(i int) int {
	if i < len(v.release) {
		return v.release[i]
	}
	return 0
}

// cmpVersion orders versions as PEP 440 does: epoch, release (zero-padded), then
// dev-only releases before pre-releases before the final release, post-releases after
// it, a dev release before its parent, and a local version after the public one.
func cmpVersion(a, b pyVersion) int {
	if c := cmpInt(a.epoch, b.epoch); c != 0 {
		return c
	}
	for i := range max(len(a.release), len(b.release)) {
		if c := cmpInt(a.releaseAt(i), b.releaseAt(i)); c != 0 {
			return c
		}
	}
	preKey := func(v pyVersion) (int, int) {
		switch {
		case v.pre == 0 && v.post < 0 && v.dev >= 0:
			return -1, 0 // 1.0.dev1 < 1.0a1
		case v.pre == 0:
			return 4, 0 // a final release after its pre-releases
		}
		return v.pre, v.preN
	}
	ak, an := preKey(a)
	bk, bn := preKey(b)
	if c := cmpInt(ak, bk); c != 0 {
		return c
	}
	if c := cmpInt(an, bn); c != 0 {
		return c
	}
	if c := cmpInt(a.post, b.post); c != 0 {
		return c
	}
	devKey := func(v pyVersion) int {
		if v.dev < 0 {
			return math.MaxInt
		}
		return v.dev
	}
	if c := cmpInt(devKey(a), devKey(b)); c != 0 {
		return c
	}
	return cmpLocal(a.local, b.local)
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// cmpLocal orders local versions: none first; then segment by segment, numbers after
// words, numbers by value, words alphabetically; a longer one after its prefix.
func cmpLocal(a, b string) int {
	if a == b {
		return 0
	}
	if a == "" {
		return -1
	}
	if b == "" {
		return 1
	}
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := range min(len(as), len(bs)) {
		an, aerr := strconv.Atoi(as[i])
		bn, berr := strconv.Atoi(bs[i])
		switch {
		case aerr == nil && berr == nil:
			if c := cmpInt(an, bn); c != 0 {
				return c
			}
		case aerr == nil:
			return 1
		case berr == nil:
			return -1
		default:
			if c := strings.Compare(as[i], bs[i]); c != 0 {
				return c
			}
		}
	}
	return cmpInt(len(as), len(bs))
}
