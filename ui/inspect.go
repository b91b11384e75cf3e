package ui

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/viewport"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/regclient/regclient/types/descriptor"
	v1 "github.com/regclient/regclient/types/oci/v1"

	"github.com/pycontainer/pycontainer/oci"
)

// A layer's tree is read up to filesRead entries (a dependency layer holds thousands)
// and laid out in at most treeLines lines, the top of the tree first.
const (
	filesRead = 20_000
	treeLines = 200
)

// inspectScreen shows what a layout holds, one platform at a time: its config, its
// layers, and the files of the layers pycontainer wrote.
type inspectScreen struct {
	c        *common
	width    int
	height   int
	summary  *oci.Summary
	err      error
	loading  bool
	selected int
	vp       viewport.Model
	files    map[string]filesLoadedMsg // by layer digest
	// canLeave says there is a screen to go back to (not so when inspect was opened
	// by `pycontainer inspect`).
	canLeave bool
}

func newInspectScreen(c *common) *inspectScreen {
	return &inspectScreen{c: c, vp: viewport.New(), files: map[string]filesLoadedMsg{}}
}

func (in *inspectScreen) SetSize(width, height int) {
	in.width, in.height = width, height
	in.refresh()
}

// refresh lays the image on screen out in the viewport, after anything it shows changed.
func (in *inspectScreen) refresh() {
	in.vp.SetWidth(in.width)
	in.vp.SetHeight(max(in.height-2, 1))
	if img, ok := in.current(); ok {
		in.vp.SetContent(in.details(img))
	}
}

func (in *inspectScreen) Typing() bool { return false }

func (in *inspectScreen) load() tea.Cmd {
	in.loading = true
	inspect, ctx := in.c.services.Inspect, in.c.ctx
	return func() tea.Msg {
		s, err := inspect(ctx)
		return inspectLoadedMsg{summary: s, err: err}
	}
}

// loadFiles reads, in the background, the file lists of the layers pycontainer wrote
// into the image on screen.
func (in *inspectScreen) loadFiles() tea.Cmd {
	img, ok := in.current()
	list := in.c.services.LayerFiles
	if !ok || list == nil {
		return nil
	}
	var cmds []tea.Cmd
	for _, l := range ownLayers(img) {
		if _, done := in.files[l.Digest.String()]; done {
			continue
		}
		in.files[l.Digest.String()] = filesLoadedMsg{layer: l.Digest.String()} // loading
		ctx, summary := in.c.ctx, in.summary
		cmds = append(cmds, func() tea.Msg {
			files, more, err := list(ctx, summary, l, filesRead)
			return filesLoadedMsg{layer: l.Digest.String(), tree: oci.FileTree(files, treeLines), more: more, err: err}
		})
	}
	return tea.Batch(cmds...)
}

// ownLayers are the layers of img that pycontainer wrote (its history says so), the
// app and dependency layers, not the base image's.
func ownLayers(img oci.ImageSummary) []descriptor.Descriptor {
	var out []descriptor.Descriptor
	for i, h := range layerHistoryEntries(img.Config.History) {
		if i < len(img.Layers) && (h.Comment == "pycontainer" || strings.HasPrefix(h.CreatedBy, "pycontainer build")) {
			out = append(out, img.Layers[i])
		}
	}
	return out
}

func (in *inspectScreen) ShortHelp() []key.Binding {
	k := in.c.keys
	out := []key.Binding{key.NewBinding(key.WithKeys("left", "right"), key.WithHelp("←/→", "platform")), as(k.Down, "scroll")}
	if in.c.services.Save != nil {
		out = append(out, k.Save)
	}
	out = append(out, k.CopyDigest, k.CopyPlatform)
	if in.canLeave {
		out = append(out, k.Back)
	}
	return out
}

func (in *inspectScreen) FullHelp() [][]key.Binding {
	k := in.c.keys
	act := []key.Binding{as(k.CopyDigest, "copy the manifest digest"), as(k.CopyPlatform, "copy the --platform flag")}
	if in.c.services.Save != nil {
		act = append([]key.Binding{as(k.Save, "save a .tar for docker/podman load")}, act...)
	}
	if in.canLeave {
		act = append(act, as(k.Back, "back to the build"))
	}
	return [][]key.Binding{
		{as(k.Left, "previous platform"), as(k.Right, "next platform")},
		{as(k.Up, "scroll up"), as(k.Down, "scroll down"), k.PageUp, k.PageDown},
		act,
	}
}

func (in *inspectScreen) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case savedMsg:
		if msg.err != nil {
			return problem("✗ save: " + msg.err.Error())
		}
		return status("saved " + msg.path + " for docker load -i")
	case inspectLoadedMsg:
		in.loading, in.summary, in.err = false, msg.summary, msg.err
		in.selected = 0
		in.files = map[string]filesLoadedMsg{}
		in.vp.GotoTop()
		in.refresh()
		return in.loadFiles()
	case filesLoadedMsg:
		in.files[msg.layer] = msg
		in.refresh()
		return nil
	case tea.KeyPressMsg:
		return in.key(msg)
	}
	return nil
}

