package functions_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/iceberg-go/catalog"

	"github.com/pg2s3/pg2s3/shared/materialize/gluecat"
	"github.com/pg2s3/pg2s3/shared/materialize/mattest"
	"github.com/pg2s3/pg2s3/shared/testenv"
)

const matSchema = `
CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL, amount numeric(12,2), ok boolean, at timestamptz, big text);
ALTER TABLE items ALTER COLUMN big SET STORAGE EXTERNAL;
CREATE TABLE plain (id bigint PRIMARY KEY, label text);
INSERT INTO items SELECT i, 'n' || i, i * 1.25, i % 2 = 0, '2024-01-01'::timestamptz + i * interval '1 hour', CASE WHEN i = 3 THEN repeat('toast-', 2000) END FROM generate_series(1, 20) i;
INSERT INTO plain SELECT i, 'p' || i FROM generate_series(1, 5) i;`

const itemsText = `SELECT id::text AS id, name, amount::text AS amount, ok::text AS ok,
	to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at, big FROM items`

type matResult struct {
	result
	Tables []map[string]any `json:"tables"`
}

// TestMaterializeFunction runs the materialize function under the Lambda
// emulator against S3, DynamoDB and the Glue stand-in: a LOG_BASED and a
// FULL_TABLE stream are applied to Iceberg tables in the pipeline's Glue
// database, with the files under the bucket's _iceberg folder; each table,
// read back through the same Glue catalog and S3, equals its source table
// after every run; maintenance compacts and expires without changing a
// row; commits go through Glue's optimistic lock (UpdateTable with the
// version read).
func TestMaterializeFunction(t *testing.T) {
	glue, err := testenv.StartGlue()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(glue.Close)
	h := newHarness(t, "mat", matSchema, `PG2S3_SETTINGS={"batch_rows": 4, "logical_plugin": "pgoutput"}`,
		`PG2S3_SELECTION={"mat-public-items": {"replication_method": "LOG_BASED"}, "mat-public-plain": {"replication_method": "FULL_TABLE"}}`,
		"PG2S3_GLUE_ENDPOINT="+glue.Endpoint(), "PG2S3_MATERIALIZE_MAX_ROWS=3")
	dsn := h.pg.DSN("mat")
	exec := func(sql string) {
		t.Helper()
		if err := testenv.Exec(h.ctx, dsn, sql); err != nil {
			t.Fatal(err)
		}
	}
	run := func(name, payload string) matResult {
		t.Helper()
		var res matResult
		if err := h.invoke(name, 60*time.Second, payload, &res); err != nil {
			t.Fatalf("%s %s: %v", name, payload, err)
		}
		return res
	}
	run("wal", "{}")  // the items copy
	run("sync", "{}") // plain
	res := run("materialize", "{}")
	if len(res.Streams) != 2 || res.Rows != 25 || len(res.Tables) != 2 {
		t.Fatalf("first materialize: %+v", res)
	}

	t.Setenv("AWS_ACCESS_KEY_ID", testenv.DummyAccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", testenv.DummySecretAccessKey)
	ice, err := gluecat.Open(h.ctx, gluecat.Settings{Warehouse: gluecat.Warehouse("lake", "mat"), Region: testenv.DummyRegion,
		GlueEndpoint: glue.Endpoint(), S3Endpoint: h.aws.S3.Endpoint()})
	if err != nil {
		t.Fatal(err)
	}
	compare := func(table, query string) {
		t.Helper()
		got := icebergText(t, h.ctx, ice, catalog.ToIdentifier("mat", table))
		want, err := testenv.RowsByID(h.ctx, dsn, query)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Errorf("%s: %d rows in Iceberg, %d in the source", table, len(got), len(want))
		}
		for id, w := range want {
			for col, wv := range w {
				if gv := got[id][col]; fmt.Sprint(gv) != fmt.Sprint(wv) {
					t.Errorf("%s: key %s, %s: Iceberg %.60q, source %.60q", table, id, col, fmt.Sprint(gv), fmt.Sprint(wv))
				}
			}
		}
	}
	compare("mat_public_items", itemsText)
	compare("mat_public_plain", `SELECT id::text AS id, label FROM plain`)
	loc := glue.TableParameters("mat", "mat_public_items")["metadata_location"]
	if !strings.HasPrefix(loc, "s3://lake/mat/_iceberg/mat.db/mat_public_items/metadata/") {
		t.Fatalf("metadata_location %q is not under the pipeline's warehouse", loc)
	}
	if keys, err := h.sink.List(h.ctx, "_iceberg/mat.db/mat_public_items/data/"); err != nil || len(keys) == 0 {
		t.Fatalf("no data files under the warehouse: %v %v", keys, err)
	}

	// Changes in several small commits, one stream asked for.
	exec(`UPDATE items SET name = name || '!' WHERE id < 8`)
	exec(`DELETE FROM items WHERE id IN (10, 11)`)
	exec(`BEGIN; DELETE FROM items WHERE id = 12; INSERT INTO items VALUES (12, 'again', NULL, NULL, NULL, NULL); COMMIT`)
	exec(`UPDATE items SET amount = 0.01 WHERE id = 3`) // big stays in TOAST
	exec(`INSERT INTO items VALUES (21, 'new', 2.5, true, now(), 'b')`)
	run("wal", "{}")
	res = run("materialize", `{"streams": ["mat-public-items"]}`)
	if len(res.Tables) != 1 || res.Tables[0]["commits"].(float64) < 3 || res.Tables[0]["caught_up"] != true {
		t.Fatalf("second materialize: %+v", res)
	}
	compare("mat_public_items", itemsText)
	calls := glue.Calls()
	if !slices.Contains(calls, "UpdateTable") || !slices.Contains(calls, "CreateTable") || !slices.Contains(calls, "CreateDatabase") {
		t.Fatalf("Glue calls: %v", calls)
	}

	time.Sleep(1100 * time.Millisecond)
	res = run("materialize", `{"maintain": true, "snapshot_age_seconds": 1}`)
	var items map[string]any
	for _, tb := range res.Tables {
		if tb["stream"] == "mat-public-items" {
			items = tb
		}
	}
	if items == nil || items["data_files_after"].(float64) != 1 || items["delete_files_after"].(float64) != 0 ||
		items["snapshots_after"].(float64) != 1 || items["data_files_before"].(float64) < 3 {
		b, _ := json.Marshal(res.Tables)
		t.Fatalf("maintenance: %s", b)
	}
	compare("mat_public_items", itemsText)
	compare("mat_public_plain", `SELECT id::text AS id, label FROM plain`)

	// And on from there.
	exec(`UPDATE items SET ok = NULL WHERE id = 2; UPDATE plain SET label = 'changed'`)
	run("wal", "{}")
	run("sync", "{}")
	res = run("materialize", "{}")
	if res.Rows == 0 {
		t.Fatalf("materialize after maintenance: %+v", res)
	}
	compare("mat_public_items", itemsText)
	compare("mat_public_plain", `SELECT id::text AS id, label FROM plain`)

	var bad result
	if err := h.invoke("materialize", 30*time.Second, `{"streams": ["mat-public-nope"]}`, &bad); err == nil || !strings.Contains(err.Error(), "not selected") {
		t.Fatalf("an unselected stream: %v", err)
	}
}

// icebergText scans a table (mattest.Rows), failing the test on error.
func icebergText(t *testing.T, ctx context.Context, cat catalog.Catalog, ident []string) map[string]map[string]any {
	t.Helper()
	rows, err := mattest.Rows(ctx, cat, ident)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}
