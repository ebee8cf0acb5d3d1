package engine

import (
	"sync"
	"time"
)

// Store holds suppression marks: rule R stays quiet for key K until a time.
// state.FileStore persists them; MemStore serves scans and fixtures.
type Store interface {
	// Until returns the end of the suppression of (rule, key), and false
	// when there is none.
	Until(rule, key string) (time.Time, bool)
	// Suppress records that (rule, key) is quiet until the given time.
	Suppress(rule, key string, until time.Time)
}

// MemStore is an in-memory Store, safe for concurrent use.
type MemStore struct {
	mu    sync.Mutex
	marks map[[2]string]time.Time
}

// NewMemStore returns an empty MemStore.
func NewMemStore() *MemStore { return &MemStore{marks: map[[2]string]time.Time{}} }

// Until implements Store.
func (m *MemStore) Until(rule, key string) (time.Time, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.marks[[2]string{rule, key}]
	return t, ok
}

// Suppress implements Store.
func (m *MemStore) Suppress(rule, key string, until time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.marks[[2]string{rule, key}] = until
}
