package engine

import (
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

// liveSnapshot is what the collector could return, built as the collector
// builds it (so parent_exe and pgrp_exe are derived): absolute start times,
// ages with sub-second parts, sockets, a deleted binary, a zombie, a name
// that looks like a number and a hostile command line.
func liveSnapshot() *Snapshot {
	now := time.Date(2026, 5, 4, 3, 2, 1, 700_000_000, time.UTC)
	boot := now.Add(-(50*time.Hour + 300*time.Millisecond))
	proc := func(p Process, age time.Duration) Process {
		p.Start, p.Age = now.Add(-age), age
		p.Cmd = strings.TrimRight(strings.Join(p.Cmdline, " "), " ")
		return p
	}
	return NewSnapshot(now,
		Host{Name: "web1.example.com", CPUs: 8, Uptime: 50*time.Hour + 300*time.Millisecond, Boot: boot},
		Load{Avg1: 1.25, Avg5: 0.5, Avg15: 0.1, Running: 3, Total: 212},
		[]Process{
			proc(Process{PID: 1, PPID: 0, PGID: 1, SID: 1, UID: 0, User: "root", Exe: "/usr/lib/systemd/systemd", Comm: "systemd",
				Cmdline: []string{"/sbin/init", "splash"}, State: "S", CPU: 12*time.Second + 400*time.Millisecond, VMSize: 22 << 20, RSS: 13 << 20, Threads: 1,
				Unit: "init.scope", Cgroup: "/init.scope"}, 50*time.Hour),
			proc(Process{PID: 812, PPID: 1, PGID: 812, SID: 812, UID: 0, User: "root", Exe: "/usr/sbin/sshd", Comm: "sshd",
				Cmdline: []string{"sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups"}, State: "S", CPU: 80 * time.Millisecond, VMSize: 15 << 20, RSS: 9 << 20, Threads: 1,
				Listening: []Socket{{Proto: "tcp", LocalIP: "0.0.0.0", LocalPort: 22, State: "LISTEN"}, {Proto: "tcp6", LocalIP: "::", LocalPort: 22, State: "LISTEN"}},
				ParentExe: "/usr/lib/systemd/systemd", PgrpExe: "/usr/sbin/sshd", Unit: "ssh.service", Cgroup: "/system.slice/ssh.service"}, 49*time.Hour+59*time.Minute+400*time.Millisecond),
			proc(Process{PID: 4242, PPID: 4200, PGID: 4242, SID: 4200, UID: 1001, User: "1001", Exe: "/home/bob/.x/agent", ExeDeleted: true, Comm: "agent",
				Cmdline: []string{"./agent", "--line\nX-Injected: yes", "\x1b[2J"}, State: "R", CPU: 3 * time.Minute, VMSize: 900 << 20, RSS: 300 << 20, Threads: 4,
				Connections: []Socket{{Proto: "tcp6", LocalIP: "2001:db8::1", LocalPort: 51234, RemoteIP: "2001:db8::dead:beef", RemotePort: 6667, State: "ESTABLISHED"}, {Proto: "udp", LocalIP: "10.0.0.5", LocalPort: 5353, RemoteIP: "203.0.113.7", RemotePort: 53, State: "ESTABLISHED"}},
				ParentExe:   "/bin/bash", PgrpExe: "/home/bob/.x/agent", Cgroup: "/user.slice/user-1001.slice/session-3.scope"}, 2*time.Hour+600*time.Millisecond),
			proc(Process{PID: 4300, PPID: 4242, PGID: 4242, SID: 4200, UID: 1001, User: "1001", Exe: "", Comm: "defunct", Cmdline: []string{}, State: "Z"}, 10*time.Second),
			proc(Process{PID: 5000, PPID: 1, PGID: 5000, SID: 5000, UID: 33, User: "yes", Exe: "/usr/bin/true", ExeMismatch: true, Comm: "true", Cmdline: []string{"true", "", "null"}, State: "S"}, 0),
			// What any user can start: bytes that are not UTF-8 in the
			// executable's path and the argv, next to a literal backslash
			// escape and quotes, and a newline in the name.
			proc(Process{PID: 6000, PPID: 1, PGID: 6000, SID: 6000, UID: 1001, User: "1001", Exe: "/tmp/\xff\xfe/\x1b\x80x", Comm: "ev\nil",
				Cmdline: []string{"/tmp/\xff", "\xff", `\xff`, "it's \"\xc3\x28\"", "\u00ff", "ok"}, State: "S", Cgroup: "/user.slice/\xe2\x82"}, time.Minute),
		})
}

func TestEncodeSnapshotGolden(t *testing.T) {
	for _, format := range []string{"yaml", "json"} {
		t.Run(format, func(t *testing.T) {
			out, err := EncodeSnapshot(liveSnapshot(), format)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "facts/snapshot."+format, out)
			if format == "json" {
				var v map[string]any
				if err := json.Unmarshal(out, &v); err != nil {
					t.Fatalf("not JSON: %v", err)
				}
				if strings.Count(string(out), "\n") != 1 {
					t.Error("JSON is not one line")
				}
			}
		})
	}
	// An empty snapshot is still a valid snapshot.
	out, err := EncodeSnapshot(&Snapshot{}, "yaml")
	if err != nil || !strings.Contains(string(out), "processes: []") {
		t.Errorf("empty snapshot: %q %v", out, err)
	}
}

