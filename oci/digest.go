package oci

import "strings"

// shortHex is how many hex digits stand for a digest on screens and in messages: as
// many as docker shows of an image ID, which tells a layout's blobs apart.
const shortHex = 12

// ShortDigest abbreviates a digest to its algorithm and first 12 hex digits,
// "sha256:0123456789ab", for people to read. Anything that is not "algorithm:hex" with
// more hex than that comes back unchanged, so a broken digest is shown as it is.
func ShortDigest(d string) string {
	alg, hex, ok := strings.Cut(d, ":")
	if !ok || len(hex) <= shortHex {
		return d
	}
	return alg + ":" + hex[:shortHex]
}

// ShortHex is ShortDigest without the algorithm, as docker shows image IDs: for columns
// that hold nothing but digests. It is "" for a string without a ":".
func ShortHex(d string) string {
	_, hex, _ := strings.Cut(ShortDigest(d), ":")
	return hex
}
