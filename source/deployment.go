package source

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

func isDeployment(m objectMeta) bool { return m.Kind == "Deployment" && m.group() == "apps" }

func deploymentKey(d *appsv1.Deployment) string { return d.Namespace + "/" + d.Name }

// SetDeploymentDefaults applies the API defaulting of an apps/v1
// Deployment (upstream pkg/apis/apps/v1/defaults.go SetDefaults_Deployment
// and the pod template defaults of SetObjectDefaults_Deployment), plus the
// namespace default. The template's defaults matter beyond display: the
// pod-template-hash is computed over the defaulted template, as upstream.
// Safe to call twice.
func SetDeploymentDefaults(d *appsv1.Deployment) {
	if d.Namespace == "" {
		d.Namespace = v1.NamespaceDefault
	}
	spec := &d.Spec
	if spec.Replicas == nil {
		spec.Replicas = ptr.To[int32](1)
	}
	if spec.Strategy.Type == "" {
		spec.Strategy.Type = appsv1.RollingUpdateDeploymentStrategyType
	}
	if spec.Strategy.Type == appsv1.RollingUpdateDeploymentStrategyType {
		if spec.Strategy.RollingUpdate == nil {
			spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{}
		}
		if spec.Strategy.RollingUpdate.MaxUnavailable == nil {
			spec.Strategy.RollingUpdate.MaxUnavailable = ptr.To(intstr.FromString("25%"))
		}
		if spec.Strategy.RollingUpdate.MaxSurge == nil {
			spec.Strategy.RollingUpdate.MaxSurge = ptr.To(intstr.FromString("25%"))
		}
	}
	if spec.RevisionHistoryLimit == nil {
		spec.RevisionHistoryLimit = ptr.To[int32](10)
	}
	if spec.ProgressDeadlineSeconds == nil {
		spec.ProgressDeadlineSeconds = ptr.To[int32](600)
	}
	SetPodTemplateDefaults(&spec.Template)
}

// SetPodTemplateDefaults applies the pod defaults to a template, without the
// ones upstream's SetDefaults_Pod applies to Pods only (requests copied from
// limits, pod-level requests, enableServiceLinks, host ports of a
// host-network pod; a negative terminationGracePeriodSeconds read as 1):
// the pod-template-hash of a template depends on exactly which are set.
func SetPodTemplateDefaults(t *v1.PodTemplateSpec) {
	orig := t.Spec.DeepCopy()
	pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "x"}, Spec: *t.Spec.DeepCopy()}
	SetPodDefaults(pod)
	restore := func(cs, was []v1.Container) {
		for i := range cs {
			cs[i].Resources = was[i].Resources
			for j := range cs[i].Ports {
				cs[i].Ports[j].HostPort = was[i].Ports[j].HostPort
			}
		}
	}
	restore(pod.Spec.InitContainers, orig.InitContainers)
	restore(pod.Spec.Containers, orig.Containers)
	pod.Spec.EnableServiceLinks = orig.EnableServiceLinks
	pod.Spec.Resources = orig.Resources
	if g := orig.TerminationGracePeriodSeconds; g != nil && *g < 0 {
		pod.Spec.TerminationGracePeriodSeconds = g // negative → 1 is for Pods only
	}
	t.Spec = pod.Spec
}

// ValidateDeployment checks what the API server's ValidateDeployment checks
// that matters on one node: name, selector (required, matching the template's
// labels), replicas, strategy, and the template as a pod.
func ValidateDeployment(d *appsv1.Deployment) field.ErrorList {
	errs := apivalidation.ValidateObjectMeta(&d.ObjectMeta, true, apivalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	spec := field.NewPath("spec")
	if d.Spec.Replicas != nil && *d.Spec.Replicas < 0 {
		errs = append(errs, field.Invalid(spec.Child("replicas"), *d.Spec.Replicas, "must be greater than or equal to 0"))
	}
	if d.Spec.Selector == nil {
		errs = append(errs, field.Required(spec.Child("selector"), ""))
	} else if len(d.Spec.Selector.MatchLabels)+len(d.Spec.Selector.MatchExpressions) == 0 {
		errs = append(errs, field.Invalid(spec.Child("selector"), d.Spec.Selector, "empty selector is invalid for deployment"))
	} else if sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector); err != nil {
		errs = append(errs, field.Invalid(spec.Child("selector"), d.Spec.Selector, err.Error()))
	} else if !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
		errs = append(errs, field.Invalid(spec.Child("template", "metadata", "labels"), d.Spec.Template.Labels,
			"`selector` does not match template `labels`"))
	}
	if p := d.Spec.Template.Spec.RestartPolicy; p != "" && p != v1.RestartPolicyAlways {
		errs = append(errs, field.NotSupported(spec.Child("template", "spec", "restartPolicy"), p, []string{string(v1.RestartPolicyAlways)}))
	}
	if d.Spec.MinReadySeconds < 0 {
		errs = append(errs, field.Invalid(spec.Child("minReadySeconds"), d.Spec.MinReadySeconds, "must be greater than or equal to 0"))
	}
	if p := d.Spec.ProgressDeadlineSeconds; p != nil && *p <= d.Spec.MinReadySeconds {
		errs = append(errs, field.Invalid(spec.Child("progressDeadlineSeconds"), *p, "must be greater than minReadySeconds"))
	}
	errs = append(errs, validateStrategy(d, spec.Child("strategy"))...)
	pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "template", Namespace: d.Namespace, Labels: d.Spec.Template.Labels,
		Annotations: d.Spec.Template.Annotations}, Spec: d.Spec.Template.Spec}
	return append(errs, validatePodSpec(&pod.Spec, spec.Child("template", "spec"))...)
}

