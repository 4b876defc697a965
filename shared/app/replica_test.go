package app_test

import (
	"context"
	"fmt"
	"os"
	"reflect"
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
	t.Run("use_secondary", func(t *testing.T) { useSecondary(t, pg, sb, dsn, sbDSN) })
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
	run, err := p.app.Drain(ctx, p.cat, app.RunOptions{})
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
	if run, err := p.app.Sync(ctx, p.cat, app.RunOptions{}); err != nil || run.Failed() {
		t.Fatalf("sync of a full-table stream on a standby: %v %+v", err, run)
	}
}

// useSecondary: FULL_TABLE and INCREMENTAL streams are read from the
// secondary, LOG_BASED ones (their initial copy included) from the
// primary. The standby stops replaying first, so a read sees which
// server it went to; after catch-up the replica's rows equal the
// primary's.
func useSecondary(t *testing.T, pg, sb *testenv.Postgres, dsn, sbDSN string) {
	ctx := context.Background()
	p := newPipeline(t, dsn, map[string]any{"use_secondary": true, "secondary_host": "127.0.0.1", "secondary_port": sb.Port, "batch_rows": 40},
		map[string]string{"items": "FULL_TABLE", "events": "INCREMENTAL:id", "ledger": "LOG_BASED"})
	if err := testenv.Exec(ctx, sb.DSN(""), "SELECT pg_wal_replay_pause()"); err != nil {
		t.Fatal(err)
	}
	if err := execSQL(dsn, `
INSERT INTO items SELECT g, 'item ' || g FROM generate_series(101, 150) g;
UPDATE items SET name = 'renamed' WHERE id <= 10;
INSERT INTO events SELECT g, 'late' FROM generate_series(101, 150) g;
INSERT INTO ledger SELECT g, g FROM generate_series(101, 150) g;`); err != nil {
		t.Fatal(err)
	}
	queries := map[string]string{"items": "SELECT id, name FROM items", "events": "SELECT id, kind FROM events", "ledger": "SELECT id, amount FROM ledger"}
	state := func(dsn, table string) map[string]map[string]any { return tableState(t, dsn, queries[table]) }
	sync := func() {
		t.Helper()
		run, err := p.app.Sync(ctx, p.cat, app.RunOptions{})
		if err != nil || run.Failed() {
			t.Fatalf("sync: %v %+v", err, run)
		}
	}
	replicated := func(table string) map[string]map[string]any {
		if table == "items" {
			return newestVersion(p.rows(streamID(p, table)))
		}
		return merge(p.rows(streamID(p, table)))
	}

	sync()
	for _, table := range []string{"items", "events"} {
		onStandby := state(sbDSN, table)
		if reflect.DeepEqual(onStandby, state(dsn, table)) {
			t.Fatalf("%s: the paused standby has the primary's rows: the test would not tell the servers apart", table)
		}
		if got := replicated(table); !reflect.DeepEqual(got, onStandby) {
			t.Errorf("%s: %d rows replicated, the standby has %d, or they differ", table, len(got), len(onStandby))
		}
	}
	drain(t, p, app.RunOptions{})
	if got, onPrimary := replicated("ledger"), state(dsn, "ledger"); !reflect.DeepEqual(got, onPrimary) || len(onPrimary) != 150 {
		t.Errorf("ledger: %d rows replicated, the primary has %d, or they differ", len(got), len(onPrimary))
	}

	if err := testenv.Exec(ctx, sb.DSN(""), "SELECT pg_wal_replay_resume()"); err != nil {
		t.Fatal(err)
	}
	if err := pg.WaitReplayed(ctx, sb, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	sync()
	for _, table := range []string{"items", "events"} {
		if got, onPrimary := replicated(table), state(dsn, table); !reflect.DeepEqual(got, onPrimary) {
			t.Errorf("%s after catch-up: %d rows replicated, the primary has %d, or they differ", table, len(got), len(onPrimary))
		}
	}
}
