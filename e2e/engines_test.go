package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/pycontainer/pycontainer/internal/testbase"
)

// The checks of the engine matrix, one row per engine. Each cell is logged as
//
//	ENGINE-MATRIX <engine> | <check> | ✅, ❌ <the engine's message>, n/a (why) or skipped (why)
//
// so `go test -v -run Engines ./e2e | grep ENGINE-MATRIX` prints the table; with
// PYCONTAINER_E2E_MATRIX=FILE the lines are appended to FILE too (.ci/run prints it).
const (
	checkLoadLayout = "load layout as-is"           // the seed's `tar -C dist/image -cf - .` into the engine
	checkLoadSave   = "load save tar"               // `pycontainer save -o FILE`, then the engine's load -i FILE
	checkMulti      = "multi-platform select arm64" // the engine picks linux/arm64 from a multi-platform layout
)

var matrixChecks = []string{checkLoadLayout, checkLoadSave, "run amd64", "run arm64", "run arm/v7", checkMulti}

// runCheck is the matrix check for running images of a's platform.
func runCheck(a arch) string { return "run " + strings.TrimPrefix(a.flag(), "linux/") }

// engineImage is one platform of what the test built, ready for every engine.
type engineImage struct {
	arch
	tag     string // the one-platform build's name, as the seed has it: myapp:arm64
	project string // its project directory; dist/image in it is the layout
	// saved is `pycontainer save --platform` of this platform from the multi-platform
	// layout, named savedTag; "" when the save failed (why in saveErr).
	saved, savedTag, saveErr string
	// noRun says why the engines cannot run this platform here ("" when they can): an
	// arm64 or arm/v7 image needs qemu's binfmt_misc handler.
	noRun string
}

// multiLayout is the multi-platform build (every platform of the test in one layout).
type multiLayout struct {
	tag     string // myapp:multi
	project string
	native  arch   // the platform `docker load` gets: this machine's
	failed  string // why there is none, "" when there is
}

// TestEnginesRunWhatWeBuild builds the seed's demo app on real Python bases (served by
// the Distribution registry) with the real binary, then loads and runs what it built in
// the container engines a user has: Docker (through the seed's own commands), Podman,
// and umoci + runc. arm64 and arm/v7 run under qemu through binfmt_misc. Every engine
// logs one ENGINE-MATRIX line per check; an engine that cannot start here says why and
// skips, and a check it cannot do by design says n/a and why.
func TestEnginesRunWhatWeBuild(t *testing.T) {
	present, rootfs := pythonBases(t, arches, 1, "go", "bash", "tar")

	host := testbase.StartDistribution(t)
	var plats []testbase.Platform
	for _, a := range present {
		plats = append(plats, a.platform)
	}
	testbase.Connect(host).Push(t, testbase.Spec{Repo: "library/python", Tag: "3.11-slim", Platforms: plats, RootFS: rootfs})
	bin := buildBinary(t)
	pycontainer := func(dir string, args ...string) (string, error) {
		return runTool(dir, []string{"PYCONTAINER_REGISTRY_MIRROR=docker.io=" + host}, bin, args...)
	}

	// Each one-platform layout is built once, in its own project, and every engine
	// reads it; the multi-platform layout likewise, and the save tars come from it.
	var images []*engineImage
	for _, a := range present {
		img := &engineImage{arch: a, tag: "myapp:" + strings.ReplaceAll(strings.TrimPrefix(a.flag(), "linux/"), "/", ""), project: demoProject(t)}
		if out, err := pycontainer(img.project, "build", "--tag", img.tag, "--platform", a.flag(), "--base-image", "python:3.11-slim", "--progress", "plain"); err != nil {
			t.Fatalf("pycontainer build --tag %s --platform %s: %v\n%s", img.tag, a.flag(), err, out)
		}
		img.noRun = emulationGap(t, a)
		if img.noRun != "" {
			t.Logf("%s images cannot run here: %s", a.flag(), img.noRun)
		}
		images = append(images, img)
	}
	multi := &multiLayout{tag: "myapp:multi", project: demoProject(t), native: present[0]}
	var flags []string
	for _, a := range present {
		flags = append(flags, a.flag())
		if a.platform.Architecture == runtime.GOARCH {
			multi.native = a
		}
	}
	out, err := pycontainer(multi.project, "build", "--tag", multi.tag, "--platform", strings.Join(flags, ","), "--base-image", "python:3.11-slim", "--progress", "plain")
	if err != nil {
		multi.failed = "the multi-platform build failed: " + firstLine(out, err)
		t.Errorf("pycontainer build --tag %s --platform %s: %v\n%s", multi.tag, strings.Join(flags, ","), err, out)
	} else if len(present) > 1 && !mentionsDockerLoad(out, multi.native.flag()) {
		t.Errorf("the multi-platform build does not say that docker load gets %s:\n%s", multi.native.flag(), out)
	}
	for _, img := range images {
		if multi.failed != "" {
			img.saveErr = multi.failed
			continue
		}
		img.savedTag = img.tag + "-saved" // not a name the layout's load gives
		img.saved = filepath.Join(t.TempDir(), "image.tar")
		if out, err := pycontainer(multi.project, "save", "--platform", img.flag(), "--tag", img.savedTag, "-o", img.saved); err != nil {
			img.saveErr = "pycontainer save failed: " + firstLine(out, err)
			img.saved = ""
			t.Errorf("pycontainer save --platform %s --tag %s: %v\n%s", img.flag(), img.savedTag, err, out)
		}
	}

	t.Run("docker", func(t *testing.T) { testDocker(t, newMatrix(t, "docker"), images, multi) })
	t.Run("podman", func(t *testing.T) { testPodman(t, newMatrix(t, "podman"), images, multi) })
	t.Run("runc", func(t *testing.T) { testRunc(t, newMatrix(t, "runc"), images, multi) })
}

