package builtin

import (
	"bytes"
	"strings"
	"testing"
)

func TestParsePidStat(t *testing.T) {
	// 52 fields, as a 6.x kernel prints them; starttime (22) is 777.
	tail := " S 10 20 30 0 -1 4194560 1 0 0 0 5 6 0 0 20 0 1 0 777 1000 50 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0"
	// want returns the fields of tail for a process pid named comm.
	want := func(pid int, comm string, flags uint64) pidStat {
		return pidStat{pid: pid, comm: comm, state: "S", ppid: 10, pgrp: 20, session: 30, ttyNr: 0, tpgid: -1,
			flags: flags, utime: 5, stime: 6, nice: 0, threads: 1, starttime: 777, vsize: 1000, rss: 50}
	}
	tests := []struct {
		name    string
		in      string
		want    pidStat
		wantErr bool
	}{
		{name: "plain", in: "42 (sleep)" + tail, want: want(42, "sleep", 4194560)},
		{name: "paren and space in comm", in: "42 (a) S 1 (b)" + tail, want: want(42, "a) S 1 (b", 4194560)},
		{name: "newline in comm", in: "42 (x\ny) 1 2)" + tail + "\n", want: want(42, "x\ny) 1 2", 4194560)},
		{name: "kernel thread", in: "3 (kworker/0:0)" + strings.Replace(tail, "4194560", "2129984", 1), want: want(3, "kworker/0:0", 2129984)},
		{name: "negative numbers", in: "7 (x) Z -1 -2 -3 -4 -5 0 0 0 0 0 0 0 0 0 0 -20 1 0 0 0 -6",
			want: pidStat{pid: 7, comm: "x", state: "Z", ppid: -1, pgrp: -2, session: -3, ttyNr: -4, tpgid: -5, nice: -20, threads: 1, rss: -6}},
		{name: "empty", in: "", wantErr: true},
		{name: "no parens", in: "42 sleep S 1 2 3", wantErr: true},
		{name: "truncated", in: "42 (sleep) S 1 2 3", wantErr: true},
		{name: "bad pid", in: "x (sleep)" + tail, wantErr: true},
		{name: "bad starttime", in: "42 (sleep)" + strings.Replace(tail, " 777 ", " -7 ", 1), wantErr: true},
		{name: "close before open", in: "42 )sleep(" + tail, wantErr: true},
		// Every field pidStat keeps must be whole, and the state one letter.
		{name: "ends before rss", in: "42 (sleep) S 10 20 30 0 -1 4194560 1 0 0 0 5 6 0 0 20 0 1 0 777 1000", wantErr: true},
		{name: "bad utime", in: "42 (sleep)" + strings.Replace(tail, " 5 6 ", " x 6 ", 1), wantErr: true},
		{name: "two-letter state", in: "42 (sleep) SS" + strings.TrimPrefix(tail, " S"), wantErr: true},
		{name: "overflow", in: "42 (sleep)" + strings.Replace(tail, " 1000 ", " 18446744073709551616 ", 1), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parsePidStat([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err == nil && got != tt.want {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
			if err == nil && got.kernelThread() != (got.flags&kthreadFlag != 0) {
				t.Errorf("kernelThread() = %v for flags %#x", got.kernelThread(), got.flags)
			}
		})
	}
}

func TestStatusField(t *testing.T) {
	tests := []struct {
		in, key string
		want    string
		ok      bool
	}{
		{"Name:\tx\nTgid:\t42\nUid:\t1\t2\t3\t4\n", "Tgid:", "\t42", true},
		{"Name:\tx\nTgid:\t42\nUid:\t1\t2\t3\t4\n", "Uid:", "\t1\t2\t3\t4", true},
		{"Uid:\t1\nUid:\t2\n", "Uid:", "\t1", true},
		{"VmLck:\t       4 kB", "VmLck:", "\t       4 kB", true},
		{"Tgid:", "Tgid:", "", true},
		{"Name:\tTgid:\t5\n", "Tgid:", "", false},
		{"Tgid 5\n", "Tgid:", "", false},
		{"", "Tgid:", "", false},
	}
	for _, tt := range tests {
		got, ok := statusField([]byte(tt.in), tt.key)
		if string(got) != tt.want || ok != tt.ok {
			t.Errorf("statusField(%q, %q) = %q, %v; want %q, %v", tt.in, tt.key, got, ok, tt.want, tt.ok)
		}
	}
}

// FuzzParsePidStat feeds arbitrary bytes to the /proc/PID/stat parser:
// it must never panic, and what it accepts must be a whole line.
func FuzzParsePidStat(f *testing.F) {
	for _, seed := range []string{
		"4444 (cat) R 4442 4442 2844 0 -1 4194304 96 0 1 0 0 0 0 0 20 0 1 0 43144 3133440 376 18446744073709551615 94515506720768 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n",
		"2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 21 0 0 18446744073709551615 0 0\n",
		"7 (a) (b\nc) Z 1 7 7 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 99 0 0 0\n",
		"1 ())) S 0 1 1 0 -1 0 0 0 0 0 0 0 0 0 0 0 1 0 0 0 -5 0",
		"1 (x)",
		"1 (x) S",
		")(",
		"",
		"1 (x) S -1 -2 -3 0 -1 99999999999999999999 0 0 0 0 0 0 0 0 0 0 1 0 0 0 0 0",
		"42 (sleep) S 10 20 30 0 -1 4194560 1 0 0 0 5 6 0 0 20 0 1 0 777 1000 50",
		"1 ((sd-pam)) S 0 1 1 0 -1 4194560 1 0 0 0 5 6 0 0 20 0 1 0 0",
		"7 (a\n) b) Z",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := parsePidStat(data)
		if err != nil {
			return
		}
		if len(st.state) != 1 || strings.ContainsAny(st.state, " \t\n\v\f\r") {
			t.Errorf("state %q", st.state)
		}
		if !bytes.Contains(data, []byte("("+st.comm+")")) {
			t.Errorf("comm %q is not between parentheses in the input", st.comm)
		}
		_, _ = st.zombie(), st.kernelThread()
	})
}
