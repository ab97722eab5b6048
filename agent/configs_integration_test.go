//go:build integration

package agent

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"

	"github.com/minikubelet/minikubelet/api"
	"github.com/minikubelet/minikubelet/internal/testenv"
)

// A container whose env refers to a Secret or ConfigMap that is not there
// does not start: CreateContainerConfigError with the kubelet's message
// (the API server's NotFound, `secret "x" not found`), a Failed event; the
// pod stays Pending. Once each object is written into the manifests
// directory, the container starts with their values, without any change to
// the pod. The same for a volume: FailedMount until its ConfigMap exists.
func TestMissingConfigMapThenCreated(t *testing.T) {
	env := testenv.New(t)
	a := startAgent(t, testConfig(t, env))
	a.write("needs.yaml", `apiVersion: v1
kind: Pod
metadata:
  name: needs
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox
    command: [sh, -c, 'echo "mode=$MODE user=$DB_user opt=${OPT-unset}"; exec sleep 3600']
    env:
    - {name: MODE, valueFrom: {configMapKeyRef: {name: app-config, key: mode}}}
    - {name: OPT, valueFrom: {configMapKeyRef: {name: nowhere, key: k, optional: true}}}
    envFrom:
    - {secretRef: {name: db}, prefix: DB_}
`)
	waiting := func(reason, msg string) func(*v1.Pod) bool {
		return func(p *v1.Pod) bool {
			w := cstatus(p, "c").State.Waiting
			return w != nil && w.Reason == reason && w.Message == msg
		}
	}
	// envFrom is resolved before env, as by the kubelet.
	p := a.waitPod("needs", "secret not found", 2*time.Minute, waiting("CreateContainerConfigError", `secret "db" not found`))
	if p.Status.Phase != v1.PodPending {
		t.Errorf("phase %s, want Pending", p.Status.Phase)
	}
	if !hasEvent(a.events("needs"), "Failed", `Error: secret "db" not found`) {
		t.Errorf("no Failed event with the kubelet's message:\n%s", a.describe("needs"))
	}

	a.write("db.yaml", "apiVersion: v1\nkind: Secret\nmetadata: {name: db}\nstringData: {user: admin}\n")
	a.waitPod("needs", "configmap not found", time.Minute, waiting("CreateContainerConfigError", `configmap "app-config" not found`))

	a.write("config.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app-config}\ndata: {mode: fast}\n")
	a.waitPod("needs", "Running", time.Minute, statusIs("Running"))
	if got := strings.TrimSpace(a.waitLogs("needs", api.LogOptions{})); got != "mode=fast user=admin opt=unset" {
		t.Errorf("container printed %q", got)
	}

	// A volume whose ConfigMap is missing: FailedMount with the kubelet's
	// message, the pod stays ContainerCreating, then proceeds.
	a.write("vol.yaml", pod("vol", "Always", "  - {name: c, image: busybox, command: [sleep, '3600'], volumeMounts: [{name: v, mountPath: /v}]}\n")+
		"  volumes: [{name: v, configMap: {name: vol-config}}]\n")
	msg := `MountVolume.SetUp failed for volume "v" : configmap "vol-config" not found`
	deadline := time.Now().Add(time.Minute)
	for !hasEvent(a.events("vol"), "FailedMount", msg) {
		if time.Now().After(deadline) {
			t.Fatalf("no FailedMount event %q:\n%s", msg, a.describe("vol"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	a.waitPod("vol", "ContainerCreating", time.Minute, statusIs("ContainerCreating"))
	a.write("vol-config.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: vol-config}\ndata: {k: v1}\n")
	a.waitPod("vol", "Running", time.Minute, statusIs("Running"))
	if code, out := a.exec("vol", "c", "cat", "/v/k"); code != 0 || out != "v1" {
		t.Errorf("cat /v/k: %d %q", code, out)
	}
}

// A pod held by a missing ConfigMap is retried at a back-off's pace, not at
// every sync: a volume as the kubelet's volume manager retries a failed
// mount (500 ms, doubling), a container's configuration as its pod worker
// requeues a failed sync (every 10 s). Each update of the pods through the
// API (a label) makes a sync, and none of them adds an attempt: the
// FailedMount and Failed events (one per attempt, the recorder counting
// repeats) stay within what the back-off allows in the time the whole test
// took, with one attempt to spare. Load can only make attempts fewer.
// Creating the ConfigMap then starts both pods at once.
func TestMissingConfigMapRetriesBackOff(t *testing.T) {
	_, a, k := startWithKubectl(t)
	start := time.Now()
	a.write("vol.yaml", pod("vol", "Always", "  - {name: c, image: busybox, command: [sleep, '3600'], volumeMounts: [{name: v, mountPath: /v}]}\n")+
		"  volumes: [{name: v, configMap: {name: later}}]\n")
	a.write("env.yaml", pod("env", "Always", "  - {name: c, image: busybox, command: [sleep, '3600'], env: [{name: K, valueFrom: {configMapKeyRef: {name: later, key: k}}}]}\n"))
	count := func(name, reason string) int {
		for _, e := range a.events(name) {
			if e.Reason == reason {
				return int(e.Count)
			}
		}
		return 0
	}
	eventually(t, "the first FailedMount and Failed", func() bool { return count("vol", "FailedMount") > 0 && count("env", "Failed") > 0 })
	for i := range 15 {
		for _, name := range []string{"vol", "env"} {
			k.ok("label", "pod", name, fmt.Sprintf("sync=%d", i), "--overwrite")
		}
	}
	a.waitPod("env", "the last label", time.Minute, func(p *v1.Pod) bool { return p.Labels["sync"] == "14" })
	elapsed := time.Since(start)
	// Attempts at 0, 0.5, 1.5, 3.5 … s: the n-th at (2^(n-1) - 1)/2 s.
	mounts := 1 + int(math.Log2(elapsed.Seconds()/0.5+1))
	configs := 1 + int(elapsed/(10*time.Second))
	if got := count("vol", "FailedMount"); got > mounts+1 {
		t.Errorf("%d FailedMount in %v, the back-off allows %d:\n%s", got, elapsed, mounts, a.describe("vol"))
	}
	if got := count("env", "Failed"); got > configs+1 {
		t.Errorf("%d Failed in %v, the back-off allows %d:\n%s", got, elapsed, configs, a.describe("env"))
	}

	a.write("later.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: later}\ndata: {k: v}\n")
	a.waitPod("vol", "Running", time.Minute, statusIs("Running"))
	a.waitPod("env", "Running", time.Minute, statusIs("Running"))
}

// ConfigMaps, Secrets and the downward API as a pod sees them: env and
// envFrom, configMap/secret/downwardAPI/projected volumes with items and
// modes (fsGroup adding group read and its group), the atomic writer's
// ..data layout, read-only mounts, secrets on tmpfs. An edit of the
// ConfigMap's file shows in the mounted volume of the running container,
// but not in a subPath mount of it, as upstream.
func TestConfigMapsSecretsAndDownwardAPI(t *testing.T) {
	env := testenv.New(t)
	a := startAgent(t, testConfig(t, env))
	a.write("config.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app-config}\ndata: {mode: fast, level: '3'}\n")
	a.write("db.yaml", "apiVersion: v1\nkind: Secret\nmetadata: {name: db}\ndata: {user: YWRtaW4=}\n")
	a.write("cfg.yaml", `apiVersion: v1
kind: Pod
metadata:
  name: cfg
  labels: {app: web, tier: front}
  annotations: {note: hello}
spec:
  terminationGracePeriodSeconds: 1
  securityContext: {fsGroup: 2000}
  volumes:
  - {name: cfg, configMap: {name: app-config}}
  - {name: items, configMap: {name: app-config, defaultMode: 0400, items: [{key: mode, path: conf/mode.txt}, {key: level, path: level, mode: 0600}]}}
  - {name: sec, secret: {secretName: db, defaultMode: 0400}}
  - {name: info, downwardAPI: {items: [{path: labels, fieldRef: {fieldPath: metadata.labels}}, {path: annotations, fieldRef: {fieldPath: metadata.annotations}}, {path: cpu_limit, resourceFieldRef: {containerName: c, resource: limits.cpu, divisor: 1m}}]}}
  - name: all
    projected:
      sources:
      - {configMap: {name: app-config, items: [{key: mode, path: mode}]}}
      - {secret: {name: db}}
      - {downwardAPI: {items: [{path: name, fieldRef: {fieldPath: metadata.name}}]}}
  containers:
  - name: c
    image: busybox
    command: [sleep, '3600']
    resources: {requests: {cpu: 250m}, limits: {cpu: 500m, memory: 64Mi}}
    env:
    - {name: MODE, valueFrom: {configMapKeyRef: {name: app-config, key: mode}}}
    - {name: NS, valueFrom: {fieldRef: {fieldPath: metadata.namespace}}}
    - {name: POD_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
    - {name: MEM_MI, valueFrom: {resourceFieldRef: {resource: limits.memory, divisor: 1Mi}}}
    - {name: CPU_REQ_M, valueFrom: {resourceFieldRef: {resource: requests.cpu, divisor: 1m}}}
    envFrom: [{secretRef: {name: db}, prefix: DB_}]
    volumeMounts:
    - {name: cfg, mountPath: /cfg}
    - {name: items, mountPath: /items}
    - {name: sec, mountPath: /sec}
    - {name: info, mountPath: /info}
    - {name: all, mountPath: /all}
    - {name: cfg, mountPath: /sub/mode, subPath: mode}
`)
	running := a.waitPod("cfg", "Running", 2*time.Minute, statusIs("Running"))
	sh := func(script string) string {
		t.Helper()
		code, out := a.exec("cfg", "c", "sh", "-c", script)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", script, code, out)
		}
		return out
	}
	for _, c := range []struct{ script, want string }{
		{`echo "$MODE $DB_user"`, "fast admin\n"},
		{`ls /cfg; cat /cfg/mode; echo; readlink /cfg/mode; readlink /cfg/..data | sed 's/^\.\.20.*/TS/'`, "level\nmode\nfast\n..data/mode\nTS\n"},
		{`stat -L -c '%n %a %g' /items/conf/mode.txt /items/level /sec/user /cfg/mode`,
			"/items/conf/mode.txt 440 2000\n/items/level 640 2000\n/sec/user 440 2000\n/cfg/mode 644 2000\n"},
		{`stat -f -c %T /sec /info /all; grep -c ' /cfg .*ro,' /proc/mounts; touch /cfg/x 2>/dev/null || echo read-only`, "tmpfs\ntmpfs\ntmpfs\n1\nread-only\n"},
		{`cat /info/labels; echo; grep '^note=' /info/annotations`, "app=\"web\"\ntier=\"front\"\nnote=\"hello\"\n"},
		// The downward API's other sources: fields of the pod and the
		// container's resources in the divisor's units.
		{`echo "$NS $POD_IP $MEM_MI $CPU_REQ_M"; cat /info/cpu_limit`, "default " + running.Status.PodIP + " 64 250\n500"},
		{`cat /all/mode /all/user /all/name /sub/mode`, "fastadmincfgfast"},
	} {
		if got := sh(c.script); got != c.want {
			t.Errorf("%s:\n%q\nwant\n%q", c.script, got, c.want)
		}
	}

	a.write("config.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app-config}\ndata: {mode: slow, level: '3'}\n")
	deadline := time.Now().Add(time.Minute)
	for sh(`cat /cfg/mode`) != "slow" {
		if time.Now().After(deadline) {
			t.Fatal("the ConfigMap's new value never reached the volume")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if got, want := sh(`cat /all/mode /items/conf/mode.txt /sub/mode; ls -a /cfg | grep -c '^\.\.20'`), "slowslowfast1\n"; got != want {
		t.Errorf("after the update: %q, want %q (subPath keeps the old content; one timestamped dir)", got, want)
	}
	if got := sh(`echo $MODE`); got != "fast\n" {
		t.Errorf("env changed in a running container: %q", got)
	}
}
