package stack

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func FuzzReadDockerfile(f *testing.F) {
	for _, s := range []string{
		multiStage,
		"FROM --platform=$BUILDPLATFORM golang:1.22 AS b\nFROM scratch\nCOPY --from=b / /\n",
		"# escape=`\nFROM a `\n AS b\nRUN --mount=type=bind,from=c,target=/x true\n",
		"ARG A=${B:-x}\nFROM ${A:+y}${C%%z}\nCOPY --from=1 / /\n",
		"FROM a AS b\nFROM b AS c\nCOPY --from=c / /\nONBUILD COPY --from=d / /\n",
		"from x\nrun <<EOF\nhi\nEOF\n",
	} {
		f.Add([]byte(s), "3.12", "")
	}
	f.Fuzz(func(t *testing.T, data []byte, arg, target string) {
		opt := dockerfileOptions{
			buildArgs: map[string]string{"PY": arg},
			target:    target,
			contexts:  map[string]string{"base": "docker-image://" + arg, arg: "docker-image://alpine"},
		}
		imgs, err := readDockerfile("Dockerfile", data, opt)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error of more than one line: %q", err)
			}
			return
		}
		for _, img := range imgs {
			if (img.Source.Stage == "") != (img.Source.Instruction == InstrSyntax) || img.Ref == "" {
				t.Errorf("image without its source: %+v", img)
			}
		}
	})
}

// FuzzReadCompose runs compose-go and the line locator on hostile Compose
// files next to a fixed Dockerfile.
func FuzzReadCompose(f *testing.F) {
	for _, s := range []string{
		"services:\n  db:\n    image: mysql:${TAG:-5.7}\n",
		"x: &a\n  image: redis\nservices:\n  c:\n    <<: *a\n    profiles: [p]\n",
		"services:\n  w:\n    build:\n      context: .\n      args: [PY=3]\n    platform: linux/arm64\n",
		"services:\n  w:\n    extends: v\n  v:\n    image: a\ninclude:\n  - other.yaml\n",
		"services:\n  w:\n    build:\n      dockerfile_inline: FROM a\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		file := filepath.Join(dir, "compose.yaml")
		if err := os.WriteFile(file, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(multiStage), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := ReadCompose(context.Background(), []string{file}, []string{"TAG=8"}, []string{"p"})
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("error of more than one line: %q", err)
		}
	})
}
