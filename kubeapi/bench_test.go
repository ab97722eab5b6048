package kubeapi

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"go.uber.org/zap"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// kubectlTableAccept is what kubectl get sends: a Table, or a plain list.
const kubectlTableAccept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"

// benchPod is a Running pod as the pod worker publishes it: one container,
// the kubelet's conditions, IPs and the static pod's annotations.
func benchPod(i int) *v1.Pod {
	now := metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	name := fmt.Sprintf("web-%03d", i)
	p := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, UID: types.UID("uid-" + name), CreationTimestamp: now,
			Labels:      map[string]string{"app": "web", "tier": "front"},
			Annotations: map[string]string{"kubernetes.io/config.source": "file", "kubernetes.io/config.hash": "uid-" + name}},
		Spec: v1.PodSpec{NodeName: "node", RestartPolicy: v1.RestartPolicyAlways, Containers: []v1.Container{{
			Name: "web", Image: "docker.io/library/busybox:1.36", Command: []string{"httpd", "-f", "-p", "80"},
			Ports:          []v1.ContainerPort{{ContainerPort: 80, Protocol: v1.ProtocolTCP}},
			ReadinessProbe: &v1.Probe{ProbeHandler: v1.ProbeHandler{HTTPGet: &v1.HTTPGetAction{Path: "/"}}, PeriodSeconds: 10},
		}}},
		Status: v1.PodStatus{Phase: v1.PodRunning, PodIP: fmt.Sprintf("10.244.0.%d", i+2), HostIP: "192.0.2.1", StartTime: &now,
			QOSClass: v1.PodQOSBestEffort,
			ContainerStatuses: []v1.ContainerStatus{{Name: "web", Ready: true, Image: "docker.io/library/busybox:1.36",
				ContainerID: "containerd://" + name, State: v1.ContainerState{Running: &v1.ContainerStateRunning{StartedAt: now}}}}},
	}
	for _, c := range []v1.PodConditionType{v1.PodReadyToStartContainers, v1.PodInitialized, v1.PodReady, v1.ContainersReady, v1.PodScheduled} {
		p.Status.Conditions = append(p.Status.Conditions, v1.PodCondition{Type: c, Status: v1.ConditionTrue, LastTransitionTime: now})
	}
	return p
}

func benchServer(b *testing.B, pods int) *Server {
	b.Helper()
	s, err := New(zap.NewNop(), Config{}, Deps{})
	if err != nil {
		b.Fatal(err)
	}
	objs := make([]Object, pods)
	for i := range objs {
		objs[i] = benchPod(i)
	}
	s.cache.Replace(keyPods, objs, nil)
	return s
}

// benchList measures `kubectl get pods` with 100 pods, server side: the
// request through the router to the encoded answer.
func benchList(b *testing.B, accept string) {
	s := benchServer(b, 100)
	req := httptest.NewRequest(http.MethodGet, "/api/v1/namespaces/default/pods?limit=500", nil)
	req.Header.Set("Accept", accept)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		w := httptest.NewRecorder()
		s.route(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("list: %d %s", w.Code, w.Body)
		}
	}
}

func BenchmarkListPods100Table(b *testing.B) { benchList(b, kubectlTableAccept) }
func BenchmarkListPods100JSON(b *testing.B)  { benchList(b, "application/json") }

// BenchmarkWatchPods10Watchers measures one pod update delivered to 10
// concurrent watchers (kubectl get pods -w, Table rows) over HTTP, among
// 100 pods: an op is the update put in the cache until every watcher has
// read its event.
func BenchmarkWatchPods10Watchers(b *testing.B) {
	const watchers = 10
	s := benchServer(b, 100)
	srv := httptest.NewServer(http.HandlerFunc(s.route))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	rv := strconv.FormatUint(s.cache.ResourceVersion(), 10)
	got := make(chan struct{}, watchers)
	for range watchers {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/api/v1/namespaces/default/pods?watch=1&resourceVersion="+rv, nil)
		if err != nil {
			b.Fatal(err)
		}
		req.Header.Set("Accept", kubectlTableAccept)
		resp, err := srv.Client().Do(req)
		if err != nil {
			b.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("watch: %s", resp.Status)
		}
		go func() {
			defer resp.Body.Close()
			sc := bufio.NewScanner(resp.Body)
			sc.Buffer(make([]byte, 64<<10), 1<<20)
			for sc.Scan() {
				got <- struct{}{}
			}
			_, _ = io.Copy(io.Discard, resp.Body)
		}()
	}
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		p := benchPod(i % 100)
		p.Annotations["seq"] = strconv.Itoa(i)
		i++
		s.cache.Put(keyPods, p, nil)
		for range watchers {
			select {
			case <-got:
			case <-time.After(time.Minute):
				b.Fatal("a watcher did not get the update")
			}
		}
	}
}
