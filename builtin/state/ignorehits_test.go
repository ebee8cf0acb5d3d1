package state

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"ptrule/engine"
)

// TestIgnoreHitsSaveKeep counts, saves and reads back; an entry edited or
// moved (another file:line or text) starts from zero, and Keep drops the
// counts of lines no longer loaded.
func TestIgnoreHitsSaveKeep(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	entry := func(line int, value string) engine.IgnoreEntry {
		return engine.IgnoreEntry{Pos: engine.Pos{File: "site.pignore", Line: line, Col: 5}, Item: "exe", Value: value}
	}
	a, b := entry(1, "/a"), entry(2, "/b")
	t1 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	h, err := ReadIgnoreHits(dir)
	if err != nil {
		t.Fatal(err)
	}
	h.Count(a, t1)
	h.Count(a, t1.Add(time.Minute))
	h.Count(b, t1)
	if err := h.Save(); err != nil {
		t.Fatal(err)
	}
	back, err := ReadIgnoreHits(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := back.Get(a); got.Hits != 2 || !got.LastHit.Equal(t1.Add(time.Minute)) {
		t.Errorf("a = %+v, want 2 hits, last %v", got, t1.Add(time.Minute))
	}
	for _, moved := range []engine.IgnoreEntry{entry(3, "/a"), entry(1, "/a2")} {
		if got := back.Get(moved); got.Hits != 0 {
			t.Errorf("%v = %+v, want a fresh count", moved, got)
		}
	}
	back.Keep([]engine.IgnoreEntry{a})
	if err := back.Save(); err != nil {
		t.Fatal(err)
	}
	again, _ := ReadIgnoreHits(dir)
	if again.Get(a).Hits != 2 || again.Get(b).Hits != 0 {
		t.Errorf("after Keep(a): a %+v, b %+v", again.Get(a), again.Get(b))
	}
	if fi, err := os.Stat(HitsPath(dir)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("hits file: %v, %v; want mode 0600", fi, err)
	}
}

// TestIgnoreHitsUnusable reads a broken file as zero counts and says so.
func TestIgnoreHitsUnusable(t *testing.T) {
	for _, tc := range []struct{ data, want string }{
		{`{"version":1,`, "not valid JSON"},
		{`{"version":7,"entries":[]}`, "format version 7"},
	} {
		dir := t.TempDir()
		if err := os.WriteFile(HitsPath(dir), []byte(tc.data), 0o600); err != nil {
			t.Fatal(err)
		}
		h, err := ReadIgnoreHits(dir)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want %q", tc.data, err, tc.want)
		}
		if h == nil || len(h.Rows([]engine.IgnoreEntry{{Item: "exe", Value: "/x"}}, time.Now())) != 1 {
			t.Errorf("%s: no usable empty counts", tc.data)
		}
	}
}
