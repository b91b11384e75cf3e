package stack

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// svc is the Image a Compose image: gives, for table rows.
func svc(ref, service, file string, line int) Image {
	return Image{Ref: ref, Source: Source{File: file, Line: line, Service: service}}
}

// built is the Image a FROM line of a service's Dockerfile gives.
func built(ref, service, stage string, line int, composeLine int) Image {
	return Image{Ref: ref, Source: Source{
		File: filepath.Join("app", "Dockerfile"), Line: line, Service: service, Stage: stage,
		Instruction: InstrFrom, ComposeFile: "compose.yaml", ComposeLine: composeLine,
	}}
}

const multiStage = `ARG PY=3.11
FROM python:${PY}-slim AS build
RUN pip wheel --wheel-dir /w .
FROM python:${PY}-slim
COPY --from=build /w /w
`

const (
	mysqlCompose    = "services:\n  db:\n    image: mysql:${TAG:-5.7}\n"
	profiledCompose = "services:\n  web:\n    image: nginx:1.27\n  debugger:\n    image: busybox:1.36\n    profiles: [debug]\n"
)

// platformed sets the platform fields of a table row.
func platformed(img Image, p string, build bool) Image {
	img.Platform, img.BuildPlatform = p, build
	return img
}

// composeCases are real project layouts and the images they pull.
var composeCases = []struct {
	name     string
	files    map[string]string
	given    []string // default: compose.yaml
	environ  []string
	profiles []string
	want     []Image
}{
	{
		name:  "interpolation default",
		files: map[string]string{"compose.yaml": mysqlCompose},
		want:  []Image{svc("mysql:5.7", "db", "compose.yaml", 3)},
	},
	{
		name:    "interpolation from the environment",
		files:   map[string]string{"compose.yaml": mysqlCompose},
		environ: []string{"TAG=8.0"},
		want:    []Image{svc("mysql:8.0", "db", "compose.yaml", 3)},
	},
	{
		name:  "interpolation from .env",
		files: map[string]string{"compose.yaml": mysqlCompose, ".env": "TAG=8.4\n"},
		want:  []Image{svc("mysql:8.4", "db", "compose.yaml", 3)},
	},
	{
		name:    "the environment wins over .env",
		files:   map[string]string{"compose.yaml": mysqlCompose, ".env": "TAG=8.4\n"},
		environ: []string{"TAG=8.0"},
		want:    []Image{svc("mysql:8.0", "db", "compose.yaml", 3)},
	},
	{
		name:  "a service in an inactive profile is skipped",
		files: map[string]string{"compose.yaml": profiledCompose},
		want:  []Image{svc("nginx:1.27", "web", "compose.yaml", 3)},
	},
	{
		name:     "an active profile adds its service",
		files:    map[string]string{"compose.yaml": profiledCompose},
		profiles: []string{"debug"},
		want:     []Image{svc("busybox:1.36", "debugger", "compose.yaml", 5), svc("nginx:1.27", "web", "compose.yaml", 3)},
	},
	{
		name:    "COMPOSE_PROFILES activates a profile",
		files:   map[string]string{"compose.yaml": profiledCompose},
		environ: []string{"COMPOSE_PROFILES=debug"},
		want:    []Image{svc("busybox:1.36", "debugger", "compose.yaml", 5), svc("nginx:1.27", "web", "compose.yaml", 3)},
	},
	{
		name: "extends from another file, with the service's platform",
		files: map[string]string{
			"compose.yaml":     "services:\n  web:\n    extends:\n      file: common/base.yaml\n      service: base\n    platform: linux/amd64\n",
			"common/base.yaml": "services:\n  base:\n    image: python:3.11-slim\n",
		},
		want: []Image{platformed(svc("python:3.11-slim", "web", filepath.Join("common", "base.yaml"), 3), "linux/amd64", false)},
	},
	{
		name: "override file sets the image",
		files: map[string]string{
			"compose.yaml":          "services:\n  db:\n    image: mysql:5.7\n  cache:\n    image: redis:7\n",
			"compose.override.yaml": "services:\n  db:\n    image: mysql:8.0\n",
		},
		given: []string{"compose.yaml", "compose.override.yaml"},
		want:  []Image{svc("redis:7", "cache", "compose.yaml", 5), svc("mysql:8.0", "db", "compose.override.yaml", 3)},
	},
	{
		name: "override file without image keeps the base file's line",
		files: map[string]string{
			"compose.yaml":          "services:\n  db:\n    image: mysql:5.7\n",
			"compose.override.yaml": "services:\n  db:\n    platform: linux/amd64\n",
		},
		given: []string{"compose.yaml", "compose.override.yaml"},
		want:  []Image{platformed(svc("mysql:5.7", "db", "compose.yaml", 3), "linux/amd64", false)},
	},
	{
		name: "extends in the same file and services from an include",
		files: map[string]string{
			"compose.yaml":    "include:\n  - path: db/compose.yaml\nservices:\n  base:\n    image: node:8.7.0-alpine\n  web:\n    extends: base\n",
			"db/compose.yaml": "services:\n  db:\n    image: postgres:16\n",
		},
		want: []Image{
			svc("node:8.7.0-alpine", "base", "compose.yaml", 5),
			svc("postgres:16", "db", filepath.Join("db", "compose.yaml"), 3),
			svc("node:8.7.0-alpine", "web", "compose.yaml", 5),
		},
	},
	{
		name: "built services report their Dockerfile's images; duplicates stay",
		files: map[string]string{
			"compose.yaml": "services:\n  web:\n    image: example/web:latest\n    build:\n      context: ./app\n      args:\n        PY: \"3.12\"\n" +
				"  worker:\n    build: ./app\n  db:\n    image: postgres:16\n  cache:\n    image: postgres:16\n",
			"app/Dockerfile": multiStage,
		},
		want: []Image{
			svc("postgres:16", "cache", "compose.yaml", 13),
			svc("postgres:16", "db", "compose.yaml", 11),
			built("python:3.12-slim", "web", "build", 2, 4),
			built("python:3.12-slim", "web", "1", 4, 4),
			built("python:3.11-slim", "worker", "build", 2, 9),
			built("python:3.11-slim", "worker", "1", 4, 9),
		},
	},
	{
		name: "a built service's platform is its build's target",
		files: map[string]string{
			"compose.yaml":   "services:\n  web:\n    build: app\n    platform: linux/arm64\n",
			"app/Dockerfile": "FROM --platform=$BUILDPLATFORM golang:1.22 AS go\nFROM --platform=$TARGETPLATFORM alpine:3.19\nCOPY --from=go / /\n",
		},
		want: []Image{
			platformed(built("golang:1.22", "web", "go", 1, 3), "$BUILDPLATFORM", true),
			platformed(built("alpine:3.19", "web", "1", 2, 3), "linux/arm64", false),
		},
	},
	{
		name: "build platforms, target, dockerfile and a named context",
		files: map[string]string{
			"compose.yaml": "services:\n  web:\n    build:\n      context: app\n      dockerfile: Dockerfile\n      target: prod\n" +
				"      platforms: [linux/amd64, linux/arm64]\n      additional_contexts:\n        base: docker-image://alpine:3.20\n",
			"app/Dockerfile": "FROM golang:1.22 AS test\nFROM base AS prod\nFROM prod AS debug\n",
		},
		want: []Image{
			platformed(built("alpine:3.20", "web", "prod", 2, 3), "linux/amd64", false),
			platformed(built("alpine:3.20", "web", "prod", 2, 3), "linux/arm64", false),
		},
	},
	{
		name: "anchors and merge keys",
		files: map[string]string{
			"compose.yaml": "x-base: &base\n  image: redis:7\nservices:\n  cache:\n    <<: *base\n",
		},
		want: []Image{svc("redis:7", "cache", "compose.yaml", 2)},
	},
	{
		name: "dockerfile_inline",
		files: map[string]string{
			"compose.yaml": "services:\n  tool:\n    build:\n      dockerfile_inline: |\n        FROM node:20-alpine\n",
		},
		want: []Image{{Ref: "node:20-alpine", Source: Source{
			File: "dockerfile_inline", Line: 1, Service: "tool", Stage: "0", Instruction: InstrFrom,
			ComposeFile: "compose.yaml", ComposeLine: 3,
		}}},
	},
	{
		name:  "provider services pull nothing",
		files: map[string]string{"compose.yaml": "services:\n  ai:\n    provider:\n      type: model\n  web:\n    image: nginx:1.27\n"},
		want:  []Image{svc("nginx:1.27", "web", "compose.yaml", 6)},
	},
}

