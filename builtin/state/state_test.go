package state

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"ptrule/builtin/proc"
)

// t0 is the fixed "now" of the state tests.
var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// testClock is the boot clock of the state tests: booted a day before t0,
// 100 ticks a second.
var testClock = proc.BootClock{Boot: t0.Add(-24 * time.Hour), TicksPerSecond: 100}

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
	s, err := OpenFileStore(dir, t0, testClock)
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

	r, err := OpenFileStore(dir, t0, testClock)
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
	s, _ := OpenFileStore(dir, t0, testClock)
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

	r, err := OpenFileStore(dir, t0.Add(10*time.Minute), testClock)
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
		{"future version", `{"version":3,"suppressions":[]}`, "version 3"},
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
			s, err := OpenFileStore(dir, t0, testClock)
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
			r, err := OpenFileStore(dir, t0, testClock)
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
		if _, err := OpenFileStore(dir, t0, testClock); err == nil {
			t.Fatal("corrupt file accepted")
		}
	}
	base := fmt.Sprintf("%s.corrupt-%d", stateFile, t0.Unix())
	if names := dirNames(t, dir); !slices.Equal(names, []string{base, base + ".1"}) {
		t.Errorf("state dir holds %q", names)
	}
}

// A state file that exists but cannot be read is not a corrupt one: it is
// left where it is, the error says what to do, and Save refuses to replace
// what it could not read rather than losing its marks.
func TestFileStoreUnreadable(t *testing.T) {
	dir := t.TempDir()
	// A directory where the file should be: reading it fails with EISDIR,
	// as a permission or I/O error would.
	path := filepath.Join(dir, stateFile)
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	s, err := OpenFileStore(dir, t0, testClock)
	if err == nil || s == nil {
		t.Fatalf("store %v, err %v: want an empty store and an error", s, err)
	}
	for _, want := range []string{"cannot be read", "leaving the file as it is", "fix its permissions or remove it, then restart ptrule"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("err = %q, want it to say %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "corrupt") || strings.Contains(err.Error(), "too many") {
		t.Errorf("err = %q talks of corrupt files", err)
	}
	if names := dirNames(t, dir); !slices.Equal(names, []string{stateFile}) {
		t.Errorf("state dir holds %q, want the unreadable file left alone", names)
	}
	s.Suppress("r", "k", t0.Add(time.Hour))
	if err := s.Save(t0); err == nil || !strings.Contains(err.Error(), "not replacing") {
		t.Errorf("Save over an unreadable file: %v, want a refusal", err)
	}
	if fi, err := os.Stat(path); err != nil || !fi.IsDir() {
		t.Errorf("Save replaced the unreadable file: %v", err)
	}
}

// A state file in today's format (version 2) survives a Save that fails
// between writing the new file and renaming it over the old one: the old
// file is intact and no temporary file is left.
func TestFileStoreSaveFailsBeforeRename(t *testing.T) {
	dir := t.TempDir()
	s, _ := OpenFileStore(dir, t0, testClock)
	s.Suppress("r", "old", t0.Add(time.Hour))
	if err := s.Save(t0); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		t.Fatal(err)
	}
	s.Suppress("r", "new", t0.Add(time.Hour))
	called := false
	s.beforeReplace = func() error {
		called = true
		// The new content is on disk beside the old file at this point.
		if names := dirNames(t, dir); len(names) != 2 {
			t.Errorf("before the rename the state dir holds %q, want the file and a temporary", names)
		}
		return fmt.Errorf("injected failure")
	}
	err = s.Save(t0)
	if err == nil || !strings.Contains(err.Error(), "injected failure") {
		t.Fatalf("Save = %v, want the injected failure", err)
	}
	if !called {
		t.Fatal("the seam between write and rename was not reached")
	}
	if strings.Count(err.Error(), "saving suppression state") > 0 {
		t.Errorf("Save's error %q repeats the caller's prefix", err)
	}
	after, _ := os.ReadFile(filepath.Join(dir, stateFile))
	if string(after) != string(before) {
		t.Errorf("the state file changed:\n%s\nwant\n%s", after, before)
	}
	if names := dirNames(t, dir); !slices.Equal(names, []string{stateFile}) {
		t.Errorf("state dir holds %q, want only %s", names, stateFile)
	}
	r, err := OpenFileStore(dir, t0, testClock)
	if err != nil {
		t.Fatalf("reopening after the failed Save: %v", err)
	}
	if _, ok := r.Until("r", "old"); !ok {
		t.Error("the old mark is gone")
	}
	if _, ok := r.Until("r", "new"); ok {
		t.Error("the unsaved mark is on disk")
	}
}

