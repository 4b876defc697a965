package app_test

import (
	"context"
	"strings"
	"testing"

	"github.com/pg2s3/pg2s3/shared/app"
	"github.com/pg2s3/pg2s3/shared/catalog"
	"github.com/pg2s3/pg2s3/shared/postgres/connect"
	"github.com/pg2s3/pg2s3/shared/postgres/tables"
)

func TestSelectedCatalogAppliesInlineSelection(t *testing.T) {
	dsn, db := newDB(t, "CREATE TABLE a (id int PRIMARY KEY, t timestamptz); CREATE TABLE b (id int PRIMARY KEY);")
	p := newPipeline(t, dsn, nil, nil)
	cat, err := p.app.SelectedCatalog(context.Background(), map[string]app.StreamChoice{
		db + "-public-a": {ReplicationMethod: "INCREMENTAL", ReplicationKey: "t"},
	})
	if err != nil {
		t.Fatal(err)
	}
	sels, err := cat.Selections("")
	if err != nil || len(sels) != 1 || sels[0].Method != "INCREMENTAL" || sels[0].ReplicationKey != "t" {
		t.Fatalf("selections: %+v %v", sels, err)
	}
	_, err = p.app.SelectedCatalog(context.Background(), map[string]app.StreamChoice{"nope": {ReplicationMethod: "FULL_TABLE"}})
	if err == nil || !strings.Contains(err.Error(), db+"-public-b") {
		t.Fatalf("unknown stream: %v", err)
	}
}

func TestResolveNotesAnIndexedReplicationKey(t *testing.T) {
	dsn, _ := newDB(t, "CREATE TABLE a (id int PRIMARY KEY, t timestamptz); CREATE INDEX ON a (t, id); CREATE TABLE b (id int PRIMARY KEY, t timestamptz);")
	p := newPipeline(t, dsn, nil, map[string]string{"a": "INCREMENTAL:t", "b": "INCREMENTAL:t"})
	conn, err := connect.Open(context.Background(), connect.FromConfig(p.app.Cfg))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	streams, failed, err := app.Resolve(context.Background(), tables.New(conn, tables.FromConfig(p.app.Cfg)), p.cat, "", nil)
	if err != nil || len(failed) > 0 || len(streams) != 2 {
		t.Fatalf("resolve: %v %v", err, failed)
	}
	for _, s := range streams {
		if want := s.Table == "a"; s.ReplicationKeyIndexed != want {
			t.Errorf("%s: indexed %v, want %v", s.Table, s.ReplicationKeyIndexed, want)
		}
	}
}

// TestIncrementalFollowsAddedColumn: an INCREMENTAL stream replicates a
// column added after discovery from the next run on (the rows whose
// replication key moved carry it), the run report names it, and
// RecordNewColumns writes it, selected, into the stored catalog; a
// second call finds nothing more to record.
func TestIncrementalFollowsAddedColumn(t *testing.T) {
	ctx := context.Background()
	dsn, _ := newDB(t, "CREATE TABLE a (id int PRIMARY KEY, t int NOT NULL); INSERT INTO a SELECT g, g FROM generate_series(1, 5) g;")
	p := newPipeline(t, dsn, nil, map[string]string{"a": "INCREMENTAL:t"})
	id := streamID(p, "a")
	if run, err := p.app.Sync(ctx, p.cat, app.RunOptions{}); err != nil || run.Failed() {
		t.Fatalf("sync: %v %+v", err, run)
	}
	mustExec(t, dsn, "ALTER TABLE a ADD COLUMN tier text DEFAULT 'basic'; UPDATE a SET t = 10, tier = 'gold' WHERE id = 2")
	run, err := p.app.Sync(ctx, p.cat, app.RunOptions{})
	if err != nil || run.Failed() || len(run.Streams) != 1 || strings.Join(run.Streams[0].NewColumns, ",") != "tier" {
		t.Fatalf("sync after ADD COLUMN: %v %+v", err, run)
	}
	if got := merge(p.rows(id))["2"]; got["tier"] != "gold" {
		t.Errorf("row 2 after ADD COLUMN: %v", got)
	}
	cols, err := p.app.RecordNewColumns(ctx, run, "_catalog/catalog.json")
	if err != nil || strings.Join(cols, ",") != id+".tier" {
		t.Fatalf("recorded %q: %v", cols, err)
	}
	body, err := p.app.Stores.Sink.Get(ctx, "_catalog/catalog.json")
	if err != nil {
		t.Fatal(err)
	}
	stored, err := catalog.Parse(body)
	if err != nil {
		t.Fatal(err)
	}
	if !colSelected(stored.Stream(id), "tier") {
		t.Error("the stored catalog does not select the new column")
	}
	if cols, err := p.app.RecordNewColumns(ctx, run, "_catalog/catalog.json"); err != nil || len(cols) != 0 {
		t.Errorf("recorded again: %q %v", cols, err)
	}
}
