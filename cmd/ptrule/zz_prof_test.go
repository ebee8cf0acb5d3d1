package main

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"ptrule/builtin/collect"
	"ptrule/engine"
	rules "ptrule/rules.d"
)

func zzcpu() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestZZProfTick(t *testing.T) {
	if os.Getenv("ZZTICK") == "" {
		t.Skip()
	}
	files, _ := rules.Files()
	files = append(files, engine.File{Path: "q.yaml", Data: []byte("rules:\n  - {name: pt-load, enabled: false}\n")})
	rs, ps := engine.LoadRules(files)
	if len(ps) > 0 {
		t.Fatal(ps)
	}
	c, _ := collect.NewCollector("/proc")
	for i := 0; i < 8; i++ {
		cmd := exec.Command("ps", "-eo", "pid,ppid,uid,sid,etimes,vsz,rss,time,comm,args")
		cmd.Run()
		ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
		pst := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		t0 := zzcpu()
		snap, _ := c.Collect(collect.CollectOptions{})
		t1 := zzcpu()
		ms, _ := rs.Evaluate(snap, nil)
		t2 := zzcpu()
		snap.Release()
		t.Logf("procs %d matches %d ps %v collect %v eval %v total %.2f×", len(snap.Procs), len(ms), pst, t1-t0, t2-t1, float64(t2-t0)/float64(pst))
	}
}
