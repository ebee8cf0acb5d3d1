package proc

import (
	"bytes"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// FuzzParseCgroup: no panic, and a unit is a component of the input
// ending in a unit suffix.
func FuzzParseCgroup(f *testing.F) {
	for _, seed := range []string{
		"0::/system.slice/nginx.service\n",
		"0::/user.slice/user-1000.slice/session-3.scope\n",
		"12:pids:/system.slice/cron.service\n1:name=systemd:/system.slice/cron.service\n",
		"9:name=systemd:/\n0::/\n",
		"::\n:\n0:\n",
		"0::/.service",
		"",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		path, unit := ParseCgroup(data)
		if path != "" && !bytes.Contains(data, []byte(path)) {
			t.Errorf("path %q is not in the input", path)
		}
		if unit == "" {
			return
		}
		if strings.Contains(unit, "/") || !bytes.Contains(data, []byte(unit)) {
			t.Errorf("unit %q is not a component of the input", unit)
		}
		if !slices.ContainsFunc(unitSuffixes, func(s string) bool { return strings.HasSuffix(unit, s) && len(unit) > len(s) }) {
			t.Errorf("unit %q has no unit suffix", unit)
		}
	})
}

// FuzzHostFiles runs the parsers of the small host and process files on
// arbitrary bytes.
func FuzzHostFiles(f *testing.F) {
	for _, seed := range []string{
		"18446744073709551615",
		"18446744073709551616",
		"0000000000000000000000012",
		"FFFFFFFFFFFFFFFF",
		"431.47 790.86\n",
		"0.10 0.16 0.07 1/83 4448\n",
		"cpu  1 2 3\ncpu0 1 2\nbtime 1767225600\n",
		"Name:\tx\nUid:\t1000\t33\t33\t33\n",
		"MemTotal:       16318412 kB\nSwapFree: x\n",
		"sh\x00-c\x00echo hi\x00\x00",
		"1.2.3 4/5/6 \xff",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if d, ok := ParseUptime(data); ok && d < 0 {
			t.Errorf("negative uptime %v", d)
		}
		_ = ParseLoadavg(data)
		for key := range ParseMeminfo(data) {
			if !bytes.Contains(data, []byte(key+":")) {
				t.Errorf("meminfo key %q is not in the input", key)
			}
		}
		if _, cpus, _ := ParseSystemStat(data); cpus < 0 {
			t.Errorf("cpus %d", cpus)
		}
		if uid, ok := ParseStatusEUID(data); ok && (uid < 0 || uid > 1<<32-1) {
			t.Errorf("uid %d", uid)
		}
		if v, ok := StatusField(data, "Uid:"); ok && (bytes.IndexByte(v, '\n') >= 0 || !bytes.Contains(data, append([]byte("Uid:"), v...))) {
			t.Errorf("status value %q is not the rest of a line of the input", v)
		}
		argv := SplitCmdline(data)
		if got, want := strings.Join(argv, "\x00"), string(bytes.TrimRight(data, "\x00")); got != want {
			t.Errorf("cmdline %q does not rejoin to %q", argv, want)
		}
		cmd := JoinCmd(argv)
		if strings.TrimRight(cmd, " \t\n\v\f\r") != cmd {
			t.Errorf("cmd %q ends in white space", cmd)
		}
		_, _ = SocketInode(data)
		// The digit readers agree with strconv, which allocates.
		v, ok := digitsUint(data)
		if w, err := strconv.ParseUint(string(data), 10, 64); ok != (err == nil) || ok && v != w {
			t.Errorf("digitsUint(%q) = %d, %v; strconv says %d, %v", data, v, ok, w, err)
		}
		if v, ok := hexUint(data); len(data) <= 16 {
			if w, err := strconv.ParseUint(string(data), 16, 64); ok != (err == nil) || ok && v != w {
				t.Errorf("hexUint(%q) = %d, %v; strconv says %d, %v", data, v, ok, w, err)
			}
		}
	})
}