// testDocker follows the seed: `docker load -i <(tar -C dist/image -cf - .)` through
// bash, then `docker run myapp:arm64` and `docker run --platform linux/arm64 myapp:arm64`
// (with --rm, so nothing is left behind); a `pycontainer save` tar through
// `docker load -i FILE`; and the multi-platform layout, of which `docker load` gets
// this machine's platform.
func testDocker(t *testing.T, m *matrix, images []*engineImage, multi *multiLayout) {
	env, why := dockerEngine()
	if why != "" {
		m.skipEngine(why)
	}
	docker := func(dir string, args ...string) (string, error) { return runTool(dir, env, "docker", args...) }
	seed := func(dir, line string) (string, error) { return runTool(dir, env, "bash", "-c", line) }
	var tags []string
	for _, img := range images {
		tags = append(tags, img.tag, img.savedTag)
	}
	tags = append(tags, multi.tag)
	removeTags := func() {
		for _, tag := range tags {
			if tag != "" {
				docker("", "rmi", "--force", tag) // absent is fine: this only clears the names
			}
		}
	}
	removeTags() // a name left by an earlier run must not stand in for a failed load
	t.Cleanup(removeTags)

	platformOf := func(tag string) (string, error) {
		return docker("", "image", "inspect", "--format", "{{.Os}}/{{.Architecture}}{{with .Variant}}/{{.}}{{end}}", tag)
	}
	loaded := func(check, what, tag string, a arch, out string, err error) bool {
		if !m.step(check, what, out, err) {
			return false
		}
		got, err := platformOf(tag)
		if err != nil {
			m.fail(check, what+": docker image inspect "+tag, out+"\n"+got, err)
			return false
		}
		if normPlatform(got) != a.flag() {
			m.wrong(check, what, fmt.Sprintf("%s loaded as %s, want %s", tag, got, a.flag()), out)
			return false
		}
		return true
	}
	for _, img := range images {
		run := runCheck(img.arch)
		what := fmt.Sprintf("docker load -i <(tar -C dist/image -cf - .) of %s", img.tag)
		out, err := seed(img.project, "docker load -i <(tar -C dist/image -cf - .)")
		if loaded(checkLoadLayout, what, img.tag, img.arch, out, err) {
			if img.noRun != "" {
				m.skip(run, img.noRun)
			} else {
				out, err = docker("", "run", "--rm", img.tag)
				m.ran(run, "docker run "+img.tag, out, err, img.machine)
				out, err = docker("", "run", "--rm", "--platform", img.flag(), img.tag)
				m.ran(run, "docker run --platform "+img.flag()+" "+img.tag, out, err, img.machine)
			}
		}
		if img.saved == "" {
			m.skip(checkLoadSave, img.saveErr)
			continue
		}
		out, err = docker("", "load", "-i", img.saved)
		if loaded(checkLoadSave, "docker load -i of `pycontainer save --platform "+img.flag()+"`", img.savedTag, img.arch, out, err) && img.noRun == "" {
			out, err = docker("", "run", "--rm", img.savedTag)
			m.ran(run, "docker run "+img.savedTag+" (from the save tar)", out, err, img.machine)
		}
	}

	if multi.failed != "" {
		m.skip(checkLoadLayout, multi.failed)
		m.skip(checkMulti, multi.failed)
		return
	}
	// Docker before its containerd image store keeps one platform per name: docker load
	// takes the one manifest.json lists, this machine's.
	out, err := seed(multi.project, "docker load -i <(tar -C dist/image -cf - .)")
	if loaded(checkLoadLayout, "docker load -i <(tar -C dist/image -cf - .) of the multi-platform "+multi.tag, multi.tag, multi.native, out, err) {
		out, err = docker("", "run", "--rm", multi.tag)
		m.ran(runCheck(multi.native), "docker run "+multi.tag+" (multi-platform layout)", out, err, multi.native.machine)
	}
	arm64, ok := findArch(images, "arm64")
	if !ok {
		m.skip(checkMulti, "no arm64 python base")
		return
	}
	// `docker load --platform` chooses where the engine has it (API 1.48, Docker 28, with
	// the containerd image store); an older engine refuses the flag, which is the n/a.
	docker("", "rmi", "--force", multi.tag)
	out, err = seed(multi.project, "docker load --platform linux/arm64 -i <(tar -C dist/image -cf - .)")
	if err != nil && (strings.Contains(out, "API version") || strings.Contains(out, "not supported") || strings.Contains(out, "unknown flag")) {
		// Then the way that works on every Docker: skopeo picks the platform and writes
		// it into the daemon.
		why := "docker load --platform: " + firstLine(out, err)
		if _, lerr := exec.LookPath("skopeo"); lerr != nil {
			m.na(checkMulti, why+"; skopeo, which can pick it instead, is not installed")
			return
		}
		source := "oci:dist/image:" + multi.tag[strings.LastIndex(multi.tag, ":")+1:]
		what := "skopeo copy --override-arch arm64 " + source + " docker-daemon:" + multi.tag
		out, err = runTool(multi.project, nil, "skopeo", "copy", "--override-arch", "arm64",
			"--dest-daemon-host", os.Getenv("PYCONTAINER_E2E_DOCKER_HOST"), source, "docker-daemon:"+multi.tag)
		if loaded(checkMulti, what, multi.tag, arm64.arch, out, err) && arm64.noRun == "" {
			out, err = docker("", "run", "--rm", multi.tag)
			m.ran(checkMulti, "docker run "+multi.tag+" (arm64 from the multi-platform layout, by skopeo)", out, err, arm64.machine)
		}
		m.note(checkMulti, "by skopeo copy --override-arch arm64 … docker-daemon:, as "+why)
		return
	}
	if loaded(checkMulti, "docker load --platform linux/arm64 of the multi-platform "+multi.tag, multi.tag, arm64.arch, out, err) {
		if arm64.noRun != "" {
			m.skip(checkMulti, arm64.noRun)
			return
		}
		out, err = docker("", "run", "--rm", multi.tag)
		m.ran(checkMulti, "docker run "+multi.tag+" (arm64 from the multi-platform layout)", out, err, arm64.machine)
	}
}

