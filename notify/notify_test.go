package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder is a Channel that remembers what it was sent.
type recorder struct {
	mu    sync.Mutex
	got   []Alert
	err   error
	panic bool
}

func (r *recorder) Send(ctx context.Context, a Alert) error {
	if r.panic {
		panic("boom")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, a)
	return r.err
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

var testAlert = Alert{
	Rule: "pt-user-resources", Severity: "warning", Subject: "Excessive resource usage: bob (4242)",
	Message: "line one\nline two", Host: "web1", Key: "4242@2026-01-01T00:00:00Z",
	Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), PID: 4242, User: "bob",
}

func TestDispatch(t *testing.T) {
	failure := errors.New("smtp: 421 try later")
	tests := []struct {
		name     string
		defaults []string
		ask      []string
		// want maps each channel of the Results, in order, to the error
		// text it must contain ("" = delivered).
		want []string
		errs []string
		// sent counts what each recorder received.
		sent map[string]int
	}{
		{name: "defaults", defaults: []string{"mail", "log"}, want: []string{"mail", "log"}, errs: []string{"", ""}, sent: map[string]int{"mail": 1, "log": 1, "slack": 0}},
		{name: "no defaults means log", want: []string{"log"}, errs: []string{""}, sent: map[string]int{"log": 1, "mail": 0}},
		{name: "named", defaults: []string{"mail"}, ask: []string{"slack"}, want: []string{"slack"}, errs: []string{""}, sent: map[string]int{"slack": 1, "mail": 0}},
		{name: "named twice", ask: []string{"slack", "slack", ""}, want: []string{"slack"}, errs: []string{""}, sent: map[string]int{"slack": 1}},
		{name: "unknown", ask: []string{"pager", "slack"}, want: []string{"pager", "slack"}, errs: []string{`unknown channel "pager"`, ""}, sent: map[string]int{"slack": 1}},
		{name: "failing", ask: []string{"broken", "mail"}, want: []string{"broken", "mail"}, errs: []string{"421 try later", ""}, sent: map[string]int{"broken": 1, "mail": 1}},
		{name: "panicking", ask: []string{"panics", "mail"}, want: []string{"panics", "mail"}, errs: []string{"panicked: boom", ""}, sent: map[string]int{"mail": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			chans := map[string]*recorder{
				"log": {}, "mail": {}, "slack": {}, "broken": {err: failure}, "panics": {panic: true},
			}
			m := map[string]Channel{}
			for n, r := range chans {
				m[n] = r
			}
			d := NewDispatcher(m, tt.defaults)
			res := d.Dispatch(context.Background(), testAlert, tt.ask)
			var names []string
			for i, r := range res {
				names = append(names, r.Channel)
				if i >= len(tt.errs) {
					continue
				}
				if tt.errs[i] == "" && r.Err != nil {
					t.Errorf("%s: %v, want delivered", r.Channel, r.Err)
				}
				if tt.errs[i] != "" && (r.Err == nil || !strings.Contains(r.Err.Error(), tt.errs[i])) {
					t.Errorf("%s: err %v, want one saying %q", r.Channel, r.Err, tt.errs[i])
				}
			}
			if !slices.Equal(names, tt.want) {
				t.Errorf("results for %q, want %q", names, tt.want)
			}
			for n, want := range tt.sent {
				if got := chans[n].count(); got != want {
					t.Errorf("%s received %d alerts, want %d", n, got, want)
				}
			}
		})
	}
}

func TestDispatchErrors(t *testing.T) {
	failure := errors.New("refused")
	d := NewDispatcher(map[string]Channel{"bad": &recorder{err: failure}, "nil": nil}, nil)
	res := d.Dispatch(context.Background(), testAlert, []string{"bad", "nil", "nope"})
	if !errors.Is(res[0].Err, failure) {
		t.Errorf("channel error %v does not wrap the cause", res[0].Err)
	}
	for _, r := range res[1:] {
		if !errors.Is(r.Err, ErrUnknownChannel) {
			t.Errorf("%s: %v, want ErrUnknownChannel", r.Channel, r.Err)
		}
	}
}