// The keys of the YAML and JSON forms come in the same order.
func TestEncodeSnapshotSameKeys(t *testing.T) {
	y, _ := EncodeSnapshot(liveSnapshot(), "yaml")
	j, _ := EncodeSnapshot(liveSnapshot(), "json")
	keyRe := regexp.MustCompile(`(?m)^\s*(?:- )?([a-z_0-9]+):`)
	var yk []string
	for _, m := range keyRe.FindAllStringSubmatch(string(y), -1) {
		yk = append(yk, m[1])
	}
	// Flow mappings (sockets) hold keys after '{' or ', ' on one line.
	flowRe := regexp.MustCompile(`[{,] ?([a-z_]+):`)
	var yflow []string
	for _, m := range flowRe.FindAllStringSubmatch(string(y), -1) {
		yflow = append(yflow, m[1])
	}
	jk := regexp.MustCompile(`"([a-z_0-9]+)":`).FindAllStringSubmatch(string(j), -1)
	var jkeys []string
	for _, m := range jk {
		jkeys = append(jkeys, m[1])
	}
	if len(jkeys) != len(yk)+len(yflow) {
		t.Errorf("JSON has %d keys, YAML %d block and %d flow", len(jkeys), len(yk), len(yflow))
	}
}

// A snapshot printed by `ptrule facts` and pasted into a fixture gives the
// runner the same processes, ages equal to the second.
func TestEncodeSnapshotRoundTrip(t *testing.T) {
	for _, format := range []string{"yaml", "json"} {
		t.Run(format, func(t *testing.T) {
			orig := liveSnapshot()
			out, err := EncodeSnapshot(orig, format)
			if err != nil {
				t.Fatal(err)
			}

			// Decoded as a fixture step decodes it, then built at the epoch.
			fixture := "tests:\n  - name: round trip\n    snapshot:\n      " + strings.ReplaceAll(strings.TrimRight(string(out), "\n"), "\n", "\n      ") + "\n    expect: []\n"
			src := newSource("rt_test.yaml", []byte(fixture))
			var ps Problems
			tests := parseTestsOf(t, src, &ps)
			if len(ps) > 0 {
				t.Fatalf("the encoded snapshot does not load as a fixture:\n%s\n%s", FormatError(ps), fixture)
			}
			got := tests[0].steps[0].snap.build(FixtureEpoch, FixtureEpoch)
			compareSnapshots(t, orig, got)

			// And end to end: a rule that prints every fact of every process
			// renders the same text from the original and from the fixture.
			dump := `rules:
  - name: rt-dump
    scope: process
    condition: "true"
    subject: "{{.proc.pid}} {{.proc.ppid}} {{.proc.pgid}} {{.proc.sid}} {{.proc.uid}} {{.proc.user}} {{.proc.exe}} {{.proc.exe_deleted}} {{.proc.comm}} [{{join .proc.cmdline \"|\"}}] {{.proc.cmd}} {{.proc.state}} {{.proc.age}} {{.proc.cpu}} {{.proc.vmsize}} {{.proc.rss}} {{.proc.threads}} {{.proc.connections}} {{.proc.listening}} {{.proc.parent_exe}} {{.proc.parent_exe_deleted}} {{.proc.pgrp_exe}} {{.proc.unit}} {{.proc.cgroup}}"
    message: "{{.host.name}} {{.host.cpus}} {{.host.uptime}} {{.host.procs}} {{.load}} {{.user.name}} {{.user.count}} {{.session.sid}} {{.session.count}}"
    actions: [alert: {}]
`
			rs := loadOK(t, yamlFile("rt.yaml", dump))
			ms, errs := rs.Evaluate(orig, nil)
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			var expect strings.Builder
			for _, m := range ms {
				s, msg, err := m.Render(NoEnricher{})
				if err != nil {
					t.Fatal(err)
				}
				fmt.Fprintf(&expect, "      - {rule: rt-dump, pid: %d, message: '%s'}\n", m.Proc.PID, yamlQuoteRegexp(s+"\n"+msg))
			}
			fixture = "rules: [rt-dump]\nrule_files: [rt.yaml]\n" + strings.Replace(fixture, "    expect: []\n", "    expect:\n"+expect.String(), 1)
			results, ps := RunFixtures(File{Path: "rt_test.yaml", Data: []byte(fixture)}, nil, mapFiles(map[string]string{"rt.yaml": dump}))
			if len(ps) > 0 {
				t.Fatalf("%s\n%s", FormatError(ps), fixture)
			}
			if len(results) != 1 || !results[0].Passed {
				t.Errorf("round trip through RunFixtures:\n%s", results[0].Diff)
			}
		})
	}
}

