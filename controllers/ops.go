package controllers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"

	"github.com/minikubelet/minikubelet/source"
)

// Write operations on a Deployment (kubectl scale and rollout). The
// Deployment's desired state is its manifest: each operation edits the
// manifest (source.Edit), the source delivers the change, and the
// controller acts on it like on any edit by hand.

// ErrNotFound is returned for a Deployment or revision that does not exist.
var ErrNotFound = errors.New("not found")

// ErrNoChange is returned when the operation would change nothing (kubectl
// then says "already paused", "skipped rollback" …).
var ErrNoChange = errors.New("no change")

func deploymentObjectRef(namespace, name string) source.ObjectRef {
	return source.ObjectRef{APIVersion: "apps/v1", Kind: "Deployment", Namespace: namespace, Name: name}
}

// editDeployment decodes the stored Deployment, lets change edit it, and
// stores it back.
func (c *Controller) editDeployment(ctx context.Context, namespace, name string, change func(d *appsv1.Deployment) error) error {
	err := source.Edit(ctx, c.cfg.Manifests, deploymentObjectRef(namespace, name), c.cfg.NodeName, func(obj []byte) ([]byte, error) {
		d := &appsv1.Deployment{}
		if err := json.Unmarshal(obj, d); err != nil {
			return nil, fmt.Errorf("decode deployment %s/%s: %w", namespace, name, err)
		}
		if err := change(d); err != nil {
			return nil, err
		}
		return json.Marshal(d)
	})
	if errors.Is(err, source.ErrNotFound) {
		return fmt.Errorf("deployments.apps %q %w", name, ErrNotFound)
	}
	return err
}

// Scale sets spec.replicas (kubectl scale).
func (c *Controller) Scale(ctx context.Context, namespace, name string, replicas int32) error {
	if replicas < 0 {
		return fmt.Errorf("--replicas=%d: must be 0 or more", replicas)
	}
	return c.editDeployment(ctx, namespace, name, func(d *appsv1.Deployment) error {
		d.Spec.Replicas = &replicas
		return nil
	})
}

// Restart sets the restartedAt annotation on the template, which rolls
// every pod (kubectl rollout restart).
func (c *Controller) Restart(ctx context.Context, namespace, name string, at time.Time) error {
	return c.editDeployment(ctx, namespace, name, func(d *appsv1.Deployment) error {
		if d.Spec.Paused {
			return fmt.Errorf("deployments.apps %q can't restart paused deployment (run rollout resume first)", name)
		}
		if d.Spec.Template.Annotations == nil {
			d.Spec.Template.Annotations = map[string]string{}
		}
		d.Spec.Template.Annotations[AnnotationRestartedAt] = at.Format(time.RFC3339)
		return nil
	})
}

// SetPaused pauses or resumes a Deployment (kubectl rollout pause/resume);
// ErrNoChange when it already is.
func (c *Controller) SetPaused(ctx context.Context, namespace, name string, paused bool) error {
	return c.editDeployment(ctx, namespace, name, func(d *appsv1.Deployment) error {
		if d.Spec.Paused == paused {
			return ErrNoChange
		}
		d.Spec.Paused = paused
		return nil
	})
}

// Revision is one entry of a Deployment's rollout history.
type Revision struct {
	Number      int64
	ChangeCause string
	ReplicaSet  *appsv1.ReplicaSet
}

// History lists the revisions of a Deployment's ReplicaSets, oldest first.
func (c *Controller) History(namespace, name string) ([]Revision, error) {
	d, ok := c.GetDeployment(namespace, name)
	if !ok {
		return nil, fmt.Errorf("deployments.apps %q %w", name, ErrNotFound)
	}
	var out []Revision
	for _, rs := range c.ListReplicaSets(namespace) {
		if ref := controllerOf(rs); ref == nil || ref.UID != d.UID {
			continue
		}
		out = append(out, Revision{Number: revisionOf(rs.Annotations), ChangeCause: rs.Annotations[AnnotationChangeCause], ReplicaSet: rs})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Number < out[j].Number })
	return out, nil
}

// Undo rolls back to revision toRevision (0: the one before the current),
// putting that ReplicaSet's template back into the manifest (kubectl
// rollout undo). It returns the revision rolled back to; ErrNoChange when
// the template is already that one.
func (c *Controller) Undo(ctx context.Context, namespace, name string, toRevision int64) (int64, error) {
	hist, err := c.History(namespace, name)
	if err != nil {
		return 0, err
	}
	d, _ := c.GetDeployment(namespace, name)
	current := revisionOf(d.Annotations)
	var target *Revision
	if toRevision == 0 {
		// The newest revision other than the current one.
		for i := len(hist) - 1; i >= 0; i-- {
			if hist[i].Number != current {
				target = &hist[i]
				break
			}
		}
		if target == nil {
			return 0, fmt.Errorf("no rollout history found for deployment %q", name)
		}
	} else {
		for i := range hist {
			if hist[i].Number == toRevision {
				target = &hist[i]
			}
		}
		if target == nil {
			return 0, fmt.Errorf("unable to find specified revision %d in history", toRevision)
		}
	}
	if d.Spec.Paused {
		return 0, fmt.Errorf("you cannot rollback a paused deployment; resume it first with 'kubectl rollout resume' and try again")
	}
	template := target.ReplicaSet.Spec.Template.DeepCopy()
	delete(template.Labels, LabelPodTemplateHash)
	err = c.editDeployment(ctx, namespace, name, func(stored *appsv1.Deployment) error {
		probe := stored.DeepCopy()
		source.SetDeploymentDefaults(probe)
		if equalIgnoreHash(&probe.Spec.Template, template) {
			return ErrNoChange
		}
		stored.Spec.Template = *template
		if cause, ok := target.ReplicaSet.Annotations[AnnotationChangeCause]; ok {
			if stored.Annotations == nil {
				stored.Annotations = map[string]string{}
			}
			stored.Annotations[AnnotationChangeCause] = cause
		}
		return nil
	})
	return target.Number, err
}

// TemplateOf returns the template of one revision, for rollout history
// --revision.
func TemplateOf(hist []Revision, revision int64) (*v1.PodTemplateSpec, error) {
	for _, r := range hist {
		if r.Number == revision {
			return r.ReplicaSet.Spec.Template.DeepCopy(), nil
		}
	}
	return nil, fmt.Errorf("unable to find the specified revision %s", strconv.FormatInt(revision, 10))
}
