package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// scripted is a Channel that fails as its script says, one error per
// attempt (nil: delivered), and records every attempt.
type scripted struct {
	mu       sync.Mutex
	script   []error
	always   error // returned once the script is used up, when set
	attempts []Alert
	at       []time.Time
	got      []Alert // delivered
	// block, when set, makes Send wait for it (or ctx) before answering.
	block chan struct{}
}

func (s *scripted) Send(ctx context.Context, a Alert) error {
	if s.block != nil {
		select {
		case <-s.block:
		case <-ctx.Done():
			return Temporary(ctx.Err(), 0)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.attempts = append(s.attempts, a)
	s.at = append(s.at, time.Now())
	var err error
	if len(s.script) > 0 {
		err, s.script = s.script[0], s.script[1:]
	} else {
		err = s.always
	}
	if err == nil {
		s.got = append(s.got, a)
	}
	return err
}

func (s *scripted) delivered() []Alert {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.got)
}

func (s *scripted) tries() ([]Alert, []time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.attempts), slices.Clone(s.at)
}

// lockedBuffer is a log's output that tests read while senders write.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// quietLog returns a logger into buf.
func quietLog(buf *lockedBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(buf, nil))
}

// spooled returns the channels of the entries in the spool dir.
func spooled(t *testing.T, dir string) []string {
	t.Helper()
	entries, _ := ReadSpool(dir)
	var chans []string
	for _, e := range entries {
		chans = append(chans, e.Channel)
	}
	return chans
}

// alertN returns testAlert with subject n.
func alertN(n int) Alert {
	a := testAlert
	a.Subject = fmt.Sprintf("alert %d", n)
	a.Message = fmt.Sprintf("message %d", n)
	return a
}

// TestDispatchQueues: once started, Dispatch returns at once with every
// channel queued, even while one channel hangs; the other channel gets its
// alert meanwhile, and the spool holds the undelivered one until it goes.
func TestDispatchQueues(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		var logs lockedBuffer
		slow := &scripted{block: make(chan struct{})}
		fast := &scripted{}
		d := NewDispatcher(map[string]Channel{"slow": slow, "fast": fast, "warn": &configured{Channel: &scripted{}, min: "critical", digestAfter: 5}}, nil,
			WithSpool(dir), WithLog(quietLog(&logs)))
		if err := d.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		res := d.Dispatch(t.Context(), testAlert, []string{"slow", "fast", "warn", "nope"})
		if !res[0].Queued || !res[1].Queued || res[0].Err != nil || res[1].Err != nil {
			t.Fatalf("results %+v, want slow and fast queued", res)
		}
		if !res[2].Skipped || res[2].Queued {
			t.Errorf("warn: %+v, want skipped (below min_severity)", res[2])
		}
		if !errors.Is(res[3].Err, ErrUnknownChannel) || res[3].Queued {
			t.Errorf("nope: %+v, want unknown", res[3])
		}
		if got := spooled(t, dir); !slices.Equal(got, []string{"fast", "slow"}) && !slices.Equal(got, []string{"slow", "fast"}) {
			t.Errorf("spool holds %q, want fast and slow", got)
		}
		synctest.Wait()
		if n := len(fast.delivered()); n != 0 {
			t.Errorf("fast got %d alerts before the tick ended, want 0", n)
		}
		d.EndTick()
		synctest.Wait()
		if n := len(fast.delivered()); n != 1 {
			t.Fatalf("fast got %d alerts while slow hangs, want 1", n)
		}
		if got := spooled(t, dir); !slices.Equal(got, []string{"slow"}) {
			t.Errorf("spool holds %q, want only slow's alert", got)
		}
		close(slow.block)
		synctest.Wait()
		if n := len(slow.delivered()); n != 1 {
			t.Errorf("slow got %d alerts, want 1", n)
		}
		if got := spooled(t, dir); len(got) != 0 {
			t.Errorf("spool holds %q after delivery, want nothing", got)
		}
		if left := d.Stop(time.Second); left != 0 {
			t.Errorf("Stop left %d", left)
		}
		if st := d.Status("fast"); st.Delivered != 1 || st.LastDelivered.IsZero() {
			t.Errorf("fast status %+v", st)
		}
	})
}

