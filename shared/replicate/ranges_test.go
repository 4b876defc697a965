package replicate_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pg2s3/pg2s3/shared/catalog"
	"github.com/pg2s3/pg2s3/shared/layout"
	"github.com/pg2s3/pg2s3/shared/postgres/connect"
	"github.com/pg2s3/pg2s3/shared/postgres/tables"
	"github.com/pg2s3/pg2s3/shared/record"
	"github.com/pg2s3/pg2s3/shared/replicate"
)

// resolveFull resolves table as a FULL_TABLE stream of every column.
func (f *fixture) resolveFull(table string, cols ...string) *record.Stream {
	f.t.Helper()
	s, err := f.engine.Tables.(*tables.Source).Resolve(f.ctx, catalog.Selection{StreamID: "db-public-" + table, Schema: "public", Table: table,
		Method: layout.FullTable, Columns: cols, Known: cols})
	if err != nil {
		f.t.Fatal(err)
	}
	return &s
}

// workers opens a table source on a connection of its own per worker.
func (f *fixture) workers(ctx context.Context) (replicate.TableSource, func(), error) {
	conn, err := connect.Open(ctx, connect.FromConfig(f.cfg))
	if err != nil {
		return nil, nil, err
	}
	return tables.New(conn, tables.FromConfig(f.cfg)), func() { conn.Close(context.Background()) }, nil
}

// TestParallelCopy: a table whose keys are skewed (dense at the start,
// sparse to 10^12) is planned from its statistics into ranges of about
// equal rows, copied by four workers into one version: every key once,
// the version completed by one manifest and activated once, after all
// ranges. A second plan of the same copy changes nothing.
func TestParallelCopy(t *testing.T) {
	f := newFixture(t, `CREATE TABLE big (id bigint PRIMARY KEY, pad text);
INSERT INTO big SELECT g, repeat('x', 20) FROM generate_series(1, 20000) g;
INSERT INTO big SELECT g::bigint * 1000000000, 'far' FROM generate_series(1, 2000) g;
ANALYZE big;`)
	f.engine.Leaser, f.engine.Owner = f.bms, "run-1"
	s := f.resolveFull("big", "id", "pad")
	plan, err := f.engine.PlanRanges(f.ctx, s, 2500)
	if err != nil {
		t.Fatal(err)
	}
	if plan.Ranges < 6 || plan.Ranges > 9 || !strings.Contains(plan.How, "histogram") {
		t.Fatalf("plan %+v: want about 22000/2500 ranges from the histogram", plan)
	}
	again, err := f.engine.PlanRanges(f.ctx, s, 1000)
	if err != nil || again.Ranges != plan.Ranges || again.Version != plan.Version || again.How != "" {
		t.Fatalf("second plan %+v (%v): want the first one unchanged", again, err)
	}
	rep := f.engine.CopyParallel(f.ctx, replicate.ParallelJob{Stream: s, Workers: 4, Open: f.workers,
		Budget: replicate.Budget{BatchRows: 700, BatchBytes: 1 << 20, Deadline: time.Now().Add(time.Minute)}})
	if rep.Error != "" || !rep.CopyDone || rep.Rows != 22000 {
		t.Fatalf("parallel copy: %+v", rep)
	}
	ms := f.manifests(s.ID)
	perRange := map[int64]int64{}
	completing := 0
	for _, m := range ms {
		if m.TableVersion != plan.Version {
			t.Fatalf("manifest of version %d, want %d", m.TableVersion, plan.Version)
		}
		if m.VersionComplete {
			completing++
			if m.Sequence != layout.RangeFirstSeq(plan.Ranges) || len(m.Objects) != 0 {
				t.Errorf("completing manifest %d with %d objects", m.Sequence, len(m.Objects))
			}
		}
		perRange[m.Sequence/1_000_000] += m.Rows
	}
	got := ids(f.rows(ms))
	if len(got) != 22000 || len(slices.Compact(got)) != 22000 || completing != 1 {
		t.Fatalf("%d rows, %d distinct, %d completing manifests: want every key once and one completion", len(got), len(slices.Compact(slices.Clone(got))), completing)
	}
	lo, hi := int64(1<<62), int64(0)
	for r := 1; r <= plan.Ranges; r++ {
		lo, hi = min(lo, perRange[int64(r)]), max(hi, perRange[int64(r)])
	}
	if hi > 2*lo {
		t.Errorf("rows per range %v: the largest is more than twice the smallest", perRange)
	}
	markers, _ := f.sink.List(f.ctx, "versions/"+s.ID+"/")
	st, _ := f.bms.Get(f.ctx, s.ID)
	if len(markers) != 1 || !st.State.CopyDone || st.State.Ranges != plan.Ranges {
		t.Fatalf("markers %q, bookmark %+v", markers, st.State)
	}
	// Nothing is left to do: a worker finds the copy complete.
	if rr, more := f.engine.CopyRange(f.ctx, s, 0, replicate.Budget{BatchRows: 10, BatchBytes: 1 << 20}); more || !rr.CopyDone || rr.Rows != 0 {
		t.Errorf("range 0 after completion: %+v more %v", rr, more)
	}
}

