// Package state keeps what ptrule must remember across restarts in its
// state directory: the suppressions (FileStore) now, the alert spool next.
// Every file it writes goes through WriteFile, the one atomic write. It
// imports engine, for the Store it implements, and proc, for the boot
// clock that migrates old keys.
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
	"strconv"
	"strings"
	"sync"
	"time"

	"ptrule/builtin/proc"
	"ptrule/engine"
)

// FileStore is an engine.Store.
var _ engine.Store = (*FileStore)(nil)

// stateFile is the name of the suppression state in the state directory.
const stateFile = "suppressions.json"

// stateVersion is the version of the state file format this code writes.
// Version 1 (ptrule before keys were boot-relative) held process and
// session keys as "PID@<RFC 3339 start>"; it is read and migrated once.
const stateVersion = 2

// maxStateTime is the latest time the state file can hold: JSON times
// have four-digit years. Later suppressions are saved as this.
var maxStateTime = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)

// stateJSON is the file format:
//
//	{"version":2,"suppressions":[{"rule":"pt-user-resources","key":"4242@1234567","until":"2026-01-01T01:00:00Z"}]}
type stateJSON struct {
	Version      int         `json:"version"`
	Suppressions []stateMark `json:"suppressions"`
}

// stateMark is one suppression in the file.
type stateMark struct {
	Rule  string    `json:"rule"`
	Key   string    `json:"key"`
	Until time.Time `json:"until"`
}

// markKey identifies a suppression: rule and key.
type markKey struct{ rule, key string }

// FileStore is an engine.Store kept in dir/suppressions.json so that
// suppressions survive restarts. It is safe for concurrent use. Changes
// live in memory until Save writes them.
type FileStore struct {
	dir string

	mu    sync.Mutex
	marks map[markKey]time.Time
	// readErr is set when the file existed but could not be read: Save
	// then refuses to replace what it could not see.
	readErr error
	// migrated describes a version 1 file converted on open, "" if none.
	migrated string
	// dirty says the marks differ from what the file holds: a tick that
	// records and prunes nothing writes nothing (two fsyncs saved per
	// tick). A new store is dirty, so its first Save writes the file.
	dirty bool

	// saveMu orders the writes of concurrent Saves, so an older copy of
	// the marks never replaces a newer one on disk.
	saveMu sync.Mutex
	// beforeReplace, when set, runs between writing the new file and
	// renaming it over the old one; an error aborts the Save. Tests use it
	// to fail at that point.
	beforeReplace func() error
}

// unreadableError is a state file that exists but could not be read.
type unreadableError struct{ err error }

func (e *unreadableError) Error() string { return e.err.Error() }
func (e *unreadableError) Unwrap() error { return e.err }

// OpenFileStore reads dir/suppressions.json, dropping entries that ended at
// or before now, and migrating the keys of a version 1 file with clk (see
// Migrated). A missing file (or dir) gives an empty store. Otherwise a
// problem gives a usable empty store AND an error saying so, for the
// caller to log as a warning:
//   - a file that cannot be parsed is moved aside to
//     suppressions.json.corrupt-<unix time> for inspection, and the next
//     Save writes a fresh one;
//   - a file that cannot be read (permissions, I/O error) is left where it
//     is, and Save refuses to replace it until ptrule is restarted with
//     the file fixed or removed.
func OpenFileStore(dir string, now time.Time, clk proc.BootClock) (*FileStore, error) {
	s, err := ReadFileStore(dir, now, clk)
	if err == nil {
		return s, nil
	}
	path := filepath.Join(dir, stateFile)
	if ue := (*unreadableError)(nil); errors.As(err, &ue) {
		s.readErr = err
		return s, fmt.Errorf("suppression state %s cannot be read (%w): starting with no suppressions and leaving the file as it is; fix its permissions or remove it, then restart ptrule", path, ue.err)
	}
	aside, merr := moveAside(path, now)
	if merr != nil {
		return s, fmt.Errorf("suppression state %s is unusable (%w) and could not be moved aside (%w): starting with no suppressions; remove or fix the file", path, err, merr)
	}
	return s, fmt.Errorf("suppression state %s is unusable (%w): starting with no suppressions; the old file is kept as %s", path, err, aside)
}