// TestDeliveryRetries: temporary failures are retried with growing waits,
// a server's Retry-After is honoured, and the alert arrives once.
func TestDeliveryRetries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs lockedBuffer
		ch := &scripted{script: []error{
			errors.New("connection refused"),
			Temporary(errors.New("HTTP 500"), 0),
			Temporary(errors.New("HTTP 429"), 90*time.Second),
			nil,
		}}
		d := NewDispatcher(map[string]Channel{"c": ch}, nil, WithLog(quietLog(&logs)))
		if err := d.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		d.Dispatch(t.Context(), testAlert, []string{"c"})
		d.EndTick()
		time.Sleep(time.Hour)
		synctest.Wait()
		tries, at := ch.tries()
		if len(tries) != 4 || len(ch.delivered()) != 1 {
			t.Fatalf("%d attempts, %d delivered; want 4 and 1", len(tries), len(ch.delivered()))
		}
		gaps := []time.Duration{at[1].Sub(at[0]), at[2].Sub(at[1]), at[3].Sub(at[2])}
		if gaps[0] <= 0 || gaps[0] > firstBackoff || gaps[1] <= gaps[0]*3/2-1 || gaps[1] > 2*firstBackoff {
			t.Errorf("backoff gaps %v, want about %v then about twice as long", gaps[:2], firstBackoff)
		}
		if gaps[2] < 90*time.Second {
			t.Errorf("retried %v after a Retry-After of 90s", gaps[2])
		}
		for _, want := range []string{"connection refused", "HTTP 500", "HTTP 429", "channel=c", "retry_in"} {
			if !strings.Contains(logs.String(), want) {
				t.Errorf("log does not say %q:\n%s", want, logs.String())
			}
		}
		if st := d.Status("c"); !strings.Contains(st.LastError, "HTTP 429") || st.Delivered != 1 {
			t.Errorf("status %+v", st)
		}
		d.Stop(0)
	})
}

// TestDeliveryGivesUp: a rejected message is sent again as plain text; a
// permanent failure is not retried but stays spooled; a temporary one is
// dropped, counted and logged when the alert is MaxAlertAge old.
func TestDeliveryGivesUp(t *testing.T) {
	tests := []struct {
		name         string
		ch           *scripted
		wantAttempts int
		wantPlain    []bool
		wantSpooled  int
		wantDropped  int
	}{
		{"rejected then plain", &scripted{script: []error{Rejected(errors.New("HTTP 400 msg_too_long")), nil}}, 2, []bool{false, true}, 0, 0},
		{"rejected twice", &scripted{always: Rejected(errors.New("HTTP 400 invalid_blocks"))}, 2, []bool{false, true}, 0, 1},
		{"permanent", &scripted{always: Permanent(errors.New("HTTP 404 no_service"))}, 1, []bool{false}, 1, 0},
		{"down for longer than the age bound", &scripted{always: Temporary(errors.New("HTTP 503"), 0)}, -1, nil, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				dir := t.TempDir()
				var logs lockedBuffer
				d := NewDispatcher(map[string]Channel{"c": tt.ch}, nil, WithSpool(dir), WithLog(quietLog(&logs)))
				if err := d.Start(t.Context()); err != nil {
					t.Fatal(err)
				}
				start := time.Now()
				d.Dispatch(t.Context(), testAlert, []string{"c"})
				d.EndTick()
				time.Sleep(MaxAlertAge + time.Hour)
				synctest.Wait()
				tries, at := tt.ch.tries()
				if tt.wantAttempts >= 0 && len(tries) != tt.wantAttempts {
					t.Errorf("%d attempts, want %d", len(tries), tt.wantAttempts)
				}
				if tt.wantAttempts < 0 {
					last := at[len(at)-1].Sub(start)
					if last > MaxAlertAge || last < MaxAlertAge-2*maxBackoff {
						t.Errorf("last attempt %v after queueing, want close to %v", last, MaxAlertAge)
					}
				}
				for i, plain := range tt.wantPlain {
					if tries[i].Plain != plain {
						t.Errorf("attempt %d plain %v, want %v", i+1, tries[i].Plain, plain)
					}
				}
				if got := spooled(t, dir); len(got) != tt.wantSpooled {
					t.Errorf("spool holds %d, want %d", len(got), tt.wantSpooled)
				}
				st := d.Status("c")
				if st.Dropped != tt.wantDropped || st.LastError == "" {
					t.Errorf("status %+v, want %d dropped and the last error", st, tt.wantDropped)
				}
				if tt.wantDropped > 0 && !strings.Contains(logs.String(), "alert dropped") {
					t.Errorf("drop not logged:\n%s", logs.String())
				}
				// The status file says the same for `ptrule alerts`.
				fst, err := ReadStatus(dir)
				if err != nil || fst["c"] == nil || fst["c"].Dropped != tt.wantDropped || fst["c"].LastError != st.LastError {
					t.Errorf("status file %+v (%v), want %+v", fst["c"], err, st)
				}
				d.Stop(0)
			})
		})
	}
}

