package warehouse_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	osexec "os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pg2s3/pg2s3/shared/app"
	"github.com/pg2s3/pg2s3/shared/config"
	"github.com/pg2s3/pg2s3/shared/encode"
	"github.com/pg2s3/pg2s3/shared/layout"
	"github.com/pg2s3/pg2s3/shared/replicate"
	"github.com/pg2s3/pg2s3/shared/report"
	"github.com/pg2s3/pg2s3/shared/testenv"
)

// loaderTables are the replicated tables; the loader database gets the
// same definitions (empty) to type the merged documents.
const loaderTables = `
CREATE TABLE full_t (id int PRIMARY KEY, name text, amount numeric(12,2), at timestamptz, tags int[], doc jsonb, flag boolean);
CREATE TABLE incr_t (id int PRIMARY KEY, name text, updated_at timestamptz NOT NULL);
CREATE TABLE log_t (id int PRIMARY KEY, name text, amount numeric, big text, doc jsonb);
ALTER TABLE log_t ALTER big SET STORAGE EXTERNAL; -- large values out of line, uncompressed: TOASTed
`

// TestLoaderSQL replicates one table of each method, loads every data
// object and version marker the sink holds into PostgreSQL, runs
// docs/loader/postgres.sql as it is and compares the current state it
// yields with the source tables: two complete FULL_TABLE versions (the
// second after a reset) and a third left unfinished, INCREMENTAL runs that
// re-read rows, and LOG_BASED inserts, updates (one leaving a TOASTed value
// unchanged), deletes, and a row deleted and inserted again after the
// initial copy.
func TestLoaderSQL(t *testing.T) {
	ctx := context.Background()
	db, dsn, err := testPG.NewDatabase(ctx, "wh_loader")
	if err != nil {
		t.Fatal(err)
	}
	exec(t, dsn, loaderTables+`
INSERT INTO full_t SELECT g, 'f' || g, g * 1.25, '2024-05-01T00:00:00Z'::timestamptz + g * interval '1 hour',
  ARRAY[g, g + 1], jsonb_build_object('g', g, 'nested', jsonb_build_array(g, 'x')), g % 2 = 0 FROM generate_series(1, 20) g;
INSERT INTO incr_t SELECT g, 'i' || g, '2024-01-01T00:00:00Z'::timestamptz + g * interval '1 minute' FROM generate_series(1, 20) g;
INSERT INTO log_t SELECT g, 'l' || g, g / 3.0, CASE WHEN g = 1 THEN repeat('big', 4000) END, jsonb_build_object('g', g) FROM generate_series(1, 20) g;`)
	a := openApp(t, dsn)
	cat, err := a.SelectedCatalog(ctx, map[string]app.StreamChoice{
		db + "-public-full_t": {ReplicationMethod: "FULL_TABLE"},
		db + "-public-incr_t": {ReplicationMethod: "INCREMENTAL", ReplicationKey: "updated_at"},
		db + "-public-log_t":  {ReplicationMethod: "LOG_BASED"},
	})
	if err != nil {
		t.Fatal(err)
	}
	syncTables := func(opts app.RunOptions) {
		t.Helper()
		run, err := a.Sync(ctx, cat, opts)
		mustRun(t, run, err)
	}
	drain := func() {
		t.Helper()
		run, err := a.Drain(ctx, cat, app.RunOptions{})
		mustRun(t, run, err)
	}
	syncTables(app.RunOptions{})
	drain() // slot, start position, initial copy of log_t

	exec(t, dsn, `
UPDATE full_t SET name = 'changed' WHERE id <= 3;
DELETE FROM full_t WHERE id BETWEEN 10 AND 12;
INSERT INTO full_t VALUES (21, 'new', 0.10, now(), '{}', 'null', NULL);
UPDATE incr_t SET name = 'updated', updated_at = '2024-02-01T00:00:00Z' WHERE id IN (2, 5);
INSERT INTO incr_t VALUES (21, 'late', '2024-02-02T00:00:00Z');
INSERT INTO log_t VALUES (21, 'inserted', 1.5, NULL, '{"a": [1, 2]}');
UPDATE log_t SET name = 'renamed' WHERE id = 1;           -- big stays as it is: unchanged TOAST
UPDATE log_t SET amount = 99.99, doc = NULL WHERE id IN (2, 15); -- 15 was copied in a later batch (a greater _sdc_sequence than the change's)
DELETE FROM log_t WHERE id = 3;
DELETE FROM log_t WHERE id = 4;
INSERT INTO log_t VALUES (4, 'again', 4.4, 'small', '{}');  -- deleted and inserted again
INSERT INTO log_t VALUES (22, 'short-lived', 0, NULL, NULL);
DELETE FROM log_t WHERE id = 22;`)

	// FULL_TABLE: a reset starts version 2, which completes.
	fullID := db + "-public-full_t"
	if _, err := replicate.Reset(ctx, a.Stores.Bookmarks, fullID, []string{fullID}, time.Now()); err != nil {
		t.Fatal(err)
	}
	syncTables(app.RunOptions{})
	drain()
	wantFull := tableRows(t, dsn, "full_t")
	// Version 3 starts but stops after one batch: version 2 stays active.
	exec(t, dsn, `DELETE FROM full_t WHERE id < 8; UPDATE full_t SET name = 'v3' WHERE id >= 8;`)
	syncTables(app.RunOptions{Streams: []string{fullID}, MaxBatches: 1})

	loaderDSN := loadSink(t, a, map[string][]string{fullID: {"id"}, db + "-public-incr_t": {"id"}, db + "-public-log_t": {"id"}})

	got := currentRows(t, loaderDSN, fullID, "full_t")
	if strings.Join(got, "\n") != strings.Join(wantFull, "\n") {
		t.Errorf("full_t:\nloader %s\nsource %s", strings.Join(got, "\n       "), strings.Join(wantFull, "\n       "))
	}
	for _, table := range []string{"incr_t", "log_t"} {
		got, want := currentRows(t, loaderDSN, db+"-public-"+table, table), tableRows(t, dsn, table)
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s:\nloader %s\nsource %s", table, strings.Join(got, "\n       "), strings.Join(want, "\n       "))
		}
	}
	// The script a user runs on a copy of the directory loads the same.
	scriptDSN := loadDirScript(t, a.Cfg.Sink.Path)
	for _, table := range []string{"full_t", "incr_t", "log_t"} {
		id := db + "-public-" + table
		if got, want := currentRows(t, scriptDSN, id, table), currentRows(t, loaderDSN, id, table); strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s loaded by load-dir.sh:\n%s\nloaded directly:\n%s", table, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
	// The cases the rule must handle were all in the input.
	for what, q := range map[string]string{
		"three full_t versions, two active": fmt.Sprintf(`SELECT count(DISTINCT doc->>'_sdc_table_version') = 3 AND (SELECT count(*) FROM pg2s3_markers WHERE doc->>'stream' = '%s') = 2 FROM pg2s3_rows WHERE stream = '%[1]s'`, fullID),
		"re-read incr_t rows":               fmt.Sprintf(`SELECT count(*) > count(DISTINCT doc->>'id') FROM pg2s3_rows WHERE stream = '%s-public-incr_t'`, db),
		"a change without the TOASTed big":  `SELECT count(*) = 1 FROM pg2s3_rows WHERE object_key LIKE '%/wal-%' AND doc->>'id' = '1' AND NOT doc ? 'big'`,
		"deletes in the log":                `SELECT count(*) = 3 FROM pg2s3_rows WHERE object_key LIKE '%/wal-%' AND doc->>'_sdc_deleted_at' IS NOT NULL`,
	} {
		var ok bool
		if err := queryRow(t, loaderDSN, q).Scan(&ok); err != nil || !ok {
			t.Errorf("input lacks %s (%v)", what, err)
		}
	}
}

