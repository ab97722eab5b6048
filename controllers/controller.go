package controllers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"go.uber.org/zap"
	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/minikubelet/minikubelet/events"
	"github.com/minikubelet/minikubelet/source"
	"github.com/minikubelet/minikubelet/status"
)

// PodStatuses is where pod workers publish their pods' status;
// status.Store implements it.
type PodStatuses interface {
	Get(uid types.UID) (*v1.Pod, bool)
	Watch(ctx context.Context, buffer int) <-chan status.Event
}

// Recorder records events as a named component; events.Store implements it.
type Recorder interface {
	For(component string) events.Recorder
}

// Config configures a Controller.
type Config struct {
	// StateDir holds the ReplicaSets and pods the controllers made
	// (<root>/controllers); created if missing.
	StateDir string
	// NodeName is every pod's spec.nodeName.
	NodeName string
	// Manifests is the directory write operations (scale, rollout …) edit.
	Manifests string
	// Resync is the safety-net period of a full pass. Zero means 30s.
	Resync time.Duration
}

// Controller runs the deployment and replicaset controllers on one loop
// goroutine, which alone owns the Deployments' status and the ReplicaSets
// and pods. Others read published copies (List/Get/Watch, Pods) or ask the
// loop (DeletePod).
type Controller struct {
	log      *zap.Logger
	cfg      Config
	statuses PodStatuses
	drec     events.Recorder // deployment-controller
	rsrec    events.Recorder // replicaset-controller
	now      func() time.Time

	deployIn chan desired // latest wins
	requests chan func()
	podsOut  chan []*v1.Pod // latest wins

	// Owned by the loop (and by New before it starts).
	deploys   map[string]*appsv1.Deployment // namespace/name → with our status
	extras    map[string]*deployExtra
	rss       map[string]*appsv1.ReplicaSet
	pods      map[string]*v1.Pod
	deleted   map[types.UID]bool // pods deleted and perhaps still terminating
	haveSpecs bool               // the first set of Deployments arrived
	changed   bool
	wake      time.Time
	saved     []byte
	published []*v1.Pod // the pods last sent on podsOut
	// syncs counts the syncs; manageErrs holds how each ReplicaSet's pod
	// creation last went (its ReplicaFailure condition).
	syncs      int
	manageErrs map[types.UID]manageResult

	view viewStore
}

// deployExtra is what the controller keeps about a Deployment beyond its
// file: the server-side fields an API server would store, and the file
// with the last valid version of the Deployment read from it, so that a
// file that fails to parse after a restart still owns its ReplicaSets.
type deployExtra struct {
	File       string                  `json:"file,omitempty"`
	Last       *appsv1.Deployment      `json:"last,omitempty"`
	UID        types.UID               `json:"uid"`
	Generation int64                   `json:"generation"`
	SpecHash   string                  `json:"specHash"`
	Created    metav1.Time             `json:"created"`
	Revision   string                  `json:"revision,omitempty"`
	Status     appsv1.DeploymentStatus `json:"status"`
}

// savedState is the state file's content.
type savedState struct {
	Deployments map[string]*deployExtra `json:"deployments"`
	ReplicaSets []*appsv1.ReplicaSet    `json:"replicaSets"`
	Pods        []*v1.Pod               `json:"pods"`
}

const stateFile = "state.json"

// New loads the saved ReplicaSets and pods (so that Pods answers at once,
// before the agent's first sync of pods); nothing runs until Run.
func New(log *zap.Logger, cfg Config, statuses PodStatuses, rec Recorder) (*Controller, error) {
	if cfg.Resync <= 0 {
		cfg.Resync = 30 * time.Second
	}
	c := &Controller{
		log: log, cfg: cfg, statuses: statuses,
		drec: rec.For("deployment-controller"), rsrec: rec.For("replicaset-controller"),
		now:      time.Now,
		deployIn: make(chan desired, 1),
		requests: make(chan func()),
		podsOut:  make(chan []*v1.Pod, 1),
		deploys:  map[string]*appsv1.Deployment{},
		extras:   map[string]*deployExtra{},
		rss:      map[string]*appsv1.ReplicaSet{},
		pods:     map[string]*v1.Pod{},
		deleted:  map[types.UID]bool{},

		manageErrs: map[types.UID]manageResult{},
	}
	c.view.init()
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("create controller state directory %s: %w", cfg.StateDir, err)
	}
	if err := c.load(); err != nil {
		return nil, err
	}
	c.publish()
	return c, nil
}