// dockerEngine returns the environment for the docker CLI to reach the daemon at
// PYCONTAINER_E2E_DOCKER_HOST, or why there is none.
func dockerEngine() (env []string, why string) {
	host := os.Getenv("PYCONTAINER_E2E_DOCKER_HOST")
	if host == "" {
		return nil, "PYCONTAINER_E2E_DOCKER_HOST is not set: start a daemon with `bash scripts/dockerd.sh start DIR` and set it to what that prints (.ci/run does)"
	}
	if _, err := exec.LookPath("docker"); err != nil {
		return nil, "the docker CLI is not installed: apt-get install docker.io"
	}
	env = []string{"DOCKER_HOST=" + host, "DOCKER_CONTEXT="} // the host, whatever context the caller uses
	if out, err := runTool("", env, "docker", "info", "--format", "{{.ServerVersion}}"); err != nil {
		return nil, fmt.Sprintf("docker info on %s: %s", host, firstLine(out, err))
	}
	return env, ""
}

// testPodman loads the way that works on Podman 4.3 (`tar -C dist/image -cf - . |
// podman load`; the seed's `-i <(…)` fails there on the pipe's /proc path) and
// `podman load -i FILE` of a save tar, runs each, loads the multi-platform layout (this
// machine's platform) and picks every platform out of it with `podman pull oci:DIR:TAG
// --platform`. Its storage is the test's own.
func testPodman(t *testing.T, m *matrix, images []*engineImage, multi *multiLayout) {
	p, why := podmanEngine(t)
	if why != "" {
		m.skipEngine(why)
	}
	loaded := func(check, what, tag string, a arch, out string, err error) bool {
		if !m.step(check, what, out, err) {
			return false
		}
		if !strings.Contains(out, "Loaded image: docker.io/library/"+tag) {
			m.wrong(check, what, "podman load named the image differently: "+firstLine(out, nil), out)
			return false
		}
		return checkPodmanPlatform(m, p, check, what, tag, a)
	}
	for _, img := range images {
		run := runCheck(img.arch)
		what := fmt.Sprintf("tar -C dist/image -cf - . | podman load, of %s", img.tag)
		out, err := p.shell(img.project, "tar -C dist/image -cf - . | podman load")
		if loaded(checkLoadLayout, what, img.tag, img.arch, out, err) {
			if img.noRun != "" {
				m.skip(run, img.noRun)
			} else {
				out, err = p.run(img.tag)
				m.ran(run, "podman run "+img.tag, out, err, img.machine)
			}
		}
		if img.saved == "" {
			m.skip(checkLoadSave, img.saveErr)
			continue
		}
		out, err = p.cmd("", "load", "-i", img.saved)
		if loaded(checkLoadSave, "podman load -i of `pycontainer save --platform "+img.flag()+"`", img.savedTag, img.arch, out, err) && img.noRun == "" {
			out, err = p.run(img.savedTag)
			m.ran(run, "podman run "+img.savedTag+" (from the save tar)", out, err, img.machine)
		}
	}

	if multi.failed != "" {
		m.skip(checkLoadLayout, multi.failed)
		m.skip(checkMulti, multi.failed)
		return
	}
	// podman load of the multi-platform layout takes this machine's platform.
	out, err := p.shell(multi.project, "tar -C dist/image -cf - . | podman load")
	if loaded(checkLoadLayout, "tar -C dist/image -cf - . | podman load, of the multi-platform "+multi.tag, multi.tag, multi.native, out, err) {
		out, err = p.run(multi.tag)
		m.ran(runCheck(multi.native), "podman run "+multi.tag+" (multi-platform layout)", out, err, multi.native.machine)
	}
	// Each platform out of the multi-platform layout; arm64 is the matrix's check, the
	// others count for running their platform. Podman 4.3 names an image pulled from
	// oci:DIR after DIR and refuses a path with capitals ("repository name must be
	// lowercase"), as the test's directories have: the layout goes to a lowercase one.
	layout := filepath.Join(p.store, "layout")
	if out, err = runTool("", nil, "cp", "-a", filepath.Join(multi.project, "dist", "image"), layout); err != nil {
		t.Fatalf("copying the multi-platform layout: %v\n%s", err, out)
	}
	name := strings.TrimPrefix(multi.tag, "myapp:")
	for _, img := range images {
		check := runCheck(img.arch)
		if img.platform.Architecture == "arm64" {
			check = checkMulti
		}
		what := fmt.Sprintf("podman pull oci:%s:%s --platform %s", layout, name, img.flag())
		out, err := p.cmd("", "pull", "--platform", img.flag(), "oci:"+layout+":"+name)
		if !m.step(check, what, out, err) {
			continue
		}
		// pull prints the image's ID last; the name it gives an oci: image varies.
		lines := strings.Split(out, "\n")
		id := strings.TrimSpace(lines[len(lines)-1])
		if !checkPodmanPlatform(m, p, check, what, id, img.arch) {
			continue
		}
		if img.noRun != "" {
			m.skip(check, img.noRun)
			continue
		}
		out, err = p.run(id)
		m.ran(check, "podman run of "+what, out, err, img.machine)
	}
}

