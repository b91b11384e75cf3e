package build

import (
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/pycontainer/pycontainer/internal/cmdenv"

	"github.com/spf13/pflag"
)

var updateReadme = flag.Bool("update", false, "rewrite README.md's settings reference")

// layerNames are the four layers a setting can be set in, lowest precedence first.
var layerNames = []string{"pyproject.toml [tool.pycontainer]", "pycontainer.toml", "environment", "flag"}

// sampleValue is setting st's value in layer i: each layer's differs, so the one that
// wins shows. Maps share a key (the winner's value shows) and add their own (all merge).
func sampleValue(st setting, i int) any {
	n := fmt.Sprint(i + 1)
	switch st.kind {
	case kindBool:
		return i%2 == 0 != (st.def == "true") // the lowest layer differs from the default
	case kindList:
		switch st.key {
		case "platform":
			return []string{[]string{"linux/arm64", "linux/arm/v7", "linux/s390x", "linux/ppc64le"}[i]}
		case "ports":
			return []string{"800" + n}
		}
		return []string{st.key + n}
	case kindCommand:
		return []string{"python3", "-m", "app" + n}
	case kindKeyValue:
		return map[string]string{"SHARED": "v" + n, "ONLY" + n: "x"}
	}
	switch st.key {
	case "pull":
		return []string{"missing", "never", "always", "missing"}[i]
	case "progress":
		return []string{"plain", "json", "auto", "plain"}[i]
	case "sdist_compiler":
		return []string{"sandbox", "docker", "podman", "sandbox"}[i]
	case "workdir":
		return "/w" + n
	case "output", "requirements":
		return st.key + n // a path inside the project
	}
	return st.key + n
}

// tomlValue writes v as TOML.
func tomlValue(v any) string {
	switch t := v.(type) {
	case bool:
		return fmt.Sprint(t)
	case []string:
		var q []string
		for _, e := range t {
			q = append(q, fmt.Sprintf("%q", e))
		}
		return "[" + strings.Join(q, ", ") + "]"
	case map[string]string:
		var q []string
		for _, k := range slices.Sorted(maps.Keys(t)) {
			q = append(q, fmt.Sprintf("%s = %q", k, t[k]))
		}
		return "{ " + strings.Join(q, ", ") + " }"
	}
	return fmt.Sprintf("%q", v)
}

// textValues writes v as the environment (one string) and as flag values (repeated).
func textValues(st setting, v any) (env string, flags []string) {
	switch t := v.(type) {
	case bool:
		return fmt.Sprint(t), []string{fmt.Sprint(t)}
	case []string:
		if st.kind == kindCommand {
			return strings.Join(t, " "), []string{strings.Join(t, " ")}
		}
		return strings.Join(t, ","), t
	case map[string]string:
		var kv []string
		for _, k := range slices.Sorted(maps.Keys(t)) {
			kv = append(kv, k+"="+t[k])
		}
		return strings.Join(kv, ","), kv
	}
	return v.(string), []string{v.(string)}
}

// observed is what Options holds of setting key: each setting must reach the build.
func observed(t *testing.T, o *Options, key string) any {
	t.Helper()
	switch key {
	case "tag":
		return o.Tag
	case "platform":
		var out []string
		for _, p := range o.Platforms {
			out = append(out, p.Raw)
		}
		return out
	case "base_image":
		return o.BaseImage
	case "include_deps":
		return o.IncludeDeps
	case "push":
		return o.Push
	case "verbose":
		return o.Verbose
	case "output":
		return filepath.Base(o.Output)
	case "reproducible":
		return o.Reproducible
	case "env":
		return o.Env
	case "labels":
		return o.Labels
	case "workdir":
		return o.Workdir
	case "entrypoint":
		return o.Entrypoint
	case "cmd":
		return o.Cmd
	case "user":
		return o.User
	case "ports":
		return o.Ports
	case "dry_run":
		return o.DryRun
	case "progress":
		return o.Progress
	case "requirements":
		return filepath.Base(o.Deps.Requirements)
	case "index_url":
		return o.Deps.IndexURL
	case "extra_index_urls":
		return o.Deps.ExtraIndexURLs
	case "find_links":
		return o.Deps.FindLinks
	case "no_index":
		return o.Deps.NoIndex
	case "allow_sdist":
		return o.Deps.AllowSdist
	case "builder_image":
		return o.BuilderImage
	case "sdist_compiler":
		return o.SdistCompiler
	case "no_cache":
		return o.NoCache
	case "pull":
		return o.Pull
	case "strict":
		return o.Strict
	case "insecure_base":
		return o.InsecureBase
	case "mirrors":
		return o.Mirrors
	case "url":
		return o.RegistryURL
	case "insecure":
		return o.Insecure
	}
	t.Fatalf("setting %q reaches no field of Options the test knows: add it to observed", key)
	return nil
}

