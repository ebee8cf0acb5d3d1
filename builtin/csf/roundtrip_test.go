package csf

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"text/template"
	"time"

	"ptrule/engine"
	rules "ptrule/rules.d"
)

// shippedConf is csf's shipped Process Tracking section (every PT_* line
// and LF_FLUSH, with csf's comments), the base of csf's profiles.
func shippedConf(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile("testdata/shipped.conf")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// withSettings returns conf with each NAME's line set to its value, as a
// csf profile (or an administrator) leaves csf.conf.
func withSettings(t testing.TB, conf string, set map[string]string) string {
	t.Helper()
	for name, v := range set {
		re := regexp.MustCompile(`(?m)^` + name + ` = ".*"$`)
		if !re.MatchString(conf) {
			t.Fatalf("no %s line in the base csf.conf", name)
		}
		conf = re.ReplaceAllLiteralString(conf, fmt.Sprintf("%s = %q", name, v))
	}
	return conf
}

// procs writes n process lines of one user in one session, for fork bombs
// and process counts.
func procs(n, firstPID, sid, uid int, user string) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "\n        - {pid: %d, ppid: %d, sid: %d, uid: %d, user: %s, exe: /bin/bash, cmdline: [bash, x.sh], age: 5m}", firstPID+i, sid, sid, uid, user)
	}
	return b.String()
}

// Snapshots the round-trip fixtures share, as YAML flow lines.
const (
	connected  = `{pid: 4242, uid: 65534, user: nobody, exe: /tmp/.x/bot, age: 2h, connections: [{proto: tcp, local_ip: 10.0.0.5, local_port: 40001, remote_ip: 203.0.113.9, remote_port: 6667, state: ESTABLISHED}]}`
	deleted    = `{pid: 4300, uid: 1001, user: bob, exe: /home/bob/agent, exe_deleted: true, age: 2h}`
	hungSSHD   = `{pid: 900, uid: 0, exe: /usr/sbin/sshd, cmdline: ["sshd: unknown [net]"], age: 2m}`
	big        = `{pid: 5000, uid: 1001, user: bob, exe: /usr/bin/convert, age: 5m, vmsize: 1100MiB, rss: 100MiB}`
	medium     = `{pid: 5001, uid: 1001, user: bob, exe: /usr/bin/convert, age: 5m, vmsize: 900MiB, rss: 100MiB}`
	webConnect = `{pid: 4400, uid: 1001, user: bob, exe: /usr/bin/php-cgi, age: 2h, connections: [{proto: tcp, local_ip: 10.0.0.5, local_port: 443, remote_ip: 203.0.113.9, remote_port: 50000, state: ESTABLISHED}]}`
)

var fixtureFuncs = template.FuncMap{"procs": procs}

