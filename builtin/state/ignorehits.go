package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"ptrule/engine"
)

// hitsFile is the name of the ignore-list hit counts in the state
// directory, beside the suppressions.
const hitsFile = "ignore-hits.json"

// hitsVersion is the version of the hit counts format this code writes.
const hitsVersion = 1

// hitsJSON is the file format:
//
//	{"version":1,"entries":[{"entry":"/etc/ptrule/rules.d/site.pignore:3: exe:/usr/sbin/x","hits":12,"last_hit":"2026-01-01T00:00:00Z"}]}
type hitsJSON struct {
	Version int        `json:"version"`
	Entries []hitsLine `json:"entries"`
}

// hitsLine is one entry's count in the file.
type hitsLine struct {
	Entry   string    `json:"entry"`
	Hits    uint64    `json:"hits"`
	LastHit time.Time `json:"last_hit"`
}

// IgnoreHit is how often an ignore entry hid a process, and when it last
// did.
type IgnoreHit struct {
	Hits    uint64
	LastHit time.Time
}

// IgnoreHits counts, per ignore-list entry, the processes it hid: each
// tick, every process whose `ignored` an entry decided counts once for that
// entry. An entry is known by its file, line and text (HitKey), so editing
// or moving a line starts its count again. The daemon keeps the counts in
// dir/ignore-hits.json; commands only read them (ReadIgnoreHits). It is
// safe for concurrent use.
type IgnoreHits struct {
	dir string

	mu    sync.Mutex
	hits  map[string]IgnoreHit
	dirty bool
}

// HitKey is the key an entry is counted under: "file:line: item:value".
func HitKey(e engine.IgnoreEntry) string { return e.String() }

// ReadIgnoreHits reads dir/ignore-hits.json. A missing file gives empty
// counts. An unusable file gives empty counts and an error saying why; it
// is left where it is.
func ReadIgnoreHits(dir string) (*IgnoreHits, error) {
	h := &IgnoreHits{dir: dir, hits: map[string]IgnoreHit{}}
	path := filepath.Join(dir, hitsFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return h, nil
	}
	if err != nil {
		return h, fmt.Errorf("ignore hit counts %s cannot be read: %w", path, err)
	}
	var f hitsJSON
	if err := json.Unmarshal(data, &f); err != nil {
		return h, fmt.Errorf("ignore hit counts %s are not valid JSON (%w): the daemon starts them again", path, err)
	}
	if f.Version != hitsVersion {
		return h, fmt.Errorf("ignore hit counts %s have format version %d, this ptrule reads version %d: the daemon starts them again", path, f.Version, hitsVersion)
	}
	for _, l := range f.Entries {
		h.hits[l.Entry] = IgnoreHit{Hits: l.Hits, LastHit: l.LastHit}
	}
	return h, nil
}

// Get returns the count of an entry; a never-seen entry has zero hits.
func (h *IgnoreHits) Get(e engine.IgnoreEntry) IgnoreHit {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.hits[HitKey(e)]
}

// Count adds one hit at time t for the entry.
func (h *IgnoreHits) Count(e engine.IgnoreEntry, t time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	k := HitKey(e)
	c := h.hits[k]
	c.Hits++
	if t.After(c.LastHit) {
		c.LastHit = t
	}
	h.hits[k] = c
	h.dirty = true
}

// Keep forgets the counts of every entry not in entries: a line removed or
// edited since. The daemon calls it when it loads its ignore lists.
func (h *IgnoreHits) Keep(entries []engine.IgnoreEntry) {
	keep := make(map[string]bool, len(entries))
	for _, e := range entries {
		keep[HitKey(e)] = true
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for k := range h.hits {
		if !keep[k] {
			delete(h.hits, k)
			h.dirty = true
		}
	}
}

// Save writes the counts with WriteFile when they changed since the last
// Save.
func (h *IgnoreHits) Save() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.dirty {
		return nil
	}
	f := hitsJSON{Version: hitsVersion, Entries: make([]hitsLine, 0, len(h.hits))}
	for k, c := range h.hits {
		f.Entries = append(f.Entries, hitsLine{Entry: k, Hits: c.Hits, LastHit: c.LastHit.UTC()})
	}
	sort.Slice(f.Entries, func(i, j int) bool { return f.Entries[i].Entry < f.Entries[j].Entry })
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(f); err != nil {
		return fmt.Errorf("encoding ignore hit counts: %w", err)
	}
	if err := os.MkdirAll(h.dir, 0o700); err != nil {
		return fmt.Errorf("creating the state directory: %w: check state_dir in the config", err)
	}
	path := filepath.Join(h.dir, hitsFile)
	if err := WriteFile(path, buf.Bytes(), 0o600); err != nil {
		return fmt.Errorf("writing %s: %w: check that state_dir is writable and has space", path, err)
	}
	h.dirty = false
	return nil
}

// IgnoreRow is one ignore entry as `ptrule ignores` lists it: the entry,
// its counts and whether it is expired.
type IgnoreRow struct {
	Entry engine.IgnoreEntry
	IgnoreHit
	// Expired reports that the entry was expired at the time asked: it
	// hides nothing.
	Expired bool
}

// NeverMatched reports that the entry hid no process since its line was
// last written (as far as the daemon counted).
func (r IgnoreRow) NeverMatched() bool { return r.Hits == 0 }

// Rows returns a row per entry, in the order given, with its counts and
// whether it is expired at now.
func (h *IgnoreHits) Rows(entries []engine.IgnoreEntry, now time.Time) []IgnoreRow {
	rows := make([]IgnoreRow, len(entries))
	for i, e := range entries {
		rows[i] = IgnoreRow{Entry: e, IgnoreHit: h.Get(e), Expired: e.ExpiredAt(now)}
	}
	return rows
}

// HitsPath is where the daemon keeps the ignore hit counts under the state
// directory dir.
func HitsPath(dir string) string { return filepath.Join(dir, hitsFile) }