func (c *Controller) load() error {
	path := filepath.Join(c.cfg.StateDir, stateFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read controller state %s: %w", path, err)
	}
	var st savedState
	if err := json.Unmarshal(data, &st); err != nil {
		// A damaged file must not stop the node: start empty, keep the
		// file aside for a look.
		c.log.Error("controller state unreadable; starting without ReplicaSets", zap.String("file", path), zap.Error(err))
		_ = os.Rename(path, path+".bad")
		return nil
	}
	for k, x := range st.Deployments {
		c.extras[k] = x
	}
	for _, rs := range st.ReplicaSets {
		c.rss[rs.Namespace+"/"+rs.Name] = rs
	}
	for _, p := range st.Pods {
		c.pods[p.Namespace+"/"+p.Name] = p
	}
	c.saved = data
	c.log.Info("controller state loaded", zap.Int("replicaSets", len(c.rss)), zap.Int("pods", len(c.pods)))
	return nil
}

// desired is one set of Deployments from the manifests.
type desired struct {
	deployments []*appsv1.Deployment
	files       map[string]string   // namespace/name → file
	badFiles    map[string][]string // file → its problems in this scan
}

// SetDeployments hands over the Deployments of the manifests directory
// (the whole set, with the file of each, and the problems of this scan).
// A Deployment missing because its file now fails to parse or validate is
// kept as it was, as the API server keeps an object whose update it
// refused: a typo must not delete every pod. It never blocks: an unread
// set is replaced.
func (c *Controller) SetDeployments(ds []*appsv1.Deployment, files map[string]string, errs []source.FileError) {
	in := desired{deployments: ds, files: files, badFiles: map[string][]string{}}
	for _, e := range errs {
		in.badFiles[e.File] = append(in.badFiles[e.File], e.Err.Error())
	}
	for {
		select {
		case c.deployIn <- in:
			return
		default:
		}
		select {
		case <-c.deployIn:
		default:
		}
	}
}

// PodUpdates delivers the controllers' pods whenever the set changes (the
// newest set only). Pods returns the current set.
func (c *Controller) PodUpdates() <-chan []*v1.Pod { return c.podsOut }

// Pods returns the pods the controllers want running now.
func (c *Controller) Pods() []*v1.Pod { return c.view.podList() }

// DeletePod deletes a pod a ReplicaSet made (`delete pod NAME`); its
// ReplicaSet then makes a replacement. found is false when no controller
// pod has that name.
func (c *Controller) DeletePod(ctx context.Context, namespace, name string) (found bool, err error) {
	err = c.do(ctx, func() {
		p := c.pods[namespace+"/"+name]
		if p == nil {
			return
		}
		found = true
		c.deletePod(p)
	})
	return found, err
}

// UpdatePod stores an update of a pod a ReplicaSet made, as the API server
// stores one the API allowed (kubectl label, annotate, set image, patch):
// its labels, annotations, owners and generation, and of its spec what a
// pod update may change (containers' images, activeDeadlineSeconds,
// tolerations). The pod's worker acts on it in place, as on an update of
// a static pod. Its ReplicaSet then releases it when its labels no longer
// match the selector (and makes a replacement), or adopts it when they
// match again (also once its ownerReferences were taken out), as
// upstream's; a pod whose controller is another, gone ReplicaSet is
// deleted, as the garbage collector deletes it. found is false when no
// controller pod has that name and uid.
func (c *Controller) UpdatePod(ctx context.Context, pod *v1.Pod) (found bool, err error) {
	err = c.do(ctx, func() {
		p := c.pods[pod.Namespace+"/"+pod.Name]
		if p == nil || p.UID != pod.UID {
			return
		}
		found = true
		u := pod.DeepCopy()
		p.Labels, p.Annotations = u.Labels, u.Annotations
		for i := range p.Spec.Containers {
			if i < len(u.Spec.Containers) {
				p.Spec.Containers[i].Image = u.Spec.Containers[i].Image
			}
		}
		for i := range p.Spec.InitContainers {
			if i < len(u.Spec.InitContainers) {
				p.Spec.InitContainers[i].Image = u.Spec.InitContainers[i].Image
			}
		}
		p.Spec.ActiveDeadlineSeconds, p.Spec.Tolerations = u.Spec.ActiveDeadlineSeconds, u.Spec.Tolerations
		p.Generation, p.OwnerReferences = u.Generation, u.OwnerReferences
		c.changed = true
	})
	return found, err
}

