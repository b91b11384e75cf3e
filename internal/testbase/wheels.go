package testbase

import (
	"archive/zip"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// MakeWheel writes a wheel (a zip with a .dist-info directory, as pip expects) for
// name==version with the given tag (e.g. py3-none-any, py3-none-manylinux2014_aarch64)
// into dir and returns its path. files maps paths in the wheel to their contents.
func MakeWheel(t testing.TB, dir, name, version, tag string, files map[string][]byte) string {
	t.Helper()
	dist := strings.ReplaceAll(name, "-", "_")
	info := dist + "-" + version + ".dist-info"
	all := maps.Clone(files)
	if all == nil {
		all = map[string][]byte{}
	}
	all[info+"/METADATA"] = []byte(fmt.Sprintf("Metadata-Version: 2.1\nName: %s\nVersion: %s\n", name, version))
	root := "true"
	if !strings.HasSuffix(tag, "-any") {
		root = "false"
	}
	all[info+"/WHEEL"] = []byte(fmt.Sprintf("Wheel-Version: 1.0\nGenerator: pycontainer-test\nRoot-Is-Purelib: %s\nTag: %s\n", root, tag))
	var record strings.Builder
	for _, p := range slices.Sorted(maps.Keys(all)) {
		sum := sha256.Sum256(all[p])
		fmt.Fprintf(&record, "%s,sha256=%s,%d\n", p, base64.RawURLEncoding.EncodeToString(sum[:]), len(all[p]))
	}
	fmt.Fprintf(&record, "%s/RECORD,,\n", info)
	all[info+"/RECORD"] = []byte(record.String())

	path := filepath.Join(dir, fmt.Sprintf("%s-%s-%s.whl", dist, version, tag))
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zw := zip.NewWriter(f)
	for _, p := range slices.Sorted(maps.Keys(all)) {
		h := &zip.FileHeader{Name: p, Method: zip.Deflate}
		mode := os.FileMode(0o644)
		if strings.HasSuffix(p, ".so") || strings.Contains(p, ".data/scripts/") {
			mode = 0o755
		}
		h.SetMode(mode)
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(all[p]); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}
