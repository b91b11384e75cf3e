package stack

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// from is the Image a FROM line gives, for table rows.
func from(ref, stage string, line int) Image {
	return Image{Ref: ref, Source: Source{File: "Dockerfile", Line: line, Stage: stage, Instruction: InstrFrom}}
}

// instr sets the instruction of a table row.
func instr(img Image, in string) Image {
	img.Source.Instruction = in
	return img
}

// dockerfileCases are Dockerfiles and the images building them pulls.
var dockerfileCases = []struct {
	name string
	file string
	args map[string]string
	want []Image
}{
	{
		name: "meta arg default and a stage that names an earlier stage",
		file: "ARG PY=3.11\nFROM python:${PY}-slim AS build\nFROM build\nRUN true\n",
		want: []Image{from("python:3.11-slim", "build", 2)},
	},
	{
		name: "build arg overrides the meta arg",
		file: "ARG PY=3.11\nFROM python:${PY}-slim AS build\nFROM build\n",
		args: map[string]string{"PY": "3.12"},
		want: []Image{from("python:3.12-slim", "build", 2)},
	},
	{
		name: "build arg for an ARG without default",
		file: "ARG BASE\nFROM ${BASE:-debian:12}\n",
		args: map[string]string{"BASE": "ubuntu:24.04"},
		want: []Image{from("ubuntu:24.04", "0", 2)},
	},
	{
		name: "undeclared build arg is not seen by FROM",
		file: "FROM python:${PY:-3.10}\n",
		args: map[string]string{"PY": "3.12"},
		want: []Image{from("python:3.10", "0", 1)},
	},
	{
		name: "meta arg default uses an earlier one",
		file: "ARG V=3.11\nARG IMG=python:${V}\nFROM $IMG\n",
		want: []Image{from("python:3.11", "0", 3)},
	},
	{
		name: "BUILDPLATFORM stage runs on the build host",
		file: "FROM --platform=$BUILDPLATFORM golang:1.22 AS gobuild\nRUN go build\nFROM alpine:3.19\nCOPY --from=gobuild /app /app\n",
		want: []Image{
			platformed(from("golang:1.22", "gobuild", 1), "$BUILDPLATFORM", true),
			from("alpine:3.19", "1", 3),
		},
	},
	{
		name: "BUILDOS and BUILDARCH count as the build host",
		file: "FROM --platform=${BUILDOS}/${BUILDARCH} golang:1.22\n",
		want: []Image{platformed(from("golang:1.22", "0", 1), "$BUILDOS/$BUILDARCH", true)},
	},
	{
		name: "TARGETPLATFORM stays symbolic",
		file: "FROM --platform=$TARGETPLATFORM alpine:3.19\n",
		want: []Image{platformed(from("alpine:3.19", "0", 1), "$TARGETPLATFORM", false)},
	},
	{
		name: "fixed platform",
		file: "FROM --platform=linux/arm64 alpine:3.19\n",
		want: []Image{platformed(from("alpine:3.19", "0", 1), "linux/arm64", false)},
	},
	{
		name: "scratch pulls nothing",
		file: "FROM scratch\nCOPY app /app\n",
		want: nil,
	},
	{
		name: "lowercase instructions",
		file: "from python:3.11 as base\nfrom base\n",
		want: []Image{from("python:3.11", "base", 1)},
	},
	{
		name: "line continuations keep the FROM's first line",
		file: "# syntax=docker/dockerfile:1\n\nFROM \\\n  python:3.11 \\\n  AS base\nRUN echo \\\n  hi\nFROM \\\n node:20\nCOPY --from=base / /\n",
		want: []Image{
			{Ref: "docker/dockerfile:1", Platform: "$BUILDPLATFORM", BuildPlatform: true, Source: Source{File: "Dockerfile", Line: 1, Instruction: InstrSyntax}},
			from("python:3.11", "base", 3), from("node:20", "1", 8),
		},
	},
	{
		name: "escape directive",
		file: "# escape=`\nFROM mcr.microsoft.com/windows/servercore:ltsc2022 `\n  AS win\n",
		want: []Image{from("mcr.microsoft.com/windows/servercore:ltsc2022", "win", 2)},
	},
	{
		name: "stage the last stage does not need is not built",
		file: "FROM golang:1.22 AS test\nRUN go test\nFROM python:3.11 AS app\n",
		want: []Image{from("python:3.11", "app", 3)},
	},
	{
		name: "COPY --from and RUN --mount=from images, and stage index",
		file: "FROM python:3.11 AS base\nFROM debian:12\nCOPY --from=ghcr.io/astral-sh/uv:0.4 /uv /bin/uv\nCOPY --from=0 /x /x\n" +
			"RUN --mount=type=bind,from=node:20,target=/n true\nRUN --mount=type=cache,target=/c true\n",
		want: []Image{
			from("python:3.11", "base", 1),
			from("debian:12", "1", 2),
			instr(from("ghcr.io/astral-sh/uv:0.4", "1", 3), InstrCopy),
			instr(from("node:20", "1", 5), InstrMount),
		},
	},
	{
		name: "COPY --from a later stage by name",
		file: "FROM alpine:3.19 AS final\nCOPY --from=Tools /t /t\nFROM busybox:1.36 AS tools\n",
		want: []Image{from("busybox:1.36", "tools", 3)},
	},
	{
		name: "BUILDKIT_SYNTAX build arg names the frontend",
		file: "FROM alpine:3.19\n",
		args: map[string]string{"BUILDKIT_SYNTAX": "docker/dockerfile:1.7"},
		want: []Image{
			{Ref: "docker/dockerfile:1.7", Platform: "$BUILDPLATFORM", BuildPlatform: true, Source: Source{File: "Dockerfile", Instruction: InstrSyntax}},
			from("alpine:3.19", "0", 1),
		},
	},
	{
		name: "duplicate images are all reported",
		file: "FROM python:3.11 AS a\nFROM python:3.11 AS b\nCOPY --from=a / /\n",
		want: []Image{from("python:3.11", "a", 1), from("python:3.11", "b", 2)},
	},
}