func (in *inspectScreen) key(msg tea.KeyPressMsg) tea.Cmd {
	k := in.c.keys
	img, ok := in.current()
	switch {
	case key.Matches(msg, k.Left) || msg.String() == "shift+tab":
		in.selected = max(in.selected-1, 0)
		in.vp.GotoTop()
		in.refresh()
		return in.loadFiles()
	case key.Matches(msg, k.Right) || msg.String() == "tab":
		if in.summary != nil {
			in.selected = min(in.selected+1, max(len(in.summary.Images)-1, 0))
		}
		in.vp.GotoTop()
		in.refresh()
		return in.loadFiles()
	case key.Matches(msg, k.Up):
		in.vp.ScrollUp(1)
	case key.Matches(msg, k.Down):
		in.vp.ScrollDown(1)
	case key.Matches(msg, k.PageUp):
		in.vp.PageUp()
	case key.Matches(msg, k.PageDown):
		in.vp.PageDown()
	case key.Matches(msg, k.CopyDigest) && ok:
		d := img.Digest.String()
		return tea.Batch(tea.SetClipboard(d), status("copied "+d))
	case key.Matches(msg, k.CopyPlatform) && ok:
		p := "--platform " + oci.PlatformString(img.Platform())
		return tea.Batch(tea.SetClipboard(p), status("copied "+p))
	case key.Matches(msg, k.Save) && ok && in.c.services.Save != nil:
		save, summary := in.c.services.Save, in.summary
		return tea.Sequence(status("saving "+oci.PlatformString(img.Platform())+" …"), func() tea.Msg {
			path, err := save(summary, img)
			return savedMsg{path: path, err: err}
		})
	case key.Matches(msg, k.Back) && in.canLeave:
		return back
	}
	return nil
}

func (in *inspectScreen) current() (oci.ImageSummary, bool) {
	if in.summary == nil || in.selected >= len(in.summary.Images) {
		return oci.ImageSummary{}, false
	}
	return in.summary.Images[in.selected], true
}

func (in *inspectScreen) View() string {
	s := in.c.styles
	switch {
	case in.loading:
		return s.Muted.Render("reading " + in.c.output + " …")
	case in.err != nil:
		return strings.Join(append([]string{s.Err.Render("✗ cannot inspect")}, wrap(Sanitize(in.err.Error()), in.width-2)...), "\n")
	case in.summary == nil || len(in.summary.Images) == 0:
		return s.Muted.Render("the layout holds no images")
	}
	var tabs []string
	for i, img := range in.summary.Images {
		label := Sanitize(oci.PlatformString(img.Platform()))
		if len(img.Problems) > 0 {
			label += " !"
		}
		if i == in.selected {
			tabs = append(tabs, s.Selected.Render("["+label+"]"))
		} else {
			tabs = append(tabs, s.Muted.Render(" "+label+" "))
		}
	}
	if n := in.summary.Attestations; n > 0 {
		tabs = append(tabs, s.Muted.Render(fmt.Sprintf(" + %s", plural(n, "attestation"))))
	}
	if n := len(in.summary.Absent); n > 0 {
		tabs = append(tabs, s.Muted.Render(fmt.Sprintf(" + %d listed, not included", n)))
	}
	img, _ := in.current()
	head := s.Text.Render(in.summary.Dir) + "  " + strings.Join(tabs, " ")
	if lipgloss.Width(head) > in.width {
		head = s.Text.Render(in.summary.Dir) + s.Muted.Render(fmt.Sprintf("  ‹ %d of %d › ", in.selected+1, len(in.summary.Images))) +
			s.Selected.Render(Sanitize(oci.PlatformString(img.Platform())))
	}
	return truncate(head, in.width) + "\n\n" + in.vp.View()
}