// TestSettingsLayers walks every setting of the table through its four layers: set in
// the lowest n of them, the highest of those wins (maps merge key by key), and the build
// options hold it. Every flag of `pycontainer build` is a row, so every one of them can
// be set in pycontainer.toml, [tool.pycontainer] and the environment.
func TestSettingsLayers(t *testing.T) {
	for _, st := range settingsTable {
		if st.key == "context" {
			continue // it moves where the files are read from: TestProjectPathsStayInside and TestConfigLayers
		}
		layers := len(layerNames)
		if st.flag == "" {
			layers-- // [registry] url and insecure have no flag of build
		}
		for n := 1; n <= layers; n++ {
			t.Run(fmt.Sprintf("%s.%s in %d layers", st.table, st.key, n), func(t *testing.T) {
				dir := t.TempDir()
				var pyproject, config strings.Builder
				pyproject.WriteString("[project]\nname = \"demo\"\n")
				env := map[string]string{}
				var args []string
				want := sampleValue(st, 0)
				merged := map[string]string{}
				for i := range n {
					v := sampleValue(st, i)
					if m, ok := v.(map[string]string); ok {
						maps.Copy(merged, m)
						want = maps.Clone(merged)
					} else {
						want = v
					}
					envText, flagValues := textValues(st, v)
					switch i {
					case 0:
						fmt.Fprintf(&pyproject, "[tool.pycontainer.%s]\n%s = %s\n", st.table, st.key, tomlValue(v))
					case 1:
						fmt.Fprintf(&config, "[%s]\n%s = %s\n", st.table, st.key, tomlValue(v))
					case 2:
						env[st.env] = envText
					case 3:
						for _, fv := range flagValues {
							args = append(args, "--"+st.flag+"="+fv)
						}
					}
				}
				writeTestFile(t, filepath.Join(dir, "pyproject.toml"), pyproject.String())
				if config.Len() > 0 {
					writeTestFile(t, filepath.Join(dir, "pycontainer.toml"), config.String())
				}
				fs := pflag.NewFlagSet("build", pflag.ContinueOnError)
				AddFlags(fs)
				if err := fs.Parse(append(args, "--context="+dir)); err != nil {
					t.Fatal(err)
				}
				flags, configPath, err := FlagSettings(fs)
				if err != nil {
					t.Fatal(err)
				}
				o, err := Resolve(Inputs{ConfigPath: configPath, Flags: flags, Process: envOf(env)})
				if err != nil {
					t.Fatalf("Resolve: %v\npyproject.toml:\n%s\npycontainer.toml:\n%s\nenv %v\nflags %v", err, pyproject.String(), config.String(), env, args)
				}
				if len(o.Warnings) > 0 {
					t.Errorf("warnings %q", o.Warnings)
				}
				if got := observed(t, o, st.key); !reflect.DeepEqual(got, want) {
					t.Errorf("set in %s: got %#v, want %#v (from %s)", strings.Join(layerNames[:n], ", "), got, want, layerNames[n-1])
				}
			})
		}
	}
}

// TestSettingsTable: each row is whole and names what no other row names.
func TestSettingsTable(t *testing.T) {
	seen := map[string]string{}
	claim := func(what, name string) {
		if name == "" {
			return
		}
		if prev, ok := seen[what+name]; ok {
			t.Errorf("%s %q is named by two settings (%s)", what, name, prev)
		}
		seen[what+name] = name
	}
	var s Settings
	for _, st := range settingsTable {
		claim("flag ", st.flag)
		claim("key ", st.table+"."+st.key)
		for _, a := range st.aliases {
			claim("key ", st.table+"."+a)
		}
		claim("env ", st.env)
		if st.env == "" || st.key == "" || !slices.Contains(settingTables, st.table) || st.usage == "" {
			t.Errorf("setting %s lacks an environment variable, a key in a known table or a usage", st.name())
		}
		want := map[valueKind]string{kindString: "**string", kindBool: "**bool", kindList: "*[]string", kindCommand: "*[]string", kindKeyValue: "*map[string]string"}[st.kind]
		if got := fmt.Sprintf("%T", st.field(&s)); got != want {
			t.Errorf("setting %s is a %s field, its kind wants %s", st.name(), got, want)
		}
		if st.path && st.kind != kindString {
			t.Errorf("setting %s is a path but not a string", st.name())
		}
	}
}

