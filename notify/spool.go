package notify

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/renameio/v2"
)

// The spool keeps every alert that is queued for a channel and not yet
// delivered, one file per alert and channel, so that a restart or a crash
// loses none. Its bounds:
const (
	// MaxSpooled is how many alerts the spool holds, all channels
	// together; an alert beyond it is refused (Dispatch reports it, the
	// match is not silenced, and the next tick tries again).
	MaxSpooled = 10000
	// MaxSpoolBytes is how many bytes the spool's files take at most;
	// beyond it alerts are refused as beyond MaxSpooled.
	MaxSpoolBytes = 64 << 20
	// MaxAlertAge is how long an alert is kept and retried: one still
	// undelivered this long after it was queued is dropped (counted in
	// the channel's status and logged), at delivery or when the spool is
	// loaded.
	MaxAlertAge = 24 * time.Hour
	// maxSpooledMessage bounds one alert's message in the spool; a longer
	// one is cut, at a character boundary, with a note.
	maxSpooledMessage = 32 << 10
)

// ErrNotQueued marks an alert that a started Dispatcher could not queue
// for a channel (the spool is full or cannot be written): it will not be
// delivered, so the match it reports must not be suppressed.
var ErrNotQueued = errors.New("alert not queued")

// ErrSpoolFull marks an alert that could not be queued because the spool
// is at its bounds.
var ErrSpoolFull = errors.New("the alert spool is full")

// spoolVersion is the version of a spooled alert's file.
const spoolVersion = 1

// SpoolEntry is one queued, undelivered alert.
type SpoolEntry struct {
	Version int `json:"version"`
	// ID names the entry's file in the spool directory.
	ID      string `json:"-"`
	Channel string `json:"channel"`
	// Queued is when Dispatch queued the alert.
	Queued time.Time `json:"queued"`
	Alert  Alert     `json:"alert"`
	// size is the file's size in bytes.
	size int64
}

// Spool is a directory of SpoolEntry files, each written atomically.
// It is safe for concurrent use.
type Spool struct {
	dir   string
	mu    sync.Mutex
	sizes map[string]int64 // by ID
	bytes int64
}

// SpoolDir is the spool directory under a state_dir.
func SpoolDir(stateDir string) string { return filepath.Join(stateDir, "spool") }

// OpenSpool opens (creating it, mode 0700) the spool directory dir.
func OpenSpool(dir string) (*Spool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating the alert spool: %w", err)
	}
	return &Spool{dir: dir, sizes: map[string]int64{}}, nil
}

// entryFile is the file name of an entry.
func entryFile(id string) string { return "alert-" + id + ".json" }

// Put writes a new entry for an alert queued for channel at queued. It
// returns ErrSpoolFull when the spool is at its bounds.
func (s *Spool) Put(channel string, a Alert, queued time.Time) (*SpoolEntry, error) {
	a.Message = cutMessage(a.Message, maxSpooledMessage)
	e := &SpoolEntry{Version: spoolVersion, Channel: channel, Queued: queued, Alert: a}
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	e.ID = fmt.Sprintf("%016x-%s", queued.UnixNano(), hex.EncodeToString(rnd[:]))
	data, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("encoding the alert for the spool: %w", err)
	}
	e.size = int64(len(data))
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.sizes) >= MaxSpooled || s.bytes+e.size > MaxSpoolBytes {
		return nil, fmt.Errorf("%w (%d alerts, %d bytes; bounds %d alerts, %d bytes): the channels are not delivering, see ptrule alerts", ErrSpoolFull, len(s.sizes), s.bytes, MaxSpooled, MaxSpoolBytes)
	}
	if err := renameio.WriteFile(filepath.Join(s.dir, entryFile(e.ID)), data, 0o600); err != nil {
		return nil, fmt.Errorf("writing the alert to the spool: %w", err)
	}
	s.sizes[e.ID] = e.size
	s.bytes += e.size
	return e, nil
}

// Remove deletes a delivered or dropped entry.
func (s *Spool) Remove(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := os.Remove(filepath.Join(s.dir, entryFile(id)))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing a delivered alert from the spool: %w", err)
	}
	s.bytes -= s.sizes[id]
	delete(s.sizes, id)
	return nil
}

