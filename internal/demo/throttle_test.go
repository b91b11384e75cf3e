package demo

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/regclient/regclient/types/descriptor"
)

// downloadAll fetches blob d from reg n times at once and returns how long that took.
func downloadAll(t *testing.T, reg *Registry, d descriptor.Descriptor, n int) time.Duration {
	t.Helper()
	url := fmt.Sprintf("http://%s/v2/demo/throttle/blobs/%s", reg.Host, d.Digest)
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			resp, err := http.Get(url)
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			got, err := io.Copy(io.Discard, resp.Body)
			if err == nil && got != d.Size {
				err = fmt.Errorf("got %d bytes of %d", got, d.Size)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return time.Since(start)
}

// TestThrottle: one download is held to ConnectionRate however fast the link; several
// run side by side, each at that rate, until together they fill the link, which they
// then share.
func TestThrottle(t *testing.T) {
	const size = 128 << 10 // 125 ms at ConnectionRate
	blob := make([]byte, size)
	perConnection := time.Duration(size) * time.Second / ConnectionRate
	for _, tc := range []struct {
		name      string
		link      int
		downloads int
		atLeast   time.Duration
	}{
		{name: "one download on a fast link", link: 64 << 20, downloads: 1, atLeast: perConnection},
		{name: "four downloads on a fast link", link: 64 << 20, downloads: 4, atLeast: perConnection},
		{name: "four downloads sharing a link of one connection's rate", link: ConnectionRate, downloads: 4, atLeast: 4 * perConnection},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg, err := Serve(Throttle(tc.link))
			if err != nil {
				t.Fatal(err)
			}
			defer reg.Close()
			d, err := reg.PutBlob(context.Background(), "demo/throttle", blob)
			if err != nil {
				t.Fatal(err)
			}
			took := downloadAll(t, reg, d, tc.downloads)
			if took < tc.atLeast {
				t.Errorf("%d downloads of %d bytes took %v, want at least %v", tc.downloads, size, took, tc.atLeast)
			}
			// Downloads that do not fill the link do not wait for each other.
			if tc.atLeast == perConnection && took > 3*perConnection {
				t.Errorf("%d downloads of %d bytes took %v; one alone takes %v, and they should run side by side", tc.downloads, size, took, perConnection)
			}
			t.Logf("%v", took)
		})
	}
}
