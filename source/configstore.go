package source

import (
	"sync"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
)

// ConfigStore holds the ConfigMaps and Secrets of the latest snapshot, for
// the pods' references (env, envFrom, volumes) and the API. The objects it
// hands out are shared: callers must not modify them. Safe for concurrent
// use.
type ConfigStore struct {
	mu      sync.RWMutex
	cms     map[string]*v1.ConfigMap // by namespace/name
	secrets map[string]*v1.Secret
	changed chan struct{} // closed at the next change
}

// NewConfigStore returns an empty store.
func NewConfigStore() *ConfigStore {
	return &ConfigStore{cms: map[string]*v1.ConfigMap{}, secrets: map[string]*v1.Secret{}, changed: make(chan struct{})}
}

// Set replaces the content with a snapshot's; it reports whether anything
// differs from before .
func (s *ConfigStore) Set(cms []*v1.ConfigMap, secrets []*v1.Secret) bool {
	newCMs := make(map[string]*v1.ConfigMap, len(cms))
	for _, cm := range cms {
		newCMs[objectKey(cm)] = cm
	}
	newSecrets := make(map[string]*v1.Secret, len(secrets))
	for _, sec := range secrets {
		newSecrets[objectKey(sec)] = sec
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if equality.Semantic.DeepEqual(newCMs, s.cms) && equality.Semantic.DeepEqual(newSecrets, s.secrets) {
		return false
	}
	s.cms, s.secrets = newCMs, newSecrets
	close(s.changed)
	s.changed = make(chan struct{})
	return true
}

// Changed is closed at the next change.
func (s *ConfigStore) Changed() <-chan struct{} {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.changed
}

// ConfigMap returns the ConfigMap namespace/name.
func (s *ConfigStore) ConfigMap(namespace, name string) (*v1.ConfigMap, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	cm, ok := s.cms[namespace+"/"+name]
	return cm, ok
}

// Secret returns the Secret namespace/name.
func (s *ConfigStore) Secret(namespace, name string) (*v1.Secret, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	sec, ok := s.secrets[namespace+"/"+name]
	return sec, ok
}

// ListConfigMaps returns copies of the ConfigMaps of a namespace ("" for
// all), sorted by namespace/name.
func (s *ConfigStore) ListConfigMaps(namespace string) []*v1.ConfigMap {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []*v1.ConfigMap
	for _, k := range sortedKeys(s.cms) {
		if cm := s.cms[k]; namespace == "" || cm.Namespace == namespace {
			out = append(out, cm.DeepCopy())
		}
	}
	return out
}

// ListSecrets returns copies of the Secrets of a namespace ("" for all),
// sorted by namespace/name.
func (s *ConfigStore) ListSecrets(namespace string) []*v1.Secret {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []*v1.Secret
	for _, k := range sortedKeys(s.secrets) {
		if sec := s.secrets[k]; namespace == "" || sec.Namespace == namespace {
			out = append(out, sec.DeepCopy())
		}
	}
	return out
}