// Load reads every entry of the spool, oldest first, and counts them
// against the bounds. A file that cannot be read or decoded is reported
// in bad (and left alone), not fatal.
func (s *Spool) Load() (entries []*SpoolEntry, bad []error) {
	entries, bad = ReadSpool(s.dir)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range entries {
		if _, ok := s.sizes[e.ID]; !ok {
			s.sizes[e.ID] = e.size
			s.bytes += e.size
		}
	}
	return entries, bad
}

// ReadSpool reads the entries of the spool directory dir, oldest first,
// without opening it for writing: what `ptrule alerts` lists. A missing
// directory has no entries.
func ReadSpool(dir string) (entries []*SpoolEntry, bad []error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, []error{fmt.Errorf("reading the alert spool: %w", err)}
	}
	for _, de := range des {
		name := de.Name()
		id, ok := strings.CutPrefix(name, "alert-")
		if !ok || !de.Type().IsRegular() {
			continue
		}
		id, ok = strings.CutSuffix(id, ".json")
		if !ok {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			bad = append(bad, fmt.Errorf("reading spooled alert %s: %w", name, err))
			continue
		}
		var e SpoolEntry
		if err := json.Unmarshal(data, &e); err != nil || e.Version != spoolVersion || e.Channel == "" {
			bad = append(bad, fmt.Errorf("spooled alert %s is not a version %d alert of a channel: remove it", filepath.Join(dir, name), spoolVersion))
			continue
		}
		e.ID, e.size = id, int64(len(data))
		entries = append(entries, &e)
	}
	slices.SortStableFunc(entries, func(a, b *SpoolEntry) int {
		if c := a.Queued.Compare(b.Queued); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return entries, bad
}

// cutMessage shortens s to at most max bytes, at a character boundary,
// saying so.
func cutMessage(s string, max int) string {
	if len(s) <= max {
		return s
	}
	const note = "\n(cut: the message was too long)"
	cut := max - len(note)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + note
}

// ChannelStatus is what the delivery of one channel last did, kept in
// the spool's status file for `ptrule alerts`.
type ChannelStatus struct {
	// LastError is the last failure's reason, LastErrorAt its time.
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
	// LastDelivered is when a message last got through.
	LastDelivered time.Time `json:"last_delivered,omitzero"`
	// Delivered and Dropped count alerts since the status file was made;
	// a digest counts each alert in it.
	Delivered int `json:"delivered"`
	Dropped   int `json:"dropped"`
	// LastDrop says why the last dropped alert was dropped.
	LastDrop string `json:"last_drop,omitempty"`
}

// statusFile is the status file's name in the spool directory.
const statusFile = "status.json"

// ReadStatus reads the channels' status from the spool directory dir; a
// missing file is an empty status.
func ReadStatus(dir string) (map[string]*ChannelStatus, error) {
	st := map[string]*ChannelStatus{}
	data, err := os.ReadFile(filepath.Join(dir, statusFile))
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the delivery status: %w", err)
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("delivery status %s is damaged (%v): remove it, the daemon writes a new one", filepath.Join(dir, statusFile), err)
	}
	return st, nil
}

// statusBook keeps the channels' status and writes it to the spool
// directory (when there is one) at each change.
type statusBook struct {
	mu  sync.Mutex
	dir string
	st  map[string]*ChannelStatus
}

func newStatusBook(dir string) *statusBook {
	b := &statusBook{dir: dir, st: map[string]*ChannelStatus{}}
	if dir != "" {
		if st, err := ReadStatus(dir); err == nil {
			b.st = st
		}
	}
	return b
}

// update changes the status of channel with f and saves it.
func (b *statusBook) update(channel string, f func(*ChannelStatus)) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	cs := b.st[channel]
	if cs == nil {
		cs = &ChannelStatus{}
		b.st[channel] = cs
	}
	f(cs)
	if b.dir == "" {
		return nil
	}
	data, err := json.MarshalIndent(b.st, "", "  ")
	if err != nil {
		return err
	}
	if err := renameio.WriteFile(filepath.Join(b.dir, statusFile), append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("saving the delivery status: %w", err)
	}
	return nil
}

// get returns a copy of channel's status.
func (b *statusBook) get(channel string) ChannelStatus {
	b.mu.Lock()
	defer b.mu.Unlock()
	if cs := b.st[channel]; cs != nil {
		return *cs
	}
	return ChannelStatus{}
}
