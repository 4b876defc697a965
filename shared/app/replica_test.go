package app_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pg2s3/pg2s3/shared/app"
	"github.com/pg2s3/pg2s3/shared/testenv"
)

const replicaSchema = `
CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE events (id bigint PRIMARY KEY, kind text NOT NULL);
CREATE TABLE ledger (id int PRIMARY KEY, amount int NOT NULL);
INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 100) g;
INSERT INTO events SELECT g, 'seen' FROM generate_series(1, 100) g;
INSERT INTO ledger SELECT g, g FROM generate_series(1, 100) g;
`

// TestReplica runs pipelines against a private primary and a streaming
// standby of it (the package's shared cluster is not copied: it holds
// every test's database).
func TestReplica(t *testing.T) {
	if os.Getenv("PG2S3_TEST_DSN") != "" {
		t.Skip(testenv.ErrNotPrivate)
	}
	ctx := context.Background()
	pg, err := testenv.StartPostgres(testenv.PostgresOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Stop()
	db, dsn, err := pg.NewDatabase(ctx, "replica")
	if err != nil {
		t.Fatal(err)
	}
	if err := testenv.Exec(ctx, dsn, replicaSchema); err != nil {
		t.Fatal(err)
	}
	sb, err := pg.StartStandby()
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Stop()
	if err := pg.WaitReplayed(ctx, sb, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	sbDSN := sb.DSN(db)

	for _, plugin := range []string{"pgoutput", "wal2json"} {
		t.Run("standby given as the primary/"+plugin, func(t *testing.T) { standbyAsPrimary(t, sb, sbDSN, plugin) })
	}
}

// standbyAsPrimary: log-based replication configured against a
// PostgreSQL 15 standby fails its streams in one line naming the fix (the
// run report says so), and setup-slot fails with the same line, before
// either writes a data object, a bookmark, a slot or a publication.
func standbyAsPrimary(t *testing.T, sb *testenv.Postgres, sbDSN, plugin string) {
	ctx := context.Background()
	p := newPipeline(t, sbDSN, map[string]any{"logical_plugin": plugin}, map[string]string{"ledger": "LOG_BASED", "items": "FULL_TABLE"})
	before, err := p.app.Stores.Sink.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	isLine := func(msg string) bool {
		return strings.Contains(msg, fmt.Sprintf("127.0.0.1:%d is a standby (in recovery)", sb.Port)) &&
			strings.Contains(msg, "set host to the primary for log-based streams") && strings.Contains(msg, "use_secondary") && !strings.Contains(msg, "\n")
	}
	run, err := p.app.DrainWAL(ctx, p.cat, app.RunOptions{})
	if err != nil || len(run.Streams) != 1 || run.Streams[0].Stream != streamID(p, "ledger") || !isLine(run.Streams[0].Error) || run.StopReason != "error" {
		t.Fatalf("drain on a standby: %v %+v", err, run)
	}
	_, _, err = p.app.SetupSlot(ctx, p.cat)
	if err == nil || err.Error() != run.Streams[0].Error {
		t.Errorf("setup-slot on a standby: got %v\nwant %s", err, run.Streams[0].Error)
	}
	after, err := p.app.Stores.Sink.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if want := append(before, run.ReportKey); !slices.Equal(after, want) {
		t.Errorf("objects: got %v, want %v (the run report only)", after, want)
	}
	if bms, err := p.app.Stores.Bookmarks.All(ctx); err != nil || len(bms) != 0 {
		t.Errorf("bookmarks moved: %v %v", bms, err)
	}
	if n := tableState(t, sbDSN, "SELECT 1 AS id FROM pg_replication_slots UNION ALL SELECT 2 FROM pg_publication"); len(n) != 0 {
		t.Errorf("slot or publication made: %v", n)
	}
	// Full-table streams read from a standby.
	if run, err := p.app.SyncTables(ctx, p.cat, app.RunOptions{}); err != nil || run.Failed() {
		t.Fatalf("sync of a full-table stream on a standby: %v %+v", err, run)
	}
}
