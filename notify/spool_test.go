package notify

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// spoolHelperEnv names the spool directory of TestSpoolKillHelper.
const spoolHelperEnv = "PTRULE_SPOOL_HELPER_DIR"

// TestSpoolKillHelper is not a test: TestSpoolSurvivesKill runs it in a
// process of its own, which queues an alert for a channel that never
// answers, says so, and waits to be killed.
func TestSpoolKillHelper(t *testing.T) {
	dir := os.Getenv(spoolHelperEnv)
	if dir == "" {
		t.Skip("run by TestSpoolSurvivesKill")
	}
	hang := channelFunc(func(ctx context.Context, a Alert) error { <-ctx.Done(); return ctx.Err() })
	d := NewDispatcher(map[string]Channel{"mail": hang}, nil, WithSpool(dir))
	if err := d.Start(context.Background()); err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	res := d.Dispatch(context.Background(), testAlert, []string{"mail"})
	d.EndTick()
	fmt.Printf("queued=%v\n", res[0].Queued)
	select {}
}

// TestSpoolSurvivesKill: an alert queued by a process killed with
// SIGKILL before delivery is delivered, once, by the next start.
func TestSpoolSurvivesKill(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestSpoolKillHelper$")
	cmd.Env = append(os.Environ(), spoolHelperEnv+"="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "queued=true" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("helper said %q (%v), want queued=true", line, err)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if got := spooled(t, dir); len(got) != 1 || got[0] != "mail" {
		t.Fatalf("after the kill the spool holds %q, want the alert for mail", got)
	}
	rec := &recorder{}
	d := NewDispatcher(map[string]Channel{"mail": rec}, nil, WithSpool(dir))
	if err := d.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if left := d.Stop(time.Minute); left != 0 {
		t.Fatalf("%d alerts left", left)
	}
	if len(rec.got) != 1 || rec.got[0].Subject != testAlert.Subject || rec.got[0].Message != testAlert.Message {
		t.Fatalf("delivered %+v, want the queued alert once", rec.got)
	}
	if got := spooled(t, dir); len(got) != 0 {
		t.Errorf("spool holds %q after delivery", got)
	}
}

// TestEmailDownThenUp: an alert for an SMTP server that is down is
// retried, and delivered exactly once when the server comes up; a restart
// on the same spool sends nothing again.
func TestEmailDownThenUp(t *testing.T) {
	dir := t.TempDir()
	port := emailDownPort(t)
	ch, err := NewEmail(EmailConfig{Host: "127.0.0.1", Port: port, TLS: "none", From: "ptrule@example.com", To: []string{"ops@example.com"}}, os.ReadFile)
	if err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	d := NewDispatcher(map[string]Channel{"mail": ch}, nil, WithSpool(dir), WithLog(quietLog(&logs)))
	if err := d.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if res := d.Dispatch(t.Context(), emailAlert, []string{"mail"}); !res[0].Queued {
		t.Fatalf("%+v", res)
	}
	d.EndTick()
	waitFor(t, "a failed attempt", func() bool { return d.Status("mail").LastError != "" })
	if st := d.Status("mail"); !strings.Contains(st.LastError, "connection refused") {
		t.Errorf("last error %q, want connection refused", st.LastError)
	}
	// The status is recorded before the log line is written: wait for it.
	waitFor(t, "the failure logged with its channel and reason", func() bool {
		return strings.Contains(logs.String(), "channel=mail") && strings.Contains(logs.String(), "connection refused")
	})
	srv := newEmailServer(t, emailServerOpts{port: port}, nil)
	waitFor(t, "the delivery", func() bool { return d.Status("mail").Delivered > 0 })
	d.Stop(time.Minute)
	d2 := NewDispatcher(map[string]Channel{"mail": ch}, nil, WithSpool(dir))
	if err := d2.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	d2.Stop(time.Minute)
	got := srv.received()
	if len(got) != 1 {
		t.Fatalf("server received %d messages, want 1", len(got))
	}
	if subject, _ := emailCheckMessage(t, got[0].data); !strings.Contains(subject, emailAlert.Subject) {
		t.Errorf("subject %q", subject)
	}
	if left := spooled(t, dir); len(left) != 0 {
		t.Errorf("spool holds %q", left)
	}
}

// waitFor waits, without a time limit of its own (the test's -timeout is
// the limit), until cond holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-t.Context().Done():
			t.Fatalf("gave up waiting for %s", what)
		case <-time.After(10 * time.Millisecond):
		}
	}
}
