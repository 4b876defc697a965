package app_test

import (
	"context"
	"strings"
	"testing"

	"github.com/pg2s3/pg2s3/shared/app"
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