func validateStrategy(d *appsv1.Deployment, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	s := d.Spec.Strategy
	switch s.Type {
	case appsv1.RecreateDeploymentStrategyType:
		if s.RollingUpdate != nil {
			errs = append(errs, field.Forbidden(fld.Child("rollingUpdate"), "may not be specified when strategy `type` is 'Recreate'"))
		}
	case appsv1.RollingUpdateDeploymentStrategyType:
		if s.RollingUpdate == nil {
			return errs
		}
		ru := s.RollingUpdate
		surge, unavail := 0, 0
		for _, f := range []struct {
			v    *intstr.IntOrString
			name string
			n    *int
		}{{ru.MaxSurge, "maxSurge", &surge}, {ru.MaxUnavailable, "maxUnavailable", &unavail}} {
			if f.v == nil {
				continue
			}
			n, err := intstr.GetScaledValueFromIntOrPercent(f.v, 100, true)
			if err != nil || n < 0 {
				errs = append(errs, field.Invalid(fld.Child("rollingUpdate", f.name), f.v.String(),
					"must be a non-negative integer or a percentage like '25%'"))
				continue
			}
			*f.n = n
		}
		if ru.MaxUnavailable != nil && ru.MaxUnavailable.Type == intstr.String && unavail > 100 {
			errs = append(errs, field.Invalid(fld.Child("rollingUpdate", "maxUnavailable"), ru.MaxUnavailable.String(), "must not be greater than 100%"))
		}
		if surge == 0 && unavail == 0 && len(errs) == 0 {
			errs = append(errs, field.Invalid(fld.Child("rollingUpdate", "maxUnavailable"), ru.MaxUnavailable.String(),
				"may not be 0 when `maxSurge` is 0"))
		}
	default:
		errs = append(errs, field.NotSupported(fld.Child("type"), s.Type,
			[]string{string(appsv1.RecreateDeploymentStrategyType), string(appsv1.RollingUpdateDeploymentStrategyType)}))
	}
	return errs
}

// loadDeployment decodes, defaults, validates and identifies one Deployment.
func loadDeployment(o object, path, nodeName string, multi bool) (*appsv1.Deployment, []FileError) {
	if o.meta.APIVersion != "apps/v1" {
		return nil, []FileError{{File: path,
			Err: fmt.Errorf("%sno matches for kind %q in version %q", o.where(multi), o.meta.Kind, o.meta.APIVersion)}}
	}
	d := &appsv1.Deployment{}
	if err := decodeStrict(o.json, d); err != nil {
		return nil, []FileError{{File: path, Err: fmt.Errorf("%s%w", o.where(multi), err)}}
	}
	SetDeploymentDefaults(d)
	if errs := ValidateDeployment(d); len(errs) > 0 {
		out := make([]FileError, 0, len(errs))
		for _, e := range errs {
			out = append(out, FileError{File: path, Err: fmt.Errorf("%sDeployment.apps %q is invalid: %w", o.where(multi), d.Name, e)})
		}
		return nil, out
	}
	d.Status = appsv1.DeploymentStatus{}
	d.UID = objectUID("deployment", d.Namespace, d.Name, nodeName)
	d.TypeMeta.APIVersion, d.TypeMeta.Kind = "apps/v1", "Deployment"
	return d, nil
}