// checkPodmanPlatform checks that podman has image as a's os and architecture (Podman
// 4.3's inspect has no variant; the config's is checked by the other tests).
func checkPodmanPlatform(m *matrix, p podman, check, what, image string, a arch) bool {
	got, err := p.cmd("", "image", "inspect", "--format", "{{.Os}}/{{.Architecture}}", image)
	if err != nil {
		m.fail(check, what+": podman image inspect "+image, got, err)
		return false
	}
	if want := a.platform.OS + "/" + a.platform.Architecture; got != want {
		m.wrong(check, what, fmt.Sprintf("podman has %s as %s, want %s", image, got, want), "")
		return false
	}
	return true
}

// podman runs the podman CLI with its storage in a directory of its own, not the
// machine's, with the settings that work without systemd in a container.
type podman struct {
	global []string
	store  string // its directory, lowercase (see testPodman)
}

// podmanEngine starts no daemon (podman has none) but checks that podman answers here.
func podmanEngine(t *testing.T) (podman, string) {
	t.Helper()
	if _, err := exec.LookPath("podman"); err != nil {
		return podman{}, "podman is not installed: apt-get install podman"
	}
	// Not t.TempDir(): podman refuses a runroot path over 50 characters.
	store, err := os.MkdirTemp("", "podman-")
	if err != nil {
		t.Fatal(err)
	}
	p := podman{store: store, global: []string{"--root", filepath.Join(store, "root"), "--runroot", filepath.Join(store, "run"),
		"--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--events-backend", "file", "--runtime", "runc"}}
	t.Cleanup(func() {
		p.cmd("", "system", "reset", "--force")
		os.RemoveAll(store)
	})
	if out, err := p.cmd("", "info", "--format", "{{.Version.Version}}"); err != nil {
		return podman{}, "podman info: " + firstLine(out, err)
	}
	return p, ""
}