func exec(t *testing.T, dsn, sql string) {
	t.Helper()
	if err := testenv.Exec(context.Background(), dsn, sql); err != nil {
		t.Fatal(err)
	}
}

func openApp(t *testing.T, dsn string) *app.App {
	t.Helper()
	base, err := config.FromURL(dsn)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	b, _ := json.Marshal(map[string]any{"host": base.Host, "port": base.Port, "user": base.User, "dbname": base.DBName, "sslmode": "disable",
		"batch_rows": 7, "sink": map[string]any{"type": "local", "path": filepath.Join(dir, "out")},
		"bookmarks": map[string]any{"type": "file", "path": filepath.Join(dir, "bm.json")}})
	cfg, err := config.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.Open(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func mustRun(t *testing.T, run *report.Run, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	if run.Failed() {
		b, _ := json.Marshal(run)
		t.Fatalf("run failed: %s", b)
	}
}

// loadSink creates a loader database, runs the loader SQL file in it, and
// loads every data object and version marker of the sink, as a user would
// after copying the bucket.
func loadSink(t *testing.T, a *app.App, keys map[string][]string) string {
	t.Helper()
	ctx := context.Background()
	_, dsn, err := testPG.NewDatabase(ctx, "wh_target")
	if err != nil {
		t.Fatal(err)
	}
	root, err := testenv.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	loaderSQL, err := os.ReadFile(filepath.Join(root, "docs", "loader", "postgres.sql"))
	if err != nil {
		t.Fatal(err)
	}
	exec(t, dsn, loaderTables+string(loaderSQL))
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for stream, cols := range keys {
		if _, err := conn.Exec(ctx, "INSERT INTO pg2s3_streams VALUES ($1, $2)", stream, cols); err != nil {
			t.Fatal(err)
		}
	}
	objects, err := a.Stores.Sink.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	var rows, markers [][]any
	for _, key := range objects {
		body, err := a.Stores.Sink.Get(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case strings.HasPrefix(key, layout.VersionsPrefix):
			for _, line := range strings.Split(strings.TrimSpace(string(body)), "\n") {
				markers = append(markers, []any{line})
			}
		case strings.HasPrefix(key, "_") || strings.Contains(key, "/_"): // manifests, runs, catalog
		default:
			docs, err := encode.ReadObject(key, body)
			if err != nil {
				t.Fatal(err)
			}
			stream, _, _ := strings.Cut(key, "/")
			for _, d := range docs {
				b, _ := json.Marshal(d)
				rows = append(rows, []any{stream, key, string(b)})
			}
		}
	}
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"pg2s3_rows"}, []string{"stream", "object_key", "doc"}, pgx.CopyFromRows(rows)); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"pg2s3_markers"}, []string{"doc"}, pgx.CopyFromRows(markers)); err != nil {
		t.Fatal(err)
	}
	return dsn
}

