package build

import (
	"cmp"
	"maps"
	"slices"
	"strings"
	"time"

	v1 "github.com/regclient/regclient/types/oci/v1"

	"github.com/pycontainer/pycontainer/oci"
)

// imageInputs is what pycontainer sets in one platform's image config over its base's.
type imageInputs struct {
	platform oci.Platform // the target's
	launch   launch
	env      map[string]string
	cmd      []string
	workdir  string
	user     string
	labels   map[string]string
	ports    []string
	added    []builtLayer // the layers pycontainer wrote, in image order
}

// imageInputs are the options' and the plan's settings of the config for platform,
// whose image gains the layers added.
func (p *plan) imageInputs(platform oci.Platform, added []builtLayer) imageInputs {
	o := p.o
	return imageInputs{platform: platform, launch: p.launch, env: o.Env, cmd: o.Cmd, workdir: o.Workdir,
		user: o.User, labels: o.Labels, ports: o.Ports, added: added}
}

// imageConfig derives the new image's config from its base's: the target platform,
// the app's environment and command, one diff_id and history entry per added layer,
// created at created. It reads no clock and no file: equal arguments, equal config.
func imageConfig(base v1.Image, in imageInputs, created time.Time) v1.Image {
	cfg := base
	p := in.platform
	cfg.Platform = oci.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant, OSVersion: base.OSVersion, OSFeatures: base.OSFeatures}
	cfg.Created = &created

	c := &cfg.Config
	c.Env = imageEnv(c.Env, in)
	c.Entrypoint = in.launch.Entrypoint
	c.Cmd = in.cmd // never the base's Cmd: it would become arguments of our entrypoint
	c.WorkingDir = in.workdir
	if in.user != "" {
		c.User = in.user
	}
	labels := maps.Clone(c.Labels)
	if labels == nil && len(in.labels) > 0 {
		labels = map[string]string{}
	}
	maps.Copy(labels, in.labels)
	c.Labels = labels
	for _, port := range in.ports {
		if c.ExposedPorts == nil {
			c.ExposedPorts = map[string]struct{}{}
		}
		if !strings.Contains(port, "/") {
			port += "/tcp"
		}
		c.ExposedPorts[port] = struct{}{}
	}
	cfg.RootFS.DiffIDs = slices.Clone(cfg.RootFS.DiffIDs)
	cfg.History = slices.Clone(cfg.History)
	for _, l := range in.added {
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, l.diffID)
		cfg.History = append(cfg.History, v1.History{Created: &created, CreatedBy: l.createdBy, Comment: "pycontainer"})
	}
	return cfg
}

// imageEnv is the base's environment with the app's: the dependencies' directories on
// PATH and PYTHONPATH ahead of the base's, the launch's PYTHONPATH, then the env
// settings, which win.
func imageEnv(base []string, in imageInputs) []string {
	env := slices.Clone(base)
	setEnv := func(k, v string) {
		for i, e := range env {
			if name, _, _ := strings.Cut(e, "="); name == k {
				env[i] = k + "=" + v
				return
			}
		}
		env = append(env, k+"="+v)
	}
	hasDeps := slices.ContainsFunc(in.added, func(l builtLayer) bool { return l.kind == LayerDeps })
	pythonPath := slices.Clone(in.launch.PythonPath)
	if hasDeps {
		pythonPath = append(pythonPath, DepsSite)
		setEnv("PATH", DepsBin+":"+cmp.Or(envValue(env, "PATH"), "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"))
	}
	if len(pythonPath) > 0 {
		pp := strings.Join(pythonPath, ":")
		if old := envValue(env, "PYTHONPATH"); old != "" {
			pp += ":" + old
		}
		setEnv("PYTHONPATH", pp)
	}
	for _, kv := range sortedEnv(in.env) {
		k, v, _ := strings.Cut(kv, "=")
		setEnv(k, v)
	}
	return env
}

func envValue(env []string, key string) string {
	for _, e := range env {
		if k, v, _ := strings.Cut(e, "="); k == key {
			return v
		}
	}
	return ""
}