func (p podman) cmd(dir string, args ...string) (string, error) {
	return runTool(dir, nil, "podman", append(append([]string{}, p.global...), args...)...)
}

// run runs image to completion and removes the container. Podman 4.3 in a container
// needs ulimits that fit under the ones it has.
func (p podman) run(image string) (string, error) {
	return p.cmd("", "run", "--rm", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024", image)
}

// shell runs a line of bash in dir where `podman` is this engine, so the line stays as a
// user types it.
func (p podman) shell(dir, line string) (string, error) {
	fn := "podman() { command podman"
	for _, g := range p.global {
		fn += " " + shellQuote(g)
	}
	fn += ` "$@"; }`
	return runTool(dir, nil, "bash", "-c", "set -o pipefail\n"+fn+"\n"+line)
}

// testRunc unpacks each one-platform layout with umoci (as root, so the bundle is
// runc's) and runs it with runc; a save tar is an OCI layout too, unpacked the same way
// once extracted. umoci 0.4.7 selects no platform from an image index.
func testRunc(t *testing.T, m *matrix, images []*engineImage, multi *multiLayout) {
	for _, tool := range []string{"umoci", "runc"} {
		if _, err := exec.LookPath(tool); err != nil {
			m.skipEngine(tool + " is not installed: apt-get install " + tool)
		}
	}
	if os.Geteuid() != 0 {
		m.skipEngine("runc runs a root bundle as root only (this test runs as uid " + fmt.Sprint(os.Geteuid()) + ")")
	}
	state := t.TempDir()
	n := 0
	unpackAndRun := func(check, run, layout string, img *engineImage) {
		what := "umoci unpack --image " + layout
		bundle := filepath.Join(t.TempDir(), "bundle")
		ref, err := refName(layout)
		if err != nil {
			m.fail(check, what, "", err)
			return
		}
		out, err := runTool("", nil, "umoci", "unpack", "--image", layout+":"+ref, bundle)
		if !m.step(check, what+":"+ref, out, err) {
			return
		}
		if img.noRun != "" {
			m.skip(run, img.noRun)
			return
		}
		if err := setNoTerminal(bundle); err != nil {
			m.fail(run, "config.json of "+bundle, "", err)
			return
		}
		n++
		id := fmt.Sprintf("pycontainer-e2e-%d", n)
		out, err = runTool("", nil, "runc", "--root", state, "run", "--bundle", bundle, id)
		m.ran(run, "runc run of "+img.flag()+" ("+what+")", out, err, img.machine)
	}
	for _, img := range images {
		unpackAndRun(checkLoadLayout, runCheck(img.arch), filepath.Join(img.project, "dist", "image"), img)
		if img.saved == "" {
			m.skip(checkLoadSave, img.saveErr)
			continue
		}
		dir := filepath.Join(t.TempDir(), "saved")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if out, err := runTool("", nil, "tar", "-C", dir, "-xf", img.saved); err != nil {
			m.fail(checkLoadSave, "tar -xf of the save tar", out, err)
			continue
		}
		unpackAndRun(checkLoadSave, runCheck(img.arch), dir, img)
	}

	if multi.failed != "" {
		m.skip(checkMulti, multi.failed)
		return
	}
	arm64, ok := findArch(images, "arm64")
	if !ok {
		m.skip(checkMulti, "no arm64 python base")
		return
	}
	// umoci has no way to be asked for a platform; on the nested index of a
	// multi-platform build it says so ("tag is ambiguous").
	layout := filepath.Join(multi.project, "dist", "image")
	name := strings.TrimPrefix(multi.tag, "myapp:")
	bundle := filepath.Join(t.TempDir(), "bundle")
	out, err := runTool("", nil, "umoci", "unpack", "--image", layout+":"+name, bundle)
	if err == nil {
		out = "it unpacked an image of its own choosing"
	}
	why := "umoci cannot be asked for " + arm64.flag() + ": " + firstLine(out, err)
	// The README's way round: skopeo picks the platform into a one-image layout.
	if _, lerr := exec.LookPath("skopeo"); lerr != nil {
		m.na(checkMulti, why+"; skopeo, which can pick it first, is not installed")
		return
	}
	one := filepath.Join(t.TempDir(), "one")
	out, err = runTool("", nil, "skopeo", "copy", "--override-arch", "arm64", "oci:"+layout+":"+name, "oci:"+one+":arm64")
	if m.step(checkMulti, "skopeo copy --override-arch arm64 oci:dist/image:"+name+" oci:one:arm64", out, err) {
		unpackAndRun(checkMulti, checkMulti, one, arm64)
	}
	m.note(checkMulti, "by skopeo copy --override-arch arm64 into a one-image layout, as "+why)
}

// setNoTerminal turns off process.terminal in a bundle's config.json: runc run gets no
// terminal from the test.
func setNoTerminal(bundle string) error {
	path := filepath.Join(bundle, "config.json")
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var spec map[string]any
	if err := json.Unmarshal(b, &spec); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	proc, ok := spec["process"].(map[string]any)
	if !ok {
		return fmt.Errorf("%s has no process", path)
	}
	proc["terminal"] = false
	if b, err = json.Marshal(spec); err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// refName is the name index.json gives its first entry (what umoci's DIR:NAME takes).
func refName(layout string) (string, error) {
	b, err := os.ReadFile(filepath.Join(layout, "index.json"))
	if err != nil {
		return "", err
	}
	var idx struct {
		Manifests []struct {
			Annotations map[string]string `json:"annotations"`
		} `json:"manifests"`
	}
	if err := json.Unmarshal(b, &idx); err != nil {
		return "", fmt.Errorf("%s/index.json: %w", layout, err)
	}
	if len(idx.Manifests) == 0 || idx.Manifests[0].Annotations["org.opencontainers.image.ref.name"] == "" {
		return "", fmt.Errorf("%s/index.json names no image", layout)
	}
	return idx.Manifests[0].Annotations["org.opencontainers.image.ref.name"], nil
}

// emulationGap says why an engine on this machine cannot run a's binaries ("" when it
// can): natively, or under qemu through a binfmt_misc handler registered with the F flag
// (the interpreter opened at registration, so it works inside a container's root).
// A missing handler is registered when possible (mount binfmt_misc, update-binfmts).
func emulationGap(t *testing.T, a arch) string {
	if a.platform.Architecture == runtime.GOARCH {
		return ""
	}
	handler := map[string]string{"amd64": "qemu-x86_64", "arm64": "qemu-aarch64", "arm": "qemu-arm"}[a.platform.Architecture]
	if handler == "" {
		return "no qemu binfmt handler is known for " + a.flag()
	}
	const dir = "/proc/sys/fs/binfmt_misc"
	entry := filepath.Join(dir, handler)
	read := func() (enabled bool, flags string, err error) {
		b, err := os.ReadFile(entry)
		if err != nil {
			return false, "", err
		}
		for _, line := range strings.Split(string(b), "\n") {
			if f, ok := strings.CutPrefix(line, "flags: "); ok {
				flags = f
			}
		}
		return strings.HasPrefix(string(b), "enabled"), flags, nil
	}
	enabled, flags, err := read()
	if err != nil || !enabled {
		var tried []string
		if _, err := os.Stat(filepath.Join(dir, "status")); err != nil {
			if out, err := exec.Command("mount", "-t", "binfmt_misc", "binfmt_misc", dir).CombinedOutput(); err != nil {
				tried = append(tried, "mount binfmt_misc: "+firstLine(string(out), err))
			}
		}
		if out, err := exec.Command("update-binfmts", "--enable", handler).CombinedOutput(); err != nil {
			tried = append(tried, "update-binfmts --enable "+handler+": "+firstLine(string(out), err))
		}
		t.Logf("registering the binfmt_misc handler %s: %v", handler, tried)
		if enabled, flags, err = read(); err != nil {
			return fmt.Sprintf("no binfmt_misc handler %s (%s); apt-get install qemu-user-static binfmt-support, as root: mount -t binfmt_misc binfmt_misc %s && update-binfmts --enable", handler, strings.Join(tried, "; "), dir)
		}
		if !enabled {
			return fmt.Sprintf("the binfmt_misc handler %s is disabled (%s)", handler, strings.Join(tried, "; "))
		}
	}
	if !strings.Contains(flags, "F") {
		return fmt.Sprintf("the binfmt_misc handler %s lacks the F flag (flags %q): its interpreter is not found inside a container", handler, flags)
	}
	return ""
}

// mentionsDockerLoad reports whether build output has a line that names docker load and
// the platform it gets.
func mentionsDockerLoad(out, platform string) bool {
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "docker load") && strings.Contains(line, platform) {
			return true
		}
	}
	return false
}

