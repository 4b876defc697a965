package materialize_test

import (
	"context"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/pg2s3/pg2s3/shared/materialize"
)

// TestMaintain gives a LOG_BASED table many small commits (a slot batch
// of five changes each, one commit per batch), then compacts it and
// expires its snapshots: the table's rows are the same before and after
// and equal to the source, the data and delete files collapse, reading
// gets faster, and the materializer goes on from the same position.
func TestMaintain(t *testing.T) {
	f := newFixture(t, itemsSchema, map[string]any{"logical_plugin": "pgoutput", "batch_rows": 5}, map[string]string{"items": "LOG_BASED"})
	f.exec(`INSERT INTO items SELECT i, 'n' || i, i * 1.25, i, i % 2 = 0, '2024-01-01'::timestamptz + i * interval '1 hour', jsonb_build_object('i', i), NULL, NULL FROM generate_series(1, 50) i`)
	f.drain() // the copy
	f.mustMaterialize("items", 0)
	for round := range 6 {
		f.exec(`UPDATE items SET name = name || '+', amount = amount + 1 WHERE id % 6 = ` + strconv.Itoa(round))
		f.exec(`DELETE FROM items WHERE id = ` + strconv.Itoa(40+round))
		f.exec(`INSERT INTO items VALUES (` + strconv.Itoa(100+round) + `, 'new', 1, 2, true, now(), '[]', NULL, 'r')`)
	}
	f.drain()
	res := f.mustMaterialize("items", 1)
	if res.Commits < 10 {
		t.Fatalf("want many small commits, got %+v", res)
	}
	f.compare("items", itemsQuery)
	before := f.icebergRows("items")
	readBefore := f.bestScan("items")

	m := &materialize.Materializer{Sink: f.app.Stores.Sink, Bookmarks: f.app.Stores.Bookmarks, Leaser: f.app.Stores.Leaser, Catalog: f.ice}
	opts := materialize.MaintainOptions{Stream: f.streamID("items"), Table: f.ident("items"), Owner: "test", SnapshotAge: time.Millisecond}
	time.Sleep(2 * time.Millisecond)
	mr, err := m.Maintain(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("maintenance: %+v", mr)
	if mr.Rewritten == 0 || mr.DataFilesAfter >= mr.DataFilesBefore || mr.DataFilesAfter != 1 {
		t.Errorf("compaction left %d of %d data files (rewrote %d)", mr.DataFilesAfter, mr.DataFilesBefore, mr.Rewritten)
	}
	if mr.DeleteFilesBefore < res.Commits-1 || mr.DeleteFilesAfter != 0 {
		t.Errorf("delete files %d -> %d after %d commits", mr.DeleteFilesBefore, mr.DeleteFilesAfter, res.Commits)
	}
	if mr.SnapshotsBefore <= res.Commits || mr.SnapshotsAfter != 1 {
		t.Errorf("snapshots %d -> %d", mr.SnapshotsBefore, mr.SnapshotsAfter)
	}
	if after := f.icebergRows("items"); !reflect.DeepEqual(after, before) {
		t.Fatalf("maintenance changed the table's rows:\nbefore %v\nafter  %v", before, after)
	}
	f.compare("items", itemsQuery)
	readAfter := f.bestScan("items")
	t.Logf("full scan, best of 3: %v before maintenance, %v after (%d data + %d delete files -> %d + %d)",
		readBefore, readAfter, mr.DataFilesBefore, mr.DeleteFilesBefore, mr.DataFilesAfter, mr.DeleteFilesAfter)

	// The materializer goes on from the position the compaction kept.
	f.exec(`UPDATE items SET note = 'after' WHERE id < 10`)
	f.exec(`DELETE FROM items WHERE id = 100`)
	f.drain()
	if res := f.mustMaterialize("items", 0); res.Commits != 1 || res.Recovered || res.Replaced != 0 {
		t.Fatalf("run after maintenance: %+v", res)
	}
	f.compare("items", itemsQuery)

	// Nothing to do is no error and no commit; a table not created yet
	// is left alone.
	mr, err = m.Maintain(context.Background(), opts)
	if err != nil || mr.Rewritten != 0 {
		t.Fatalf("second maintenance: %+v, %v", mr, err)
	}
	opts.Table = f.ident("nothing_here")
	if mr, err := m.Maintain(context.Background(), opts); err != nil || mr.SnapshotsBefore != 0 {
		t.Fatalf("maintenance of a missing table: %+v, %v", mr, err)
	}
}

// bestScan is the best of three full scans of the table.
func (f *fixture) bestScan(tbl string) time.Duration {
	best := time.Duration(1 << 62)
	for range 3 {
		start := time.Now()
		f.icebergRows(tbl)
		best = min(best, time.Since(start))
	}
	return best
}
