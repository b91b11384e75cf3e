package stack

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/distribution/reference"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// SyntaxError is a Dockerfile that BuildKit would refuse, with the line it
// points at.
type SyntaxError struct {
	File string
	Line int // 1-based; 0 when BuildKit gave no line
	Msg  string
	Err  error // BuildKit's error
}

func (e *SyntaxError) Error() string {
	return fileLine(e.File, e.Line) + ": " + e.Msg
}

func (e *SyntaxError) Unwrap() error { return e.Err }

// syntaxError places a BuildKit error at the line it carries, else at loc.
func syntaxError(file string, loc []parser.Range, err error) error {
	msg := err.Error()
	line := rangeLine(loc)
	var le *parser.LocationError
	if errors.As(err, &le) {
		// The located error's own text; the outer wrappers repeat the line.
		if inner := le.Unwrap(); inner != nil {
			msg = inner.Error()
		}
		if len(le.Locations) > 0 {
			if l := rangeLine(le.Locations[0]); l > 0 {
				line = l
			}
		}
	}
	return &SyntaxError{File: file, Line: line, Msg: msg, Err: err}
}

func rangeLine(loc []parser.Range) int {
	if len(loc) == 0 {
		return 0
	}
	return loc[0].Start.Line
}

// ReadDockerfile reads the images a Dockerfile pulls when it is built for its
// last stage with buildArgs, as BuildKit does: the FROM images of the stages
// that stage needs, the images named by COPY --from and RUN --mount=from, and
// the frontend a # syntax= line names. Stages that name an earlier stage and
// FROM scratch pull nothing. A stage the target does not need is not built by
// BuildKit, so its images are left out.
func ReadDockerfile(path string, buildArgs map[string]string) ([]Image, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read Dockerfile: %w", err)
	}
	return readDockerfile(path, data, dockerfileOptions{buildArgs: buildArgs})
}

// dockerfileOptions are what a Compose build: adds to a bare Dockerfile.
type dockerfileOptions struct {
	buildArgs map[string]string
	target    string            // stage to build; "" is the last
	platform  string            // target platform; "" leaves it symbolic
	contexts  map[string]string // named build contexts (additional_contexts)
}

// dockerfile is one parsed Dockerfile being resolved.
type dockerfile struct {
	file     string
	opt      dockerfileOptions
	lex      *shell.Lex
	args     *argEnv
	stages   []instructions.Stage
	byName   map[string]int // stage name (lower case) to index
	contexts map[string]string
}

// stageRead is what one stage pulls and which stages it needs.
type stageRead struct {
	images []Image
	deps   []int
}

// readDockerfile reads data, named file for people, in BuildKit's order:
// global args, then each stage's FROM, then the sources of its commands, and
// keeps what the target stage needs.
func readDockerfile(file string, data []byte, opt dockerfileOptions) ([]Image, error) {
	res, err := parser.Parse(bytes.NewReader(data))
	if err != nil {
		return nil, syntaxError(file, nil, err)
	}
	stages, metaArgs, err := instructions.Parse(res.AST, nil)
	if err != nil {
		return nil, syntaxError(file, nil, err)
	}
	if len(stages) == 0 {
		return nil, fmt.Errorf("%s: no FROM: a Dockerfile needs at least one stage", file)
	}
	d := &dockerfile{
		file:     file,
		opt:      opt,
		lex:      shell.NewLex(res.EscapeToken),
		stages:   stages,
		byName:   map[string]int{},
		contexts: normalizeContexts(opt.contexts),
	}
	target, err := d.target()
	if err != nil {
		return nil, err
	}
	if d.args, err = d.globalArgs(metaArgs, target); err != nil {
		return nil, err
	}
	reads := make([]stageRead, len(stages))
	for i := range stages {
		if reads[i], err = d.readStage(i); err != nil {
			return nil, err
		}
		if name := stages[i].Name; name != "" {
			d.byName[name] = i
		}
	}
	// Command sources may name any stage, later ones too, so they are read
	// once every name is known.
	for i := range stages {
		if err := d.readCommands(i, &reads[i]); err != nil {
			return nil, err
		}
	}
	out := syntaxImage(file, data, opt.buildArgs)
	for i, ok := range reachable(reads, target) {
		if ok {
			out = append(out, reads[i].images...)
		}
	}
	return out, nil
}

