package builtin

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// t0 is the fixed "now" of the state tests.
var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// dirNames lists the names in dir, sorted.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestFileStoreSurvivesReopen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state") // missing: Save creates it
	s, err := OpenFileStore(dir, t0)
	if err != nil {
		t.Fatalf("missing state: %v, want no error", err)
	}
	if _, ok := s.Until("r", "k"); ok {
		t.Fatal("a new store has a mark")
	}
	marks := map[[2]string]time.Time{
		{"pt-user-resources", "4242@2026-01-01T11:00:00Z"}: t0.Add(time.Hour),
		{"pt-forkbomb", "77@2026-01-01T11:59:00Z"}:         t0.Add(90 * time.Second),
		{"pt-load", ""}:                       t0.Add(30 * time.Minute), // host scope: empty key
		{"odd \"rule\"\n", "key with\x00nul"}: t0.Add(time.Minute),
	}
	for k, until := range marks {
		s.Suppress(k[0], k[1], until.In(time.FixedZone("X", 3600)))
	}
	if err := s.Save(t0); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("state dir: %v, %v; want mode 0700", fi.Mode(), err)
	}
	if fi, err := os.Stat(filepath.Join(dir, stateFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("state file: %v, %v; want mode 0600", fi.Mode(), err)
	}

	r, err := OpenFileStore(dir, t0)
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range marks {
		got, ok := r.Until(k[0], k[1])
		if !ok || !got.Equal(want) {
			t.Errorf("Until(%q, %q) = %v, %v after reopen; want %v", k[0], k[1], got, ok, want)
		}
	}
	if names := dirNames(t, dir); !slices.Equal(names, []string{stateFile}) {
		t.Errorf("state dir holds %q, want only %s (no temporary files)", names, stateFile)
	}
}

func TestFileStorePrunes(t *testing.T) {
	dir := t.TempDir()
	s, _ := OpenFileStore(dir, t0)
	s.Suppress("r", "past", t0.Add(-time.Second))
	s.Suppress("r", "now", t0) // a suppression ends at its instant
	s.Suppress("r", "soon", t0.Add(time.Minute))
	s.Suppress("r", "later", t0.Add(time.Hour))
	if err := s.Save(t0); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Until("r", "past"); ok {
		t.Error("Save kept an expired mark in memory")
	}
	data, _ := os.ReadFile(filepath.Join(dir, stateFile))
	if strings.Contains(string(data), "past") || strings.Contains(string(data), `"now"`) {
		t.Errorf("expired marks saved:\n%s", data)
	}

	r, err := OpenFileStore(dir, t0.Add(10*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]bool{"past": false, "now": false, "soon": false, "later": true} {
		if _, ok := r.Until("r", key); ok != want {
			t.Errorf("mark %q present = %v after reopening 10 minutes later, want %v", key, ok, want)
		}
	}
}

func TestFileStoreCorrupt(t *testing.T) {
	tests := []struct {
		name    string
		content string
		reason  string
	}{
		{"not JSON", "{{{ garbage", "not valid JSON"},
		{"empty file", "", "not valid JSON"},
		{"truncated", `{"version":1,"suppressions":[{"rule":"r","key":"k","until":"2026-01-01T13:00:00Z"}`, "not valid JSON"},
		{"null", "null", "version 0"},
		{"future version", `{"version":2,"suppressions":[]}`, "version 2"},
		{"no rule", `{"version":1,"suppressions":[{"key":"k","until":"2026-01-01T13:00:00Z"}]}`, "no rule"},
		{"bad time", `{"version":1,"suppressions":[{"rule":"r","key":"k","until":"tomorrow"}]}`, "not valid JSON"},
		{"wrong type", `{"version":"1","suppressions":{}}`, "not valid JSON"},
		{"trailing data", `{"version":1,"suppressions":[]} x`, "not valid JSON"},
		{"binary", "\x00\xff\xfe\x01", "not valid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, stateFile)
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := OpenFileStore(dir, t0)
			if err == nil || !strings.Contains(err.Error(), tt.reason) {
				t.Fatalf("err = %v, want one saying %q", err, tt.reason)
			}
			if s == nil {
				t.Fatal("no store returned with the error")
			}
			aside := fmt.Sprintf("%s.corrupt-%d", path, t0.Unix())
			if got, err := os.ReadFile(aside); err != nil || string(got) != tt.content {
				t.Errorf("moved-aside copy: %q, %v; want the original content", got, err)
			}
			if !strings.Contains(err.Error(), aside) {
				t.Errorf("err = %v, want it to name %s", err, aside)
			}

			s.Suppress("r", "k", t0.Add(time.Hour))
			if err := s.Save(t0); err != nil {
				t.Fatal(err)
			}
			r, err := OpenFileStore(dir, t0)
			if err != nil {
				t.Fatalf("reopening after Save: %v", err)
			}
			if _, ok := r.Until("r", "k"); !ok {
				t.Error("mark lost after Save replaced the corrupt file")
			}
		})
	}
}

