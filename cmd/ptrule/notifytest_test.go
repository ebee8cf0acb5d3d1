package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"ptrule/builtin"
	"ptrule/engine"
	"ptrule/notify"
)

// smtpSink is an in-process SMTP server on loopback that keeps what it
// receives.
type smtpSink struct {
	mu   sync.Mutex
	msgs []string
	port int
}

type smtpSinkSession struct{ s *smtpSink }

func (x smtpSinkSession) Mail(string, *smtp.MailOptions) error { return nil }
func (x smtpSinkSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (x smtpSinkSession) Reset()                               {}
func (x smtpSinkSession) Logout() error                        { return nil }
func (x smtpSinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	x.s.mu.Lock()
	defer x.s.mu.Unlock()
	x.s.msgs = append(x.s.msgs, string(b))
	return err
}

func newSMTPSink(t *testing.T) *smtpSink {
	t.Helper()
	s := &smtpSink{}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return smtpSinkSession{s}, nil }))
	srv.Domain = "localhost"
	srv.ErrorLog = log.New(io.Discard, "", 0)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.port = l.Addr().(*net.TCPAddr).Port
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(l) }()
	t.Cleanup(func() { srv.Close(); <-done })
	return s
}

func (s *smtpSink) received() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.msgs...)
}

// TestNotifyTest: notify-test sends a marked test alert through an SMTP
// server and a Slack webhook, both started by the test, prints ok for
// each, and the exact error of a channel that fails, with exit 1.
func TestNotifyTest(t *testing.T) {
	mail := newSMTPSink(t)
	var slackMu sync.Mutex
	var slackBodies []string
	slack := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		slackMu.Lock()
		slackBodies = append(slackBodies, string(b))
		slackMu.Unlock()
		io.WriteString(w, "ok")
	}))
	defer slack.Close()
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, "no_service")
	}))
	defer broken.Close()
	dir := t.TempDir()
	config := writeFile(t, dir, "ptrule.yaml", fmt.Sprintf(`state_dir: %s
channels:
  ops-mail: {type: email, host: 127.0.0.1, port: %d, tls: none, from: ptrule@example.com, to: [ops@example.com]}
  ops-slack: {type: slack, webhook_url: %s/hook, min_severity: critical}
  old-slack: {type: slack, webhook_url: %s/gone}
`, filepath.Join(dir, "state"), mail.port, slack.URL, broken.URL))
	if err := mkdirState(filepath.Join(dir, "state")); err != nil {
		t.Fatal(err)
	}

	var stdout, stderr bytes.Buffer
	code := Main([]string{"notify-test", "--config", config, "--channel", "ops-mail", "--channel", "ops-slack"}, &stdout, &stderr)
	if code != exitOK || stdout.String() != "ops-mail ok\nops-slack ok\n" {
		t.Fatalf("exit %d, stdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	msgs := mail.received()
	if len(msgs) != 1 || !strings.Contains(msgs[0], "[ptrule test] notification test from") {
		t.Errorf("the SMTP server received %q, want one marked test alert", msgs)
	}
	slackMu.Lock()
	if len(slackBodies) != 1 || !strings.Contains(slackBodies[0], "[ptrule test]") {
		t.Errorf("the Slack webhook received %q, want one marked test alert (whatever its min_severity)", slackBodies)
	}
	slackMu.Unlock()

	// Every channel by default, log included; one fails with its error.
	stdout.Reset()
	stderr.Reset()
	code = Main([]string{"notify-test", "--config", config}, &stdout, &stderr)
	want := "log ok\nold-slack error: "
	if code != exitFailure || !strings.HasPrefix(stdout.String(), want) || !strings.Contains(stdout.String(), "404") ||
		!strings.Contains(stdout.String(), "\nops-mail ok\nops-slack ok\n") {
		t.Errorf("exit %d, stdout:\n%s\nwant it to start %q and say 404", code, stdout.String(), want)
	}
	if !strings.Contains(stderr.String(), "[ptrule test]") {
		t.Errorf("the log channel did not log the test alert:\n%s", stderr.String())
	}

	// A channel that does not exist is an error too.
	stdout.Reset()
	code = Main([]string{"notify-test", "--config", config, "--channel", "nope"}, &stdout, &stderr)
	if code != exitFailure || !strings.HasPrefix(stdout.String(), "nope error: unknown channel") {
		t.Errorf("exit %d, stdout %q", code, stdout.String())
	}
}

// mkdirState makes a state_dir as ptrule wants it: root's, 0700.
func mkdirState(dir string) error { return os.MkdirAll(dir, 0o700) }

// failing is a channel whose every send fails with err.
type failing struct{ err error }

func (f failing) Send(context.Context, notify.Alert) error { return f.err }

// TestAlertsCommand: ptrule alerts lists what the delivery left in the
// spool, hostile subjects on one line, and each channel's last failure.
func TestAlertsCommand(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	if err := mkdirState(state); err != nil {
		t.Fatal(err)
	}
	config := writeFile(t, dir, "ptrule.yaml", "state_dir: "+state+"\nchannels:\n  ops-mail: {type: log}\n")
	var stdout, stderr bytes.Buffer
	if code := Main([]string{"alerts", "--config", config}, &stdout, &stderr); code != exitOK || stdout.String() != "No alerts waiting for delivery.\n" {
		t.Fatalf("empty spool: exit %d, %q %q", code, stdout.String(), stderr.String())
	}
	var logs bytes.Buffer
	d := notify.NewDispatcher(map[string]notify.Channel{"ops-mail": failing{notify.Permanent(errors.New("535 authentication failed"))}}, nil,
		notify.WithSpool(notify.SpoolDir(state)), notify.WithLog(slog.New(slog.NewTextHandler(&logs, nil))))
	if err := d.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	d.Dispatch(t.Context(), notify.Alert{Rule: "r1", Severity: "warning", Subject: "bob runs\n\x1b[31mminer --password=x", Time: time.Now()}, []string{"ops-mail"})
	d.Stop(time.Minute)

	stdout.Reset()
	if code := Main([]string{"alerts", "--config", config}, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{
		"1 alerts waiting for delivery",
		`ops-mail  warning   r1    bob runs\n\x1b[31mminer --password=[redacted]`,
		"ops-mail: delivered 0, dropped 0\n    last failure ",
		"Z: 535 authentication failed\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output does not hold %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\x1b") {
		t.Errorf("a terminal escape of the subject reached the output:\n%q", out)
	}
}

// TestConfigRedact: redact patterns are checked at their place in the
// config, and the Dispatcher the config builds masks them with the
// defaults.
func TestConfigRedact(t *testing.T) {
	dir := t.TempDir()
	bad := writeFile(t, dir, "bad.yaml", "redact:\n  - 'ok=\\S+'\n  - '(?<=x)y'\n")
	_, err := loadConfig(bad, builtin.FileTrust{})
	if got := strings.ReplaceAll(engine.FormatError(err), bad, "C"); !strings.HasPrefix(got, "C:3:5: redact pattern \"(?<=x)y\" is not RE2") {
		t.Errorf("bad pattern: %s", got)
	}
	good := writeFile(t, dir, "good.yaml", "state_dir: "+dir+"\nredact: ['(?i)api[_-]?key=\\S+']\n")
	cfg, err := loadConfig(good, builtin.FileTrust{})
	if err != nil {
		t.Fatal(engine.FormatError(err))
	}
	var logs bytes.Buffer
	l := slog.New(slog.NewTextHandler(&logs, nil))
	d := notify.NewDispatcher(cfg.notifyChannels(l), nil, cfg.notifyOptions(l)...)
	d.Dispatch(t.Context(), notify.Alert{Rule: "r", Severity: "info", Subject: "x", Message: "run --api-key=AAA API_KEY=BBB --password CCC"}, nil)
	for _, secret := range []string{"AAA", "BBB", "CCC"} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("log holds %s: %s", secret, logs.String())
		}
	}
}
