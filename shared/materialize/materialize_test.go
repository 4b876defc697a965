package materialize_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/table"

	"github.com/pg2s3/pg2s3/shared/app"
	"github.com/pg2s3/pg2s3/shared/app/apptest"
	"github.com/pg2s3/pg2s3/shared/bookmark"
	pgcat "github.com/pg2s3/pg2s3/shared/catalog"
	"github.com/pg2s3/pg2s3/shared/layout"
	"github.com/pg2s3/pg2s3/shared/materialize"
	"github.com/pg2s3/pg2s3/shared/materialize/mattest"
	"github.com/pg2s3/pg2s3/shared/materialize/sqlcat"
	"github.com/pg2s3/pg2s3/shared/record"
	"github.com/pg2s3/pg2s3/shared/replicate"
	"github.com/pg2s3/pg2s3/shared/testenv"
	"github.com/pg2s3/pg2s3/shared/warehouse"
)

var testPG *testenv.Postgres

func TestMain(m *testing.M) {
	os.Exit(testenv.RunWithPostgres(m, &testPG, testenv.PostgresOptions{}))
}

// fixture is a pipeline on local stores over a test database, and an
// Iceberg SQL catalog (in another database of the same server) with its
// warehouse in a temporary directory.
type fixture struct {
	t     *testing.T
	dsn   string
	db    string
	app   *app.App
	cat   *pgcat.Catalog
	ice   *sqlcat.Catalog
	crash func(materialize.Position) error
	stage func(n int) error // AfterStage
	cow   bool              // materialize copy-on-write
	dir   string            // the pipeline's (the warehouse is dir/warehouse)
	// putErr, when set, fails the materializer's bookmark writes it
	// returns an error for.
	putErr func(bookmark.State) error
}

// failingPuts are the pipeline's bookmarks whose writes fail when fail says.
type failingPuts struct {
	replicate.Bookmarks
	fail func(bookmark.State) error
}

func (b failingPuts) Put(ctx context.Context, id string, st bookmark.State, rev int64) (int64, error) {
	if err := b.fail(st); err != nil {
		return 0, err
	}
	return b.Bookmarks.Put(ctx, id, st, rev)
}

func newFixture(t *testing.T, schema string, extra map[string]any, methods map[string]string) *fixture {
	t.Helper()
	ctx := context.Background()
	name, dsn, err := testPG.NewDatabase(ctx, "mat")
	if err != nil {
		t.Fatal(err)
	}
	if err := testenv.Exec(ctx, dsn, schema); err != nil {
		t.Fatal(err)
	}
	p := apptest.Open(t, dsn, extra, methods)
	_, catDSN, err := testPG.NewDatabase(ctx, "icecat")
	if err != nil {
		t.Fatal(err)
	}
	ice, err := sqlcat.Open(ctx, catDSN, "pg2s3", filepath.Join(p.Dir, "warehouse"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ice.Close() })
	return &fixture{t: t, dsn: dsn, db: name, app: p.App, cat: p.Cat, ice: ice, dir: p.Dir}
}

func (f *fixture) streamID(table string) string { return pgcat.StreamID(f.db, "public", table) }

func (f *fixture) stream(table string) *record.Stream {
	f.t.Helper()
	streams, err := warehouse.StreamsFromCatalog(f.cat, layout.FullTable)
	if err != nil {
		f.t.Fatal(err)
	}
	for i := range streams {
		if streams[i].Table == table {
			return &streams[i]
		}
	}
	f.t.Fatalf("no stream for %s", table)
	return nil
}

func (f *fixture) ident(table string) table.Identifier {
	return catalog.ToIdentifier("pg2s3", warehouse.TableName(f.streamID(table)))
}

func (f *fixture) materialize(table string, maxRows int) (materialize.Result, error) {
	var bms replicate.Bookmarks = f.app.Stores.Bookmarks
	if f.putErr != nil {
		bms = failingPuts{Bookmarks: bms, fail: f.putErr}
	}
	m := &materialize.Materializer{Sink: f.app.Stores.Sink, Bookmarks: bms, Leaser: f.app.Stores.Leaser,
		Catalog: f.ice, AfterCommit: f.crash, AfterStage: f.stage}
	return m.Run(context.Background(), materialize.Options{Stream: f.stream(table), Table: f.ident(table), Owner: "test", MaxRows: maxRows, CopyOnWrite: f.cow})
}

func (f *fixture) mustMaterialize(table string, maxRows int) materialize.Result {
	f.t.Helper()
	res, err := f.materialize(table, maxRows)
	if err != nil {
		f.t.Fatal(err)
	}
	if !res.CaughtUp {
		f.t.Fatalf("not caught up: %+v", res)
	}
	return res
}

