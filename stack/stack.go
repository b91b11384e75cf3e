// Package stack reads which images a project pulls: the services of a Compose
// project and the base images of Dockerfiles, each with the file, line,
// service and stage that names it, so that their platforms can be checked
// before anyone pulls.
//
// It only reads files. Compose files go through compose-go's loader and
// Dockerfiles through BuildKit's parser, so interpolation, profiles, extends,
// build args and stage references mean what they mean to Docker; nothing here
// touches the network, a registry or a Docker daemon.
package stack

import (
	"fmt"
	"strconv"
	"strings"
)

// Image is one image a project pulls, and where it is named.
type Image struct {
	// Ref is the reference as written, after interpolation and ARG expansion,
	// e.g. "mysql:5.7" or "python:3.11-slim". It is not normalized.
	Ref string
	// Platform is the platform the file asks for: a Compose service's
	// platform: or a FROM --platform= value, "" when none. Platform args that
	// are only known at build time stay symbolic, e.g. "$TARGETPLATFORM"
	// (the target platform, as if none were given) or "$BUILDPLATFORM".
	Platform string
	// BuildPlatform is true when the stage runs on the build host rather than
	// the target (FROM --platform=$BUILDPLATFORM and the other $BUILD* args),
	// so the image needs the builder's platform, not the target's.
	BuildPlatform bool
	Source        Source
}

// Instructions of a Dockerfile that pull an image, as Source.Instruction.
const (
	InstrFrom   = "FROM"
	InstrCopy   = "COPY --from"
	InstrMount  = "RUN --mount"
	InstrSyntax = "# syntax" // the Dockerfile frontend image BuildKit runs
)

// Source says where an image is named.
type Source struct {
	// File is the file that names the image: the Compose file for image:, the
	// Dockerfile for FROM. Paths the caller gave stay as given (relative stays
	// relative); a Dockerfile a Compose service builds is joined to the
	// directory of the Compose file as given.
	File string
	// Line is the 1-based line in File; 0 when unknown.
	Line int
	// Service is the Compose service, "" for a Dockerfile read directly.
	Service string
	// Stage is the Dockerfile stage name, or its index ("0", "1") when it has
	// none; "" for a Compose image: and a # syntax= frontend.
	Stage string
	// Instruction is the Dockerfile instruction that pulls the image
	// (InstrFrom, InstrCopy, InstrMount, InstrSyntax); "" for a Compose image:.
	Instruction string
	// ComposeFile and ComposeLine locate the build: of the Compose service
	// whose Dockerfile names the image; empty for image: and for a Dockerfile
	// read directly.
	ComposeFile string
	ComposeLine int
}

// String gives the source for people:
//
//	compose.yaml:12 (service db)
//	Dockerfile:3 (stage build)
//	Dockerfile:9 (stage 1, COPY --from)
//	Dockerfile:1 (# syntax)
//	compose.yaml:5 (service web, app/Dockerfile:1 stage build)
func (s Source) String() string {
	if s.ComposeFile != "" {
		inner := fileLine(s.File, s.Line) + stageText(s, " ")
		return fmt.Sprintf("%s (service %s, %s)", fileLine(s.ComposeFile, s.ComposeLine), s.Service, inner)
	}
	var parts []string
	if s.Service != "" {
		parts = append(parts, "service "+s.Service)
	}
	if st := stageText(s, ", "); st != "" {
		parts = append(parts, strings.TrimPrefix(st, ", "))
	}
	if len(parts) == 0 {
		return fileLine(s.File, s.Line)
	}
	return fmt.Sprintf("%s (%s)", fileLine(s.File, s.Line), strings.Join(parts, ", "))
}

// stageText is "<sep>stage NAME" plus the instruction when it is not a plain
// FROM, which is what a reader needs to find the line.
func stageText(s Source, sep string) string {
	out := ""
	if s.Stage != "" {
		out = sep + "stage " + s.Stage
	}
	if s.Instruction != "" && s.Instruction != InstrFrom {
		if out == "" {
			out = sep + s.Instruction
		} else {
			out += ", " + s.Instruction
		}
	}
	return out
}

func fileLine(file string, line int) string {
	if line <= 0 {
		return file
	}
	return file + ":" + strconv.Itoa(line)
}
