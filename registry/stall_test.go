package registry

import (
	"context"
	"testing"
	"time"

	"github.com/regclient/regclient/types/ref"

	"github.com/pycontainer/pycontainer/internal/faultproxy"
	"github.com/pycontainer/pycontainer/internal/testbase"
)

// TestStallsAreRetried: a registry that goes quiet before or in the middle of a small
// blob (an image config) is cut off after the stall timeout and asked again, and a
// build-wide stall fails clearly instead of hanging.
func TestStallsAreRetried(t *testing.T) {
	tests := []struct {
		fault   faultproxy.Fault
		times   int
		wantErr bool
	}{
		{faultproxy.Stall, 1, false},
		{faultproxy.StallMidBody, 1, false},
		{faultproxy.StallMidBody, 2, false},
		{faultproxy.StallMidBody, -1, true},
	}
	for _, tt := range tests {
		t.Run(string(tt.fault), func(t *testing.T) {
			proxy, c, r, ix := faultyRegistry(t, 200*time.Millisecond)
			ctx := context.Background()
			// The config is the only blob Image reads.
			proxy.Set(faultproxy.Rule{Method: "GET", Path: "/blobs/", Fault: tt.fault, Times: tt.times, StallFor: 10 * time.Second})
			start := time.Now()
			img, err := c.Image(ctx, r, ix.Entries[0].Descriptor)
			took := time.Since(start)
			if proxy.Hits() == 0 {
				t.Fatal("the fault never fired")
			}
			if took > 8*time.Second {
				t.Errorf("took %s: the stall was waited out, not cut off", took)
			}
			if tt.wantErr {
				if err == nil {
					t.Fatal("a registry that always stalls gave an image")
				}
				t.Logf("error: %v", err)
				return
			}
			if err != nil {
				t.Fatalf("a stall %d time(s) was not retried: %v", tt.times, err)
			}
			if img.Config.Architecture != "amd64" {
				t.Errorf("config architecture %q, want amd64", img.Config.Architecture)
			}
		})
	}
}

// TestBackoffIsNoStall: regclient waits out a 429's Retry-After (1 s) before asking
// again, longer than the stall timeout; the lifeline waits with it, so the first attempt
// gets the blob (cutting it off around the time regclient asks again could cut a request
// in flight, which adds to regclient's backoff for the host and, with several downloads
// at once, spiralled until they all failed).
func TestBackoffIsNoStall(t *testing.T) {
	proxy, c, r, ix := faultyRegistry(t, 300*time.Millisecond)
	ctx := context.Background()
	img, err := c.ImageManifest(ctx, r, ix.Entries[0].Descriptor)
	if err != nil {
		t.Fatal(err)
	}
	proxy.Set(faultproxy.Rule{Method: "GET", Path: "/blobs/", Fault: faultproxy.TooMany, Times: 1})
	sink := &memSink{}
	if err := c.FetchBlob(ctx, r, img.Manifest.Layers[0], sink, BlobProgress{}); err != nil || proxy.Hits() != 1 {
		t.Fatalf("layer: %v after %d 429s", err, proxy.Hits())
	}
	if sink.aborts != 0 {
		t.Errorf("layer: %d attempts cut off while regclient waited out the 429", sink.aborts)
	}
	// A config's deadline, the transport's, starts when it is sent, too.
	proxy.Set(faultproxy.Rule{Method: "GET", Path: "/blobs/", Fault: faultproxy.TooMany, Times: 1})
	if err := c.ImageConfig(ctx, r, img); err != nil || proxy.Hits() != 1 {
		t.Fatalf("config: %v after %d 429s", err, proxy.Hits())
	}
}

// faultyRegistry is a registry behind a fault proxy holding one platform of
// library/python:t, a client of it with stall timeout stall, and the tag's index.
func faultyRegistry(t *testing.T, stall time.Duration) (*faultproxy.Proxy, *Client, ref.Ref, *Index) {
	t.Helper()
	proxy := &faultproxy.Proxy{}
	reg := testbase.StartWith(t, proxy.Wrap)
	reg.Push(t, testbase.Spec{Repo: "library/python", Tag: "t", Platforms: testbase.PythonPlatforms[:1]})
	c := New(Options{Registries: []string{reg.Host}, StallTimeout: stall})
	r, err := ref.New(reg.Host + "/library/python:t")
	if err != nil {
		t.Fatal(err)
	}
	ix, err := c.Index(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	return proxy, c, r, ix
}