// roundTrips are csf.conf settings and fixtures showing the behaviour each
// asks for, run against the default rules patched by the import.
var roundTrips = []struct {
	name string
	set  map[string]string // over csf's shipped defaults
	// interval is the config line PT_INTERVAL must become.
	interval string
	// every is pt-load's schedule after the patch (0: disabled).
	every time.Duration
	// fixture is a fixture file (a text/template) loading 50-csf.yaml.
	fixture string
}{{
	name: "shipped defaults", interval: "interval: 60s", every: 30 * time.Second,
	fixture: `
tests:
  - name: PT_DELETED = 0 reports no deleted binary, where ptrule's default would
    snapshot: {processes: [` + deleted + `]}
    expect: []
  - name: a process connected for more than PT_LIMIT alerts, again after LF_FLUSH
    steps:
      - snapshot: {processes: [` + connected + `]}
        expect: [{rule: pt-suspicious, pid: 4242, actions: [alert, suppress]}]
      - {at: 59m, expect: []}
      - {at: 61m, expect: [{rule: pt-suspicious, pid: 4242, actions: [alert, suppress]}]}
  - name: more than PT_USERPROC processes alert without a kill
    snapshot:
      processes: {{procs 11 3000 3000 1001 "bob"}}
    expect: [{rule: pt-user-procs, user: bob, actions: [alert, suppress], message: 'Not killed'}]
  - name: ten processes are not more than PT_USERPROC
    snapshot:
      processes: {{procs 10 3000 3000 1001 "bob"}}
    expect: []
  - name: PT_USERMEM 512 MB is 512 MiB of virtual memory
    snapshot: {processes: [` + medium + `]}
    expect: [{rule: pt-user-resources, pid: 5001, actions: [alert, suppress], message: 'Virtual Memory Size: 900 MiB > 512MiB'}]
  - name: the 5 minute load at PT_LOAD_LEVEL alerts
    snapshot: {load: {avg1: 1, avg5: 6, avg15: 1}}
    expect: [{rule: pt-load, actions: [alert, suppress]}]
  - name: PT_SSHDHUNG = 0 and PT_FORKBOMB = 0 leave a hung sshd and a big session alone
    snapshot:
      processes:
        - ` + hungSSHD + `{{procs 260 3000 3000 0 "root"}}
    expect: []
`,
}, {
	name: "protection_high", every: 30 * time.Second, interval: "interval: 60s",
	set: map[string]string{"PT_ALL_USERS": "1", "PT_DELETED": "1", "PT_FORKBOMB": "250", "PT_LIMIT": "60", "PT_SKIP_HTTP": "0"},
	fixture: `
tests:
  - name: PT_DELETED = 1 reports a deleted binary
    snapshot: {processes: [` + deleted + `]}
    expect: [{rule: pt-deleted, pid: 4300, actions: [alert, suppress]}]
  - name: a session of PT_FORKBOMB processes is killed
    snapshot:
      processes: {{procs 250 3000 3000 1001 "bob"}}
    expect:
      - {rule: pt-forkbomb, sid: 3000, actions: [kill, alert]}
      - {rule: pt-user-procs, user: bob, actions: [alert, suppress]}
  - name: one process fewer is no fork bomb
    snapshot:
      processes: {{procs 249 3000 3000 1001 "bob"}}
    expect: [{rule: pt-user-procs, user: bob, actions: [alert, suppress]}]
`,
}, {
	name: "protection_medium", every: 30 * time.Second, interval: "interval: 60s",
	set: map[string]string{"PT_ALL_USERS": "1", "PT_LIMIT": "60"},
	fixture: `
tests:
  - name: deleted binaries stay unreported, as csf ships
    snapshot: {processes: [` + deleted + `]}
    expect: []
  - name: the fork-bomb check stays off
    snapshot:
      processes: {{procs 250 3000 3000 1001 "bob"}}
    expect: [{rule: pt-user-procs, user: bob, actions: [alert, suppress]}]
`,
}, {
	name: "protection_low", every: 30 * time.Second, interval: "interval: 60s",
	set: map[string]string{"PT_LIMIT": "0"},
	fixture: `
tests:
  - name: PT_LIMIT = 0 turns every process check off
    snapshot:
      processes:
        - ` + connected + `
        - ` + deleted + `
        - ` + big + `
        - ` + hungSSHD + `{{procs 20 3000 3000 1002 "carol"}}
    expect: []
  - name: load tracking does not depend on PT_LIMIT
    snapshot: {load: {avg1: 1, avg5: 7, avg15: 1}}
    expect: [{rule: pt-load, actions: [alert, suppress]}]
`,
}, {
	name: "disable_alerts", every: 0, interval: "interval: 60s",
	set: map[string]string{"PT_INTERVAL": "0", "PT_LOAD": "0", "PT_USERKILL_ALERT": "0"},
	fixture: `
tests:
  - name: PT_LOAD = 0 turns load tracking off
    snapshot: {load: {avg1: 30, avg5: 30, avg15: 30}}
    expect: []
  - name: PT_USERKILL_ALERT = 0 changes nothing while PT_USERKILL is 0
    snapshot:
      processes: {{procs 11 3000 3000 1001 "bob"}}
    expect: [{rule: pt-user-procs, user: bob, actions: [alert, suppress]}]
`,
}, {
	name: "a site's limits", every: 45 * time.Second, interval: "interval: 30s",
	set: map[string]string{"PT_INTERVAL": "30", "PT_LIMIT": "120", "PT_USERMEM": "1024", "PT_USERKILL": "1", "PT_LOAD": "45",
		"PT_LOAD_LEVEL": "12", "PT_FORKBOMB": "300", "LF_FLUSH": "600"},
	fixture: `
tests:
  - name: PT_USERMEM 1024 and PT_USERKILL kill a process over 1 GiB, alerting
    snapshot: {processes: [` + medium + `, ` + big + `]}
    expect: [{rule: pt-user-resources, pid: 5000, actions: [kill, alert], message: 'Virtual Memory Size: 1.1 GiB > 1024MiB'}]
  - name: PT_LOAD_LEVEL 12
    steps:
      - snapshot: {load: {avg1: 1, avg5: 11.9, avg15: 1}}
        expect: []
      - at: 1m
        snapshot: {load: {avg1: 1, avg5: 12, avg15: 1}}
        expect: [{rule: pt-load, actions: [alert, suppress]}]
  - name: PT_LIMIT 120 and LF_FLUSH 600
    steps:
      - snapshot: {processes: [{pid: 4242, uid: 65534, user: nobody, exe: /tmp/.x/bot, age: 100s, connections: [{proto: tcp, local_ip: 10.0.0.5, local_port: 40001, remote_ip: 203.0.113.9, remote_port: 6667}]}]}
        expect: []
      - {at: 30s, expect: [{rule: pt-suspicious, pid: 4242, actions: [alert, suppress]}]}
      - {at: 9m, expect: []}
      - {at: 11m, expect: [{rule: pt-suspicious, pid: 4242, actions: [alert, suppress]}]}
  - name: 299 processes in a session are under PT_FORKBOMB 300
    snapshot:
      processes: {{procs 299 3000 3000 1001 "bob"}}
    expect: [{rule: pt-user-procs, user: bob, actions: [kill, alert]}]
  - name: a session of 300 is killed
    snapshot:
      processes: {{procs 300 3000 3000 1001 "bob"}}
    expect:
      - {rule: pt-forkbomb, sid: 3000, actions: [kill, alert]}
      - {rule: pt-user-procs, user: bob, actions: [kill, alert]}
`,
}, {
	name: "silent kills and an action", every: 30 * time.Second, interval: "interval: 60s",
	set: map[string]string{"PT_USERKILL": "1", "PT_USERKILL_ALERT": "0", "PT_USER_ACTION": "/usr/local/bin/pt-notify"},
	fixture: `
tests:
  - name: PT_USERKILL_ALERT = 0 kills without an alert, PT_USER_ACTION runs
    snapshot:
      processes: {{procs 11 3000 3000 1001 "bob"}}
    expect: [{rule: pt-user-procs, user: bob, actions: [kill, run]}]
`,
}, {
	name: "the 15 minute load, its skip and action", every: 30 * time.Second, interval: "interval: 60s",
	set: map[string]string{"PT_LOAD_AVG": "15", "PT_LOAD_SKIP": "600", "PT_LOAD_ACTION": "/root/load.sh", "PT_LOAD_LEVEL": "4.5"},
	fixture: `
tests:
  - name: only the 15 minute average counts, the action runs first, quiet for PT_LOAD_SKIP
    steps:
      - snapshot: {load: {avg1: 9, avg5: 9, avg15: 4.4}}
        expect: []
      - at: 1m
        snapshot: {load: {avg1: 1, avg5: 1, avg15: 4.5}}
        expect: [{rule: pt-load, actions: [run, alert, suppress], message: 'High 15 minute load average alert - 4.5'}]
      - {at: 10m, expect: []}
      - {at: 12m, expect: [{rule: pt-load, actions: [run, alert, suppress]}]}
`,
}, {
	name: "checks switched off one by one", every: 30 * time.Second, interval: "interval: 60s",
	set: map[string]string{"PT_USERPROC": "0", "PT_USERMEM": "0", "PT_USERRSS": "0", "PT_USERTIME": "0", "PT_SSHDHUNG": "1", "PT_SKIP_HTTP": "1"},
	fixture: `
tests:
  - name: no process count, memory or age limit; PT_SKIP_HTTP exempts a connection on port 443
    snapshot:
      processes:
        - {pid: 5000, uid: 1001, user: bob, exe: /usr/bin/convert, age: 30h, vmsize: 4GiB, rss: 3GiB}
        - ` + webConnect + `{{procs 40 3000 3000 1001 "bob"}}
    expect: []
  - name: PT_SSHDHUNG = 1 kills a hung pre-authentication sshd
    snapshot: {processes: [` + hungSSHD + `]}
    expect: [{rule: pt-sshd-hung, pid: 900, actions: [kill, alert]}]
`,
}, {
	name: "PT_LIMIT = 0 wins over the switches that enable process checks", every: 30 * time.Second, interval: "interval: 60s",
	set: map[string]string{"PT_LIMIT": "0", "PT_DELETED": "1", "PT_FORKBOMB": "100", "PT_SSHDHUNG": "1"},
	fixture: `
tests:
  - name: nothing of the process scan runs, as in lfd
    snapshot:
      processes:
        - ` + deleted + `
        - ` + hungSSHD + `{{procs 120 3000 3000 1001 "bob"}}
    expect: []
`,
}}