// yamlQuoteRegexp is a single-quoted YAML scalar holding a regular
// expression that matches exactly s: newlines are written as \n, which
// YAML would otherwise fold into spaces.
func yamlQuoteRegexp(s string) string {
	re := "^" + strings.ReplaceAll(regexp.QuoteMeta(s), "\n", `\n`) + "$"
	return strings.ReplaceAll(re, "'", "''")
}

// parseTestsOf reads the tests of a fixture source.
func parseTestsOf(t *testing.T, src *source, ps *Problems) []*fixtureTest {
	t.Helper()
	root, p := src.parseYAML()
	if p != nil {
		t.Fatal(p)
	}
	for _, f := range src.mapping(root, "a fixture file", nil, ps) {
		if f.key == "tests" {
			return parseTests(src, f.value, ps)
		}
	}
	t.Fatal("no tests")
	return nil
}

// compareSnapshots checks that a snapshot rebuilt from its encoding holds
// the same facts: times move to the fixture epoch, durations are rounded
// to the second.
func compareSnapshots(t *testing.T, orig, got *Snapshot) {
	t.Helper()
	sec := func(d time.Duration) time.Duration { return d.Round(time.Second) }
	if got.Host.Name != orig.Host.Name || got.Host.CPUs != orig.Host.CPUs || got.Host.Uptime != sec(orig.Host.Uptime) || got.Host.Procs != len(orig.Procs) {
		t.Errorf("host %+v, want %+v", got.Host, orig.Host)
	}
	if got.Load != orig.Load {
		t.Errorf("load %+v, want %+v", got.Load, orig.Load)
	}
	if len(got.Procs) != len(orig.Procs) {
		t.Fatalf("%d processes, want %d", len(got.Procs), len(orig.Procs))
	}
	for i := range orig.Procs {
		want, have := orig.Procs[i], got.Procs[i]
		want.Age, want.CPU = sec(want.Age), sec(want.CPU)
		want.Start, have.Start = time.Time{}, time.Time{}
		// A fixture derives the start ticks from the start time.
		if have.StartTicks != fixtureTicks(got.Procs[i].Start) {
			t.Errorf("process %d: start ticks %d, want %d from its start", want.PID, have.StartTicks, fixtureTicks(got.Procs[i].Start))
		}
		want.StartTicks, have.StartTicks = 0, 0
		if !reflect.DeepEqual(want, have) {
			t.Errorf("process %d:\n got  %+v\n want %+v", want.PID, have, want)
		}
		if !got.Procs[i].Start.Equal(FixtureEpoch.Add(-want.Age)) {
			t.Errorf("process %d starts %v", want.PID, got.Procs[i].Start)
		}
	}
}

// What facts encode, a fixture decodes: every key and every value kind.
func TestEncodeSnapshotValues(t *testing.T) {
	out, _ := EncodeSnapshot(liveSnapshot(), "yaml")
	for _, want := range []string{
		"uptime: 50h0m0s\n", // rounded to the second
		"age: 2h0m1s\n",
		"cpu: 12s\n",
		`user: "1001"`, // a number-like string stays a string
		"user: yes\n",  // a string in YAML 1.2, which is what fixtures read
		`cmdline: [./agent, "--line\nX-Injected: yes", "\e[2J"]`, // control characters escaped, on one line
		`cmdline: ["true", "", "null"]`,
		"cmdline: []", // a zombie's empty command line stays empty
		"exe: \"\"\n",
		"exe_deleted: true",
		"{proto: tcp6, local_ip: '2001:db8::1', local_port: 51234, remote_ip: '2001:db8::dead:beef', remote_port: 6667, state: ESTABLISHED}",
		// Not UTF-8: the bytes form, escapes as in a Go string; a literal
		// backslash is doubled so it cannot be read as an escape.
		`exe: {bytes: '/tmp/\xff\xfe/\x1b\x80x'}`,
		`comm: "ev\nil"`,
		`cmdline: [{bytes: '/tmp/\xff'}, {bytes: '\xff'}, \xff, {bytes: 'it''s \"\xc3(\"'}, ÿ, ok]`,
		// Derived from the parent in the same snapshot, as the collector's
		// NewSnapshot derives them.
		"parent_exe: /home/bob/.x/agent\n    parent_exe_deleted: true\n    pgrp_exe: /home/bob/.x/agent\n",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("YAML lacks %q", want)
		}
	}
	for _, absent := range []string{"start:", "boot:", "cmd:", "start_ticks", "parent_exe_deleted: false"} {
		if strings.Contains(string(out), absent) {
			t.Errorf("YAML has %q", absent)
		}
	}
}

