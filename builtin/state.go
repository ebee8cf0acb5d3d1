package builtin

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
	"sync"
	"time"

	"ptrule/engine"
)

// FileStore is an engine.Store.
var _ engine.Store = (*FileStore)(nil)

// stateFile is the name of the suppression state in the state directory.
const stateFile = "suppressions.json"

// stateVersion is the version of the state file format this code writes
// and reads.
const stateVersion = 1

// maxStateTime is the latest time the state file can hold: JSON times
// have four-digit years. Later suppressions are saved as this.
var maxStateTime = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)

// stateJSON is the file format:
//
//	{"version":1,"suppressions":[{"rule":"pt-user-resources","key":"4242@2026-01-01T00:00:00Z","until":"2026-01-01T01:00:00Z"}]}
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

	// saveMu orders the writes of concurrent Saves, so an older copy of
	// the marks never replaces a newer one on disk.
	saveMu sync.Mutex
}

// OpenFileStore reads dir/suppressions.json, dropping entries that ended at
// or before now. A missing file (or dir) gives an empty store. A file that
// cannot be read or parsed gives a usable empty store AND an error saying
// so, for the caller to log as a warning: the file is moved aside to
// suppressions.json.corrupt-<unix time> for inspection, and the next Save
// writes a fresh one.
func OpenFileStore(dir string, now time.Time) (*FileStore, error) {
	s, err := ReadFileStore(dir, now)
	if err == nil {
		return s, nil
	}
	path := filepath.Join(dir, stateFile)
	aside, merr := moveAside(path, now)
	if merr != nil {
		return s, fmt.Errorf("suppression state %s is unusable (%w) and could not be moved aside (%w): starting with no suppressions; remove or fix the file", path, err, merr)
	}
	return s, fmt.Errorf("suppression state %s is unusable (%w): starting with no suppressions; the old file is kept as %s", path, err, aside)
}

// ReadFileStore reads the state like OpenFileStore but changes nothing on
// disk: an unusable file gives an empty store and the error, and stays where
// it is. A dry run uses it to show what the daemon has silenced.
func ReadFileStore(dir string, now time.Time) (*FileStore, error) {
	s := &FileStore{dir: dir, marks: map[markKey]time.Time{}}
	data, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err == nil {
		var marks map[markKey]time.Time
		if marks, err = parseState(data); err == nil {
			s.marks = marks
			s.prune(now)
			return s, nil
		}
	}
	return s, err
}

// parseState decodes the state file. It never panics, whatever data holds.
func parseState(data []byte) (map[markKey]time.Time, error) {
	var f stateJSON
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("not valid JSON: %w", err)
	}
	if f.Version != stateVersion {
		return nil, fmt.Errorf("format version %d, this ptrule reads version %d", f.Version, stateVersion)
	}
	marks := make(map[markKey]time.Time, len(f.Suppressions))
	for i, m := range f.Suppressions {
		if m.Rule == "" {
			return nil, fmt.Errorf("suppression %d has no rule", i)
		}
		k := markKey{m.Rule, m.Key}
		if old, ok := marks[k]; !ok || m.Until.After(old) {
			marks[k] = m.Until
		}
	}
	return marks, nil
}

// moveAside renames the unusable file at path to path.corrupt-<unix>,
// adding a counter when that name is taken, and returns the new name.
func moveAside(path string, now time.Time) (string, error) {
	base := path + ".corrupt-" + strconv.FormatInt(now.Unix(), 10)
	name := base
	for i := 1; ; i++ {
		if _, err := os.Lstat(name); errors.Is(err, fs.ErrNotExist) {
			break
		}
		if i > 100 {
			return "", fmt.Errorf("too many %s* files", base)
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
}

// prune drops the marks that ended at or before now. The caller holds mu.
func (s *FileStore) prune(now time.Time) {
	for k, t := range s.marks {
		if !t.After(now) {
			delete(s.marks, k)
		}
	}
}

// Save drops the marks that ended at or before now and writes the rest
// atomically: a temporary file in the state directory, fsync, rename over
// suppressions.json, fsync of the directory. It creates the directory
// (0700) if missing; the file is 0600. A failed Save leaves the previous
// file as it was.
func (s *FileStore) Save(now time.Time) error {
	s.saveMu.Lock()
	defer s.saveMu.Unlock()

	s.mu.Lock()
	s.prune(now)
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
		return fmt.Errorf("encoding suppression state: %w", err)
	}
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return fmt.Errorf("creating state directory: %w: check state_dir in the config", err)
	}
	if err := writeFileAtomic(filepath.Join(s.dir, stateFile), buf.Bytes()); err != nil {
		return fmt.Errorf("saving suppression state: %w: check that state_dir is writable and has space", err)
	}
	return nil
}

// writeFileAtomic replaces path with data so that a crash leaves either the
// old or the new content, never a mix: write a temporary file beside it,
// fsync it, rename it over path, fsync the directory.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	if err := writeSync(tmp, data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	// The rename is durable only once the directory is on disk.
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// writeSync writes data to f with mode 0600, flushes it to disk and closes
// it.
func writeSync(f *os.File, data []byte) error {
	if err := f.Chmod(0o600); err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	return f.Close()
}
