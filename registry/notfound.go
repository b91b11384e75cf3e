package registry

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/regclient/regclient/types/errs"
	"github.com/regclient/regclient/types/ref"
)

// suggestedTags is how many of a repository's tags a missing tag's error names.
const suggestedTags = 3

// tagListTimeout bounds the tag listing that explains a missing tag: the error should
// not wait long for its suggestions.
const tagListTimeout = 10 * time.Second

// notFound turns the registry's "not found" for r's manifest into a sentence: the
// repository does not exist, or it has no such tag, and then the nearest tags it has.
// It lists the repository's tags to tell; errors.Is(err, errs.ErrNotFound) still holds,
// and the registry's answer (JSON) is left out. Other errors pass through.
func (c *Client) notFound(ctx context.Context, r ref.Ref, err error) error {
	if !errors.Is(err, errs.ErrNotFound) {
		return err
	}
	name := r.CommonName()
	if m := c.mirrors[r.Registry]; m != "" {
		name += " (tried its mirror " + m + " first)"
	}
	lctx, cancel := context.WithTimeout(ctx, tagListTimeout)
	defer cancel()
	var tags []string
	tl, terr := c.rc.TagList(lctx, r)
	if terr == nil {
		tags, terr = tl.GetTags()
	}
	var why string
	switch {
	case errors.Is(terr, errs.ErrNotFound):
		why = fmt.Sprintf("repository %s was not found on %s", r.Repository, r.Registry)
	case terr == nil && len(tags) == 0:
		why = fmt.Sprintf("repository %s was not found on %s (or has no tags)", r.Repository, r.Registry)
	case r.Digest != "":
		why = "the repository has no manifest " + r.Digest
	case terr != nil:
		why = "the repository has no tag " + r.Tag
	default:
		why = "the repository has no tag " + r.Tag + suggest(r.Tag, nearestTags(r.Tag, tags, suggestedTags))
	}
	return fmt.Errorf("image %s not found: %s%.0w", name, why, errs.ErrNotFound)
}

// suggest phrases the nearest tags: "; did you mean a? (or b, c)" when the first is close
// enough to be what was meant, else "; its nearest tags are a, b, c".
func suggest(tag string, nearest []string) string {
	switch {
	case len(nearest) == 0:
		return ""
	case !closeTag(tag, nearest[0]):
		return "; its nearest tags are " + strings.Join(nearest, ", ")
	case len(nearest) == 1:
		return "; did you mean " + nearest[0] + "?"
	}
	return "; did you mean " + nearest[0] + "? (or " + strings.Join(nearest[1:], ", ") + ")"
}

// closeTag reports whether have is near enough to want to be a typo of it or a sibling
// version: a third of its characters changed, at least two.
func closeTag(want, have string) bool {
	return editDistance(strings.ToLower(want), strings.ToLower(have)) <= max(2, len(want)/3)
}

// nearestTags returns at most n of tags, nearest to tag first: by edit distance (case
// ignored), then by the longer common prefix, then newer versions first (3.12 before
// 3.10). Signature and attestation tags (sha256-…) are left out.
func nearestTags(tag string, tags []string, n int) []string {
	type scored struct {
		tag            string
		dist, prefixed int
	}
	want := strings.ToLower(tag)
	var all []scored
	for _, t := range tags {
		if t == tag || strings.HasPrefix(t, "sha256-") {
			continue
		}
		lt := strings.ToLower(t)
		all = append(all, scored{t, editDistance(want, lt), commonPrefix(want, lt)})
	}
	slices.SortStableFunc(all, func(a, b scored) int {
		if c := cmp.Compare(a.dist, b.dist); c != 0 {
			return c
		}
		if c := cmp.Compare(b.prefixed, a.prefixed); c != 0 {
			return c
		}
		return naturalCompare(b.tag, a.tag)
	})
	out := make([]string, 0, min(n, len(all)))
	for _, s := range all[:min(n, len(all))] {
		out = append(out, s.tag)
	}
	return out
}

// editDistance is the Levenshtein distance between a and b, in runes.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

func commonPrefix(a, b string) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// naturalCompare compares strings with runs of digits as numbers: 3.9 < 3.10.
func naturalCompare(a, b string) int {
	for a != "" && b != "" {
		da, ra := splitRun(a)
		db, rb := splitRun(b)
		var c int
		if isDigits(da) && isDigits(db) {
			na, nb := strings.TrimLeft(da, "0"), strings.TrimLeft(db, "0")
			c = cmp.Or(cmp.Compare(len(na), len(nb)), strings.Compare(na, nb))
		} else {
			c = strings.Compare(da, db)
		}
		if c != 0 {
			return c
		}
		a, b = ra, rb
	}
	return cmp.Compare(len(a), len(b))
}

// splitRun cuts s after its leading run of digits, or of other characters.
func splitRun(s string) (string, string) {
	digits := isDigit(s[0])
	i := 1
	for i < len(s) && isDigit(s[i]) == digits {
		i++
	}
	return s[:i], s[i:]
}

func isDigits(s string) bool { return s != "" && isDigit(s[0]) }

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