// TestDigest: more than digest_after alerts in one tick go as one digest
// listing every subject, with the first few in full; digest_after or fewer
// go one by one.
func TestDigest(t *testing.T) {
	for _, n := range []int{5, 6, 12} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ch := &scripted{}
				d := NewDispatcher(map[string]Channel{"c": ch}, nil)
				if err := d.Start(t.Context()); err != nil {
					t.Fatal(err)
				}
				for i := range n {
					a := alertN(i)
					if i == 4 {
						a.Severity = "critical"
						a.Subject = "forged\n- [info] line"
					}
					d.Dispatch(t.Context(), a, []string{"c"})
				}
				d.EndTick()
				synctest.Wait()
				got := ch.delivered()
				if n <= DefaultDigestAfter {
					if len(got) != n {
						t.Fatalf("%d messages, want %d", len(got), n)
					}
					return
				}
				if len(got) != 1 {
					t.Fatalf("%d messages, want one digest", len(got))
				}
				dg := got[0]
				if dg.Severity != "critical" || dg.Subject != fmt.Sprintf("%d alerts on web1 from rule pt-user-resources", n) {
					t.Errorf("digest %q severity %s", dg.Subject, dg.Severity)
				}
				lines := strings.Count(dg.Message, "\n- [")
				if lines != n {
					t.Errorf("digest lists %d alerts, want %d:\n%s", lines, n, dg.Message)
				}
				if !strings.Contains(dg.Message, "- [critical] forged - [info] line\n") {
					t.Errorf("a subject's newline forged a line of the list:\n%s", dg.Message)
				}
				for i := range n {
					inFull := strings.Contains(dg.Message, fmt.Sprintf("message %d", i))
					if inFull != (i < digestInFull) {
						t.Errorf("alert %d in full: %v", i, inFull)
					}
				}
				d.Stop(0)
			})
		})
	}
}

// TestDigestAfterOutage: what piled up while a channel was down goes as
// one digest when it comes back, each alert in it once.
func TestDigestAfterOutage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		down := errors.New("down")
		ch := &scripted{script: []error{down, down, down, down, down}}
		var logs lockedBuffer
		d := NewDispatcher(map[string]Channel{"c": ch}, nil, WithLog(quietLog(&logs)))
		if err := d.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		for i := range 10 {
			d.Dispatch(t.Context(), alertN(i), []string{"c"})
			d.EndTick()
			time.Sleep(time.Second)
		}
		time.Sleep(time.Hour)
		synctest.Wait()
		got := ch.delivered()
		var subjects []string
		for _, a := range got {
			subjects = append(subjects, a.Subject)
		}
		// The first alert was being retried; the nine behind it go as one.
		if len(got) != 2 || got[0].Subject != "alert 0" || !strings.HasPrefix(got[1].Subject, "9 alerts") {
			t.Fatalf("delivered %q, want alert 0 then a digest of 9", subjects)
		}
		for i := 1; i < 10; i++ {
			if c := strings.Count(got[1].Message, fmt.Sprintf("] alert %d\n", i)); c != 1 {
				t.Errorf("alert %d listed %d times", i, c)
			}
		}
		d.Stop(0)
	})
}