func TestDispatcherAddsLog(t *testing.T) {
	d := NewDispatcher(nil, nil)
	if !slices.Equal(d.Names(), []string{"log"}) || !slices.Equal(d.Defaults(), []string{"log"}) {
		t.Errorf("names %q, defaults %q; want the log channel alone", d.Names(), d.Defaults())
	}
	own := &recorder{}
	d = NewDispatcher(map[string]Channel{"log": own, "mail": &recorder{}}, []string{"mail"})
	d.Dispatch(context.Background(), testAlert, []string{"log"})
	if own.count() != 1 {
		t.Error("a configured log channel was replaced")
	}
	if !slices.Equal(d.Names(), []string{"log", "mail"}) {
		t.Errorf("names %q", d.Names())
	}
}

func TestDispatchSendsConcurrently(t *testing.T) {
	release := make(chan struct{})
	slow := channelFunc(func(ctx context.Context, a Alert) error {
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	fast := &recorder{}
	d := NewDispatcher(map[string]Channel{"slow": slow, "fast": channelFunc(func(ctx context.Context, a Alert) error {
		defer close(release) // the slow channel finishes only after this one ran
		return fast.Send(ctx, a)
	})}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, r := range d.Dispatch(ctx, testAlert, []string{"slow", "fast"}) {
		if r.Err != nil {
			t.Errorf("%s: %v", r.Channel, r.Err)
		}
	}
}

// channelFunc adapts a function to Channel.
type channelFunc func(ctx context.Context, a Alert) error

func (f channelFunc) Send(ctx context.Context, a Alert) error { return f(ctx, a) }

func TestLogChannel(t *testing.T) {
	tests := []struct {
		name  string
		alert Alert
		want  map[string]any
		level string
		none  []string
	}{
		{
			name:  "process",
			alert: testAlert,
			level: "WARN",
			want: map[string]any{
				"msg": "alert", "rule": "pt-user-resources", "severity": "warning", "key": "4242@2026-01-01T00:00:00Z",
				"pid": 4242.0, "user": "bob", "subject": "Excessive resource usage: bob (4242)", "message": "line one\nline two",
			},
			none: []string{"sid", "labels"},
		},
		{
			name:  "session with labels",
			alert: Alert{Rule: "pt-forkbomb", Severity: "critical", Key: "77@x", SID: 77, Subject: "fork bomb", Labels: map[string]string{"team": "ops"}},
			level: "ERROR",
			want:  map[string]any{"sid": 77.0, "labels": map[string]any{"team": "ops"}},
			none:  []string{"pid", "user"},
		},
		{
			name:  "host",
			alert: Alert{Rule: "pt-load", Severity: "info"},
			level: "INFO",
			want:  map[string]any{"key": "", "rule": "pt-load"},
			none:  []string{"pid", "user", "sid"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			c := NewLogChannel(slog.New(slog.NewJSONHandler(&buf, nil)))
			if err := c.Send(context.Background(), tt.alert); err != nil {
				t.Fatal(err)
			}
			if n := strings.Count(buf.String(), "\n"); n != 1 {
				t.Fatalf("%d lines, want one: %q", n, buf.String())
			}
			var got map[string]any
			if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			if got["level"] != tt.level {
				t.Errorf("level %v, want %s", got["level"], tt.level)
			}
			for k, v := range tt.want {
				if g, ok := got[k]; !ok || !jsonEqual(g, v) {
					t.Errorf("%s = %v, want %v (line %s)", k, g, v, buf.String())
				}
			}
			for _, k := range tt.none {
				if _, ok := got[k]; ok {
					t.Errorf("%s present, want it left out when unset", k)
				}
			}
		})
	}
}

// TestLogChannelText checks the text form the journal shows: one line, the
// multi-line message quoted.
func TestLogChannelText(t *testing.T) {
	var buf bytes.Buffer
	d := NewDispatcher(map[string]Channel{"log": NewLogChannel(slog.New(slog.NewTextHandler(&buf, nil)))}, nil)
	res := d.Dispatch(context.Background(), testAlert, nil)
	if len(res) != 1 || res[0].Err != nil {
		t.Fatalf("results %+v", res)
	}
	line := buf.String()
	for _, want := range []string{"msg=alert", "rule=pt-user-resources", "pid=4242", "user=bob", `message="line one\nline two"`} {
		if !strings.Contains(line, want) {
			t.Errorf("log line %q lacks %q", line, want)
		}
	}
	if strings.Count(line, "\n") != 1 {
		t.Errorf("log line spans several lines: %q", line)
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}