func TestReadCompose(t *testing.T) {
	tests := composeCases
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Chdir(t.TempDir())
			for name, content := range tt.files {
				writeFile(t, name, content)
			}
			given := tt.given
			if given == nil {
				given = []string{"compose.yaml"}
			}
			got, err := ReadCompose(context.Background(), given, tt.environ, tt.profiles)
			if err != nil {
				t.Fatalf("ReadCompose: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got\n  %+v\nwant\n  %+v", got, tt.want)
			}
		})
	}
}

func TestReadComposeSubdir(t *testing.T) {
	// Files given with a directory keep it, and the Dockerfile is named from
	// there too.
	t.Chdir(t.TempDir())
	writeFile(t, "proj/compose.yaml", "services:\n  web:\n    build: ./app\n")
	writeFile(t, "proj/app/Dockerfile", "FROM python:3.11\n")
	got, err := ReadCompose(context.Background(), []string{"proj/compose.yaml"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := "proj/compose.yaml:3 (service web, proj/app/Dockerfile:1 stage 0)"
	if len(got) != 1 || got[0].Source.String() != want {
		t.Fatalf("got %+v, want one image from %s", got, want)
	}
}

func TestReadComposeErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  string // the error contains it
	}{
		{"no compose file", map[string]string{}, "read Compose file: stat compose.yaml: no such file"},
		{"yaml syntax", map[string]string{"compose.yaml": "services:\n  db:\n  image: [\n"}, "compose.yaml: "},
		{"unknown key", map[string]string{"compose.yaml": "services:\n  db:\n    imag: mysql\n"}, "compose.yaml: validating compose.yaml: services.db.imag: not a Compose key here"},
		{"required variable", map[string]string{"compose.yaml": "services:\n  db:\n    image: mysql:${TAG:?set TAG}\n"}, "required variable TAG is missing a value: set TAG: set it in the environment or in .env"},
		{"neither image nor build", map[string]string{"compose.yaml": "services:\n  db:\n    restart: always\n"}, "compose.yaml:2: services.db: neither image: nor build: is set"},
		{"missing Dockerfile", map[string]string{"compose.yaml": "services:\n  web:\n    build: ./app\n"}, "compose.yaml:3: services.web.build: read Dockerfile: open app/Dockerfile: no such file"},
		{
			"Dockerfile syntax error",
			map[string]string{"compose.yaml": "services:\n  web:\n    build: ./app\n", "app/Dockerfile": "FROM alpine\nFORM x\n"},
			"service web: app/Dockerfile:2: unknown instruction: FORM",
		},
		{"remote context", map[string]string{"compose.yaml": "services:\n  web:\n    build: https://github.com/o/r.git\n"}, "is remote and is not read offline"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Chdir(t.TempDir())
			for name, content := range tt.files {
				writeFile(t, name, content)
			}
			_, err := ReadCompose(context.Background(), []string{"compose.yaml"}, nil, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want it to contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
		})
	}
	if _, err := ReadCompose(context.Background(), nil, nil, nil); err == nil {
		t.Error("no files: no error")
	}
}