// ReadFileStore reads the state like OpenFileStore but changes nothing on
// disk: an unusable file gives an empty store and the error, and stays where
// it is. A dry run uses it to show what the daemon has silenced.
func ReadFileStore(dir string, now time.Time, clk proc.BootClock) (*FileStore, error) {
	s := &FileStore{dir: dir, marks: map[markKey]time.Time{}, dirty: true}
	data, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return s, &unreadableError{err}
	}
	marks, version, err := parseState(data)
	if err != nil {
		return s, err
	}
	if version == 1 {
		var converted, dropped int
		marks, converted, dropped = migrateV1(marks, clk)
		s.migrated = fmt.Sprintf("converted %d process and session keys of a version 1 state file to start ticks since boot; dropped %d of processes that started before the current boot", converted, dropped)
	}
	s.marks = marks
	s.prune(now)
	return s, nil
}

// Migrated describes the migration of a version 1 state file done by
// OpenFileStore, for the log, or returns "" when there was none.
func (s *FileStore) Migrated() string { return s.migrated }

// parseState decodes the state file and returns its marks and format
// version. It never panics, whatever data holds.
func parseState(data []byte) (map[markKey]time.Time, int, error) {
	var f stateJSON
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, 0, fmt.Errorf("not valid JSON: %w", err)
	}
	if f.Version != 1 && f.Version != stateVersion {
		return nil, 0, fmt.Errorf("format version %d, this ptrule reads versions 1 and %d", f.Version, stateVersion)
	}
	marks := make(map[markKey]time.Time, len(f.Suppressions))
	for i, m := range f.Suppressions {
		if m.Rule == "" {
			return nil, 0, fmt.Errorf("suppression %d has no rule", i)
		}
		k := markKey{m.Rule, m.Key}
		if old, ok := marks[k]; !ok || m.Until.After(old) {
			marks[k] = m.Until
		}
	}
	return marks, f.Version, nil
}

// migrateV1 converts the process and session keys of a version 1 file,
// "PID@<RFC 3339 start>", to "PID@<start ticks since boot>" with clk, and
// keeps every other key (user names, the host's empty key, keys of a rule's
// own `key`) as it is. A start before clk's boot belongs to a process of an
// earlier boot, which is gone: its mark is dropped, as is every converted
// key when the boot time is unknown. The conversion is exact when the wall
// clock was not stepped between the old ptrule's last save and now.
func migrateV1(marks map[markKey]time.Time, clk proc.BootClock) (out map[markKey]time.Time, converted, dropped int) {
	out = make(map[markKey]time.Time, len(marks))
	for k, until := range marks {
		ticks, ok, legacy := legacyTicks(k.key, clk)
		switch {
		case !legacy:
			out[k] = until
			continue
		case !ok:
			dropped++
			continue
		}
		converted++
		k.key = k.key[:strings.IndexByte(k.key, '@')+1] + strconv.FormatUint(ticks, 10)
		if old, seen := out[k]; !seen || until.After(old) {
			out[k] = until
		}
	}
	return out, converted, dropped
}

// legacyTicks parses a version 1 process or session key: legacy reports
// whether key has that form (digits, "@", a UTC RFC 3339 time exactly as
// the old ptrule wrote it), and ok whether the start converts to ticks
// since clk's boot.
func legacyTicks(key string, clk proc.BootClock) (ticks uint64, ok, legacy bool) {
	pid, start, found := strings.Cut(key, "@")
	if !found || pid == "" || strings.Trim(pid, "0123456789") != "" {
		return 0, false, false
	}
	t, err := time.Parse(time.RFC3339Nano, start)
	if err != nil || t.UTC().Format(time.RFC3339Nano) != start {
		return 0, false, false
	}
	if clk.Boot.IsZero() || clk.TicksPerSecond == 0 || t.Before(clk.Boot) {
		return 0, false, true
	}
	d := t.Sub(clk.Boot)
	hz := clk.TicksPerSecond
	secs, frac := uint64(d/time.Second), uint64(d%time.Second)
	return secs*hz + (frac*hz+uint64(time.Second)/2)/uint64(time.Second), true, true
}

