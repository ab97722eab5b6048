package source

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"

	yaml "go.yaml.in/yaml/v3"
	sigsyaml "sigs.k8s.io/yaml"
)

// keepLayout returns the YAML document orig changed to hold the object
// newJSON, keeping what the user wrote around the values that did not
// change: comments, the order of keys, quoting and flow style. Only the
// changed values are rewritten; new keys go after the existing ones. The
// document is re-emitted by the YAML encoder, so indentation is normalized
// (two spaces, sequences indented under their key) and blank lines between
// entries are lost.
func keepLayout(orig, newJSON []byte) ([]byte, error) {
	var doc, want yaml.Node
	if err := yaml.Unmarshal(orig, &doc); err != nil {
		return nil, fmt.Errorf("parse the stored document: %w", err)
	}
	if err := yaml.Unmarshal(newJSON, &want); err != nil {
		return nil, fmt.Errorf("parse the new object: %w", err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || want.Kind != yaml.DocumentNode || len(want.Content) != 1 {
		return nil, fmt.Errorf("not a single YAML document")
	}
	if err := updateNode(doc.Content[0], want.Content[0]); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	// The document is read back with YAML 1.1's rules (sigs.k8s.io/yaml),
	// the encoder writes YAML 1.2: make sure it says what was meant.
	if err := sameAsJSON(b.Bytes(), newJSON); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// sameAsJSON checks that the YAML document doc, read as the source reads
// manifests, is the object j.
func sameAsJSON(doc, j []byte) error {
	got, err := sigsyaml.YAMLToJSON(doc)
	if err != nil {
		return fmt.Errorf("read the kept document back: %w", err)
	}
	var x, y any
	if err := json.Unmarshal(got, &x); err != nil {
		return err
	}
	if err := json.Unmarshal(j, &y); err != nil {
		return err
	}
	if !reflect.DeepEqual(x, y) {
		return fmt.Errorf("the kept document does not read back as the object")
	}
	return nil
}

// quote11 double-quotes a plain string scalar that YAML 1.1, which the
// manifests are read with, would take for something else: yes, no, on,
// off, y and n are booleans there, while the encoder (YAML 1.2) writes
// them bare.
func quote11(n *yaml.Node) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!str" || n.Style != 0 {
		return
	}
	got, err := sigsyaml.YAMLToJSON([]byte(n.Value))
	want, _ := json.Marshal(n.Value)
	if err != nil || !bytes.Equal(bytes.TrimSpace(got), want) {
		n.Style = yaml.DoubleQuotedStyle
	}
}

// updateNode makes node hold want's value, changing as little of node as it
// can.
func updateNode(node, want *yaml.Node) error {
	if node.Kind == yaml.AliasNode {
		// What an alias points to may be used elsewhere: write the value
		// out here instead.
		replaceNode(node, want)
		return nil
	}
	same, err := sameValue(node, want)
	if err != nil {
		return err
	}
	if same {
		return nil
	}
	switch {
	case node.Kind == yaml.MappingNode && want.Kind == yaml.MappingNode:
		return updateMapping(node, want)
	case node.Kind == yaml.SequenceNode && want.Kind == yaml.SequenceNode:
		return updateSequence(node, want)
	case node.Kind == yaml.ScalarNode && want.Kind == yaml.ScalarNode:
		style := node.Style
		if want.Tag != node.Tag {
			style = 0
		}
		node.Tag, node.Value, node.Style = want.Tag, want.Value, style
		quote11(node)
		return nil
	}
	replaceNode(node, want)
	return nil
}

func updateMapping(node, want *yaml.Node) error {
	wanted := map[string]*yaml.Node{}
	for i := 0; i+1 < len(want.Content); i += 2 {
		wanted[want.Content[i].Value] = want.Content[i+1]
	}
	var kept []*yaml.Node
	have := map[string]bool{}
	for i := 0; i+1 < len(node.Content); i += 2 {
		k, v := node.Content[i], node.Content[i+1]
		w, ok := wanted[k.Value]
		if !ok || k.Kind != yaml.ScalarNode {
			continue // removed (or a key we cannot name: written anew)
		}
		if v.Kind != w.Kind && k.LineComment == "" {
			// The comment on the key's line stays there when the value
			// becomes a block below it.
			k.LineComment, v.LineComment = v.LineComment, ""
		}
		if err := updateNode(v, w); err != nil {
			return err
		}
		have[k.Value] = true
		kept = append(kept, k, v)
	}
	for i := 0; i+1 < len(want.Content); i += 2 {
		if k := want.Content[i]; !have[k.Value] {
			kept = append(kept, plain(k), plain(want.Content[i+1]))
		}
	}
	node.Content = kept
	return nil
}

func updateSequence(node, want *yaml.Node) error {
	n := min(len(node.Content), len(want.Content))
	for i := 0; i < n; i++ {
		if err := updateNode(node.Content[i], want.Content[i]); err != nil {
			return err
		}
	}
	node.Content = node.Content[:n]
	for _, w := range want.Content[n:] {
		node.Content = append(node.Content, plain(w))
	}
	return nil
}

// replaceNode gives node want's value and shape, keeping node's comments.
func replaceNode(node, want *yaml.Node) {
	head, line, foot := node.HeadComment, node.LineComment, node.FootComment
	*node = *plain(want)
	node.HeadComment, node.LineComment, node.FootComment = head, line, foot
}

// plain is a copy of n (parsed from JSON) in block style, as the rest of
// a YAML manifest is written; the encoder quotes strings that need it.
func plain(n *yaml.Node) *yaml.Node {
	c := *n
	c.Style = 0
	c.Line, c.Column = 0, 0
	quote11(&c)
	c.Content = make([]*yaml.Node, len(n.Content))
	for i, x := range n.Content {
		c.Content[i] = plain(x)
	}
	return &c
}

func sameValue(a, b *yaml.Node) (bool, error) {
	var x, y any
	if err := a.Decode(&x); err != nil {
		return false, err
	}
	if err := b.Decode(&y); err != nil {
		return false, err
	}
	return reflect.DeepEqual(x, y), nil
}