func (in *inspectScreen) details(img oci.ImageSummary) string {
	s := in.c.styles
	width := in.width
	var lines []string
	// Every value comes from whoever made the image (or its base).
	field := func(name, value string) {
		label := s.Muted.Render(fmt.Sprintf("%-11s", name))
		for i, l := range wrap(Sanitize(value), width-13) {
			if i > 0 {
				label = strings.Repeat(" ", 11)
			}
			lines = append(lines, " "+label+" "+l)
		}
	}
	cfg := img.Config
	plat := Sanitize(oci.PlatformString(img.Platform()))
	if len(img.Problems) == 0 {
		lines = append(lines, " "+s.OK.Render("✓ "+plat)+s.Muted.Render(" · the config's platform matches the index entry"))
	} else {
		for _, p := range img.Problems {
			lines = append(lines, " "+s.Err.Render("✗ "+Sanitize(p)))
		}
	}
	lines = append(lines, "")
	field("name", orDash(img.DisplayName()))
	if load := in.summary.DockerLoad; load != nil && len(in.summary.Images) > 1 {
		if load.Digest == img.Digest {
			field("docker load", "of "+in.summary.Dir+" gets this image")
		} else {
			field("docker load", "of "+in.summary.Dir+" gets "+oci.PlatformString(load.Platform())+"; s saves this one as a .tar")
		}
	}
	field("manifest", img.Digest.String())
	if base := img.Annotations["org.opencontainers.image.base.name"]; base != "" {
		if d := img.Annotations["org.opencontainers.image.base.digest"]; d != "" {
			base += "@" + d
		}
		field("base", base)
	}
	field("config", fmt.Sprintf("architecture %s · os %s · variant %s", cfg.Architecture, cfg.OS, orDash(cfg.Variant)))
	if cfg.Created != nil {
		field("created", cfg.Created.UTC().Format(time.RFC3339))
	}
	field("entrypoint", jsonList(cfg.Config.Entrypoint))
	field("cmd", jsonList(cfg.Config.Cmd))
	field("workdir", orDash(cfg.Config.WorkingDir))
	field("user", orDash(cfg.Config.User))
	for i, e := range cfg.Config.Env {
		field(firstOnly(i, "env"), e)
	}
	if len(cfg.Config.Labels) == 0 {
		field("labels", "–")
	}
	keys := make([]string, 0, len(cfg.Config.Labels))
	for k := range cfg.Config.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		field(firstOnly(i, "labels"), k+"="+cfg.Config.Labels[k])
	}
	field("layers", fmt.Sprintf("%d · %s compressed", len(img.Layers), HumanBytes(img.LayersSize())))
	history := layerHistoryEntries(cfg.History)
	for i, l := range img.Layers {
		created := ""
		if i < len(history) {
			created = history[i].CreatedBy
		}
		head := fmt.Sprintf("   %2d  %s  %9s  ", i+1, oci.ShortDigest(l.Digest.String()), HumanBytes(l.Size))
		for j, part := range wrap(Sanitize(created), width-lipgloss.Width(head)) {
			if j > 0 {
				head = strings.Repeat(" ", lipgloss.Width(head))
			}
			lines = append(lines, head+part)
		}
	}
	lines = append(lines, in.fileLines(img)...)
	return strings.Join(lines, "\n")
}

// fileLines are the trees of the layers pycontainer wrote: what went in, with sizes.
func (in *inspectScreen) fileLines(img oci.ImageSummary) []string {
	s := in.c.styles
	own := ownLayers(img)
	if len(own) == 0 || in.c.services.LayerFiles == nil {
		return nil
	}
	history := layerHistoryEntries(img.Config.History)
	var out []string
	for _, l := range own {
		what := "layer " + oci.ShortDigest(l.Digest.String())
		for i, h := range history {
			if i < len(img.Layers) && img.Layers[i].Digest == l.Digest {
				what = Sanitize(strings.TrimPrefix(h.CreatedBy, "pycontainer build: "))
			}
		}
		out = append(out, "", " "+s.Header.Render("Files")+s.Muted.Render(" · "+truncate(what, in.width-9)))
		f, ok := in.files[l.Digest.String()]
		switch {
		case !ok || (f.tree == nil && f.err == nil):
			out = append(out, s.Muted.Render("   reading the layer …"))
			continue
		case f.err != nil:
			out = append(out, s.Err.Render(truncate("   ✗ "+Sanitize(f.err.Error()), in.width)))
			continue
		}
		for _, t := range f.tree {
			out = append(out, in.treeLine(t))
		}
		if f.more {
			out = append(out, s.Muted.Render(fmt.Sprintf("   … the layer has more than %d entries; these are the first", filesRead)))
		}
	}
	return out
}

// treeLine is one entry of a layer's tree: indented name, what kind of entry, size.
func (in *inspectScreen) treeLine(t oci.TreeLine) string {
	s := in.c.styles
	name := strings.Repeat("  ", t.Depth) + Sanitize(t.Name) // a layer's file names are anyone's
	style := s.Text
	size := HumanBytes(t.Size)
	switch {
	case t.More > 0:
		name, style = strings.Repeat("  ", t.Depth)+fmt.Sprintf("… %d more", t.More), s.Muted
	case t.Deleted:
		name, style, size = name+"  (deleted by this layer)", s.Warn, ""
	case t.Dir && t.Collapsed:
		name, style = name+fmt.Sprintf("/  (%s)", plural(t.Files, "file")), s.Accent
	case t.Dir:
		name, style = name+"/", s.Accent
	case t.Link != "":
		name, size = name+" → "+Sanitize(t.Link), ""
	}
	pad := max(in.width-14, 10)
	return style.Render(fmt.Sprintf("   %-*s %9s", pad, ansiTruncate(name, pad), size))
}

// layerHistoryEntries are the history entries that made a layer, in layer order.
func layerHistoryEntries(h []v1.History) []v1.History {
	var out []v1.History
	for _, e := range h {
		if !e.EmptyLayer {
			out = append(out, e)
		}
	}
	return out
}

// firstOnly labels the first line of a list, and leaves the rest unlabelled.
func firstOnly(i int, label string) string {
	if i == 0 {
		return label
	}
	return ""
}

func jsonList(v []string) string {
	if len(v) == 0 {
		return "–"
	}
	b, _ := json.Marshal(v)
	return string(b)
}
