package proctest_test

import (
	"crypto/sha256"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"ptrule/builtin/collect"
	"ptrule/builtin/proctest"
	"ptrule/engine"
)

// TestGenSpecDeterministic checks that a seed always gives the same
// processes and sockets, and another seed other ones: benchmark runs must
// compare the same tree.
func TestGenSpecDeterministic(t *testing.T) {
	a, sa := proctest.GenSpec(proctest.Gen{Procs: 500, Seed: 1})
	b, sb := proctest.GenSpec(proctest.Gen{Procs: 500, Seed: 1})
	if !reflect.DeepEqual(a, b) || sa != sb {
		t.Fatal("the same Gen gave two different trees")
	}
	c, _ := proctest.GenSpec(proctest.Gen{Procs: 500, Seed: 2})
	if reflect.DeepEqual(a.Procs, c.Procs) {
		t.Fatal("seeds 1 and 2 gave the same processes")
	}
	if len(a.Procs) != 500 {
		t.Fatalf("%d processes, want 500", len(a.Procs))
	}
	pids := map[int]bool{}
	for _, p := range a.Procs {
		if pids[p.PID] {
			t.Fatalf("PID %d written twice", p.PID)
		}
		pids[p.PID] = true
	}
}

// TestGenerateFilesDeterministic checks that the files on disk, not only
// the description, are the same for the same Gen (the unlinked executables
// of deleted processes aside, whose fd numbers belong to the test binary).
func TestGenerateFilesDeterministic(t *testing.T) {
	g := proctest.Gen{Procs: 150, Seed: 7}
	t1, _ := proctest.Generate(t, t.TempDir(), g)
	t2, _ := proctest.Generate(t, t.TempDir(), g)
	if h1, h2 := hashTree(t, t1.Root()), hashTree(t, t2.Root()); h1 != h2 {
		t.Fatal("the same Gen wrote two different trees")
	}
}

func hashTree(t *testing.T, root string) [32]byte {
	t.Helper()
	h := sha256.New()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		h.Write([]byte(rel + "\x00"))
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			if d.Name() == proctest.ExeFile {
				return nil
			}
			target, err := os.Readlink(path)
			if err != nil {
				return err
			}
			h.Write([]byte(target))
		case d.Type().IsRegular():
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			h.Write(data)
		}
		h.Write([]byte{0})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

// TestGenerateCollects checks the generated tree through the collector:
// it holds the mix GenStats promises (kernel threads left out, deleted
// programs, sockets, users by name, sessions of various sizes, long
// command lines), so the benchmarks that use it measure a realistic host.
func TestGenerateCollects(t *testing.T) {
	tree, st := proctest.Generate(t, t.TempDir(), proctest.Gen{Procs: 1000, Seed: 1})
	// The mix itself: each part is there in a useful amount.
	switch {
	case st.KernelThreads < 1000*5/100:
		t.Errorf("%d kernel threads, want about 6%%", st.KernelThreads)
	case st.Deleted == 0, st.Zombies == 0:
		t.Errorf("want deleted programs and zombies: %+v", st)
	case st.Connected < 1000*3/100 || st.Listening == 0:
		t.Errorf("want about 5%% connected processes and some listeners: %+v", st)
	case st.Users < 20 || st.Sessions < 100 || st.LargestSession < 20:
		t.Errorf("want many users and sessions of various sizes: %+v", st)
	case st.LongCmdlines == 0:
		t.Errorf("want long command lines: %+v", st)
	}

	c, err := collect.NewCollector(tree.Root())
	if err != nil {
		t.Fatal(err)
	}
	snap, err := c.Collect(collect.CollectOptions{Read: engine.FactRead})
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Release()
	snap.LoadAll(engine.FactAll)
	if got, want := len(snap.Procs), st.Procs-st.KernelThreads; got != want {
		t.Fatalf("collected %d processes, want %d (%d minus %d kernel threads)", got, want, st.Procs, st.KernelThreads)
	}
	var deleted, connected, listening, unnamed, long int
	users := map[string]bool{}
	for _, p := range snap.Procs {
		if p.ExeDeleted {
			deleted++
		}
		if len(p.Connections) > 0 {
			connected++
		}
		if len(p.Listening) > 0 {
			listening++
		}
		if p.User == "" {
			unnamed++
		}
		if len(p.Cmd) > 1000 {
			long++
		}
		users[p.User] = true
	}
	if deleted != st.Deleted || connected != st.Connected || listening != st.Listening || long != st.LongCmdlines {
		t.Errorf("collected deleted=%d connected=%d listening=%d long=%d, generated %+v", deleted, connected, listening, long, st)
	}
	if unnamed > 0 || len(users) != st.Users {
		t.Errorf("%d processes without a user name, %d names for %d uids", unnamed, len(users), st.Users)
	}
	if snap.Load.Total != 1000 {
		t.Errorf("loadavg total %d, want 1000", snap.Load.Total)
	}
}

// TestGeneratedCached checks that Generated writes a tree once and that
// RemoveGenerated removes it.
func TestGeneratedCached(t *testing.T) {
	g := proctest.Gen{Procs: 50, Seed: 3}
	a, _ := proctest.Generated(t, g)
	b, _ := proctest.Generated(t, g)
	if a != b {
		t.Fatal("Generated wrote the same Gen twice")
	}
	proctest.RemoveGenerated()
	if _, err := os.Stat(a.Root()); !os.IsNotExist(err) {
		t.Fatalf("after RemoveGenerated the tree is still there: %v", err)
	}
}
