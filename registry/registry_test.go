package registry

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/regclient/regclient/types/ref"

	"github.com/pycontainer/pycontainer/internal/testbase"
	"github.com/pycontainer/pycontainer/oci"
)

func TestIsLoopback(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost:5000": true, "127.0.0.1:5000": true, "[::1]:5000": true, "127.0.0.2": true, "localhost": true,
		"docker.io": false, "ghcr.io": false, "10.0.0.1:5000": false, "localhost.example.com": false,
	} {
		if got := IsLoopback(host); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", host, got, want)
		}
	}
}

func TestParseReference(t *testing.T) {
	r, err := ParseReference("python:3.11-slim")
	if err != nil {
		t.Fatal(err)
	}
	if r.CommonName() != "docker.io/library/python:3.11-slim" {
		t.Errorf("short name resolved to %s", r.CommonName())
	}
	if _, err := ParseReference("Not_A_Valid::Ref"); err == nil {
		t.Error("an invalid reference was accepted")
	}
}

func TestIndexPlatforms(t *testing.T) {
	reg := testbase.Start(t)
	reg.Push(t, testbase.Spec{Repo: "library/python", Tag: "3.11-slim", Platforms: testbase.PythonPlatforms, Attestation: true})
	c := New(Options{Registries: []string{reg.Host}})
	r, _ := ref.New(reg.Host + "/library/python:3.11-slim")
	ix, err := c.Index(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range ix.Platforms() {
		got = append(got, oci.PlatformString(p))
	}
	if strings.Join(got, ",") != "linux/amd64,linux/arm64,linux/arm/v7" {
		t.Errorf("platforms %v (attestations must be left out, arm64/v8 normalised)", got)
	}
	if len(ix.Entries) != 6 || !ix.Entries[3].Attestation || ix.Entries[2].Attestation {
		t.Errorf("the attestation entry is not marked: %+v", ix.Entries)
	}
	for _, req := range []string{"linux/arm64/v8", "linux/aarch64", "linux/arm"} {
		p, _ := oci.ParsePlatform(req)
		if _, ok := ix.Find(p); !ok {
			t.Errorf("Find(%s) found nothing", req)
		}
	}
	p, _ := oci.ParsePlatform("linux/arm/v6")
	if _, ok := ix.Find(p); ok {
		t.Error("arm/v6 matched an arm/v7 image")
	}
}

// faultyBlobs fails the first GETs of every blob in the given ways, then serves it.
type faultyBlobs struct {
	mu     sync.Mutex
	faults []string // "503", "corrupt", "truncate", applied in order
	served int
}

func (f *faultyBlobs) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || !strings.Contains(r.URL.Path, "/blobs/sha256:") {
			h.ServeHTTP(w, r)
			return
		}
		f.mu.Lock()
		fault := ""
		if f.served < len(f.faults) {
			fault = f.faults[f.served]
		}
		f.served++
		f.mu.Unlock()
		switch fault {
		case "503":
			http.Error(w, "try later", http.StatusServiceUnavailable)
		case "corrupt", "truncate":
			rec := &recorder{header: http.Header{}}
			h.ServeHTTP(rec, r)
			body := rec.body.Bytes()
			if fault == "corrupt" {
				body[len(body)/2] ^= 0xff
			} else {
				body = body[:len(body)/2]
			}
			w.WriteHeader(rec.status)
			_, _ = w.Write(body)
		default:
			h.ServeHTTP(w, r)
		}
	})
}

type recorder struct {
	header http.Header
	body   bytes.Buffer
	status int
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }
func (r *recorder) WriteHeader(s int)           { r.status = s }

type memSink struct {
	buf       bytes.Buffer
	committed []byte
	aborts    int
}

func (m *memSink) Begin() (io.Writer, error) { m.buf.Reset(); return &m.buf, nil }
func (m *memSink) Commit() error             { m.committed = bytes.Clone(m.buf.Bytes()); return nil }
func (m *memSink) Abort()                    { m.aborts++; m.buf.Reset() }

func TestFetchBlobRetriesFaults(t *testing.T) {
	tests := []struct {
		name    string
		faults  []string
		wantErr bool
	}{
		{"503 then ok", []string{"503"}, false},
		{"corrupt body then ok", []string{"corrupt"}, false},
		{"truncated body then ok", []string{"truncate"}, false},
		{"every fault once", []string{"503", "corrupt", "truncate"}, false},
		{"persistent corruption", []string{"corrupt", "corrupt", "corrupt", "corrupt", "corrupt", "corrupt"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			faults := &faultyBlobs{}
			reg := testbase.StartWith(t, faults.wrap)
			reg.Push(t, testbase.Spec{Repo: "library/python", Tag: "t", Platforms: testbase.PythonPlatforms[:1], PaddingBytes: 64 << 10})
			c := New(Options{Registries: []string{reg.Host}})
			r, _ := ref.New(reg.Host + "/library/python:t")
			ix, err := c.Index(context.Background(), r)
			if err != nil {
				t.Fatal(err)
			}
			img, err := c.Image(context.Background(), r, ix.Entries[0].Descriptor)
			if err != nil {
				t.Fatal(err)
			}
			layer := img.Manifest.Layers[1]
			faults.mu.Lock()
			faults.faults, faults.served = tt.faults, 0
			faults.mu.Unlock()

			sink := &memSink{}
			var progress int64
			err = c.FetchBlob(context.Background(), r, layer, sink, BlobProgress{Read: func(n int64) { progress += n }})
			if tt.wantErr {
				if err == nil {
					t.Fatal("persistent corruption was accepted")
				}
				if sink.committed != nil {
					t.Error("corrupt bytes were committed")
				}
				if !errors.Is(err, errDigest) && !strings.Contains(err.Error(), "digest") {
					t.Errorf("error does not say the digest failed: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("FetchBlob: %v", err)
			}
			if int64(len(sink.committed)) != layer.Size {
				t.Errorf("committed %d bytes, want %d", len(sink.committed), layer.Size)
			}
			if progress != layer.Size {
				t.Errorf("progress ended at %d, want %d (failed attempts must be undone)", progress, layer.Size)
			}
		})
	}
}

// TestUnreachableNamesTheMirror: when a registry and its mirror both fail, regclient
// reports the registry's error; the message must still say the mirror was tried.
func TestUnreachableNamesTheMirror(t *testing.T) {
	t.Parallel() // regclient's backoff takes ~6 s
	closed := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		return addr
	}
	origin, mirror := closed(), closed()
	c := New(Options{Registries: []string{origin}, Mirrors: map[string]string{origin: mirror}})
	r, _ := ref.New(origin + "/library/python:3.11-slim")
	_, err := c.Index(context.Background(), r)
	if err == nil {
		t.Fatal("no error from two closed ports")
	}
	for _, want := range []string{"cannot reach registry " + origin, "tried its mirror " + mirror + " first"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}
