// Command netproxy puts a registry behind a simulated network, for benchmarks whose
// clients are separate processes (regctl, crane, skopeo): a reverse proxy that adds a
// round trip to every request and to every new connection, and paces each response
// body, with faultproxy.Network. With -log it writes one line per request (method,
// path, status, body bytes) and per new connection, so a benchmark can count what
// each tool asks for.
//
//	netproxy -listen 127.0.0.1:5056 -target http://127.0.0.1:5055 -latency 30ms -rate 50MB [-log FILE]
//
// It prints "netproxy: listening on ADDR" once it accepts connections, and stops on
// SIGINT or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pycontainer/pycontainer/internal/faultproxy"
)

func main() {
	if err := run(os.Args[1:]); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "netproxy:", err)
		os.Exit(1)
	}
}

type options struct {
	listen, target, logFile string
	latency                 time.Duration
	rate                    int64
	handshake, token        bool
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("netproxy", flag.ContinueOnError)
	fs.StringVar(&o.listen, "listen", "127.0.0.1:0", "address to listen on")
	fs.StringVar(&o.target, "target", "", "registry to forward to, e.g. http://127.0.0.1:5055")
	fs.DurationVar(&o.latency, "latency", 0, "round trip added to every request")
	rate := fs.String("rate", "0", "response body rate per connection, bytes per second: 50MB, 10MiB, 1000000; 0 is unlimited")
	fs.BoolVar(&o.handshake, "handshake", true, "new connections also wait -latency (the TCP handshake's round trip)")
	fs.StringVar(&o.logFile, "log", "", "append one line per request and per new connection to this file")
	fs.BoolVar(&o.token, "token", false, "put the registry behind token auth (faultproxy.TokenAuth)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.target == "" {
		return o, errors.New("-target is required")
	}
	var err error
	if o.rate, err = parseRate(*rate); err != nil {
		return o, fmt.Errorf("-rate: %w", err)
	}
	return o, nil
}

// parseRate reads a byte rate: a number with an optional decimal (KB, MB, GB) or
// binary (KiB, MiB, GiB) unit and an optional "/s".
func parseRate(s string) (int64, error) {
	s = strings.TrimSuffix(strings.TrimSpace(s), "/s")
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSuffix(s, u.suffix), u.mult
			break
		}
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("%q is not a byte rate", s)
	}
	return int64(v * float64(mult)), nil
}

func run(args []string) error {
	o, err := parseFlags(args)
	if err != nil {
		return err
	}
	target, err := url.Parse(o.target)
	if err != nil {
		return fmt.Errorf("-target: %w", err)
	}
	var h http.Handler = reverseProxy(target)
	if o.token {
		if h, err = tokenAuth(h); err != nil {
			return err
		}
	}
	nw := faultproxy.Network{Latency: o.latency, BytesPerSec: o.rate}
	h = nw.Wrap(h)
	srv := &http.Server{Handler: h, ReadHeaderTimeout: time.Minute}
	if o.logFile != "" {
		rl, err := openRequestLog(o.logFile)
		if err != nil {
			return err
		}
		defer rl.Close()
		srv.Handler = rl.wrap(h)
		srv.ConnState = rl.connState
	}
	l, err := listen(o, nw)
	if err != nil {
		return err
	}
	fmt.Printf("netproxy: listening on %s\n", l.Addr())
	return serve(srv, l)
}

func listen(o options, n faultproxy.Network) (net.Listener, error) {
	l, err := net.Listen("tcp", o.listen)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	if o.handshake {
		l = n.Listener(l)
	}
	return l, nil
}

// serve runs srv on l until SIGINT or SIGTERM, then lets requests in flight finish
// for a moment.
func serve(srv *http.Server, l net.Listener) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shut, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(shut); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

func reverseProxy(target *url.URL) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			// Keep the client's Host so the registry's absolute URLs (upload
			// locations) point back through the proxy.
			r.Out.Host = r.In.Host
		},
		Transport: &http.Transport{
			// Many idle connections: the default two would make the proxy redial the
			// registry whenever a client pulls more than two blobs at once.
			MaxIdleConnsPerHost: 64,
			// Bodies pass as the registry sends them.
			DisableCompression: true,
		},
		ErrorLog: log.New(io.Discard, "", 0), // a client that gives up is not news
	}
}

// tokenAuth puts h behind a token exchange as Docker Hub and ghcr.io have it.
func tokenAuth(h http.Handler) (http.Handler, error) {
	return faultproxy.NewTokenAuth().Wrap(h), nil
}
