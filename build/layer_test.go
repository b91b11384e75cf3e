package build

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLayerFileChangedWhileRead: a context file that grew or shrank between listing
// and reading stops the build with one line naming it, not "archive/tar: write too
// long"; an archive entry that lies about its size is named as such.
func TestLayerFileChangedWhileRead(t *testing.T) {
	tests := []struct {
		name   string
		listed string // the content when the context is listed
		now    string // the content when the layer is written
		want   string
	}{
		{"grew", "print(1)\n", "print(1)\nprint(2)\n", "data.py changed while being read (9 bytes when the context was listed, 18 when read)"},
		{"grew past the head", strings.Repeat("x", 5000), strings.Repeat("x", 9000), "data.py changed while being read (5000 bytes when the context was listed, 9000 when read)"},
		{"empty, then not", "", "x", "data.py changed while being read (0 bytes when the context was listed, 1 when read)"},
		{"shrank", "print(1)\nprint(2)\n", "print(1)\n", "data.py changed while being read (18 bytes when the context was listed, 9 when read)"},
		{"shrank inside the head", strings.Repeat("x", 5000), "", "data.py changed while being read (5000 bytes when the context was listed, 0 when read)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, map[string]string{"app.py": "", "data.py": tt.listed})
			sel, err := SelectFiles(dir)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "data.py"), []byte(tt.now), 0o644); err != nil {
				t.Fatal(err)
			}
			epoch := time.Unix(0, 0)
			_, err = writeLayer(io.Discard, appEntries(sel, "/app"), &epoch)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %v, want one line starting %q", err, tt.want)
			}
		})
	}
}

// failAtEnd is a reader whose last read fails, as a zip entry's does on a bad CRC.
type failAtEnd struct{ r io.Reader }

func (f failAtEnd) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if errors.Is(err, io.EOF) {
		return n, errors.New("zip: checksum error")
	}
	return n, err
}

func (failAtEnd) Close() error { return nil }

// TestLayerEntrySizeLies: entries that come from archives, not the context.
func TestLayerEntrySizeLies(t *testing.T) {
	tests := []struct {
		name string
		size int64
		open func() (io.ReadCloser, error)
		want string
	}{
		{"longer than its size", 3, bytesOpener([]byte("12345")), "opt/x.py holds more than 3 bytes, not the 3 its size says"},
		{"shorter than its size", 9, bytesOpener([]byte("12345")), "opt/x.py holds 5 bytes, not the 9 its size says"},
		{"a checksum error at the end", 5, func() (io.ReadCloser, error) { return failAtEnd{strings.NewReader("12345")}, nil }, "read opt/x.py: zip: checksum error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := writeLayer(io.Discard, []layerEntry{{Name: "opt/x.py", Mode: 0o644, Size: tt.size, Open: tt.open}}, nil)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
}