// syntaxImage is the frontend a "# syntax=" directive (or the BUILDKIT_SYNTAX
// build arg) makes BuildKit pull and run on the build host.
func syntaxImage(file string, data []byte, buildArgs map[string]string) []Image {
	ref, _, loc, ok := parser.DetectSyntax(data)
	if v, set := buildArgs["BUILDKIT_SYNTAX"]; set {
		ref, ok, loc = v, true, nil
	}
	if !ok || ref == "" {
		return nil
	}
	src := Source{File: file, Line: rangeLine(loc), Instruction: InstrSyntax}
	return []Image{{Ref: ref, Platform: "$BUILDPLATFORM", BuildPlatform: true, Source: src}}
}

// target is the index of the stage to build.
func (d *dockerfile) target() (int, error) {
	if d.opt.target == "" {
		return len(d.stages) - 1, nil
	}
	var names []string
	for i, st := range d.stages {
		if st.Name == strings.ToLower(d.opt.target) {
			return i, nil
		}
		if st.Name != "" {
			names = append(names, st.Name)
		}
	}
	return 0, fmt.Errorf("%s: target stage %q not found (stages: %s): fix build.target", d.file, d.opt.target, strings.Join(names, ", "))
}

// globalArgs is the scope FROM lines expand in: BuildKit's automatic platform
// args, then the ARGs before the first FROM, each overridden by a build arg.
func (d *dockerfile) globalArgs(metaArgs []instructions.ArgCommand, target int) (*argEnv, error) {
	env := &argEnv{vals: map[string]string{}}
	stageName := d.stages[target].Name
	if stageName == "" {
		stageName = "default"
	}
	for _, kv := range platformArgs(d.opt.platform, stageName) {
		v := kv[1]
		if ov, ok := d.opt.buildArgs[kv[0]]; ok {
			v = ov
		}
		env.set(kv[0], v)
	}
	for _, cmd := range metaArgs {
		for _, kp := range cmd.Args {
			if v, ok := d.opt.buildArgs[kp.Key]; ok {
				env.set(kp.Key, v)
				continue
			}
			if kp.Value == nil {
				continue // declared without a default: unset, as in BuildKit
			}
			r, err := d.lex.ProcessWordWithMatches(*kp.Value, env)
			if err != nil {
				return nil, syntaxError(d.file, cmd.Location(), err)
			}
			env.set(kp.Key, r.Result)
		}
	}
	return env, nil
}

// platformArgs are BuildKit's automatic platform args. The build host is
// unknown here, so the BUILD* args expand to their own names, which marks a
// stage that runs on the builder; TARGET* do too unless a platform is given.
func platformArgs(target, stage string) [][2]string {
	args := [][2]string{
		{"BUILDPLATFORM", "$BUILDPLATFORM"},
		{"BUILDOS", "$BUILDOS"},
		{"BUILDOSVERSION", "$BUILDOSVERSION"},
		{"BUILDARCH", "$BUILDARCH"},
		{"BUILDVARIANT", "$BUILDVARIANT"},
		{"TARGETPLATFORM", "$TARGETPLATFORM"},
		{"TARGETOS", "$TARGETOS"},
		{"TARGETOSVERSION", "$TARGETOSVERSION"},
		{"TARGETARCH", "$TARGETARCH"},
		{"TARGETVARIANT", "$TARGETVARIANT"},
		{"TARGETSTAGE", stage},
	}
	if target != "" {
		parts := strings.SplitN(target, "/", 3)
		parts = append(parts, "", "")
		args[5][1], args[6][1], args[7][1] = target, parts[0], ""
		args[8][1], args[9][1] = parts[1], parts[2]
	}
	return args
}

// readStage resolves a stage's FROM: an image, an earlier stage, scratch, or
// a named context that replaces it.
func (d *dockerfile) readStage(i int) (stageRead, error) {
	st := d.stages[i]
	base, err := d.lex.ProcessWordWithMatches(st.BaseName, d.args)
	if err != nil {
		return stageRead{}, syntaxError(d.file, st.Location, err)
	}
	if base.Result == "" {
		return stageRead{}, syntaxError(d.file, st.Location, fmt.Errorf("base name (%s) should not be blank: set the build arg it names", st.BaseName))
	}
	platform := ""
	if st.Platform != "" {
		p, err := d.lex.ProcessWordWithMatches(st.Platform, d.args)
		if err != nil {
			return stageRead{}, syntaxError(d.file, st.Location, err)
		}
		if p.Result == "" {
			return stageRead{}, syntaxError(d.file, st.Location, fmt.Errorf("empty platform value from expression %s", st.Platform))
		}
		platform = p.Result
	} else {
		platform = d.opt.platform
	}
	img := Image{
		Platform:      platform,
		BuildPlatform: strings.Contains(platform, "$BUILD") && !strings.Contains(platform, "$TARGET"),
		Source:        d.source(i, st.Location, InstrFrom),
	}
	// A named context given for the stage's own name replaces the whole stage.
	if v, ok := d.context(st.Name); ok {
		return stageRead{images: contextImage(v, img)}, nil
	}
	if j, ok := d.byName[base.Result]; ok {
		return stageRead{deps: []int{j}}, nil
	}
	if base.Result == "scratch" {
		return stageRead{}, nil
	}
	if v, ok := d.context(base.Result); ok {
		return stageRead{images: contextImage(v, img)}, nil
	}
	img.Ref = base.Result
	return stageRead{images: []Image{img}}, nil
}