// TestMaxPerHour: beyond max_per_hour messages in an hour, alerts are held
// and go as one digest when the hour ends.
func TestMaxPerHour(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ch := &scripted{}
		d := NewDispatcher(map[string]Channel{"c": &configured{Channel: ch, min: "info", digestAfter: 5, maxPerHour: 2}}, nil)
		if err := d.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		for i := range 5 {
			d.Dispatch(t.Context(), alertN(i), []string{"c"})
			d.EndTick()
			time.Sleep(time.Minute)
		}
		synctest.Wait()
		if n := len(ch.delivered()); n != 2 {
			t.Fatalf("%d messages in the first minutes, want 2", n)
		}
		time.Sleep(time.Hour)
		synctest.Wait()
		got := ch.delivered()
		_, at := ch.tries()
		if len(got) != 3 || !strings.HasPrefix(got[2].Subject, "3 alerts") || !strings.Contains(got[2].Message, "max_per_hour") {
			t.Fatalf("got %d messages, the last %q; want the 3 held as one digest", len(got), got[len(got)-1].Subject)
		}
		if held := at[2].Sub(start); held < time.Hour {
			t.Errorf("the held digest went %v after the first message, before the hour ended", held)
		}
		d.Stop(0)
	})
}

// TestStopSpoolsTheRest: Stop delivers what it can within the grace;
// what is left stays in the spool and a new Dispatcher on it delivers it,
// once.
func TestStopSpoolsTheRest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		var logs lockedBuffer
		ok, down := &scripted{}, &scripted{always: errors.New("connection refused")}
		d := NewDispatcher(map[string]Channel{"ok": ok, "down": down}, nil, WithSpool(dir), WithLog(quietLog(&logs)))
		if err := d.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		d.Dispatch(t.Context(), testAlert, []string{"ok", "down"})
		// Not EndTick: Stop ends the tick itself.
		if left := d.Stop(10 * time.Second); left != 1 {
			t.Errorf("Stop left %d, want 1", left)
		}
		if len(ok.delivered()) != 1 {
			t.Errorf("ok got %d alerts within the grace, want 1", len(ok.delivered()))
		}
		if got := spooled(t, dir); !slices.Equal(got, []string{"down"}) {
			t.Fatalf("spool holds %q, want down's alert", got)
		}
		// After Stop, Dispatch sends at once again.
		if res := d.Dispatch(t.Context(), testAlert, []string{"ok"}); res[0].Queued || len(ok.delivered()) != 2 {
			t.Errorf("Dispatch after Stop: %+v", res)
		}
		back := &scripted{}
		d2 := NewDispatcher(map[string]Channel{"ok": &scripted{}, "down": back}, nil, WithSpool(dir), WithLog(quietLog(&logs)))
		if err := d2.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if got := back.delivered(); len(got) != 1 || got[0].Subject != testAlert.Subject || !got[0].Time.Equal(testAlert.Time) {
			t.Fatalf("after restart down got %+v, want the spooled alert once", got)
		}
		d2.Stop(time.Second)
		if got := spooled(t, dir); len(got) != 0 {
			t.Errorf("spool holds %q, want nothing", got)
		}
	})
}