// TestFileStoreCorruptTwice checks that a second corrupt file in the same
// second does not overwrite the first copy.
func TestFileStoreCorruptTwice(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, stateFile)
	for _, content := range []string{"first", "second"} {
		os.WriteFile(path, []byte(content), 0o600)
		if _, err := OpenFileStore(dir, t0); err == nil {
			t.Fatal("corrupt file accepted")
		}
	}
	base := fmt.Sprintf("%s.corrupt-%d", stateFile, t0.Unix())
	if names := dirNames(t, dir); !slices.Equal(names, []string{base, base + ".1"}) {
		t.Errorf("state dir holds %q", names)
	}
}

func TestFileStoreUnreadable(t *testing.T) {
	dir := t.TempDir()
	// A directory where the file should be: unreadable as a file.
	if err := os.Mkdir(filepath.Join(dir, stateFile), 0o700); err != nil {
		t.Fatal(err)
	}
	s, err := OpenFileStore(dir, t0)
	if err == nil || s == nil {
		t.Fatalf("store %v, err %v: want an empty store and an error", s, err)
	}
	s.Suppress("r", "k", t0.Add(time.Hour))
	if err := s.Save(t0); err != nil {
		t.Fatalf("Save after moving the directory aside: %v", err)
	}
}

func TestFileStoreSaveFails(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o600)
	s, err := OpenFileStore(filepath.Join(file, "state"), t0)
	if s == nil {
		t.Fatalf("no store: %v", err)
	}
	s.Suppress("r", "k", t0.Add(time.Hour))
	if err := s.Save(t0); err == nil {
		t.Error("Save under a regular file succeeded")
	}
}

func TestFileStoreFarFuture(t *testing.T) {
	dir := t.TempDir()
	s, _ := OpenFileStore(dir, t0)
	s.Suppress("r", "forever", time.Date(20000, 1, 1, 0, 0, 0, 0, time.UTC))
	if err := s.Save(t0); err != nil {
		t.Fatal(err)
	}
	r, err := OpenFileStore(dir, t0)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := r.Until("r", "forever"); !ok || !got.Equal(maxStateTime) {
		t.Errorf("Until = %v, %v; want %v", got, ok, maxStateTime)
	}
}

func TestFileStoreConcurrent(t *testing.T) {
	dir := t.TempDir()
	s, _ := OpenFileStore(dir, t0)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				key := fmt.Sprintf("%d-%d", g, i)
				s.Suppress("r", key, t0.Add(time.Hour))
				if _, ok := s.Until("r", key); !ok {
					t.Errorf("mark %s lost", key)
				}
				if i%10 == 0 {
					if err := s.Save(t0); err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
	wg.Wait()
	if err := s.Save(t0); err != nil {
		t.Fatal(err)
	}
	r, err := OpenFileStore(dir, t0)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(r.marks); n != 400 {
		t.Errorf("%d marks after reopen, want 400", n)
	}
	if names := dirNames(t, dir); !slices.Equal(names, []string{stateFile}) {
		t.Errorf("state dir holds %q, want only %s", names, stateFile)
	}
}

func FuzzParseState(f *testing.F) {
	f.Add([]byte(`{"version":1,"suppressions":[{"rule":"r","key":"k","until":"2026-01-01T13:00:00Z"}]}`))
	f.Add([]byte(`{"version":1,"suppressions":null}`))
	f.Add([]byte(`{"version":1,"suppressions":[{"rule":"r","until":"0000-01-01T00:00:00Z"},{"rule":"r","until":"9999-12-31T23:59:59.999999999+14:00"}]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		marks, err := parseState(data)
		if err != nil {
			return
		}
		// Whatever parses must survive a Save and reopen.
		dir := t.TempDir()
		s := &FileStore{dir: dir, marks: marks}
		if err := s.Save(time.Time{}); err != nil {
			t.Fatalf("Save of parsed state: %v", err)
		}
		if _, err := OpenFileStore(dir, time.Time{}); err != nil {
			t.Fatalf("reopen: %v", err)
		}
	})
}

// TestReadFileStoreChangesNothing checks that the dry-run reader reports a
// corrupt file but leaves it in place.
func TestReadFileStoreChangesNothing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "suppressions.json")
	if err := os.WriteFile(path, []byte("{broken"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := ReadFileStore(dir, time.Now())
	if err == nil || s == nil {
		t.Fatalf("ReadFileStore = %v, %v; want an empty store and an error", s, err)
	}
	if data, _ := os.ReadFile(path); string(data) != "{broken" {
		t.Errorf("the file changed: %q", data)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("ReadFileStore left %d files, want the original only", len(entries))
	}
}
