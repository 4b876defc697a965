package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/pg2s3/pg2s3/shared/app"
)

// parquetSchema is one table definition, created three times (one per
// method), with a column of every warehouse type and a large text column
// stored out of line, uncompressed (STORAGE EXTERNAL), so an update of
// another column leaves it an unchanged TOASTed value in the log.
const parquetSchema = `
CREATE TABLE t_full (
  id int PRIMARY KEY, big bigint, amount numeric(12,2), wide numeric(38,6), n numeric,
  r real, f double precision, ok boolean, flag bit(1), ts timestamp, tz timestamptz, d date,
  s text, j jsonb, arr int[], b bytea, iv interval, updated_at timestamptz NOT NULL, doc text);
ALTER TABLE t_full ALTER COLUMN doc SET STORAGE EXTERNAL;
CREATE TABLE t_incr (LIKE t_full INCLUDING ALL);
CREATE TABLE t_log (LIKE t_full INCLUDING ALL);
`

// parquetRows inserts rows lo..hi into table with values at their extremes
// on the first few ids.
func parquetRows(table string, lo, hi int) string {
	return fmt.Sprintf(`
INSERT INTO %s SELECT g,
  CASE g WHEN 1 THEN 9223372036854775807 WHEN 2 THEN -9223372036854775808 ELSE (g - 150) * 61489146912 END,
  g * 1.25 - 100,
  CASE g WHEN 1 THEN ('-' || repeat('9', 32) || '.999999')::numeric ELSE g * 3.141592 END,
  CASE g %% 5 WHEN 0 THEN 'NaN' WHEN 1 THEN 'Infinity' ELSE g / 7.0 END,
  CASE g WHEN 1 THEN 'NaN' WHEN 2 THEN '-Infinity' WHEN 3 THEN 1e6 WHEN 4 THEN 1e-45 WHEN 5 THEN 3.4028235e38 ELSE g * 1234.5678 END,
  CASE g WHEN 1 THEN 'Infinity' WHEN 2 THEN '-0' WHEN 3 THEN 5e-324 WHEN 4 THEN 1.7976931348623157e308 ELSE g * 1e13 + 0.25 END,
  g %% 2 = 0, (g %% 2)::bit(1),
  CASE g WHEN 1 THEN 'infinity' WHEN 2 THEN '-infinity' ELSE '2024-01-01'::timestamp + g * interval '37 minutes 0.123456 seconds' END,
  CASE g WHEN 3 THEN '0044-03-15 12:00:00+00 BC' ELSE '2024-06-30 23:59:59.999999-12'::timestamptz + g * interval '1 day' END,
  CASE g WHEN 4 THEN 'infinity' ELSE '2024-01-01'::date + g END,
  CASE WHEN g %% 11 = 0 THEN NULL ELSE 'line ' || g || E'\n"q" \\ é ' || chr(8232) END,
  CASE WHEN g %% 13 = 0 THEN NULL ELSE jsonb_build_object('g', g, 'a', jsonb_build_array(1, 2.50, null, true), 'e', '{}'::jsonb) END,
  ARRAY[g, -g, NULL], decode(md5(g::text), 'hex'), make_interval(days => g, secs => g * 1.5),
  '2024-01-01'::timestamptz + g * interval '1 minute',
  CASE WHEN g %% 10 = 0 THEN repeat(md5(g::text), 300) ELSE 'small ' || g END
FROM generate_series(%d, %d) g;`, table, lo, hi)
}

// parquetChanges inserts, updates (another column than doc, so a large
// doc stays an unchanged TOASTed value; and doc itself on one row) and
// deletes rows of table.
func parquetChanges(table string) string {
	return parquetRows(table, 301, 320) + fmt.Sprintf(`
UPDATE %[1]s SET amount = amount + 1, updated_at = '2025-01-01'::timestamptz + id * interval '1 second' WHERE id %% 10 = 0 OR id %% 9 = 0;
UPDATE %[1]s SET doc = repeat('new', 2000), updated_at = '2025-02-01' WHERE id = 20;
DELETE FROM %[1]s WHERE id %% 7 = 0;`, table)
}