func findArch(images []*engineImage, goarch string) (*engineImage, bool) {
	for _, img := range images {
		if img.platform.Architecture == goarch {
			return img, true
		}
	}
	return nil, false
}

// runTool runs name in dir with env added to the test's environment, for at most five
// minutes, and returns its output (stdout and stderr) trimmed.
func runTool(dir string, env []string, name string, args ...string) (string, error) {
	const limit = 5 * time.Minute
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.WaitDelay = 10 * time.Second // a killed bash may leave a child holding the output
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		err = fmt.Errorf("%s did not finish within %v: %w", name, limit, err)
	}
	return strings.TrimSpace(string(out)), err
}

// firstLine is the line of an engine's output that says what went wrong: the first that
// mentions an error, else the first, else err itself.
func firstLine(out string, err error) string {
	var first string
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if first == "" {
			first = line
		}
		if strings.Contains(strings.ToLower(line), "error") {
			return line
		}
	}
	if first != "" {
		return first
	}
	if err != nil {
		return err.Error()
	}
	return "no output"
}

func appendFile(name, text string) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// matrix collects one engine's cells and logs them as ENGINE-MATRIX lines when the
// engine's test ends. A failed step fails the test too.
type matrix struct {
	t      *testing.T
	engine string
	cells  map[string]*cell
}