func TestReadDockerfile(t *testing.T) {
	tests := dockerfileCases
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			t.Chdir(dir)
			writeFile(t, "Dockerfile", tt.file)
			got, err := ReadDockerfile("Dockerfile", tt.args)
			if err != nil {
				t.Fatalf("ReadDockerfile: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestReadDockerfileErrors(t *testing.T) {
	tests := []struct {
		name, file string
		want       string // the error starts with it
		line       int
	}{
		{"unknown instruction", "FROM python:3.11\nFORM x\n", "Dockerfile:2: unknown instruction: FORM", 2},
		{"blank base", "ARG BASE\nFROM $BASE\n", "Dockerfile:2: base name ($BASE) should not be blank", 2},
		{"bad stage name", "FROM python:3.11 AS 1st\n", "Dockerfile:1: invalid name for build stage", 1},
		{"empty", "# nothing\n", "Dockerfile:1: file with no instructions", 1},
		{"no FROM", "ARG X=1\n", "Dockerfile: no FROM", 0},
		{"instruction before FROM", "RUN true\nFROM alpine\n", "Dockerfile:1: ", 1},
		{"expansion in --from", "FROM alpine\nCOPY --from=$X / /\n", "Dockerfile:2: variable expansion is not supported for --from", 2},
		{"bad stage index", "FROM alpine\nCOPY --from=3 / /\n", "Dockerfile:2: invalid stage index 3", 2},
		{"empty platform", "FROM --platform=$NOPE alpine\n", "Dockerfile:1: empty platform value", 1},
		{"unknown flag", "FROM --plat=linux/amd64 alpine\n", "Dockerfile:1: unknown flag: --plat", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Chdir(t.TempDir())
			writeFile(t, "Dockerfile", tt.file)
			_, err := ReadDockerfile("Dockerfile", nil)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("error %v, want prefix %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
			var se *SyntaxError
			if errors.As(err, &se) && se.Line != tt.line {
				t.Errorf("line %d, want %d", se.Line, tt.line)
			}
		})
	}
	if _, err := ReadDockerfile(filepath.Join(t.TempDir(), "nope"), nil); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestSourceString(t *testing.T) {
	tests := []struct {
		src  Source
		want string
	}{
		{Source{File: "compose.yaml", Line: 12, Service: "db"}, "compose.yaml:12 (service db)"},
		{Source{File: "Dockerfile", Line: 3, Stage: "build", Instruction: InstrFrom}, "Dockerfile:3 (stage build)"},
		{Source{File: "Dockerfile", Line: 9, Stage: "1", Instruction: InstrCopy}, "Dockerfile:9 (stage 1, COPY --from)"},
		{Source{File: "compose.yaml", Service: "db"}, "compose.yaml (service db)"},
		{Source{File: "Dockerfile", Line: 1, Instruction: InstrSyntax}, "Dockerfile:1 (# syntax)"},
		{
			Source{File: "app/Dockerfile", Line: 1, Stage: "build", Instruction: InstrFrom, Service: "web", ComposeFile: "compose.yaml", ComposeLine: 5},
			"compose.yaml:5 (service web, app/Dockerfile:1 stage build)",
		},
		{
			Source{File: "app/Dockerfile", Line: 4, Stage: "0", Instruction: InstrMount, Service: "web", ComposeFile: "compose.yaml", ComposeLine: 5},
			"compose.yaml:5 (service web, app/Dockerfile:4 stage 0, RUN --mount)",
		},
	}
	for _, tt := range tests {
		if got := tt.src.String(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}