// TestParquetMatchesJSONL replicates the same tables by every method with
// sink format jsonl and parquet: both decode to the same rows (but for the
// fields that differ between two pipelines by design), and the log merged
// by key (a column a change did not carry keeps its value) equals the
// table.
func TestParquetMatchesJSONL(t *testing.T) {
	ctx := context.Background()
	schema := parquetSchema
	for _, table := range []string{"t_full", "t_incr", "t_log"} {
		schema += parquetRows(table, 1, 300)
	}
	dsn, _ := newDB(t, schema)
	methods := map[string]string{"t_full": "FULL_TABLE", "t_incr": "INCREMENTAL:updated_at", "t_log": "LOG_BASED"}
	jl := newPipeline(t, dsn, map[string]any{"batch_rows": 100, "slot_name": "s_jsonl"}, methods)
	pq := newPipeline(t, dsn, map[string]any{"batch_rows": 100, "slot_name": "s_parquet",
		"sink": map[string]any{"type": "local", "path": t.TempDir(), "format": "parquet"}}, methods)
	round := func() {
		for _, p := range []*pipeline{jl, pq} {
			run, err := p.app.Sync(ctx, p.cat, app.RunOptions{})
			if err != nil || run.Failed() {
				t.Fatalf("sync: %v %+v", err, run)
			}
			for i := 0; i < 5; i++ {
				if n, _ := drain(t, p, app.RunOptions{}); n == 0 {
					break
				}
			}
		}
	}
	round()
	changes := ""
	for _, table := range []string{"t_full", "t_incr", "t_log"} {
		changes += parquetChanges(table)
	}
	if err := execSQL(dsn, changes); err != nil {
		t.Fatal(err)
	}
	round()

	for _, table := range []string{"t_full", "t_incr", "t_log"} {
		a, b := pipelineNeutral(jl.rows(streamID(jl, table))), pipelineNeutral(pq.rows(streamID(pq, table)))
		if len(a) < 300 || len(a) != len(b) {
			t.Fatalf("%s: %d JSON Lines rows, %d Parquet rows", table, len(a), len(b))
		}
		for i := range a {
			if a[i] != b[i] {
				t.Fatalf("%s: row %d differs:\n  jsonl %s\nparquet %s", table, i, a[i], b[i])
			}
		}
	}
	if keys := dataKeys(t, pq); len(keys) == 0 || keys[".parquet"] == 0 || keys[".jsonl.gz"] != 0 {
		t.Fatalf("the parquet pipeline wrote data objects %v", keys)
	}

	// The log carried unchanged TOASTed values: update rows without doc.
	unchanged := 0
	for _, r := range pq.logRows(streamID(pq, "t_log")) {
		if _, ok := r["doc"]; !ok && r["_sdc_deleted_at"] == nil {
			unchanged++
		}
	}
	if unchanged == 0 {
		t.Fatal("no log change left doc out: the test made no unchanged TOASTed value")
	}

	// Merged, the log equals the table, and the newest copy of the same
	// table replicated by FULL_TABLE.
	logged := merge(pq.rows(streamID(pq, "t_log")))
	copied := newestVersion(pq.rows(streamID(pq, "t_full")))
	if len(logged) != len(copied) {
		t.Fatalf("merged log has %d rows, the copy %d", len(logged), len(copied))
	}
	for id, row := range copied {
		if !reflect.DeepEqual(logged[id], row) {
			t.Fatalf("row %s: merged log %v\n copy %v", id, logged[id], row)
		}
	}
	want := tableState(t, dsn, "SELECT id, amount, doc FROM t_log")
	for id, w := range want {
		got := map[string]any{"id": logged[id]["id"], "amount": logged[id]["amount"], "doc": logged[id]["doc"]}
		if !reflect.DeepEqual(got, w) {
			t.Fatalf("row %s: merged log %.200v, table %.200v", id, got, w)
		}
	}
	if len(logged) != len(want) {
		t.Fatalf("merged log has %d rows, the table %d", len(logged), len(want))
	}
}

// pipelineNeutral drops the fields two pipelines write differently by
// design (extraction times, table versions, and a log stream's copy rows'
// _sdc_lsn: the position each pipeline's copy began at, below every
// change's) and returns the rows as sorted canonical JSON.
func pipelineNeutral(rows []map[string]any) []string {
	start := int64(-1)
	for _, r := range rows {
		if l, ok := r["_sdc_lsn"]; ok && (start < 0 || num(l) < start) {
			start = num(l)
		}
	}
	out := make([]string, 0, len(rows))
	for _, r := range rows {
		delete(r, "_sdc_extracted_at")
		delete(r, "_sdc_batched_at")
		delete(r, "_sdc_table_version")
		if l, ok := r["_sdc_lsn"]; ok && num(l) == start {
			delete(r, "_sdc_lsn")
		}
		b, _ := json.Marshal(r)
		out = append(out, string(b))
	}
	sort.Strings(out)
	return out
}

// newestVersion returns the rows of the newest table version by id,
// without _sdc_ fields.
func newestVersion(rows []map[string]any) map[string]map[string]any {
	newest := int64(0)
	for _, r := range rows {
		newest = max(newest, num(r["_sdc_table_version"]))
	}
	var keep []map[string]any
	for _, r := range rows {
		if num(r["_sdc_table_version"]) == newest {
			keep = append(keep, r)
		}
	}
	return merge(keep)
}

// dataKeys counts a pipeline's data objects by extension.
func dataKeys(t *testing.T, p *pipeline) map[string]int {
	t.Helper()
	keys, err := p.app.Stores.Sink.List(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, k := range keys {
		for _, ext := range []string{".parquet", ".jsonl.gz"} {
			if strings.HasSuffix(k, ext) && !strings.HasPrefix(k, "_") {
				out[ext]++
			}
		}
	}
	return out
}
