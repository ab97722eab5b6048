package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/minikubelet/minikubelet/api"
)

// deployName is the bench's Deployment.
const deployName = "bench-deploy"

// benchDeployment is a Deployment of idle pods (Ready as soon as Running).
func benchDeployment(replicas int32) []byte {
	tmpl := idlePod("x")
	d := &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: deployName},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": deployName}},
			Template: v1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": deployName}},
				Spec:       tmpl.Spec,
			},
		},
	}
	data, _ := yaml.Marshal(d)
	return data
}

// deployScale measures a Deployment scaled from 0 to Few replicas until
// all are Ready in the API, against Few pods dropped at once ("many"
// phase, all Running, which for these pods is Ready too).
func (b *bench) deployScale(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, manyTimeout)
	defer cancel()
	n := int32(b.size.Few)
	c := b.agent.Client
	// The scale phase before removed its 250 pods a second ago; the
	// 20 pods it is compared with started on a quiet machine.
	if err := b.quiesce(ctx, b.net.Namespace); err != nil {
		return err
	}
	if _, err := b.agent.write(deployName+".yaml", benchDeployment(0)); err != nil {
		return err
	}
	if _, err := b.waitDeployment(ctx, c, func(d *appsv1.Deployment) bool {
		return d.Status.ObservedGeneration >= 1 && d.Status.Replicas == 0
	}); err != nil {
		return fmt.Errorf("deployment with 0 replicas: %w", err)
	}
	t0, err := b.agent.write(deployName+".yaml", benchDeployment(n))
	if err != nil {
		return err
	}
	at, err := b.waitDeployment(ctx, c, func(d *appsv1.Deployment) bool {
		return *d.Spec.Replicas == n && d.Status.ReadyReplicas == n && d.Status.Replicas == n
	})
	if err != nil {
		return fmt.Errorf("deployment scaled to %d: %w", n, err)
	}
	r := b.res
	r.DeployScaled, r.DeployScaleAllReadyS = int(n), secs(at.Sub(t0))
	if r.Pods20AllRunningS > 0 {
		r.DeployScaleRatio = round2(r.DeployScaleAllReadyS / r.Pods20AllRunningS)
	}
	t1, err := b.agent.remove(deployName + ".yaml")
	if err != nil {
		return err
	}
	gone := func() (bool, error) {
		list, err := c.ListPods(ctx, "", api.ListOptions{LabelSelector: "app=" + deployName})
		if err != nil {
			return false, err
		}
		return len(list.Items) == 0, nil
	}
	for {
		ok, err := gone()
		if err != nil {
			return err
		}
		if ok {
			break
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
	r.DeployAllGoneS = secs(time.Since(t1))
	b.log.Sugar().Infof("Deployment scaled 0→%d: all Ready in %.2f s (%d pods at once: %.2f s, %.2fx); all gone %.2f s after delete",
		n, r.DeployScaleAllReadyS, r.Pods20, r.Pods20AllRunningS, r.DeployScaleRatio, r.DeployAllGoneS)
	return sleep(ctx, time.Second)
}

// waitDeployment polls the Deployment every 20 ms until cond holds and
// returns when it first did.
func (b *bench) waitDeployment(ctx context.Context, c *api.Client, cond func(*appsv1.Deployment) bool) (time.Time, error) {
	for {
		d, err := c.GetDeployment(ctx, "default", deployName)
		if err == nil && cond(d) {
			return time.Now(), nil
		}
		if err != nil && !strings.Contains(err.Error(), "not found") {
			return time.Time{}, err
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return time.Time{}, err
		}
	}
}
