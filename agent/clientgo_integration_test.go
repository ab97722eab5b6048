//go:build integration

package agent

import (
	"context"
	"strconv"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/minikubelet/minikubelet/internal/testenv"
)

func clientset(t *testing.T, a *testAgent) *kubernetes.Clientset {
	t.Helper()
	cs, err := kubernetes.NewForConfig(restConfig(t, a))
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func sleeperPod(name string) *v1.Pod {
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "cg"}},
		Spec: v1.PodSpec{Containers: []v1.Container{{
			Name: "c", Image: "busybox", Command: []string{"sleep", "3600"},
			Ports: []v1.ContainerPort{{ContainerPort: 80}},
		}}},
	}
}

// client-go's typed clientset against the agent: a watch started from a
// list's resourceVersion misses nothing that happened in between, delivers
// changes in order with growing resourceVersions, and an update carrying a
// stale resourceVersion is refused with 409 Conflict.
func TestClientGoListWatchConflict(t *testing.T) {
	env := testenv.New(t)
	a := startAgent(t, testConfig(t, env))
	cs := clientset(t, a)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	pods := cs.CoreV1().Pods("default")

	list, err := pods.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Created after the list and before the watch: the watch must still
	// deliver it.
	if _, err := pods.Create(ctx, sleeperPod("between"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	w, err := pods.Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	var lastRV uint64
	next := func(what string, ok func(watch.Event, *v1.Pod) bool) *v1.Pod {
		t.Helper()
		for {
			select {
			case ev, open := <-w.ResultChan():
				if !open {
					t.Fatalf("watch closed while waiting for %s", what)
				}
				p, isPod := ev.Object.(*v1.Pod)
				if !isPod {
					t.Fatalf("watch event %s of %T while waiting for %s", ev.Type, ev.Object, what)
				}
				rv, err := strconv.ParseUint(p.ResourceVersion, 10, 64)
				if err != nil || rv <= lastRV {
					t.Fatalf("resourceVersion %q after %d (%v)", p.ResourceVersion, lastRV, err)
				}
				lastRV = rv
				if ok(ev, p) {
					return p
				}
			case <-ctx.Done():
				t.Fatalf("no watch event for %s", what)
			}
		}
	}
	p := next("ADDED between", func(ev watch.Event, p *v1.Pod) bool { return ev.Type == watch.Added && p.Name == "between" })
	if p.UID == "" || p.CreationTimestamp.IsZero() {
		t.Errorf("added pod lacks uid or creationTimestamp: %+v", p.ObjectMeta)
	}
	running := next("between Running", func(ev watch.Event, p *v1.Pod) bool {
		return ev.Type == watch.Modified && p.Name == "between" && p.Status.Phase == v1.PodRunning
	})

	// An update from the current object goes through; the same update
	// again, now stale, is a 409.
	cur, err := pods.Get(ctx, "between", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cur.ResourceVersion == "" || cur.UID != running.UID {
		t.Errorf("get: resourceVersion %q uid %q, watch had uid %q", cur.ResourceVersion, cur.UID, running.UID)
	}
	stale := cur.DeepCopy()
	cur.Annotations = map[string]string{"note": "first"}
	if _, err := pods.Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("update with the current resourceVersion: %v", err)
	}
	stale.Annotations = map[string]string{"note": "second"}
	_, err = pods.Update(ctx, stale, metav1.UpdateOptions{})
	if !apierrors.IsConflict(err) {
		t.Errorf("update with a stale resourceVersion: %v, want a Conflict", err)
	}
	next("the annotation", func(ev watch.Event, p *v1.Pod) bool {
		return ev.Type == watch.Modified && p.Name == "between" && p.Annotations["note"] == "first"
	})

	if err := pods.Delete(ctx, "between", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	next("DELETED between", func(ev watch.Event, p *v1.Pod) bool { return ev.Type == watch.Deleted && p.Name == "between" })
}

// Shared informers (what controllers and operators are built on) sync on
// pods, services and endpoints, and then follow changes.
func TestClientGoInformers(t *testing.T) {
	env := testenv.New(t)
	a := startAgent(t, testConfig(t, env))
	cs := clientset(t, a)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	a.write("web.yaml", `apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {app: cg}
spec:
  containers:
  - {name: c, image: busybox, command: [sleep, '3600'], ports: [{containerPort: 80}]}
---
apiVersion: v1
kind: Service
metadata:
  name: websvc
spec:
  selector: {app: cg}
  ports: [{port: 80}]
`)
	a.waitPod("web", "Running", time.Minute, isReady)
	a.waitService("websvc", time.Minute)

	factory := informers.NewSharedInformerFactory(cs, 0)
	podInf := factory.Core().V1().Pods()
	svcInf := factory.Core().V1().Services()
	epInf := factory.Core().V1().Endpoints()
	added := make(chan string, 100)
	if _, err := podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { added <- obj.(*v1.Pod).Name },
	}); err != nil {
		t.Fatal(err)
	}
	_ = svcInf.Informer()
	_ = epInf.Informer()
	factory.Start(ctx.Done())
	// Shutdown waits for the informers, which stop when ctx does.
	defer func() { cancel(); factory.Shutdown() }()
	for typ, synced := range factory.WaitForCacheSync(ctx.Done()) {
		if !synced {
			t.Fatalf("informer of %v did not sync", typ)
		}
	}

	if p, err := podInf.Lister().Pods("default").Get("web"); err != nil || p.Status.Phase != v1.PodRunning {
		t.Errorf("pod web in the informer: %v %+v", err, p)
	}
	if _, err := svcInf.Lister().Services("default").Get("websvc"); err != nil {
		t.Errorf("service websvc in the informer: %v", err)
	}
	testenv.WaitFor(t, "endpoints of websvc in the informer", func() (bool, string) {
		ep, err := epInf.Lister().Endpoints("default").Get("websvc")
		if err != nil {
			return false, err.Error()
		}
		for _, s := range ep.Subsets {
			for _, addr := range s.Addresses {
				if addr.IP == podIP(a, "web") {
					return true, ""
				}
			}
		}
		return false, ep.String()
	})

	// A pod made after the sync reaches the informer through its watch.
	if _, err := cs.CoreV1().Pods("default").Create(ctx, sleeperPod("later"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for name := ""; name != "later"; {
		select {
		case name = <-added:
		case <-ctx.Done():
			t.Fatal("the informer never saw pod later")
		}
	}
	sel := labels.SelectorFromSet(labels.Set{"app": "cg"})
	testenv.WaitFor(t, "both pods in the informer's cache", func() (bool, string) {
		ps, err := podInf.Lister().List(sel)
		return err == nil && len(ps) == 2, strconv.Itoa(len(ps))
	})
}
