package app_test

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/pg2s3/pg2s3/shared/app"
)

// TestParallelSync: sync with Parallel splits a large keyed FULL_TABLE
// copy and a LOG_BASED initial copy into ranges; status shows a split copy
// under way; changes made while the log-based copy runs in ranges arrive
// through the slot, and both current tables equal the source.
func TestParallelSync(t *testing.T) {
	ctx := context.Background()
	dsn, _ := newDB(t, `CREATE TABLE f (id int PRIMARY KEY, v text);
INSERT INTO f SELECT g, 'f' || g FROM generate_series(1, 12000) g;
CREATE TABLE l (id int PRIMARY KEY, v text);
INSERT INTO l SELECT g, 'l' || g FROM generate_series(1, 12000) g;
ANALYZE f; ANALYZE l;`)
	p := newPipeline(t, dsn, map[string]any{"batch_rows": 1000, "rows_per_range": 3000}, map[string]string{"f": "FULL_TABLE", "l": "LOG_BASED"})
	opts := app.RunOptions{Parallel: 3, MaxBatches: 2}
	run, err := p.app.Sync(ctx, p.cat, opts)
	if err != nil || run.Failed() || run.Streams[0].CopyDone || run.Streams[0].Batches != 2 {
		t.Fatalf("first parallel sync of at most 2 batches: %v %+v", err, run)
	}
	st, err := p.app.Status(ctx, p.cat)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st.Streams {
		if s.Stream == streamID(p, "f") && !strings.Contains(s.Bookmark, "ranges done") {
			t.Errorf("status of the split copy: %q", s.Bookmark)
		}
	}
	for i := 0; i < 20; i++ {
		mustExec(t, dsn, fmt.Sprintf("UPDATE l SET v = v || 'x' WHERE id %% 997 = 0; DELETE FROM l WHERE id = %d; INSERT INTO l VALUES (%d, 'new')", 5000+i, 20000+i))
		if run, err := p.app.Sync(ctx, p.cat, opts); err != nil || run.Failed() {
			t.Fatalf("parallel sync: %v %+v", err, run)
		}
		drain(t, p, opts)
	}
	drain(t, p, app.RunOptions{})
	checkCurrent(t, p, dsn, "f", "l")
	for _, table := range []string{"f", "l"} {
		id := streamID(p, table)
		bm, _ := p.app.Stores.Bookmarks.Get(ctx, id)
		if bm.State.Ranges < 3 {
			t.Errorf("%s was not copied in ranges: %+v", table, bm.State)
		}
	}
}

// checkCurrent: each table's current state that the loader rule gives
// from its stream's active version (merged by key) equals the source, on
// the tables' (id, v) columns.
func checkCurrent(t *testing.T, p *pipeline, dsn string, tables ...string) {
	t.Helper()
	for _, table := range tables {
		id := streamID(p, table)
		got := merge(versionRows(t, p, id, activeVersion(t, p, id)))
		want := tableState(t, dsn, "SELECT id, v FROM "+table)
		if len(got) != len(want) {
			t.Fatalf("%s: %d rows in the current table, %d in the source", table, len(got), len(want))
		}
		for k, w := range want {
			if !reflect.DeepEqual(got[k]["v"], w["v"]) {
				t.Fatalf("%s row %s: %v, want %v", table, k, got[k], w)
			}
		}
	}
}
