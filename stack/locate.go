package stack

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v4"
)

// maxHops bounds alias chains and documents per file, so hostile YAML only
// costs a missing line number.
const maxHops = 16

// locator finds the line that sets a service's key. compose-go's model keeps
// no positions, so this walks the files' YAML node trees: locating, not
// interpreting, as compose-go has already loaded the project.
type locator struct {
	docs map[string][]*yaml.Node // file as named to its documents' roots
}

func newLocator() *locator {
	return &locator{docs: map[string][]*yaml.Node{}}
}

// find returns the file and line of services.<svc>.<key> (of services.<svc>
// itself when key is ""): the last of files that sets it, else where the
// service extends or includes it from. When no line is found it returns the
// last file that defines the service, or the first file, and line 0.
func (l *locator) find(files []string, svc, key string) (string, int) {
	file, line := l.findIn(files, svc, key, map[string]bool{})
	if line > 0 {
		return file, line
	}
	for i := len(files) - 1; i >= 0; i-- {
		if l.service(files[i], svc) != nil {
			return files[i], 0
		}
	}
	return files[0], 0
}

// findIn visits each list of files once per service, so extends and include
// cycles end.
func (l *locator) findIn(files []string, svc, key string, seen map[string]bool) (string, int) {
	id := strings.Join(append(files[:len(files):len(files)], svc), "\x00")
	if seen[id] {
		return "", 0
	}
	seen[id] = true
	for i := len(files) - 1; i >= 0; i-- {
		k, _ := l.serviceKey(files[i], svc, key)
		if k != nil {
			return files[i], k.Line
		}
	}
	// Then what the service extends, in the last file that says so.
	for i := len(files) - 1; i >= 0; i-- {
		ef, es := l.extends(files[i], svc)
		if es == "" {
			continue
		}
		if f, line := l.findIn([]string{ef}, es, key, seen); line > 0 {
			return f, line
		}
	}
	for _, f := range files {
		for _, inc := range l.includes(f) {
			if f, line := l.findIn(inc, svc, key, seen); line > 0 {
				return f, line
			}
		}
	}
	return "", 0
}

// serviceKey is the key node (and value) of services.<svc>.<key> in file;
// with key "" it is the service's own key.
func (l *locator) serviceKey(file, svc, key string) (*yaml.Node, *yaml.Node) {
	for _, root := range l.roots(file) {
		services := value(root, "services")
		if key == "" {
			if k, v := lookup(services, svc); k != nil {
				return k, v
			}
			continue
		}
		if k, v := lookup(value(services, svc), key); k != nil {
			return k, v
		}
	}
	return nil, nil
}

func (l *locator) service(file, svc string) *yaml.Node {
	_, v := l.serviceKey(file, svc, "")
	return v
}

// extends reads services.<svc>.extends: a service in the same file, or a
// mapping with file (relative to this file) and service.
func (l *locator) extends(file, svc string) (string, string) {
	_, ext := l.serviceKey(file, svc, "extends")
	ext = resolve(ext, 0)
	if ext == nil {
		return "", ""
	}
	if ext.Kind == yaml.ScalarNode {
		return file, ext.Value
	}
	name := scalar(value(ext, "service"))
	if f := scalar(value(ext, "file")); f != "" {
		return relTo(file, f), name
	}
	return file, name
}

// includes reads the top-level include: of file, each entry a list of files
// loaded as one project.
func (l *locator) includes(file string) [][]string {
	var out [][]string
	for _, root := range l.roots(file) {
		inc := resolve(value(root, "include"), 0)
		if inc == nil || inc.Kind != yaml.SequenceNode {
			continue
		}
		for _, e := range inc.Content {
			e = resolve(e, 0)
			if e != nil && e.Kind == yaml.MappingNode {
				e = resolve(value(e, "path"), 0)
			}
			var paths []string
			switch {
			case e == nil:
			case e.Kind == yaml.ScalarNode:
				paths = append(paths, relTo(file, e.Value))
			case e.Kind == yaml.SequenceNode:
				for _, p := range e.Content {
					if s := scalar(p); s != "" {
						paths = append(paths, relTo(file, s))
					}
				}
			}
			if len(paths) > 0 {
				out = append(out, paths)
			}
		}
	}
	return out
}

func relTo(file, path string) string {
	if filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(filepath.Dir(file), path)
}

// roots parses file once; a file that cannot be read or parsed has no roots,
// which only costs line numbers.
func (l *locator) roots(file string) []*yaml.Node {
	if docs, ok := l.docs[file]; ok {
		return docs
	}
	var docs []*yaml.Node
	if data, err := os.ReadFile(file); err == nil {
		dec := yaml.NewDecoder(bytes.NewReader(data))
		for len(docs) < maxHops {
			var doc yaml.Node
			if err := dec.Decode(&doc); err != nil {
				if !errors.Is(err, io.EOF) {
					docs = nil
				}
				break
			}
			if len(doc.Content) > 0 {
				docs = append(docs, doc.Content[0])
			}
		}
	}
	l.docs[file] = docs
	return docs
}

func value(m *yaml.Node, key string) *yaml.Node {
	_, v := lookup(m, key)
	return v
}

func lookup(m *yaml.Node, key string) (*yaml.Node, *yaml.Node) {
	return lookupSeen(m, key, map[*yaml.Node]bool{})
}

// lookupSeen finds key in mapping m, explicit keys first, then "<<" merges,
// as YAML merge keys give explicit keys precedence. Each mapping is visited
// once, so merges of merges cost linear time and cycles end.
func lookupSeen(m *yaml.Node, key string, seen map[*yaml.Node]bool) (*yaml.Node, *yaml.Node) {
	m = resolve(m, 0)
	if m == nil || m.Kind != yaml.MappingNode || seen[m] {
		return nil, nil
	}
	seen[m] = true
	var merges []*yaml.Node
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		switch {
		case k.Kind == yaml.ScalarNode && k.Value == key:
			return k, v
		case k.Kind == yaml.ScalarNode && k.Value == "<<":
			merges = append(merges, v)
		}
	}
	for _, mv := range merges {
		mv = resolve(mv, 0)
		if mv == nil {
			continue
		}
		srcs := []*yaml.Node{mv}
		if mv.Kind == yaml.SequenceNode {
			srcs = mv.Content
		}
		for _, src := range srcs {
			if k, v := lookupSeen(src, key, seen); k != nil {
				return k, v
			}
		}
	}
	return nil, nil
}

// resolve follows aliases to the node they name.
func resolve(n *yaml.Node, hops int) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		if hops++; hops > maxHops {
			return nil
		}
		n = n.Alias
	}
	return n
}

func scalar(n *yaml.Node) string {
	n = resolve(n, 0)
	if n == nil || n.Kind != yaml.ScalarNode {
		return ""
	}
	return n.Value
}