// TestSpoolBounds: entries older than MaxAlertAge are dropped at start,
// counted and logged; entries of channels no longer configured stay; a
// damaged file is reported and left alone.
func TestSpoolBounds(t *testing.T) {
	dir := t.TempDir()
	sp, err := OpenSpool(dir)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if _, err := sp.Put("c", alertN(1), now.Add(-MaxAlertAge-time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := sp.Put("c", alertN(2), now.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := sp.Put("gone", alertN(3), now); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "alert-junk.json"), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	ch := &scripted{block: make(chan struct{})}
	d := NewDispatcher(map[string]Channel{"c": ch}, nil, WithSpool(dir), WithLog(quietLog(&logs)))
	if err := d.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	close(ch.block)
	d.Stop(time.Minute)
	if got := ch.delivered(); len(got) != 1 || got[0].Subject != "alert 2" {
		t.Errorf("delivered %+v, want alert 2 only", got)
	}
	if st := d.Status("c"); st.Dropped != 1 || !strings.Contains(st.LastDrop, "longer than 24h") {
		t.Errorf("status %+v, want 1 dropped for its age", st)
	}
	if got := spooled(t, dir); !slices.Equal(got, []string{"gone"}) {
		t.Errorf("spool holds %q, want the unconfigured channel's alert", got)
	}
	for _, want := range []string{"alert dropped", "alert-junk.json", "channel=gone"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log does not say %q:\n%s", want, logs.String())
		}
	}
}

// TestSpoolFull: an alert beyond the spool's bounds is not queued, and
// Dispatch says so, so the daemon does not silence its match.
func TestSpoolFull(t *testing.T) {
	dir := t.TempDir()
	sp, err := OpenSpool(dir)
	if err != nil {
		t.Fatal(err)
	}
	sp.bytes = MaxSpoolBytes - 10 // as if full
	if _, err := sp.Put("c", testAlert, time.Now()); !errors.Is(err, ErrSpoolFull) {
		t.Fatalf("Put on a full spool: %v", err)
	}
	big := testAlert
	big.Message = strings.Repeat("é", maxSpooledMessage)
	sp.bytes = 0
	e, err := sp.Put("c", big, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(e.Alert.Message) > maxSpooledMessage || !strings.HasSuffix(e.Alert.Message, "too long)") || !strings.HasPrefix(e.Alert.Message, "é") {
		t.Errorf("a long message is spooled as %d bytes ending %q", len(e.Alert.Message), e.Alert.Message[len(e.Alert.Message)-20:])
	}
}

// TestSuppressedCount: an alert with Suppressed set says how many matches
// were suppressed meanwhile, in every channel.
func TestSuppressedCount(t *testing.T) {
	ch := &recorder{}
	d := NewDispatcher(map[string]Channel{"c": ch}, nil)
	a := testAlert
	a.Suppressed = 7
	d.Dispatch(t.Context(), a, []string{"c"})
	if got := ch.got[0].Message; !strings.HasSuffix(got, "(7 more matches were suppressed since the previous alert of this rule for the same key.)") {
		t.Errorf("message %q", got)
	}
	d.Dispatch(t.Context(), testAlert, []string{"c"})
	if got := ch.got[1].Message; got != testAlert.Message {
		t.Errorf("message %q, want it unchanged", got)
	}
}

// TestLogNeverDigested: the log channel that always exists writes one
// line per alert however many come in a tick.
func TestLogNeverDigested(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs lockedBuffer
		d := NewDispatcher(map[string]Channel{"log": NewLogChannel(quietLog(&logs))}, nil)
		if err := d.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		for i := range 8 {
			d.Dispatch(t.Context(), alertN(i), nil)
		}
		d.EndTick()
		synctest.Wait()
		if n := strings.Count(logs.String(), "msg=alert "); n != 8 {
			t.Errorf("%d alert lines, want 8:\n%s", n, logs.String())
		}
		d.Stop(0)
	})
}

// TestConfiguredLimits: digest_after and max_per_hour from a channel's
// config reach its sender.
func TestConfiguredLimits(t *testing.T) {
	cfg, ps := parse(t, "channels:\n  ops: {type: fake, host: mx, digest_after: 2, max_per_hour: 1}\n", "ops", noFiles)
	if len(ps) > 0 {
		t.Fatal(ps)
	}
	synctest.Test(t, func(t *testing.T) {
		ch := cfg.Channel(Env{})
		rec := ch.(*configured).Channel.(*fakeChannel).recorder
		d := NewDispatcher(map[string]Channel{"ops": ch}, nil)
		if err := d.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			d.Dispatch(t.Context(), alertN(i), []string{"ops"})
		}
		d.EndTick()
		synctest.Wait()
		d.Dispatch(t.Context(), alertN(3), []string{"ops"})
		d.EndTick()
		synctest.Wait()
		got := func() []Alert { rec.mu.Lock(); defer rec.mu.Unlock(); return slices.Clone(rec.got) }
		if n := rec.count(); n != 1 || !strings.HasPrefix(got()[0].Subject, "3 alerts") {
			t.Fatalf("%d messages, want one digest of 3 (digest_after 2), the fourth held by max_per_hour 1", n)
		}
		time.Sleep(time.Hour)
		synctest.Wait()
		if n := rec.count(); n != 2 || got()[1].Subject != "alert 3" {
			t.Errorf("%d messages after the hour, want the held alert", n)
		}
		d.Stop(0)
	})
}