// TestRangePlanWithoutStatistics: a composite key, never analysed, is
// planned from a sample, and the plan says so; a keyless table cannot be
// split, with a message that says where it goes instead.
func TestRangePlanWithoutStatistics(t *testing.T) {
	f := newFixture(t, `CREATE TABLE pairs (a int, b int, v text, PRIMARY KEY (a, b)) WITH (autovacuum_enabled = false);
INSERT INTO pairs SELECT g % 50, g, 'v' FROM generate_series(1, 30000) g;
CREATE TABLE loose (v text);`)
	s := f.resolveFull("pairs", "a", "b", "v")
	// Nothing planned: there is nothing to activate, and nothing is written.
	if done, err := f.engine.ActivateRanges(f.ctx, s); done || err == nil || !strings.Contains(err.Error(), "plan it first") || len(f.manifests(s.ID)) != 0 {
		t.Fatalf("activation of an unplanned copy: %v %v, manifests %d", done, err, len(f.manifests(s.ID)))
	}
	plan, err := f.engine.PlanRanges(f.ctx, s, 5000)
	if err != nil {
		t.Fatal(err)
	}
	if plan.Ranges < 2 || !strings.Contains(plan.How, "no statistics") || !strings.Contains(plan.How, "TABLESAMPLE") {
		t.Fatalf("plan %+v: want ranges from a sample, saying the table has no statistics", plan)
	}
	rep := f.engine.CopyParallel(f.ctx, replicate.ParallelJob{Stream: s, Workers: 3, Open: f.workers,
		Budget: replicate.Budget{BatchRows: 4000, BatchBytes: 1 << 20}})
	if rep.Error != "" || !rep.CopyDone || rep.Rows != 30000 {
		t.Fatalf("parallel copy: %+v", rep)
	}
	var keys []string
	for _, r := range f.rows(f.manifests(s.ID)) {
		keys = append(keys, fmt.Sprint(r["a"], "/", r["b"]))
	}
	slices.Sort(keys)
	if len(slices.Compact(keys)) != 30000 {
		t.Errorf("%d distinct keys, want 30000", len(keys))
	}
	loose := f.resolveFull("loose", "v")
	if _, err := f.engine.PlanRanges(f.ctx, loose, 10); err == nil || !strings.Contains(err.Error(), "cannot be split") {
		t.Errorf("keyless plan: %v", err)
	}
}

// TestRangeLeaseHeld: a range another run copies is left to it: the
// worker reports it skipped, and the copy completes only when it is done.
func TestRangeLeaseHeld(t *testing.T) {
	f := newFixture(t, `CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 3000); ANALYZE t;`)
	f.engine.Leaser, f.engine.Owner = f.bms, "me"
	s := f.resolveFull("t", "id")
	plan, err := f.engine.PlanRanges(f.ctx, s, 1000)
	if err != nil || plan.Ranges < 2 {
		t.Fatalf("plan %+v %v", plan, err)
	}
	if err := f.bms.Acquire(f.ctx, "range#"+s.ID+"/0", "other-run", time.Minute); err != nil {
		t.Fatal(err)
	}
	budget := replicate.Budget{BatchRows: 500, BatchBytes: 1 << 20}
	if rr, more := f.engine.CopyRange(f.ctx, s, 0, budget); rr.Skipped == "" || more || rr.Rows != 0 {
		t.Fatalf("range 0 under another run's lease: %+v", rr)
	}
	rep := f.engine.CopyParallel(f.ctx, replicate.ParallelJob{Stream: s, Workers: 2, Open: f.workers, Budget: budget})
	if rep.CopyDone || rep.Error != "" {
		t.Fatalf("copy completed without range 0: %+v", rep)
	}
	if err := f.bms.Release(f.ctx, "range#"+s.ID+"/0", "other-run"); err != nil {
		t.Fatal(err)
	}
	rep = f.engine.CopyParallel(f.ctx, replicate.ParallelJob{Stream: s, Workers: 2, Open: f.workers, Budget: budget})
	if !rep.CopyDone || rep.Error != "" {
		t.Fatalf("copy after the lease was released: %+v", rep)
	}
	var rows int64
	for _, m := range f.manifests(s.ID) {
		rows += m.Rows
	}
	if rows != 3000 {
		b, _ := json.Marshal(f.manifests(s.ID))
		t.Errorf("%d rows in the version, want 3000: %s", rows, b)
	}
}

// TestScheduledRunOfASplitCopy: a run that is not itself parallel works
// through a split copy's ranges one after another, within its max_batches
// for the stream whatever ranges they fall in, and completes the copy.
func TestScheduledRunOfASplitCopy(t *testing.T) {
	f := newFixture(t, `CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 3000); ANALYZE t;`)
	f.engine.Leaser, f.engine.Owner = f.bms, "scheduled"
	s := f.resolveFull("t", "id")
	if plan, err := f.engine.PlanRanges(f.ctx, s, 1000); err != nil || plan.Ranges < 2 {
		t.Fatalf("plan %+v %v", plan, err)
	}
	budget := replicate.Budget{BatchRows: 400, BatchBytes: 1 << 20, MaxBatches: 4}
	rep := f.engine.CopyStream(f.ctx, s, budget)
	if rep.Error != "" || rep.Batches != 4 || rep.CopyDone {
		t.Fatalf("a run of at most 4 batches: %+v", rep)
	}
	for i := 0; i < 10 && !rep.CopyDone; i++ {
		if rep = f.engine.CopyStream(f.ctx, s, budget); rep.Error != "" || rep.Batches > 4 {
			t.Fatalf("run %d: %+v", i, rep)
		}
	}
	var rows int64
	for _, m := range f.manifests(s.ID) {
		rows += m.Rows
	}
	if !rep.CopyDone || rows != 3000 {
		t.Fatalf("copy done %v with %d rows, want 3000", rep.CopyDone, rows)
	}
}