type cell struct {
	passed            int
	failure           string // the first failure's line
	skipped, notAvail string
	note              string // how a passing check was done, when not the obvious way
}

func newMatrix(t *testing.T, engine string) *matrix {
	m := &matrix{t: t, engine: engine, cells: map[string]*cell{}}
	for _, c := range matrixChecks {
		m.cells[c] = &cell{}
	}
	t.Cleanup(func() {
		var lines []string
		for _, c := range matrixChecks {
			line := fmt.Sprintf("ENGINE-MATRIX %s | %s | %s", engine, c, m.cells[c].result())
			t.Log(line)
			lines = append(lines, line+"\n")
		}
		// go test prints a passing test's log only with -v; CI collects the table here.
		if file := os.Getenv("PYCONTAINER_E2E_MATRIX"); file != "" {
			if err := appendFile(file, strings.Join(lines, "")); err != nil {
				t.Errorf("PYCONTAINER_E2E_MATRIX: %v", err)
			}
		}
	})
	return m
}

func (c *cell) result() string {
	switch {
	case c.failure != "":
		return "❌ " + c.failure
	case c.passed > 0 && c.skipped != "":
		return "✅ (part skipped: " + c.skipped + ")"
	case c.passed > 0 && c.note != "":
		return "✅ (" + c.note + ")"
	case c.passed > 0:
		return "✅"
	case c.notAvail != "":
		return "n/a (" + c.notAvail + ")"
	case c.skipped != "":
		return "skipped (" + c.skipped + ")"
	}
	return "skipped (not reached: a step it needs failed, see above)"
}