// readCommands adds what COPY --from and RUN --mount=from pull or need.
func (d *dockerfile) readCommands(i int, r *stageRead) error {
	for _, cmd := range d.stages[i].Commands {
		switch c := cmd.(type) {
		case *instructions.CopyCommand:
			if c.From == "" {
				continue
			}
			// BuildKit does not expand --from and refuses a value that would.
			if res, err := d.lex.ProcessWordWithMatches(c.From, &argEnv{}); err != nil || res.Result != c.From {
				return syntaxError(d.file, c.Location(), errors.New("variable expansion is not supported for --from: define a stage with FROM using a global ARG"))
			}
			if n, err := strconv.Atoi(c.From); err == nil {
				if n < 0 || n >= len(d.stages) {
					return syntaxError(d.file, c.Location(), fmt.Errorf("invalid stage index %d", n))
				}
				r.deps = append(r.deps, n)
				continue
			}
			d.addSource(i, c.Location(), InstrCopy, c.From, r)
		case *instructions.RunCommand:
			for _, m := range instructions.GetMounts(c) {
				if m.From != "" {
					d.addSource(i, c.Location(), InstrMount, m.From, r)
				}
			}
		}
	}
	return nil
}

// addSource records a command's source: a stage it needs or an image it pulls.
// Such images are pulled for the target platform whatever the stage's.
func (d *dockerfile) addSource(i int, loc []parser.Range, instr, from string, r *stageRead) {
	if j, ok := d.byName[strings.ToLower(from)]; ok {
		r.deps = append(r.deps, j)
		return
	}
	img := Image{Platform: d.opt.platform, Source: d.source(i, loc, instr)}
	if v, ok := d.context(from); ok {
		r.images = append(r.images, contextImage(v, img)...)
		return
	}
	img.Ref = from
	r.images = append(r.images, img)
}

func (d *dockerfile) source(i int, loc []parser.Range, instr string) Source {
	stage := d.stages[i].Name
	if stage == "" {
		stage = strconv.Itoa(i)
	}
	return Source{File: d.file, Line: rangeLine(loc), Stage: stage, Instruction: instr}
}

// context looks a name up among the named build contexts the way BuildKit
// does: by its familiar form without ":latest".
func (d *dockerfile) context(name string) (string, bool) {
	if len(d.contexts) == 0 || name == "" || strings.EqualFold(name, "scratch") || strings.EqualFold(name, "context") {
		return "", false
	}
	v, ok := d.contexts[contextKey(name)]
	return v, ok
}

func normalizeContexts(in map[string]string) map[string]string {
	out := make(map[string]string, len(in))
	for k, v := range in {
		out[contextKey(k)] = v
	}
	return out
}

func contextKey(name string) string {
	named, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return name
	}
	return strings.TrimSuffix(reference.FamiliarString(named), ":latest")
}

// contextImage is the image a named context pulls: only docker-image://
// contexts pull; local directories, URLs and other services' builds do not.
func contextImage(value string, img Image) []Image {
	ref, ok := strings.CutPrefix(value, "docker-image://")
	if !ok || ref == "" || ref == "scratch" {
		return nil
	}
	img.Ref = ref
	return []Image{img}
}

// reachable marks the stages building target needs.
func reachable(reads []stageRead, target int) []bool {
	seen := make([]bool, len(reads))
	stack := []int{target}
	for len(stack) > 0 {
		i := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[i] {
			continue
		}
		seen[i] = true
		stack = append(stack, reads[i].deps...)
	}
	return seen
}

// argEnv is an ordered set of build args, as BuildKit's shell lexer reads
// them.
type argEnv struct {
	keys []string
	vals map[string]string
}

func (e *argEnv) Get(key string) (string, bool) {
	v, ok := e.vals[key]
	return v, ok
}

func (e *argEnv) Keys() []string { return e.keys }

func (e *argEnv) set(key, value string) {
	if _, ok := e.vals[key]; !ok {
		e.keys = append(e.keys, key)
	}
	e.vals[key] = value
}