// ScaleReplicaSet sets a ReplicaSet's spec.replicas, as the API server
// stores a write of its scale subresource (kubectl scale rs). The
// Deployment that owns it then scales it back to what it wants, as
// upstream's deployment controller does. found is false when no
// ReplicaSet has that name.
func (c *Controller) ScaleReplicaSet(ctx context.Context, namespace, name string, replicas int32) (found bool, err error) {
	err = c.do(ctx, func() {
		rs := c.rss[namespace+"/"+name]
		if rs == nil {
			return
		}
		found = true
		rs.Spec.Replicas = &replicas
		c.changed = true
	})
	return found, err
}

// do runs fn on the loop goroutine, which then syncs.
func (c *Controller) do(ctx context.Context, fn func()) error {
	done := make(chan struct{})
	select {
	case c.requests <- func() { defer close(done); fn() }:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Run runs the controllers until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	watch := c.statuses.Watch(ctx, 4096)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case in := <-c.deployIn:
			c.setDesired(in)
		case ev, ok := <-watch:
			if !ok {
				if ctx.Err() != nil {
					return nil
				}
				watch = c.statuses.Watch(ctx, 4096)
			} else if !c.owns(ev.Pod) {
				continue
			}
		case fn := <-c.requests:
			fn()
		case <-timer.C:
		}
		c.sync()
		timer.Stop()
		next := c.cfg.Resync
		if !c.wake.IsZero() {
			next = min(next, max(c.wake.Sub(c.now()), 10*time.Millisecond))
		}
		timer.Reset(next)
	}
}

// owns reports whether a pod status change concerns the controllers.
func (c *Controller) owns(p *v1.Pod) bool {
	if c.deleted[p.UID] {
		return true
	}
	mine := c.pods[p.Namespace+"/"+p.Name]
	return mine != nil && mine.UID == p.UID
}

// setDesired takes a new set of Deployments, keeping those whose file is
// broken now: the API server refuses an invalid update and keeps the last
// valid object, so a typo must not delete every pod. The last valid
// version comes from the running set or, after a restart, from the saved
// state; only a removed file (or a Deployment gone from a valid one)
// deletes it.
func (c *Controller) setDesired(in desired) {
	ds := in.deployments
	files := make(map[string]string, len(in.files))
	for k, f := range in.files {
		files[k] = f
	}
	present := map[string]bool{}
	for _, d := range ds {
		present[d.Namespace+"/"+d.Name] = true
	}
	for key, x := range c.extras {
		if present[key] || x.File == "" || len(in.badFiles[x.File]) == 0 {
			continue
		}
		last := c.deploys[key]
		if last == nil {
			last = x.Last
		}
		if last == nil {
			continue
		}
		c.log.Warn("deployment's manifest is invalid; keeping the last valid deployment and its pods",
			zap.String("deployment", key), zap.String("file", x.File), zap.Strings("errors", in.badFiles[x.File]))
		ds = append(ds, last)
		files[key] = x.File
	}
	c.setDeployments(ds, files)
}