func (f *fixture) exec(sql string) {
	f.t.Helper()
	if err := testenv.Exec(context.Background(), f.dsn, sql); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) drain() {
	f.t.Helper()
	run, err := f.app.Drain(context.Background(), f.cat, app.RunOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	for _, s := range run.Streams {
		if s.Error != "" {
			f.t.Fatalf("%s: %s", s.Stream, s.Error)
		}
	}
}

func (f *fixture) sync() {
	f.t.Helper()
	run, err := f.app.Sync(context.Background(), f.cat, app.RunOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	for _, s := range run.Streams {
		if s.Error != "" {
			f.t.Fatalf("%s: %s", s.Stream, s.Error)
		}
	}
}

// bookmark returns the materializer's bookmark of table.
func (f *fixture) bookmark(table string) materialize.Position {
	f.t.Helper()
	v, err := f.app.Stores.Bookmarks.Get(context.Background(), layout.MaterializeBookmarkID(f.streamID(table)))
	if err != nil {
		f.t.Fatal(err)
	}
	return materialize.Position{Version: v.State.Version, CopySeq: v.State.Seq, CopyDone: v.State.CopyDone,
		CommittedLSN: v.State.CommittedLSN, PartialCommitLSN: v.State.PartialCommitLSN, PartialLSN: v.State.PartialLSN}
}

// icebergRows reads the table back with iceberg-go's scan (mattest.Rows).
func (f *fixture) icebergRows(tbl string) map[string]map[string]any {
	f.t.Helper()
	rows, err := mattest.Rows(context.Background(), f.ice, f.ident(tbl))
	if err != nil {
		f.t.Fatal(err)
	}
	return rows
}

// sourceRows reads the source table the same way, with PostgreSQL
// printing each value.
func (f *fixture) sourceRows(query string) map[string]map[string]any {
	f.t.Helper()
	rows, err := testenv.RowsByID(context.Background(), f.dsn, query)
	if err != nil {
		f.t.Fatal(err)
	}
	return rows
}

// compare checks the Iceberg table equals the source row by row, every
// column; floats compare as numbers (NaN equal to NaN), JSON as JSON.
func (f *fixture) compare(tbl, query string) {
	f.t.Helper()
	got, want := f.icebergRows(tbl), f.sourceRows(query)
	var ids []string
	for id := range want {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for id := range got {
		if want[id] == nil {
			f.t.Errorf("%s: key %s is in the Iceberg table, not in the source", tbl, id)
		}
	}
	for _, id := range ids {
		g := got[id]
		if g == nil {
			f.t.Errorf("%s: key %s is missing from the Iceberg table", tbl, id)
			continue
		}
		for col, wv := range want[id] {
			gv, ok := g[col]
			if !ok {
				f.t.Errorf("%s: key %s: no column %s in the table", tbl, id, col)
				continue
			}
			if !sameValue(gv, wv) {
				f.t.Errorf("%s: key %s, %s: Iceberg %.80q, source %.80q", tbl, id, col, fmt.Sprint(gv), fmt.Sprint(wv))
			}
		}
		if len(g) != len(want[id]) {
			f.t.Errorf("%s: key %s: columns %v, source %v", tbl, id, keys(g), keys(want[id]))
		}
	}
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func sameValue(got, want any) bool {
	if got == nil || want == nil {
		return got == nil && want == nil
	}
	if g, ok := got.(float64); ok {
		w, err := strconv.ParseFloat(fmt.Sprint(want), 64)
		return err == nil && (g == w || math.IsNaN(g) && math.IsNaN(w))
	}
	ws := fmt.Sprint(want)
	gs := got.(string)
	if strings.HasPrefix(ws, "{") || strings.HasPrefix(ws, "[") {
		var a, b any
		return json.Unmarshal([]byte(gs), &a) == nil && json.Unmarshal([]byte(ws), &b) == nil && reflect.DeepEqual(a, b)
	}
	return gs == ws
}

const itemsSchema = `
CREATE TABLE items (
	id bigint PRIMARY KEY,
	name text NOT NULL,
	amount numeric(12,2),
	score double precision,
	ok boolean,
	at timestamptz,
	doc jsonb,
	big text,
	note text
);
ALTER TABLE items ALTER COLUMN big SET STORAGE EXTERNAL;`

// itemsQuery prints each column of items as the Iceberg side does.
const itemsQuery = `SELECT id::text AS id, name, amount::text AS amount, score::text AS score, ok::text AS ok,
	to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at, doc::text AS doc, big, note FROM items`

var errCrash = errors.New("injected crash between the Iceberg commit and the bookmark")

// TestLogBasedStream materializes a LOG_BASED stream over several runs:
// its copy, then inserts, updates, deletes, a delete and re-insert of a
// key in one transaction, an update leaving a TOASTed value unchanged,
// real nulls, a run that dies between an Iceberg commit and its
// bookmark, a TRUNCATE and a reset; after each run the Iceberg table,
// read back with iceberg-go's scan, equals the source table row by row.
// Copy-on-write, the same, and the table never holds a delete file.
func TestLogBasedStream(t *testing.T) {
	for _, cow := range []bool{false, true} {
		name := "merge-on-read"
		if cow {
			name = "copy-on-write"
		}
		t.Run(name, func(t *testing.T) { testLogBasedStream(t, cow) })
	}
}

func testLogBasedStream(t *testing.T, cow bool) {
	f := newFixture(t, itemsSchema, map[string]any{"logical_plugin": "pgoutput", "batch_rows": 3}, map[string]string{"items": "LOG_BASED"})
	f.cow = cow
	noDeleteFiles := func(when string) {
		t.Helper()
		tbl, err := f.ice.LoadTable(context.Background(), f.ident("items"))
		if err != nil {
			t.Fatal(err)
		}
		data, deletes, err := materialize.LiveFiles(context.Background(), tbl)
		if err != nil {
			t.Fatal(err)
		}
		if cow && deletes != 0 {
			t.Fatalf("%s: copy-on-write left %d delete files (%d data files)", when, deletes, data)
		}
		if !cow && when == "after the updates" && deletes == 0 {
			t.Fatalf("%s: merge-on-read wrote no delete files: the two modes are not told apart", when)
		}
	}
	f.exec(`INSERT INTO items VALUES
		(1, 'one', 10.10, 1.5, true, '2024-05-01 12:30:00.123456+02', '{"a": [1, 2.50, "x"], "b": null}', 'small', 'n1'),
		(2, 'two', -0.01, 'NaN', false, '1999-12-31 23:59:59.999999+00', '[]', NULL, NULL),
		(3, 'three', 1234567890.12, '-Infinity', NULL, NULL, NULL, repeat('toast-', 2000), 'n3'),
		(4, 'four', NULL, 0.1, true, '2024-01-01 00:00:00+00', '{"k": "v"}', 'b4', 'has a note'),
		(5, 'five', 5.00, 5, false, '2024-02-29 23:00:00+00', '{}', 'b5', 'n5')`)
	f.drain() // the copy
	res := f.mustMaterialize("items", 0)
	if res.Replaced == 0 || res.Commits != 1 || res.Upserts != 5 {
		t.Fatalf("first run: %+v", res)
	}
	f.compare("items", itemsQuery)

	f.exec(`UPDATE items SET name = 'one!', amount = 99999999.99 WHERE id = 1`)
	f.exec(`DELETE FROM items WHERE id = 2`)
	f.exec(`BEGIN; DELETE FROM items WHERE id = 5; INSERT INTO items VALUES (5, 'five again', 0.50, NULL, NULL, NULL, NULL, NULL, NULL); COMMIT`)
	f.exec(`UPDATE items SET name = 'three, big unchanged' WHERE id = 3`) // big stays in TOAST: the change does not carry it
	f.exec(`UPDATE items SET note = NULL, doc = NULL WHERE id = 4`)       // real nulls
	f.exec(`INSERT INTO items VALUES (6, 'six', NULL, NULL, NULL, NULL, NULL, NULL, NULL)`)
	f.exec(`UPDATE items SET score = 'Infinity' WHERE id = 6`)
	f.drain()

	// The first commit of the next run lands in Iceberg, then the run
	// dies before its bookmark moves.
	f.crash = func(materialize.Position) error { return errCrash }
	before := f.bookmark("items")
	res, err := f.materialize("items", 2)
	if !errors.Is(err, errCrash) || res.Commits != 1 {
		t.Fatalf("crashing run: %+v, %v", res, err)
	}
	if f.bookmark("items") != before {
		t.Fatalf("the bookmark moved although the run died before it: %+v", f.bookmark("items"))
	}
	f.crash = nil
	res = f.mustMaterialize("items", 2)
	if !res.Recovered || res.Commits < 1 {
		t.Fatalf("run after the crash: %+v", res)
	}
	if got := f.bookmark("items"); got.Version != res.Position.Version || got.CommittedLSN != res.Position.CommittedLSN {
		t.Fatalf("bookmark %+v, table %+v", got, res.Position)
	}
	f.compare("items", itemsQuery)
	noDeleteFiles("after the updates")
	var big string
	if err := testenv.QueryValue(context.Background(), f.dsn, "SELECT big FROM items WHERE id = 3", &big); err != nil || len(big) != 12000 {
		t.Fatalf("source big: %d, %v", len(big), err)
	}

	// Nothing new: no commit, and nothing applied twice.
	if res := f.mustMaterialize("items", 2); res.Commits != 0 || res.Recovered {
		t.Fatalf("idle run: %+v", res)
	}

	f.exec(`TRUNCATE items`)
	f.exec(`INSERT INTO items VALUES (7, 'seven', 7.77, 7, true, now(), '{"t": 1}', repeat('x', 3000), NULL), (8, 'eight', NULL, NULL, NULL, NULL, NULL, NULL, NULL)`)
	f.exec(`UPDATE items SET name = 'seven, big unchanged' WHERE id = 7`)
	f.drain()
	res = f.mustMaterialize("items", 0)
	if res.Replaced == 0 {
		t.Fatalf("truncate: the new version did not replace the table: %+v", res)
	}
	f.compare("items", itemsQuery)

	f.exec(`INSERT INTO items VALUES (9, 'nine', 9, 9, false, '2030-01-01T00:00:00Z', '[1]', 'b9', 'n9')`)
	if _, err := replicate.Reset(context.Background(), f.app.Stores.Bookmarks, f.streamID("items"), []string{f.streamID("items")}, time.Now()); err != nil {
		t.Fatal(err)
	}
	f.drain() // the reset's copy
	f.exec(`UPDATE items SET amount = 1.01 WHERE id = 9`)
	f.drain()
	res = f.mustMaterialize("items", 0)
	if res.Replaced == 0 {
		t.Fatalf("reset: the new version did not replace the table: %+v", res)
	}
	f.compare("items", itemsQuery)
	if cow {
		noDeleteFiles("after the reset")
	}
}

// TestFullTableStream replaces the table with each completed copy.
func TestFullTableStream(t *testing.T) {
	f := newFixture(t, itemsSchema, map[string]any{"batch_rows": 2}, map[string]string{"items": "FULL_TABLE"})
	f.exec(`INSERT INTO items SELECT i, 'n' || i, i * 1.25, i / 3.0, i % 2 = 0, '2024-01-01'::timestamptz + i * interval '1 hour', jsonb_build_object('i', i), NULL, NULL FROM generate_series(1, 7) i`)
	f.sync()
	res := f.mustMaterialize("items", 0)
	if res.Replaced == 0 || res.Upserts != 7 {
		t.Fatalf("first copy: %+v", res)
	}
	f.compare("items", itemsQuery)
	first := res.Replaced

	f.exec(`DELETE FROM items WHERE id IN (2, 3); UPDATE items SET name = 'changed', note = 'x' WHERE id = 4; INSERT INTO items VALUES (10, 'ten', NULL, NULL, NULL, NULL, NULL, NULL, NULL)`)
	f.sync() // a second copy: a new version
	res = f.mustMaterialize("items", 0)
	if res.Replaced <= first || res.Commits != 1 {
		t.Fatalf("second copy: %+v", res)
	}
	f.compare("items", itemsQuery)
	if res := f.mustMaterialize("items", 0); res.Commits != 0 {
		t.Fatalf("idle run: %+v", res)
	}

	// A column added to the table and the catalog is added to the
	// Iceberg table with a new field ID; the others keep theirs.
	ctx := context.Background()
	ids := func() map[string]int {
		tbl, err := f.ice.LoadTable(ctx, f.ident("items"))
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]int{}
		for _, fld := range tbl.Schema().Fields() {
			out[fld.Name] = fld.ID
		}
		return out
	}
	before := ids()
	f.exec(`ALTER TABLE items ADD COLUMN extra numeric(5,1) DEFAULT 2.5`)
	if _, err := f.app.RefreshCatalog(ctx, f.cat, "_catalog/catalog.json"); err != nil {
		t.Fatal(err)
	}
	body, err := f.app.Stores.Sink.Get(ctx, "_catalog/catalog.json")
	if err != nil {
		t.Fatal(err)
	}
	if f.cat, err = pgcat.Parse(body); err != nil {
		t.Fatal(err)
	}
	f.cat.Stream(f.streamID("items")).SetColumnMetadata("extra", "selected", true)
	f.sync()
	f.mustMaterialize("items", 0)
	f.compare("items", strings.Replace(itemsQuery, "note FROM", "note, extra::text AS extra FROM", 1))
	after := ids()
	for name, id := range before {
		if after[name] != id {
			t.Errorf("field %s: ID %d, was %d", name, after[name], id)
		}
	}
	if after["extra"] == 0 || after["extra"] <= slices.Max(slices.Collect(maps.Values(before))) {
		t.Errorf("extra: field ID %d after %v", after["extra"], before)
	}

	// A table dropped under its bookmark: the run stops with the fix.
	if err := f.ice.DropTable(ctx, f.ident("items")); err != nil {
		t.Fatal(err)
	}
	if _, err := f.materialize("items", 0); err == nil || !strings.Contains(err.Error(), "delete the bookmark") {
		t.Fatalf("table dropped under its bookmark: %v", err)
	}
}

// TestKeylessStream appends every row of a table without a key, and a
// new copy replaces them.
func TestKeylessStream(t *testing.T) {
	schema := strings.Replace(itemsSchema, "id bigint PRIMARY KEY", "id bigint NOT NULL", 1)
	f := newFixture(t, schema, map[string]any{"batch_rows": 2}, map[string]string{"items": "FULL_TABLE"})
	f.exec(`INSERT INTO items SELECT i, 'n' || i, i, i, NULL, NULL, NULL, NULL, NULL FROM generate_series(1, 5) i`)
	f.sync()
	if res := f.mustMaterialize("items", 0); res.Upserts != 5 {
		t.Fatalf("first copy: %+v", res)
	}
	f.compare("items", itemsQuery)
	f.exec(`DELETE FROM items WHERE id = 1; INSERT INTO items VALUES (6, 'six', NULL, NULL, NULL, NULL, NULL, NULL, NULL)`)
	f.sync()
	if res := f.mustMaterialize("items", 0); res.Replaced == 0 || res.Upserts != 5 {
		t.Fatalf("second copy: %+v", res)
	}
	f.compare("items", itemsQuery)
}

// TestIncrementalStream upserts each batch by key.
func TestIncrementalStream(t *testing.T) {
	schema := itemsSchema + `ALTER TABLE items ADD COLUMN seq bigint NOT NULL DEFAULT 0;`
	f := newFixture(t, schema, map[string]any{"batch_rows": 2}, map[string]string{"items": "INCREMENTAL:seq"})
	f.exec(`INSERT INTO items SELECT i, 'n' || i, i * 1.25, i, true, NULL, NULL, NULL, NULL, i FROM generate_series(1, 5) i`)
	f.sync()
	res := f.mustMaterialize("items", 0)
	if res.Replaced == 0 {
		t.Fatalf("first run: %+v", res)
	}
	query := strings.Replace(itemsQuery, "note FROM", "note, seq::text AS seq FROM", 1)
	f.compare("items", query)

	f.exec(`UPDATE items SET name = 'again', amount = NULL, seq = 10 WHERE id = 2; INSERT INTO items VALUES (6, 'six', 6, 6, false, NULL, NULL, NULL, NULL, 11)`)
	f.sync()
	res = f.mustMaterialize("items", 1)
	if res.Replaced != 0 || res.Commits < 2 {
		t.Fatalf("second run: %+v", res)
	}
	f.compare("items", query)

	// Another materializer of the stream holds its lease: this one stops.
	if err := f.app.Stores.Leaser.Acquire(context.Background(), "materialize#"+f.streamID("items"), "other", time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := f.materialize("items", 0); !errors.Is(err, bookmark.ErrLeaseHeld) {
		t.Fatalf("second materializer: %v", err)
	}
}

// stopAfter makes each run stage at most n copy batches of a replacement
// (as a deadline would).
func stopAfter(n int) func(int) error {
	return func(staged int) error {
		if staged >= n {
			return materialize.ErrStopStaging
		}
		return nil
	}
}

// materializeStaged runs the materializer until it is caught up, at
// most 30 times; after each run that is not, check(res) runs. It returns
// the last run's result and the number of runs.
func (f *fixture) materializeStaged(table string, check func(res materialize.Result)) (materialize.Result, int) {
	f.t.Helper()
	for runs := 1; runs <= 30; runs++ {
		res, err := f.materialize(table, 0)
		if err != nil {
			f.t.Fatal(err)
		}
		if res.CaughtUp {
			return res, runs
		}
		check(res)
	}
	f.t.Fatal("not caught up after 30 runs")
	return materialize.Result{}, 0
}

// stagingLists returns the staged file lists left in the warehouse.
func (f *fixture) stagingLists() []string {
	f.t.Helper()
	var out []string
	err := filepath.WalkDir(filepath.Join(f.dir, "warehouse"), func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.Contains(path, "pg2s3-staging") {
			out = append(out, path)
		}
		return err
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return out
}

// replacementDeleteFiles is the count of live delete files (the snapshot
// summary's, which counts those no data file needs any more too) of the
// snapshot that replaced the table by version.
func (f *fixture) replacementDeleteFiles(tbl string, version int64) string {
	f.t.Helper()
	t, err := f.ice.LoadTable(context.Background(), f.ident(tbl))
	if err != nil {
		f.t.Fatal(err)
	}
	for _, snap := range t.Metadata().Snapshots() {
		var p materialize.Position
		if snap.Summary == nil || json.Unmarshal([]byte(snap.Summary.Properties["pg2s3.position"]), &p) != nil {
			continue
		}
		if p.Version == version && p.CopyDone && p.Slot == "" {
			return snap.Summary.Properties["total-delete-files"]
		}
	}
	f.t.Fatalf("no snapshot replaced %s by version %d", tbl, version)
	return ""
}

// TestStagedReplacement materializes a LOG_BASED stream whose copies
// take several runs each (each run stages at most a batch or two, as a
// deadline would cut it): until the last run the table reads its old rows
// (none before the first copy) and the runs are not caught up; then one
// commit replaces them and the table equals the source row by row. The
// reset's replacement removes the delete files merge-on-read wrote.
// Copy-on-write, the same.
func TestStagedReplacement(t *testing.T) {
	for _, cow := range []bool{false, true} {
		name := "merge-on-read"
		if cow {
			name = "copy-on-write"
		}
		t.Run(name, func(t *testing.T) { testStagedReplacement(t, cow) })
	}
}

func testStagedReplacement(t *testing.T, cow bool) {
	f := newFixture(t, itemsSchema, map[string]any{"logical_plugin": "pgoutput", "batch_rows": 2}, map[string]string{"items": "LOG_BASED"})
	f.cow = cow
	f.exec(`INSERT INTO items SELECT i, 'n' || i, i * 1.25, i / 3.0, i % 2 = 0, '2024-01-01'::timestamptz + i * interval '1 hour', jsonb_build_object('i', i), NULL, NULL FROM generate_series(1, 7) i`)
	f.drain() // the copy: four batches of rows

	f.stage = stopAfter(1)
	var staging int64
	res, runs := f.materializeStaged("items", func(res materialize.Result) {
		t.Helper()
		if res.Commits != 0 || res.Staging == 0 || res.StagedBatches != 1 || res.Replaced != 0 {
			t.Fatalf("staging run: %+v", res)
		}
		if staging != 0 && res.Staging != staging {
			t.Fatalf("staging version %d, then %d", staging, res.Staging)
		}
		staging = res.Staging
		if rows := f.icebergRows("items"); len(rows) != 0 {
			t.Fatalf("the table shows %d rows of a copy still staged", len(rows))
		}
		if bm := f.bookmark("items"); bm.Version != 0 {
			t.Fatalf("bookmark moved to %+v while staging", bm)
		}
	})
	if runs < 3 || res.Replaced != staging || res.Commits != 1 {
		t.Fatalf("first copy: %d runs, last %+v (staging %d)", runs, res, staging)
	}
	f.compare("items", itemsQuery)
	if lists := f.stagingLists(); len(lists) != 0 {
		t.Fatalf("staged lists left after the commit: %v", lists)
	}

	// Changes (merge-on-read: equality deletes), then a reset's copy.
	f.stage = nil
	f.exec(`UPDATE items SET name = 'changed' WHERE id IN (1, 2); DELETE FROM items WHERE id = 3`)
	f.drain()
	f.mustMaterialize("items", 0)
	f.compare("items", itemsQuery)
	if tbl, err := f.ice.LoadTable(context.Background(), f.ident("items")); err != nil {
		t.Fatal(err)
	} else if n := tbl.CurrentSnapshot().Summary.Properties["total-delete-files"]; !cow && n == "0" {
		t.Fatal("merge-on-read wrote no delete files")
	}
	old := f.icebergRows("items")
	before := f.bookmark("items")

	f.exec(`INSERT INTO items SELECT i, 'again ' || i, NULL, NULL, NULL, NULL, NULL, NULL, NULL FROM generate_series(20, 26) i`)
	if _, err := replicate.Reset(context.Background(), f.app.Stores.Bookmarks, f.streamID("items"), []string{f.streamID("items")}, time.Now()); err != nil {
		t.Fatal(err)
	}
	f.drain() // the reset's copy
	f.exec(`UPDATE items SET note = 'after the copy' WHERE id IN (4, 20)`)
	f.drain()
	f.stage = stopAfter(2)
	res, runs = f.materializeStaged("items", func(res materialize.Result) {
		t.Helper()
		if res.Commits != 0 || res.Staging == 0 {
			t.Fatalf("staging run: %+v", res)
		}
		if got := f.icebergRows("items"); !reflect.DeepEqual(got, old) {
			t.Fatalf("while the reset's copy is staged the table changed: %d rows, was %d", len(got), len(old))
		}
		if bm := f.bookmark("items"); bm != before {
			t.Fatalf("bookmark moved to %+v while staging (was %+v)", bm, before)
		}
	})
	if runs < 2 || res.Replaced == 0 || res.Replaced <= before.Version {
		t.Fatalf("reset: %d runs, last %+v", runs, res)
	}
	f.compare("items", itemsQuery)
	if n := f.replacementDeleteFiles("items", res.Replaced); n != "0" {
		t.Fatalf("the replacement left %s delete files", n)
	}
	if lists := f.stagingLists(); len(lists) != 0 {
		t.Fatalf("staged lists left after the commit: %v", lists)
	}
}

var errStageCrash = errors.New("injected crash between staging files and recording them")

// TestStagedReplacementCrash: a run dies after writing a copy batch's data
// files and before recording them; the next runs stage that batch again
// and the table (keyless: a row twice would show) equals the source,
// every row once.
func TestStagedReplacementCrash(t *testing.T) {
	schema := strings.Replace(itemsSchema, "id bigint PRIMARY KEY", "id bigint NOT NULL", 1)
	f := newFixture(t, schema, map[string]any{"batch_rows": 2}, map[string]string{"items": "FULL_TABLE"})
	f.exec(`INSERT INTO items SELECT i, 'n' || i, i, i, NULL, NULL, NULL, NULL, NULL FROM generate_series(1, 3) i`)
	f.sync()
	f.mustMaterialize("items", 0)
	f.compare("items", itemsQuery)
	old := f.icebergRows("items")

	f.exec(`INSERT INTO items SELECT i, 'n' || i, i, i, NULL, NULL, NULL, NULL, NULL FROM generate_series(4, 9) i`)
	f.sync() // a new copy of five batches
	f.stage = stopAfter(1)
	res, err := f.materialize("items", 0)
	if err != nil || res.CaughtUp || res.Staging == 0 || res.StagedBatches != 1 {
		t.Fatalf("first run: %+v, %v", res, err)
	}
	f.stage = func(int) error { return errStageCrash }
	res, err = f.materialize("items", 0)
	if !errors.Is(err, errStageCrash) || res.Commits != 0 {
		t.Fatalf("crashing run: %+v, %v", res, err)
	}
	if got := f.icebergRows("items"); !reflect.DeepEqual(got, old) {
		t.Fatalf("the crashed staging changed the table: %d rows, was %d", len(got), len(old))
	}

	// A run dies after writing a file list, before its bookmark names
	// it: the next run deletes the list and the files it names.
	lists := f.stagingLists()
	f.stage = stopAfter(1)
	f.putErr = func(bookmark.State) error { return errStageCrash }
	if _, err := f.materialize("items", 0); !errors.Is(err, errStageCrash) {
		t.Fatalf("run without its bookmark: %v", err)
	}
	f.putErr = nil
	orphans := f.stagingLists()
	if len(orphans) != len(lists)+1 {
		t.Fatalf("lists %v, then %v", lists, orphans)
	}
	body, err := os.ReadFile(orphans[len(orphans)-1])
	if err != nil {
		t.Fatal(err)
	}
	var orphan struct{ Files []string }
	if err := json.Unmarshal(body, &orphan); err != nil || len(orphan.Files) == 0 {
		t.Fatalf("orphan list %s: %v", body, err)
	}
	if res, err := f.materialize("items", 0); err != nil || res.StagedBatches != 1 {
		t.Fatalf("run after the orphan list: %+v, %v", res, err)
	}
	for _, file := range orphan.Files {
		if _, err := os.Stat(strings.TrimPrefix(file, "file://")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("orphan file %s: %v", file, err)
		}
	}

	f.stage = stopAfter(2)
	res, runs := f.materializeStaged("items", func(materialize.Result) {})
	if runs < 2 || res.Replaced == 0 || res.Commits != 1 {
		t.Fatalf("after the crash: %d runs, last %+v", runs, res)
	}
	f.compare("items", itemsQuery)
}

// TestStagedReplacementSuperseded: a newer copy completes while an older
// one is staged; the next run abandons the staging (its lists and files
// deleted) and replaces the table by the newer copy.
func TestStagedReplacementSuperseded(t *testing.T) {
	f := newFixture(t, itemsSchema, map[string]any{"batch_rows": 2}, map[string]string{"items": "FULL_TABLE"})
	f.exec(`INSERT INTO items SELECT i, 'n' || i, i * 1.25, i, true, NULL, NULL, NULL, NULL FROM generate_series(1, 7) i`)
	f.sync() // four batches
	f.stage = stopAfter(1)
	res, err := f.materialize("items", 0)
	if err != nil || res.CaughtUp || res.Staging == 0 {
		t.Fatalf("first run: %+v, %v", res, err)
	}
	first := res.Staging
	res, err = f.materialize("items", 0)
	if err != nil || res.CaughtUp || res.Staging != first {
		t.Fatalf("second run: %+v, %v", res, err)
	}
	if len(f.stagingLists()) == 0 {
		t.Fatal("no staged file list in the warehouse")
	}

	f.exec(`DELETE FROM items WHERE id IN (2, 5); UPDATE items SET name = 'newer' WHERE id = 1; INSERT INTO items VALUES (8, 'eight', NULL, NULL, NULL, NULL, NULL, NULL, NULL)`)
	f.sync() // a newer version
	f.stage = nil
	res = f.mustMaterialize("items", 0)
	if res.Replaced <= first || res.Commits != 1 {
		t.Fatalf("newer version: %+v (staged %d)", res, first)
	}
	f.compare("items", itemsQuery)
	if lists := f.stagingLists(); len(lists) != 0 {
		t.Fatalf("the abandoned staging's lists are left: %v", lists)
	}
}

// TestCompositeKey materializes a LOG_BASED stream keyed by two columns
// in both modes: deleting or updating one line of an order must leave its
// other lines alone (a copy-on-write filter or an equality delete on one
// key column alone would remove them), and a key changed by an UPDATE
// moves the row.
func TestCompositeKey(t *testing.T) {
	for _, cow := range []bool{false, true} {
		name := "merge-on-read"
		if cow {
			name = "copy-on-write"
		}
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, `CREATE TABLE lines (order_id int, line int, qty int NOT NULL, note text, PRIMARY KEY (order_id, line))`,
				map[string]any{"logical_plugin": "pgoutput", "batch_rows": 4}, map[string]string{"lines": "LOG_BASED"})
			f.cow = cow
			compare := func(when string) {
				t.Helper()
				got, err := mattest.RowsBy(context.Background(), f.ice, f.ident("lines"), "order_id", "line")
				if err != nil {
					t.Fatal(err)
				}
				want := f.sourceRows(`SELECT order_id || '|' || line AS id, order_id::text AS order_id, line::text AS line, qty::text AS qty, note FROM lines`)
				for k, w := range want {
					delete(w, "id")
					if g := got[k]; !reflect.DeepEqual(g, w) {
						t.Errorf("%s: key %s: Iceberg %v, source %v", when, k, g, w)
					}
				}
				for k := range got {
					if want[k] == nil {
						t.Errorf("%s: key %s is in the Iceberg table, not in the source", when, k)
					}
				}
			}
			f.exec(`INSERT INTO lines SELECT o, l, o * 10 + l, 'n' || o || '.' || l FROM generate_series(1, 3) o, generate_series(1, 3) l`)
			f.drain()
			f.mustMaterialize("lines", 0)
			compare("after the copy")

			f.exec(`DELETE FROM lines WHERE order_id = 1 AND line = 2`)
			f.exec(`UPDATE lines SET qty = 0, note = NULL WHERE order_id = 2 AND line = 1`)
			f.exec(`UPDATE lines SET line = 9 WHERE order_id = 3 AND line = 3`) // the key changes
			f.exec(`INSERT INTO lines VALUES (1, 4, 14, 'new'), (4, 1, 41, NULL)`)
			f.drain()
			f.mustMaterialize("lines", 2)
			compare("after deletes, updates and a key change")

			f.exec(`BEGIN; DELETE FROM lines WHERE order_id = 2; INSERT INTO lines VALUES (2, 2, 222, 'again'); COMMIT`)
			f.drain()
			f.mustMaterialize("lines", 0)
			compare("after an order deleted and one line re-inserted")
		})
	}
}
