package prober

import "sync"

// resultCache holds the committed results of one probe type, keyed by the
// status container ID ("containerd://…"). Each entry remembers the worker
// that wrote it, so a stopping worker cannot erase the entry of the worker
// that replaced it for the same container. Safe for concurrent use.
type resultCache struct {
	mu sync.Mutex
	m  map[string]cacheEntry
}

type cacheEntry struct {
	result Result
	owner  *worker
}

func newResultCache() *resultCache {
	return &resultCache{m: map[string]cacheEntry{}}
}

// set stores r for id and reports whether the stored value changed (a new
// ID counts as a change), which is when the pod worker must hear of it.
func (c *resultCache) set(id string, r Result, owner *worker) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	old, ok := c.m[id]
	c.m[id] = cacheEntry{result: r, owner: owner}
	return !ok || old.result != r
}

// remove deletes id if owner wrote it.
func (c *resultCache) remove(id string, owner *worker) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[id]; ok && e.owner == owner {
		delete(c.m, id)
	}
}

func (c *resultCache) get(id string) (Result, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[id]
	return e.result, ok
}

func (c *resultCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
