package runtime

import (
	"slices"
	"sync"

	"github.com/containerd/containerd/containers"
	"k8s.io/apimachinery/pkg/types"
)

// podIndex knows which containers each pod has, so that reading one pod's
// state gets its containers by ID. containerd evaluates a label filter over
// every container of the namespace, decoding each record, so a listing per
// read grew with the number of pods on the node (BENCHMARKS.md, 250 pods).
//
// containerd stays the source of truth: the index only says which IDs to
// ask for. It learns of containers from their creation (ours, through
// newContainer) and from containerd's /containers/create and
// /containers/delete events (anyone's), and it is reconciled with a listing
// each time the event subscription is established, which covers the
// containers made or removed while no agent or no subscription ran. Until
// that first reconciliation it is not ready and readers list.
type podIndex struct {
	mu    sync.Mutex
	ready bool
	byID  map[string]indexEntry
	byPod map[types.UID]map[string]struct{}
	// creating holds the containers being created by newContainer: their
	// creation event needs no lookup to place them.
	creating map[string]indexEntry
}

type indexEntry struct {
	pod       types.UID
	sandboxID string // LabelSandboxID; a sandbox's own ID for its pause container
}

func entryOf(labels map[string]string, id string) (indexEntry, bool) {
	uid := labels[LabelPodUID]
	if uid == "" {
		return indexEntry{}, false // not ours
	}
	e := indexEntry{pod: types.UID(uid), sandboxID: labels[LabelSandboxID]}
	if labels[LabelKind] == kindSandbox {
		e.sandboxID = id
	}
	return e, true
}

func (x *podIndex) init() {
	if x.byID == nil {
		x.byID = map[string]indexEntry{}
		x.byPod = map[types.UID]map[string]struct{}{}
		x.creating = map[string]indexEntry{}
	}
}

// addLocked records id under its pod.
func (x *podIndex) addLocked(id string, e indexEntry) {
	x.init()
	x.byID[id] = e
	ids := x.byPod[e.pod]
	if ids == nil {
		ids = map[string]struct{}{}
		x.byPod[e.pod] = ids
	}
	ids[id] = struct{}{}
}

func (x *podIndex) dropLocked(id string) {
	e, ok := x.byID[id]
	if !ok {
		return
	}
	delete(x.byID, id)
	ids := x.byPod[e.pod]
	delete(ids, id)
	if len(ids) == 0 {
		delete(x.byPod, e.pod)
	}
}

// creatingStart marks id as being created with labels; creatingDone ends
// that, recording the container when it was created.
func (x *podIndex) creatingStart(id string, labels map[string]string) {
	e, ok := entryOf(labels, id)
	if !ok {
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	x.init()
	x.creating[id] = e
}

func (x *podIndex) creatingDone(id string, created bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	e, ok := x.creating[id]
	delete(x.creating, id)
	if ok && created {
		x.addLocked(id, e)
	}
}

// created handles containerd's creation event of id. It reports false when
// the container is unknown and must be looked up (then add).
func (x *podIndex) created(id string) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	if _, ok := x.byID[id]; ok {
		return true
	}
	if e, ok := x.creating[id]; ok {
		x.addLocked(id, e)
		return true
	}
	return false
}

// add records a container looked up in containerd.
func (x *podIndex) add(r containers.Container) {
	e, ok := entryOf(r.Labels, r.ID)
	if !ok {
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	x.addLocked(r.ID, e)
}

// drop forgets a deleted container.
func (x *podIndex) drop(id string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.dropLocked(id)
}

// known returns the IDs recorded before a listing starts; reconcile takes
// them and the listing.
func (x *podIndex) known() map[string]struct{} {
	x.mu.Lock()
	defer x.mu.Unlock()
	ids := make(map[string]struct{}, len(x.byID))
	for id := range x.byID {
		ids[id] = struct{}{}
	}
	return ids
}

// reconcile makes the index agree with a listing of our containers made
// after known returned before: what was known then and is not listed was
// deleted; what is listed is there. A container recorded meanwhile is kept:
// its creation may have come after the listing, and its deletion, if any,
// is streamed (the subscription is live when the listing starts).
func (x *podIndex) reconcile(before map[string]struct{}, recs []containers.Container) {
	listed := make(map[string]struct{}, len(recs))
	x.mu.Lock()
	defer x.mu.Unlock()
	x.init()
	for _, r := range recs {
		if e, ok := entryOf(r.Labels, r.ID); ok {
			listed[r.ID] = struct{}{}
			x.addLocked(r.ID, e)
		}
	}
	for id := range before {
		if _, ok := listed[id]; !ok {
			x.dropLocked(id)
		}
	}
	x.ready = true
}

// pod returns the IDs of a pod's containers, and false while the index is
// not ready.
func (x *podIndex) pod(uid types.UID) ([]string, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if !x.ready {
		return nil, false
	}
	ids := make([]string, 0, len(x.byPod[uid]))
	for id := range x.byPod[uid] {
		ids = append(ids, id)
	}
	slices.Sort(ids) // a listing's order
	return ids, true
}

// sandbox returns the IDs of a sandbox's containers, its pause container
// included, and false while the index is not ready or does not know the
// sandbox.
func (x *podIndex) sandbox(sandboxID string) ([]string, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if !x.ready {
		return nil, false
	}
	e, ok := x.byID[sandboxID]
	if !ok {
		return nil, false // created behind our back, its event not handled yet
	}
	var ids []string
	for id := range x.byPod[e.pod] {
		if x.byID[id].sandboxID == sandboxID {
			ids = append(ids, id)
		}
	}
	return ids, true
}
