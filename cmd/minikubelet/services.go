package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/minikubelet/minikubelet/printers"
)

// isServiceResource reports whether s names the service resource as
// kubectl accepts it (services, service, svc, with version spellings).
func isServiceResource(s string) bool {
	switch strings.ToLower(s) {
	case "services", "service", "svc", "services.v1.", "service.v1.", "services.v1", "service.v1":
		return true
	}
	return false
}

// serviceNames recognises a Service request in get/describe arguments:
// `svc [NAME...]` or `svc/NAME...`. ok is false when the arguments name
// another resource (the caller goes on with pods).
func serviceNames(args []string) (names []string, ok bool, err error) {
	if len(args) == 0 {
		return nil, false, nil
	}
	if res, _, found := strings.Cut(args[0], "/"); found {
		if !isServiceResource(res) {
			return nil, false, nil
		}
		for _, a := range args {
			res, name, found := strings.Cut(a, "/")
			if !found || !isServiceResource(res) || name == "" {
				return nil, true, errors.New("arguments in resource/name form must have a single resource and name")
			}
			names = append(names, name)
		}
		return names, true, nil
	}
	if !isServiceResource(args[0]) {
		return nil, false, nil
	}
	return args[1:], true, nil
}

var serviceTypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Service"}

// runServices is `get services`: the table (or -o name/json/yaml) of the
// Services, all of them or the named ones.
func (o *getOptions) runServices(ctx context.Context, names []string) error {
	if o.watch {
		return errors.New("watch is not supported for services by minikubelet")
	}
	if o.allNamespaces && len(names) > 0 {
		return fmt.Errorf("a resource cannot be retrieved by name across all namespaces")
	}
	var svcs []*v1.Service
	var failed error
	if len(names) == 0 {
		list, err := o.client.ListServices(ctx, o.namespace, o.selector)
		if err != nil {
			return err
		}
		for i := range list.Items {
			svcs = append(svcs, &list.Items[i])
		}
	}
	for _, name := range names {
		svc, err := o.client.GetService(ctx, o.namespace, name)
		if err != nil {
			if !apierrors.IsNotFound(err) || len(names) == 1 {
				return err
			}
			printMsg(o.ErrOut, errorMessage(err))
			failed = silentError
			continue
		}
		svcs = append(svcs, svc)
	}
	for _, s := range svcs {
		s.TypeMeta = serviceTypeMeta
	}
	switch o.output {
	case outputJSON, outputYAML:
		if len(names) == 1 && len(svcs) == 1 {
			return printObject(o.Out, o.output, svcs[0])
		}
		list := &v1.ServiceList{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "List"}, Items: []v1.Service{}}
		for _, s := range svcs {
			list.Items = append(list.Items, *s)
		}
		if err := printObject(o.Out, o.output, list); err != nil {
			return err
		}
		return failed
	}
	if len(svcs) == 0 {
		if failed == nil {
			noResources(o.ErrOut, o.namespace)
		}
		return failed
	}
	if o.output == outputName {
		for _, s := range svcs {
			fmt.Fprintf(o.Out, "service/%s\n", s.Name)
		}
		return failed
	}
	if err := printers.PrintServices(o.Out, svcs, o.tableOptions()); err != nil {
		return err
	}
	return failed
}

// runServices is `describe services`: each Service with its Endpoints and
// events. As for pods, a name that matches no Service exactly describes
// those whose names start with it.
func (o *describeOptions) runServices(ctx context.Context, names []string) error {
	list, err := o.client.ListServices(ctx, o.namespace, o.selector)
	if err != nil {
		return err
	}
	var svcs []*v1.Service
	if len(names) == 0 {
		for i := range list.Items {
			svcs = append(svcs, &list.Items[i])
		}
	}
	for _, name := range names {
		svc, err := o.client.GetService(ctx, o.namespace, name)
		if err == nil {
			svcs = append(svcs, svc)
			continue
		}
		if !apierrors.IsNotFound(err) {
			return err
		}
		found := false
		for i := range list.Items {
			if strings.HasPrefix(list.Items[i].Name, name) {
				svcs = append(svcs, &list.Items[i])
				found = true
			}
		}
		if !found {
			return err
		}
	}
	if len(svcs) == 0 {
		noResources(o.ErrOut, o.namespace)
		return nil
	}
	for i, svc := range svcs {
		ep, err := o.client.GetEndpoints(ctx, svc.Namespace, svc.Name)
		if err != nil {
			if !apierrors.IsNotFound(err) {
				return err
			}
			ep = nil
		}
		evs, err := o.client.ListEvents(ctx, svc.Namespace, "involvedObject.name="+svc.Name+",involvedObject.kind=Service")
		if err != nil {
			return err
		}
		if i > 0 {
			fmt.Fprint(o.Out, "\n\n")
		}
		if err := printers.DescribeService(o.Out, svc, ep, evs.Items, o.now()); err != nil {
			return err
		}
	}
	return nil
}