// loadDirScript runs docs/loader/load-dir.sh on the output directory into
// a new database holding the tables' definitions, and returns its DSN.
func loadDirScript(t *testing.T, dir string) string {
	t.Helper()
	_, dsn, err := testPG.NewDatabase(context.Background(), "wh_script")
	if err != nil {
		t.Fatal(err)
	}
	exec(t, dsn, loaderTables)
	root, err := testenv.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	cmd := osexec.Command("bash", filepath.Join(root, "docs", "loader", "load-dir.sh"), dir, "-d", dsn)
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(testPG.Bin("psql"))+string(os.PathListSeparator)+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "live_rows") {
		t.Fatalf("load-dir.sh: %v\n%s", err, out)
	}
	return dsn
}

// currentRows types the loader's documents of stream as table's rows.
func currentRows(t *testing.T, dsn, stream, table string) []string {
	t.Helper()
	return jsonRows(t, dsn, fmt.Sprintf(`SELECT to_jsonb(r)::text FROM pg2s3_current c
CROSS JOIN LATERAL jsonb_populate_record(NULL::%s, c.doc) r WHERE c.stream = $1`, table), stream)
}

func tableRows(t *testing.T, dsn, table string) []string {
	t.Helper()
	return jsonRows(t, dsn, "SELECT to_jsonb(r)::text FROM "+table+" r")
}

func jsonRows(t *testing.T, dsn, q string, args ...any) []string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, q, args...)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func queryRow(t *testing.T, dsn, q string) pgx.Row {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(ctx) })
	return conn.QueryRow(ctx, q)
}
