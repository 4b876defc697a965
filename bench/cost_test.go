package bench

import (
	"math"
	"testing"
	"time"
)

// The cost case's arithmetic: 1M rows in 2 s at 1024 MB is 2 GB-s; 22
// objects (one of them 40 MiB: three parts, initiate and complete) and 10
// commits with one lease.
func TestCostArithmetic(t *testing.T) {
	before := map[string]int64{"old.json": 10}
	after := map[string]int64{"old.json": 10, "s/v1/_0000000001.manifest.json": 300, "s/v1/0000000001.jsonl.gz": 40 << 20, "_runs/r.json": 100}
	puts, commits := newObjects(before, after)
	if puts != 1+5+1 || commits != 1 {
		t.Fatalf("puts %d commits %d: want 7 and 1", puts, commits)
	}
	u := Usage{Rows: 1_000_000, Dur: 2 * time.Second, Puts: 22, Commits: 10, Leases: 1, MemoryMB: 1024, RunSecond: 280}
	c := u.Cost(ListPrices)
	want := 2*0.0000133334 + 1*0.20/1e6 + 22*0.005/1000 + 12*0.625/1e6
	if math.Abs(c.Total-want) > 1e-12 || c.LambdaGBSeconds != 2 || c.Invocations != 1 || c.Writes != 12 {
		t.Fatalf("cost %+v, want total %g", c, want)
	}
	// Half the rows in the same time cost twice as much per million, but
	// for the invocation: one still works the 4 s.
	u.Rows = 500_000
	req := 0.20 / 1e6
	if c2 := u.Cost(ListPrices); math.Abs(c2.Total-(2*(want-req)+req)) > 1e-12 {
		t.Fatalf("per million of half the rows: %g, want %g", c2.Total, 2*(want-req)+req)
	}
	r := CostResult("full-table", Usage{Rows: 1_000_000, Dur: 2 * time.Second, Puts: 22, Commits: 10, Leases: 1, MemoryMB: 1024, RunSecond: 280}, ListPrices)
	if r.Met != "" || r.Target.MaxValue != 0.001 || r.Reference != 20 {
		t.Fatalf("result %+v", r)
	}
}