// decodeSnapshotText reads text printed by EncodeSnapshot as a fixture
// step reads its snapshot.
func decodeSnapshotText(text []byte) (*fixtureSnapshot, Problems) {
	src := newSource("snap_test.yaml", text)
	root, p := src.parseYAML()
	if p != nil {
		return nil, Problems{p}
	}
	var ps Problems
	snap := &fixtureSnapshot{}
	src.decodeSnapshot(root, reflect.ValueOf(snap).Elem(), "snapshot", &ps)
	return snap, ps
}

// Any string a process can carry, UTF-8 or not, comes back from the YAML
// and the JSON form byte for byte.
func FuzzSnapshotStringRoundTrip(f *testing.F) {
	for _, s := range []string{"", "plain", "ev\nil", "\x1b[2J", "\xff\xfe", `\xff`, "it's \"\xc3\x28\"", "\u2028\u0085\ufeff", "a\x00b", "{bytes: x}", "- [x]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		in := &Snapshot{Host: Host{Name: s}, Procs: []Process{{PID: 1, User: s, Exe: s, Comm: s, Cmdline: []string{s, "x" + s}, Unit: s + "x", Cgroup: s}}}
		for _, format := range []string{"yaml", "json"} {
			out, err := EncodeSnapshot(in, format)
			if err != nil {
				t.Fatalf("%s: %v", format, err)
			}
			got, ps := decodeSnapshotText(out)
			if len(ps) > 0 {
				t.Fatalf("%s does not read back: %v\n%s", format, ps, out)
			}
			p := got.Processes[0]
			if got.Host.Name != s || p.User != s || p.Exe != s || p.Comm != s || len(p.Cmdline) != 2 || p.Cmdline[0] != s || p.Cmdline[1] != "x"+s || p.Unit != s+"x" || p.Cgroup != s {
				t.Fatalf("%s: %q came back as %+v %+v\n%s", format, s, got.Host, p, out)
			}
		}
	})
}

// The bytes form is strict: what it cannot read back exactly is an error
// at its line, not a guess.
func TestDecodeBytesForm(t *testing.T) {
	for _, tc := range []struct {
		yaml, want, err string
	}{
		{yaml: `{bytes: 'a\xffb'}`, want: "a\xffb"},
		{yaml: `{bytes: '\\x41'}`, want: `\x41`},
		{yaml: `{bytes: 'tab\there\u00e9'}`, want: "tab\there\u00e9"},
		{yaml: `{bytes: ''}`, want: ""},
		{yaml: `'\xff'`, want: `\xff`}, // a plain string is taken as it is
		{yaml: `{bytes: '\q'}`, err: `snap_test.yaml:3:19: comm: bytes "\\q" is not the inside of a Go string literal`},
		{yaml: `{bytes: 'a"b'}`, err: `is not the inside of a Go string literal`},
		{yaml: `{bytes: [x]}`, err: `snap_test.yaml:3:19: comm bytes must be a string`},
		{yaml: `{base64: eA==}`, err: `unknown key "base64" in comm (known keys: bytes)`},
		{yaml: `{}`, err: `comm must be a string, or {bytes: '...'} for text that is not UTF-8`},
	} {
		got, ps := decodeSnapshotText([]byte("processes:\n  - pid: 1\n    comm: " + tc.yaml + "\n"))
		switch {
		case tc.err != "" && (len(ps) == 0 || !strings.Contains(ps.Error(), tc.err)):
			t.Errorf("%s: got %v, want error %q", tc.yaml, ps, tc.err)
		case tc.err == "" && len(ps) > 0:
			t.Errorf("%s: %v", tc.yaml, ps)
		case tc.err == "" && got.Processes[0].Comm != tc.want:
			t.Errorf("%s: got %q, want %q", tc.yaml, got.Processes[0].Comm, tc.want)
		}
	}
	// Rule files have no bytes form: a mapping where a string belongs
	// stays an error there.
	var r struct {
		Name string `yaml:"name"`
	}
	if ps := DecodeYAML("r.yaml", []byte("name: {bytes: x}\n"), &r); len(ps) == 0 {
		t.Error("DecodeYAML took the bytes form outside a snapshot")
	}
}