// A state file written by the ptrule before boot-relative keys (version 1,
// RFC 3339 start times in keys) is migrated once: process and session keys
// become start ticks since boot, other keys are kept, keys of processes of
// an earlier boot are dropped, and the next Save writes version 2.
func TestFileStoreMigratesVersion1(t *testing.T) {
	dir := t.TempDir()
	// What the old build wrote for processes that started 1h and 1.5s
	// after boot, a process of the previous boot, a user, the host, and a
	// rule's own key that merely contains an @.
	old := `{
  "version": 1,
  "suppressions": [
    {"rule": "pt-deleted", "key": "4242@2025-12-31T13:00:00Z", "until": "2026-01-01T13:00:00Z"},
    {"rule": "pt-session", "key": "812@2025-12-31T12:00:01.5Z", "until": "2026-01-01T13:00:00Z"},
    {"rule": "pt-deleted", "key": "77@2025-12-30T23:00:00Z", "until": "2026-01-01T13:00:00Z"},
    {"rule": "pt-user-resources", "key": "bob", "until": "2026-01-01T13:00:00Z"},
    {"rule": "pt-load", "key": "", "until": "2026-01-01T13:00:00Z"},
    {"rule": "site", "key": "bob@example.com", "until": "2026-01-01T13:00:00Z"},
    {"rule": "site", "key": "1@2026-01-01T10:00:00+01:00", "until": "2026-01-01T13:00:00Z"}
  ]
}`
	if err := os.WriteFile(filepath.Join(dir, stateFile), []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := OpenFileStore(dir, t0, testClock)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"pt-deleted 4242@360000", "pt-load ", "pt-session 812@150", "pt-user-resources bob", "site 1@2026-01-01T10:00:00+01:00", "site bob@example.com"}
	if got := markList(s); !slices.Equal(got, want) {
		t.Errorf("migrated marks %q\nwant %q", got, want)
	}
	if m := s.Migrated(); !strings.Contains(m, "converted 2 ") || !strings.Contains(m, "dropped 1 ") {
		t.Errorf("Migrated() = %q", m)
	}
	if err := s.Save(t0); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(dir, stateFile))
	if !strings.Contains(string(data), `"version": 2`) {
		t.Errorf("saved state is not version 2:\n%s", data)
	}
	r, err := OpenFileStore(dir, t0, testClock)
	if err != nil || r.Migrated() != "" {
		t.Fatalf("reopen: %v, migrated %q: want no second migration", err, r.Migrated())
	}
	if got := markList(r); !slices.Equal(got, want) {
		t.Errorf("after reopen %q\nwant %q", got, want)
	}

	// Without a boot time nothing converts: the old keys are dropped
	// rather than guessed.
	os.WriteFile(filepath.Join(dir, stateFile), []byte(old), 0o600)
	s, _ = OpenFileStore(dir, t0, proc.BootClock{TicksPerSecond: 100})
	if got := markList(s); slices.Contains(got, "pt-deleted 4242@360000") || len(got) != 4 {
		t.Errorf("without a boot time: %q", got)
	}
}

// markList lists a store's marks as "rule key", sorted.
func markList(s *FileStore) []string {
	var out []string
	for k := range s.marks {
		out = append(out, k.rule+" "+k.key)
	}
	slices.Sort(out)
	return out
}

func TestFileStoreSaveFails(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o600)
	s, err := OpenFileStore(filepath.Join(file, "state"), t0, testClock)
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
	s, _ := OpenFileStore(dir, t0, testClock)
	s.Suppress("r", "forever", time.Date(20000, 1, 1, 0, 0, 0, 0, time.UTC))
	if err := s.Save(t0); err != nil {
		t.Fatal(err)
	}
	r, err := OpenFileStore(dir, t0, testClock)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := r.Until("r", "forever"); !ok || !got.Equal(maxStateTime) {
		t.Errorf("Until = %v, %v; want %v", got, ok, maxStateTime)
	}
}

func TestFileStoreConcurrent(t *testing.T) {
	dir := t.TempDir()
	s, _ := OpenFileStore(dir, t0, testClock)
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
	r, err := OpenFileStore(dir, t0, testClock)
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
		marks, _, err := parseState(data)
		if err != nil {
			return
		}
		// Whatever parses must survive a Save and reopen.
		dir := t.TempDir()
		s := &FileStore{dir: dir, marks: marks}
		if err := s.Save(time.Time{}); err != nil {
			t.Fatalf("Save of parsed state: %v", err)
		}
		if _, err := OpenFileStore(dir, time.Time{}, testClock); err != nil {
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
	s, err := ReadFileStore(dir, time.Now(), testClock)
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

// TestFileStoreWritesOnlyChanges checks that a Save with nothing recorded
// or pruned since the last one leaves the file alone (the daemon saves
// after every tick), and that a mark, or a mark's end, is written.
func TestFileStoreWritesOnlyChanges(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenFileStore(dir, t0, testClock)
	if err != nil {
		t.Fatal(err)
	}
	inode := func() uint64 {
		t.Helper()
		fi, err := os.Stat(filepath.Join(dir, stateFile))
		if err != nil {
			t.Fatal(err)
		}
		return fi.Sys().(*syscall.Stat_t).Ino
	}
	save := func(now time.Time) {
		t.Helper()
		if err := s.Save(now); err != nil {
			t.Fatal(err)
		}
	}
	save(t0) // a new store writes its file
	first := inode()
	save(t0)
	if inode() != first {
		t.Error("a Save with nothing changed rewrote the file")
	}
	s.Suppress("r", "k", t0.Add(time.Hour))
	save(t0)
	second := inode()
	if second == first {
		t.Error("a new mark was not written")
	}
	save(t0.Add(2 * time.Hour)) // the mark ends: pruned and written
	if inode() == second {
		t.Error("a pruned mark was not written")
	}
	if r, err := ReadFileStore(dir, t0, testClock); err != nil {
		t.Fatal(err)
	} else if _, ok := r.Until("r", "k"); ok {
		t.Error("the pruned mark is still in the file")
	}
}