// step records the outcome of one command of check; it reports whether it succeeded.
func (m *matrix) step(check, what, out string, err error) bool {
	m.t.Helper()
	if err != nil {
		m.fail(check, what, out, err)
		return false
	}
	m.t.Logf("%s: %s: ok", m.engine, what)
	m.cells[check].passed++
	return true
}

// ran records a run of check, which must have printed the app's Platform: machine.
func (m *matrix) ran(check, what, out string, err error, machine string) {
	m.t.Helper()
	if err == nil && !strings.Contains(out, "Platform: "+machine) {
		got := "no Platform line"
		for _, line := range strings.Split(out, "\n") {
			if strings.HasPrefix(line, "Platform: ") {
				got = line
			}
		}
		m.wrong(check, what, fmt.Sprintf("printed %q, want %q", got, "Platform: "+machine), out)
		return
	}
	m.step(check, what, out, err)
}

// fail records a command of check that failed; the cell shows the engine's own line.
func (m *matrix) fail(check, what, out string, err error) {
	m.t.Helper()
	m.t.Errorf("%s: %s: %v\n%s", m.engine, what, err, out)
	if c := m.cells[check]; c.failure == "" {
		c.failure = firstLine(out, err)
	}
}

// wrong records a command of check that succeeded with the wrong result, said by why.
func (m *matrix) wrong(check, what, why, out string) {
	m.t.Helper()
	m.t.Errorf("%s: %s: %s\n%s", m.engine, what, why, out)
	if c := m.cells[check]; c.failure == "" {
		c.failure = why
	}
}

func (m *matrix) skip(check, why string) {
	m.t.Helper()
	m.t.Logf("%s: %s skipped: %s", m.engine, check, why)
	if c := m.cells[check]; c.skipped == "" {
		c.skipped = why
	}
}

// note says how check was done.
func (m *matrix) note(check, how string) { m.cells[check].note = how }

// na marks a check the engine cannot do by design.
func (m *matrix) na(check, why string) {
	m.t.Helper()
	m.t.Logf("%s: %s is not available: %s", m.engine, check, why)
	m.cells[check].notAvail = why
}

// skipEngine skips the engine's test, every cell saying why.
func (m *matrix) skipEngine(why string) {
	m.t.Helper()
	for _, c := range m.cells {
		c.skipped = why
	}
	m.t.Skipf("%s cannot run here: %s", m.engine, why)
}
