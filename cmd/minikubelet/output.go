package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// Output formats of get, as kubectl spells them.
const (
	outputTable = ""
	outputWide  = "wide"
	outputJSON  = "json"
	outputYAML  = "yaml"
	outputName  = "name"
)

func validOutput(o string) error {
	switch o {
	case outputTable, outputWide, outputJSON, outputYAML, outputName:
		return nil
	}
	return fmt.Errorf("unable to match a printer suitable for the output format %q, allowed formats are: json,name,wide,yaml", o)
}

// printObject writes obj as kubectl -o json (four-space indent, keys in
// alphabetical order, as kubectl prints objects through a map) or -o yaml.
func printObject(w io.Writer, format string, obj any) error {
	data, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	if format == outputYAML {
		y, err := yaml.JSONToYAML(data)
		if err != nil {
			return err
		}
		_, err = w.Write(y)
		return err
	}
	var generic any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&generic); err != nil {
		return err
	}
	out, err := json.MarshalIndent(generic, "", "    ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(out, '\n'))
	return err
}

var podTypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}

// podList is what kubectl prints for a listing: a v1 List of typed pods.
func podList(pods []*v1.Pod) *v1.PodList {
	list := &v1.PodList{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "List"}, Items: make([]v1.Pod, 0, len(pods))}
	for _, p := range pods {
		item := *p
		item.TypeMeta = podTypeMeta
		list.Items = append(list.Items, item)
	}
	return list
}

func typedPod(p *v1.Pod) *v1.Pod {
	c := *p
	c.TypeMeta = podTypeMeta
	return &c
}