// setDeployments takes a new set of Deployments from the manifests, with
// the file of each.
func (c *Controller) setDeployments(ds []*appsv1.Deployment, files map[string]string) {
	c.haveSpecs = true
	next := make(map[string]*appsv1.Deployment, len(ds))
	for _, in := range ds {
		d := in.DeepCopy()
		key := d.Namespace + "/" + d.Name
		x := c.extras[key]
		if x == nil || x.UID != d.UID {
			x = &deployExtra{UID: d.UID, Created: d.CreationTimestamp}
			c.extras[key] = x
		}
		x.File = files[key]
		x.Last = lastValid(in)
		if h := specHash(&d.Spec); h != x.SpecHash {
			x.Generation++
			x.SpecHash = h
		}
		d.Generation = x.Generation
		d.CreationTimestamp = x.Created
		if prev := c.deploys[key]; prev != nil && prev.UID == d.UID {
			d.Status = prev.Status
		} else {
			d.Status = *x.Status.DeepCopy()
		}
		if x.Revision != "" {
			if d.Annotations == nil {
				d.Annotations = map[string]string{}
			}
			d.Annotations[AnnotationRevision] = x.Revision
		}
		next[key] = d
	}
	for key := range c.extras {
		if next[key] == nil {
			delete(c.extras, key)
		}
	}
	c.deploys = next
	c.changed = true
}

// lastValid is the Deployment as its manifest gave it, without what the
// controller adds (status, generation, revision), to run again if its
// file breaks.
func lastValid(in *appsv1.Deployment) *appsv1.Deployment {
	d := in.DeepCopy()
	d.Status = appsv1.DeploymentStatus{}
	d.Generation = 0
	return d
}

func specHash(s *appsv1.DeploymentSpec) string {
	j, _ := json.Marshal(s)
	h := fnv.New64a()
	h.Write(j)
	return fmt.Sprintf("%x", h.Sum64())
}

// sync runs passes until nothing changes (a few at most: each pass takes
// one step, as each sync of upstream's controllers does), then persists
// and publishes.
func (c *Controller) sync() {
	c.wake = time.Time{}
	c.syncs++
	for i := 0; i < 8; i++ {
		c.changed = false
		c.pass(c.now())
		if !c.changed {
			break
		}
	}
	for key, d := range c.deploys {
		if x := c.extras[key]; x != nil {
			x.Status = *d.Status.DeepCopy()
		}
	}
	if err := c.save(); err != nil {
		c.log.Error("save controller state", zap.Error(err))
	}
	c.publish()
}

// pass is one round of both controllers over everything.
func (c *Controller) pass(now time.Time) {
	c.forgetTerminated()
	if c.haveSpecs {
		c.collectGarbage()
	}
	for _, rs := range c.sortedReplicaSets() {
		c.updateReplicaSetStatus(rs, now)
	}
	if c.haveSpecs {
		keys := make([]string, 0, len(c.deploys))
		for k := range c.deploys {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			c.syncDeployment(c.deploys[k], now)
		}
	}
	for _, rs := range c.sortedReplicaSets() {
		c.manageReplicas(rs, now)
		c.updateReplicaSetStatus(rs, now)
	}
}

// collectGarbage deletes ReplicaSets whose Deployment is gone and pods
// whose ReplicaSet is gone, as the garbage collector does after a
// background-cascading delete.
func (c *Controller) collectGarbage() {
	uids := map[types.UID]bool{}
	for _, d := range c.deploys {
		uids[d.UID] = true
	}
	for _, rs := range c.sortedReplicaSets() {
		if ref := metav1.GetControllerOfNoCopy(rs); ref != nil && ref.Kind == "Deployment" && !uids[ref.UID] {
			c.log.Info("deleting ReplicaSet whose Deployment is gone", zap.String("replicaSet", rs.Namespace+"/"+rs.Name))
			c.deleteReplicaSet(rs)
		}
	}
	rsUIDs := map[types.UID]bool{}
	for _, rs := range c.rss {
		rsUIDs[rs.UID] = true
	}
	for _, p := range c.sortedPods() {
		if ref := metav1.GetControllerOfNoCopy(p); ref != nil && ref.Kind == "ReplicaSet" && !rsUIDs[ref.UID] {
			c.deletePod(p)
		}
	}
}

func (c *Controller) deleteReplicaSet(rs *appsv1.ReplicaSet) {
	delete(c.rss, rs.Namespace+"/"+rs.Name)
	delete(c.manageErrs, rs.UID)
	c.changed = true
}

