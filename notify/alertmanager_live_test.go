package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"ptrule/builtin/collect"
	"ptrule/engine"
)

// alertmanagerBinary is Debian's name for Alertmanager (package
// prometheus-alertmanager), which `make test` installs.
const alertmanagerBinary = "prometheus-alertmanager"

// startAlertmanager runs a real Alertmanager on a free loopback port, with
// clustering off, a route to a receiver that sends nothing, and its data
// in a temporary directory, and returns its base URL. It is killed and
// reaped when the test ends.
func startAlertmanager(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath(alertmanagerBinary)
	if err != nil {
		t.Skipf("%s is not installed (run make test as root, which installs Debian's prometheus-alertmanager, or apt-get install prometheus-alertmanager): %v", alertmanagerBinary, err)
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "alertmanager.yml")
	const config = "route:\n  receiver: blackhole\n  group_wait: 1h\nreceivers:\n  - name: blackhole\n"
	if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(bin,
		"--config.file="+cfg,
		"--storage.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--cluster.listen-address=",
		"--log.level=warn",
	)
	logFile, err := os.Create(filepath.Join(dir, "alertmanager.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		logFile.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logFile.Name())
			t.Logf("alertmanager's log:\n%s", b)
		}
	})
	base := "http://" + addr
	// Wait for /-/ready: a generous bound for a loaded machine, which only
	// a broken Alertmanager reaches.
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case err := <-exited:
			b, _ := os.ReadFile(logFile.Name())
			t.Fatalf("alertmanager exited before it was ready (%v):\n%s", err, b)
		default:
		}
		resp, err := http.Get(base + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("alertmanager at %s was not ready within 60s: %v", base, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// gettableAlert is what Alertmanager's GET /api/v2/alerts lists.
type gettableAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	StartsAt    time.Time         `json:"startsAt"`
	EndsAt      time.Time         `json:"endsAt"`
	Receivers   []struct {
		Name string `json:"name"`
	} `json:"receivers"`
	Status struct {
		State string `json:"state"`
	} `json:"status"`
}

// activeAlerts returns the alerts of alertname that Alertmanager lists:
// those that are not resolved.
func activeAlerts(t *testing.T, base, alertname string) []gettableAlert {
	t.Helper()
	q := url.Values{"filter": {fmt.Sprintf("alertname=%q", alertname)}}
	resp, err := http.Get(base + "/api/v2/alerts?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/v2/alerts: %s: %s", resp.Status, body)
	}
	var alerts []gettableAlert
	if err := json.Unmarshal(body, &alerts); err != nil {
		t.Fatalf("GET /api/v2/alerts: %v: %s", err, body)
	}
	return alerts
}

// TestAlertmanagerLive follows a real process through a real
// Alertmanager: while the process exists (as the /proc collector sees it)
// its alert is firing there with ptrule's labels; once it is gone, the
// next evaluation resolves it and Alertmanager no longer lists it.
func TestAlertmanagerLive(t *testing.T) {
	base := startAlertmanager(t)
	ch := amChannel(t, "channels:\n  am: {type: alertmanager, urls: ['"+base+"'], timeout: 30s}\n")
	d := NewDispatcher(map[string]Channel{"fleet": ch}, []string{"fleet"})
	col, err := collect.NewCollector("/proc")
	if err != nil {
		t.Fatal(err)
	}

	sleeper := exec.Command("sleep", "600")
	sleeper.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Pdeathsig: syscall.SIGKILL}
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	pid := sleeper.Process.Pid
	reaped := false
	t.Cleanup(func() {
		if !reaped {
			sleeper.Process.Kill()
			sleeper.Wait()
		}
	})

	const rule = "ptrule-live-test"
	// evaluate is one evaluation of a rule matching the sleeper: it holds
	// while the collector finds the process.
	evaluate := func() (now time.Time, holding []HoldingAlert) {
		snap, err := col.Collect(collect.CollectOptions{PIDs: []int{pid}})
		if err != nil {
			t.Fatal(err)
		}
		if p := engine.NewView(snap, nil).Proc(pid); p != nil {
			holding = append(holding, HoldingAlert{Alert: Alert{
				Rule: rule, Severity: "critical", Host: snap.Host.Name, PID: p.PID, User: p.User,
				Key: fmt.Sprintf("%d@%d", p.PID, p.StartTicks), Time: snap.Time,
				Subject: "sleep is running", Message: "sleep 600\nas " + p.User,
			}})
		}
		return time.Now(), holding
	}
	observe := func(now time.Time, holding []HoldingAlert) {
		t.Helper()
		for _, r := range d.ObserveRule(context.Background(), rule, time.Minute, holding, now) {
			if r.Err != nil {
				t.Fatalf("%s: %v", r.Channel, r.Err)
			}
		}
	}

	now1, holding := evaluate()
	if len(holding) != 1 {
		t.Fatalf("the collector does not see the sleeper (pid %d)", pid)
	}
	want := holding[0].Alert
	observe(now1, holding)
	got := activeAlerts(t, base, rule)
	if len(got) != 1 {
		t.Fatalf("Alertmanager lists %d alerts of %s, want 1: %+v", len(got), rule, got)
	}
	wantLabels := map[string]string{"alertname": rule, "severity": "critical", "instance": want.Host, "pid": strconv.Itoa(pid), "user": want.User}
	for k, v := range wantLabels {
		if got[0].Labels[k] != v {
			t.Errorf("label %s=%q, want %q (labels %q)", k, got[0].Labels[k], v, got[0].Labels)
		}
	}
	if len(got[0].Labels) != len(wantLabels) {
		t.Errorf("labels %q, want %q", got[0].Labels, wantLabels)
	}
	if got[0].Annotations["summary"] != want.Subject || got[0].Annotations["description"] != want.Message {
		t.Errorf("annotations %q", got[0].Annotations)
	}
	if !got[0].StartsAt.Equal(amTime(now1)) || !got[0].EndsAt.Equal(amTime(now1.Add(3*time.Minute))) {
		t.Errorf("startsAt %s endsAt %s, want %s and 3m later", got[0].StartsAt, got[0].EndsAt, amTime(now1))
	}
	if len(got[0].Receivers) != 1 || got[0].Receivers[0].Name != "blackhole" {
		t.Errorf("receivers %+v, want the test's blackhole route", got[0].Receivers)
	}

	// A second evaluation while it holds: still firing, same start, later end.
	now2, holding := evaluate()
	observe(now2, holding)
	got = activeAlerts(t, base, rule)
	if len(got) != 1 || !got[0].StartsAt.Equal(amTime(now1)) || !got[0].EndsAt.Equal(amTime(now2.Add(3*time.Minute))) {
		t.Fatalf("after the second evaluation: %+v, want one alert from %s to %s", got, amTime(now1), amTime(now2.Add(3*time.Minute)))
	}

	// The process ends; the next evaluation does not find it.
	sleeper.Process.Kill()
	sleeper.Wait()
	reaped = true
	now3, holding := evaluate()
	if len(holding) != 0 {
		t.Fatalf("the collector still sees pid %d after it was reaped", pid)
	}
	observe(now3, holding)
	if got := activeAlerts(t, base, rule); len(got) != 0 {
		t.Errorf("Alertmanager still lists the alert after it was resolved: %+v", got)
	}
	if n := ch.tracker.Firing(rule); n != 0 {
		t.Errorf("the tracker still counts %d firing", n)
	}
}