func TestComposeFiles(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"docker-compose.yml", "compose.yaml", "docker-compose.override.yml", "compose.override.yaml"} {
		writeFile(t, filepath.Join(dir, f), "services: {}\n")
	}
	got, err := ComposeFiles(dir)
	want := []string{filepath.Join(dir, "compose.yaml"), filepath.Join(dir, "compose.override.yaml")}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("got %v %v, want %v", got, err, want)
	}

	sub := filepath.Join(dir, "src", "pkg")
	writeFile(t, filepath.Join(sub, "x"), "")
	if got, err := ComposeFiles(sub); err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("from a subdirectory: got %v %v, want %v", got, err, want)
	}

	t.Chdir(t.TempDir())
	writeFile(t, "docker-compose.yaml", "services: {}\n")
	if got, err := ComposeFiles("."); err != nil || !reflect.DeepEqual(got, []string{"docker-compose.yaml"}) {
		t.Errorf("relative dir: got %v %v", got, err)
	}

	empty := t.TempDir()
	if _, err := ComposeFiles(empty); err == nil || !strings.Contains(err.Error(), "pass --compose FILE") {
		t.Errorf("empty dir: %v", err)
	}
	t.Chdir(empty)
	if _, err := ReadCompose(context.Background(), []string{"compose.yaml"}, nil, nil); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	writeFile(t, "compose.yaml", "services:\n  db:\n    imag: mysql\n")
	var ce *ComposeError
	if _, err := ReadCompose(context.Background(), []string{"compose.yaml"}, nil, nil); !errors.As(err, &ce) || ce.Files[0] != "compose.yaml" {
		t.Errorf("invalid file is not a ComposeError: %v", err)
	}
}