// moveAside renames the unusable file at path to path.corrupt-<unix>,
// adding a counter when that name is taken, and returns the new name.
func moveAside(path string, now time.Time) (string, error) {
	base := path + ".corrupt-" + strconv.FormatInt(now.Unix(), 10)
	name := base
	for i := 1; ; i++ {
		_, err := os.Lstat(name)
		if errors.Is(err, fs.ErrNotExist) {
			break
		}
		if err != nil {
			return "", err
		}
		if i > 100 {
			return "", fmt.Errorf("too many %s* files: remove old ones", base)
		}
		name = base + "." + strconv.Itoa(i)
	}
	if err := os.Rename(path, name); err != nil {
		return "", err
	}
	return name, nil
}

// Until implements engine.Store. It returns the recorded end even when it
// has passed; expired marks are dropped by Save and OpenFileStore.
func (s *FileStore) Until(rule, key string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.marks[markKey{rule, key}]
	return t, ok
}

// Suppress implements engine.Store. The mark is kept in memory until the
// next Save.
func (s *FileStore) Suppress(rule, key string, until time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.marks[markKey{rule, key}] = until
	s.dirty = true
}

// prune drops the marks that ended at or before now. The caller holds mu.
func (s *FileStore) prune(now time.Time) {
	for k, t := range s.marks {
		if !t.After(now) {
			delete(s.marks, k)
			s.dirty = true
		}
	}
}

// Save drops the marks that ended at or before now and writes the rest
// atomically (github.com/google/renameio/v2): a temporary file in the state
// directory, fsync, rename over suppressions.json, then fsync of the
// directory. It creates the directory (0700) if missing; the file is 0600.
// A failed Save leaves the previous file as it was. Save refuses to
// replace a file that OpenFileStore could not read.
func (s *FileStore) Save(now time.Time) error {
	s.saveMu.Lock()
	defer s.saveMu.Unlock()

	path := filepath.Join(s.dir, stateFile)
	s.mu.Lock()
	if s.readErr != nil {
		s.mu.Unlock()
		return fmt.Errorf("not replacing %s, which could not be read at start (%w): fix its permissions or remove it, then restart ptrule", path, s.readErr)
	}
	s.prune(now)
	if !s.dirty {
		s.mu.Unlock()
		return nil
	}
	s.dirty = false
	f := stateJSON{Version: stateVersion, Suppressions: make([]stateMark, 0, len(s.marks))}
	for k, t := range s.marks {
		t = t.UTC()
		if t.After(maxStateTime) {
			t = maxStateTime
		}
		f.Suppressions = append(f.Suppressions, stateMark{Rule: k.rule, Key: k.key, Until: t})
	}
	s.mu.Unlock()
	sort.Slice(f.Suppressions, func(i, j int) bool {
		a, b := f.Suppressions[i], f.Suppressions[j]
		if a.Rule != b.Rule {
			return a.Rule < b.Rule
		}
		return a.Key < b.Key
	})

	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(f); err != nil {
		s.markDirty()
		return fmt.Errorf("encoding: %w", err)
	}
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		s.markDirty()
		return fmt.Errorf("creating the state directory: %w: check state_dir in the config", err)
	}
	if err := s.writeAtomic(path, buf.Bytes()); err != nil {
		s.markDirty()
		return fmt.Errorf("writing %s: %w: check that state_dir is writable and has space", path, err)
	}
	return nil
}

// markDirty makes the next Save write again, after one that failed.
func (s *FileStore) markDirty() {
	s.mu.Lock()
	s.dirty = true
	s.mu.Unlock()
}

// writeAtomic replaces path with the new state through WriteFile, with
// the test hook beforeReplace.
func (s *FileStore) writeAtomic(path string, data []byte) error {
	return writeFile(path, data, 0o600, s.beforeReplace)
}