// TestBrokenProjectFileLenient: a command that needs no project settings reads a broken
// pycontainer.toml as a warning and goes on.
func TestBrokenProjectFileLenient(t *testing.T) {
	dir := t.TempDir()
	writeTestFile(t, filepath.Join(dir, "pycontainer.toml"), "[build\nplatform = 1\n")
	writeTestFile(t, filepath.Join(dir, "pyproject.toml"), "[tool.pycontainer]\ninclude_deps = \"yes\"\n")
	ctx := dir
	if _, err := Resolve(Inputs{Flags: Settings{Context: &ctx}, Process: noProcessEnv}); err == nil {
		t.Fatal("a build accepted a broken pycontainer.toml")
	}
	o, err := Resolve(Inputs{Flags: Settings{Context: &ctx}, Process: noProcessEnv, Lenient: true})
	if err != nil {
		t.Fatalf("lenient Resolve: %v", err)
	}
	got := strings.Join(o.Warnings, "\n")
	for _, want := range []string{"pycontainer.toml:1:", "pyproject.toml:2: tool.pycontainer.include_deps: expected true or false, found a string", "(its settings are left out)"} {
		if !strings.Contains(got, want) {
			t.Errorf("warnings %q lack %q", got, want)
		}
	}
}

func writeTestFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// settingsReference is README's reference table of the settings, made from the table.
func settingsReference() string {
	var b strings.Builder
	b.WriteString("| flag | pycontainer.toml | environment | what it sets |\n|---|---|---|---|\n")
	for _, st := range settingsTable {
		flag := "–"
		if st.flag != "" {
			flag = "`--" + st.flag + "`"
			if st.short != "" {
				flag += ", `-" + st.short + "`"
			}
		}
		key := "`[" + st.table + "] " + st.key + "`"
		for _, a := range st.aliases {
			key += " or `" + a + "`"
		}
		fmt.Fprintf(&b, "| %s | %s | `%s` | %s |\n", flag, key, st.env, strings.ReplaceAll(st.usage, "|", "\\|"))
	}
	return b.String()
}

// TestREADMESettingsReference: README's reference of the settings is the table's
// (go test ./build -run TestREADMESettingsReference -update rewrites it).
func TestREADMESettingsReference(t *testing.T) {
	const begin, end = "<!-- settings: made by build/settings_test.go -->\n", "<!-- /settings -->"
	path := filepath.Join("..", "README.md")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	i, j := strings.Index(readme, begin), strings.Index(readme, end)
	if i < 0 || j < i {
		t.Fatalf("README.md has no %q … %q block", begin, end)
	}
	want := settingsReference()
	if got := readme[i+len(begin) : j]; got != want {
		if *updateReadme {
			if err := os.WriteFile(path, []byte(readme[:i+len(begin)]+want+readme[j:]), 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		t.Errorf("README.md's settings reference differs from the table (rerun with -update):\n%s", want)
	}
}

// TestSettingChoices: a value outside a setting's choices is refused in every layer, and
// the message names where it was.
func TestSettingChoices(t *testing.T) {
	dir := t.TempDir()
	fs := pflag.NewFlagSet("build", pflag.ContinueOnError)
	AddFlags(fs)
	if err := fs.Parse([]string{"--progress=fancy"}); err != nil {
		t.Fatal(err)
	}
	var fe *FlagError
	if _, _, err := FlagSettings(fs); !errors.As(err, &fe) || err.Error() != `--progress "fancy": expected auto, plain or json` {
		t.Errorf("flag: %v", err)
	}
	if _, err := Resolve(Inputs{Flags: Settings{Context: &dir}, Process: cmdenv.Env{Environ: []string{"PYCONTAINER_PULL=sometimes"}}}); err == nil || err.Error() != `PYCONTAINER_PULL: "sometimes": expected always, missing or never` {
		t.Errorf("environment: %v", err)
	}
	writeTestFile(t, filepath.Join(dir, "pycontainer.toml"), "[build]\n\npull = \"sometimes\"\n")
	var ce *ConfigError
	if _, err := Resolve(Inputs{Flags: Settings{Context: &dir}, Process: noProcessEnv}); !errors.As(err, &ce) || ce.Line != 3 || !strings.Contains(err.Error(), `build.pull: "sometimes": expected always, missing or never`) {
		t.Errorf("file: %v", err)
	}
}