// TestRoundTrip imports csf.conf settings (csf's shipped defaults, its
// profiles, and settings a site writes) and shows with fixtures, run on the
// default rules with the imported patch, that ptrule then does what each
// setting asks for.
func TestRoundTrip(t *testing.T) {
	base, err := rules.Files()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range roundTrips {
		t.Run(tc.name, func(t *testing.T) {
			conf := withSettings(t, shippedConf(t), tc.set)
			conv := Convert(ParseConf("/etc/csf/csf.conf", []byte(conf)), "/etc/csf/csf.conf")
			if len(conv.Problems) > 0 {
				t.Fatalf("problems: %v", conv.Problems)
			}
			if !strings.HasPrefix(conv.Interval, tc.interval+" ") {
				t.Errorf("interval line %q, want %q", conv.Interval, tc.interval)
			}
			patch := engine.File{Path: "50-csf.yaml", Data: conv.Patch}
			rs, ps := engine.LoadRules(append(base[:len(base):len(base)], patch))
			if len(ps) > 0 {
				t.Fatalf("the patch does not load: %v\n%s", ps, conv.Patch)
			}
			load := rs.Rule("pt-load")
			if got := map[bool]time.Duration{true: load.Every}[load.Enabled]; got != tc.every {
				t.Errorf("pt-load runs every %v (enabled %v), want %v", load.Every, load.Enabled, tc.every)
			}
			var fx strings.Builder
			if err := template.Must(template.New("").Funcs(fixtureFuncs).Parse(tc.fixture)).Execute(&fx, nil); err != nil {
				t.Fatal(err)
			}
			fixture := engine.File{Path: "import_test.yaml", Data: []byte("rule_files: [50-csf.yaml]\n" + fx.String())}
			read := func(p string) ([]byte, error) {
				if p == "50-csf.yaml" {
					return conv.Patch, nil
				}
				return nil, fmt.Errorf("%s: not in this test", p)
			}
			results, ps := engine.RunFixtures(fixture, base, read)
			if len(ps) > 0 {
				t.Fatalf("fixture does not load: %v", ps)
			}
			if len(results) == 0 {
				t.Fatal("no fixture ran")
			}
			for _, r := range results {
				if !r.Passed {
					t.Errorf("%s: %s\npatch:\n%s", r.Test, r.Diff, conv.Patch)
				}
			}
		})
	}
}
