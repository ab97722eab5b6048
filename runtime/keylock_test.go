package runtime

import (
	"sync"
	"testing"
)

func TestKeyedMutex(t *testing.T) {
	var (
		k      keyedMutex
		wg     sync.WaitGroup
		counts [2]int // one slot per key: only that key's lock guards it
	)
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			unlock := k.lock([]string{"a", "b"}[i%2])
			counts[i%2]++
			unlock()
		}()
	}
	wg.Wait()
	if counts != [2]int{100, 100} {
		t.Errorf("counts = %v", counts)
	}
	if len(k.locks) != 0 {
		t.Errorf("locks not released: %d", len(k.locks))
	}
}
