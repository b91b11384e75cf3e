package main

import (
	"fmt"
	"strings"
)

// describe takes the wheel's summary and description from the README: its first
// paragraph after the title, so PyPI's page says what the README says. The summary is
// that paragraph's first sentence, on one line as METADATA needs it.
func describe(readme string) (summary, description string, err error) {
	var para []string
	started := false
	for _, line := range strings.Split(strings.ReplaceAll(readme, "\r\n", "\n"), "\n") {
		switch {
		case !started && strings.HasPrefix(line, "# "):
			started = true
		case !started:
		case strings.TrimSpace(line) == "" && len(para) > 0:
			return firstSentence(para), strings.Join(para, "\n") + "\n", nil
		case strings.TrimSpace(line) != "":
			para = append(para, strings.TrimSpace(line))
		}
	}
	if len(para) > 0 {
		return firstSentence(para), strings.Join(para, "\n") + "\n", nil
	}
	return "", "", fmt.Errorf("the README has no paragraph after its '# ' title to describe the wheel with")
}

func firstSentence(lines []string) string {
	text := strings.Join(lines, " ")
	if i := strings.Index(text, ". "); i >= 0 {
		return text[:i+1]
	}
	return text
}