func (c *Controller) deletePod(p *v1.Pod) {
	delete(c.pods, p.Namespace+"/"+p.Name)
	c.deleted[p.UID] = true
	c.changed = true
}

// forgetTerminated drops deleted pods whose worker finished.
func (c *Controller) forgetTerminated() {
	for uid := range c.deleted {
		if _, ok := c.statuses.Get(uid); !ok {
			delete(c.deleted, uid)
		}
	}
}

// terminating reports whether a deleted pod of the ReplicaSet rsUID is
// still being terminated.
func (c *Controller) terminating(rsUID types.UID) bool {
	for uid := range c.deleted {
		if p, ok := c.statuses.Get(uid); ok {
			if ref := metav1.GetControllerOfNoCopy(p); ref != nil && ref.UID == rsUID {
				return true
			}
		}
	}
	return false
}

func (c *Controller) wakeAt(t time.Time) {
	if c.wake.IsZero() || t.Before(c.wake) {
		c.wake = t
	}
}

func (c *Controller) extra(d *appsv1.Deployment) *deployExtra {
	key := d.Namespace + "/" + d.Name
	x := c.extras[key]
	if x == nil {
		x = &deployExtra{UID: d.UID, Created: d.CreationTimestamp}
		c.extras[key] = x
	}
	return x
}

func (c *Controller) sortedReplicaSets() []*appsv1.ReplicaSet {
	out := make([]*appsv1.ReplicaSet, 0, len(c.rss))
	for _, rs := range c.rss {
		out = append(out, rs)
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Namespace+"/"+out[i].Name < out[j].Namespace+"/"+out[j].Name
	})
	return out
}

func (c *Controller) sortedPods() []*v1.Pod {
	out := make([]*v1.Pod, 0, len(c.pods))
	for _, p := range c.pods {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Namespace+"/"+out[i].Name < out[j].Namespace+"/"+out[j].Name })
	return out
}

// save writes the state file when it changed (temporary file, fsync,
// rename), so a crash leaves the old or the new state, never half.
func (c *Controller) save() error {
	st := savedState{Deployments: c.extras, ReplicaSets: c.sortedReplicaSets(), Pods: c.sortedPods()}
	data, err := json.Marshal(&st)
	if err != nil {
		return err
	}
	if string(data) == string(c.saved) {
		return nil
	}
	path := filepath.Join(c.cfg.StateDir, stateFile)
	tmp, err := os.CreateTemp(c.cfg.StateDir, ".state-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("sync %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("replace %s: %w", path, err)
	}
	c.saved = data
	return nil
}

// publish hands the current pods to the agent when they changed (the set,
// or a pod: an update through the API, an adoption or a release) and
// refreshes what readers see.
func (c *Controller) publish() {
	pods := c.sortedPods()
	copies := make([]*v1.Pod, len(pods))
	for i, p := range pods {
		copies[i] = p.DeepCopy()
	}
	if !samePods(copies, c.published) {
		c.published = copies
		select {
		case <-c.podsOut:
		default:
		}
		c.podsOut <- copies
	}
	ds := make([]*appsv1.Deployment, 0, len(c.deploys))
	for _, d := range c.deploys {
		ds = append(ds, d.DeepCopy())
	}
	rss := make([]*appsv1.ReplicaSet, 0, len(c.rss))
	for _, rs := range c.rss {
		rss = append(rss, rs.DeepCopy())
	}
	c.view.set(ds, rss, copies)
}

// samePods reports whether two sorted pod lists are the same pods with the
// same labels, annotations, owners and spec (the controllers change
// nothing else of a pod they made).
func samePods(a, b []*v1.Pod) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].UID != b[i].UID || !equality.Semantic.DeepEqual(a[i].Labels, b[i].Labels) ||
			!equality.Semantic.DeepEqual(a[i].Annotations, b[i].Annotations) ||
			!equality.Semantic.DeepEqual(a[i].OwnerReferences, b[i].OwnerReferences) ||
			!equality.Semantic.DeepEqual(a[i].Spec, b[i].Spec) {
			return false
		}
	}
	return true
}
