package tables

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pg2s3/pg2s3/shared/catalog"
	"github.com/pg2s3/pg2s3/shared/layout"
	"github.com/pg2s3/pg2s3/shared/record"
	"github.com/pg2s3/pg2s3/shared/testenv"
)

var kindNames = map[record.Kind]string{
	record.KindString: "string", record.KindInteger: "integer", record.KindNumber: "number", record.KindBool: "bool",
	record.KindBit1: "bit1", record.KindJSON: "json", record.KindTimestamp: "timestamp", record.KindTimestampTZ: "timestamptz",
	record.KindDate: "date", record.KindBytea: "bytea", record.KindHstore: "hstore", record.KindUnsupported: "unsupported",
}

// TestResolveKindsGolden pins the encoder side of the type mapping: the
// record.Kind, dimensions and SQL type of every supported column.
func TestResolveKindsGolden(t *testing.T) {
	_, conn := discoverDB(t, "kinds", typeMatrix)
	ctx := context.Background()
	src := New(conn, Settings{Database: "typesdb"})
	cat, err := src.Discover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s := cat.Streams[0]
	s.SetTableMetadata("selected", true)
	sels, err := cat.Selections(layout.FullTable)
	if err != nil {
		t.Fatal(err)
	}
	st, err := src.Resolve(ctx, sels[0])
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, c := range st.Columns {
		fmt.Fprintf(&b, "%-30s %-12s dims=%d  %s\n", c.Name, kindNames[c.Kind], c.Dims, c.SQLType)
	}
	got := b.String()
	golden := filepath.Join("testdata", "kinds.golden.txt")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("kinds differ from %s (-update to accept):\n%s", golden, firstDiff(string(want), got))
	}
	if len(st.Columns) != len(sels[0].Columns) || slices.ContainsFunc(st.Columns, func(c record.Column) bool { return c.Name == "c_point" }) {
		t.Errorf("unsupported columns must not be resolved: %d columns", len(st.Columns))
	}
	if !slices.Equal(st.KeyColumns, []string{"c_bigint"}) {
		t.Errorf("keys = %v", st.KeyColumns)
	}
}

func TestResolveLiveChanges(t *testing.T) {
	cfg, conn := discoverDB(t, "resolve", testenv.SampleSchema+testenv.SampleData(40))
	ctx := context.Background()
	src := New(conn, Settings{Database: cfg.DBName, Schemas: []string{"shop"}})
	cat, err := src.Discover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pick := func(table string, method layout.Method, key string, deselect ...string) catalog.Selection {
		t.Helper()
		for _, s := range cat.Streams {
			s.SetTableMetadata("selected", s.TableName == table)
			if s.TableName == table {
				s.SetTableMetadata("replication-method", string(method))
				s.SetTableMetadata("replication-key", key)
				for _, c := range deselect {
					s.SetColumnMetadata(c, "selected", false)
				}
			}
		}
		sels, err := cat.Selections("")
		if err != nil || len(sels) != 1 {
			t.Fatalf("select %s: %v", table, err)
		}
		return sels[0]
	}

	sel := pick("orders", layout.Incremental, "updated_at", "details")
	st, err := src.Resolve(ctx, sel)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range st.Columns {
		names = append(names, c.Name)
	}
	want := []string{"id", "customer_id", "status", "placed_at", "ship_by", "delivery_slot", "total", "discount_rate", "tags", "handling_time", "updated_at"}
	if !slices.Equal(names, want) || st.ReplicationKey != "updated_at" || st.Method != layout.Incremental || st.RowEstimate != 40 {
		t.Errorf("stream = %+v", st)
	}
	if tags := st.Columns[st.ColumnIndex("tags")]; tags.Kind != record.KindString || tags.Dims != 1 {
		t.Errorf("tags = %+v", tags)
	}
	if _, ok := st.JSONSchema["properties"].(map[string]any)["details"]; ok {
		t.Error("deselected column in JSONSchema")
	}

	// A replication key that cannot be ordered.
	if _, err := src.Resolve(ctx, pick("orders", layout.Incremental, "details")); err == nil || !strings.Contains(err.Error(), "cannot be ordered") {
		t.Errorf("json replication key: %v", err)
	}
	// A view cannot be LOG_BASED.
	view := pick("order_totals", layout.FullTable, "")
	view.Method = layout.LogBased
	if _, err := src.Resolve(ctx, view); err == nil || !strings.Contains(err.Error(), "view") {
		t.Errorf("log-based view: %v", err)
	}
	// Quoted identifiers resolve.
	if st, err := src.Resolve(ctx, pick("select", layout.FullTable, "")); err != nil || st.Columns[1].Name != `a"b` {
		t.Errorf("select table: %v %+v", err, st.Columns)
	}

	// The live primary key wins over the catalog's.
	items := pick("Order Items", layout.FullTable, "", "quantity")
	execDB(t, cfg.DBName, `ALTER TABLE shop."Order Items" DROP CONSTRAINT "Order Items_pkey";
ALTER TABLE shop."Order Items" ADD PRIMARY KEY (order_id, line_no, product_id)`)
	st, err = src.Resolve(ctx, items)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(st.KeyColumns, []string{"order_id", "line_no", "product_id"}) || st.ColumnIndex("product_id") < 0 || st.ColumnIndex("quantity") >= 0 {
		t.Errorf("live key: %v columns %v", st.KeyColumns, st.Columns)
	}

	// Columns added after discovery: replicated unless the table's
	// select-new-columns is false; one of a type pg2s3 cannot encode is
	// skipped either way. Refresh finds the ones added later still.
	orders := pick("orders", layout.FullTable, "", "details")
	execDB(t, cfg.DBName, `ALTER TABLE shop.orders ADD COLUMN gift_note text, ADD COLUMN span int4range`)
	st, err = src.Resolve(ctx, orders)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(st.NewColumns, []string{"gift_note", "span"}) || st.ColumnIndex("gift_note") < 0 || st.ColumnIndex("details") >= 0 ||
		!slices.Contains(st.Skipped, "span") || !slices.Contains(st.Skipped, "details") {
		t.Errorf("new columns %q, columns %v, skipped %q", st.NewColumns, st.ColumnNames(), st.Skipped)
	}
	if _, ok := st.JSONSchema["properties"].(map[string]any)["gift_note"]; !ok {
		t.Error("new column not in JSONSchema")
	}
	execDB(t, cfg.DBName, `ALTER TABLE shop.orders ADD COLUMN rank bigint`)
	again, err := src.Refresh(ctx, &st)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(again.NewColumns, []string{"gift_note", "span", "rank"}) || again.ColumnIndex("rank") < 0 || again.ColumnIndex("details") >= 0 {
		t.Errorf("refresh: new columns %q, columns %v", again.NewColumns, again.ColumnNames())
	}
	orders.SelectNewColumns = false
	if st, err = src.Resolve(ctx, orders); err != nil || st.ColumnIndex("gift_note") >= 0 || !slices.Contains(st.Skipped, "gift_note") || len(st.NewColumns) != 3 {
		t.Errorf("select-new-columns false: columns %v, skipped %q, new %q: %v", st.ColumnNames(), st.Skipped, st.NewColumns, err)
	}

	// Dropped columns and tables are stale.
	customers := pick("customers", layout.FullTable, "")
	execDB(t, cfg.DBName, `ALTER TABLE shop.customers DROP COLUMN signup_ip`)
	if _, err := src.Resolve(ctx, customers); !errors.Is(err, ErrStale) || !strings.Contains(err.Error(), "signup_ip") {
		t.Errorf("dropped column: %v", err)
	}
	pv := pick("page_views", layout.FullTable, "")
	execDB(t, cfg.DBName, `DROP TABLE shop.page_views`)
	if _, err := src.Resolve(ctx, pv); !errors.Is(err, ErrStale) || !strings.Contains(err.Error(), "discover again") {
		t.Errorf("dropped table: %v", err)
	}
}

func execDB(t *testing.T, db, sql string) {
	t.Helper()
	if err := testenv.Exec(context.Background(), testPG.DSN(db), sql); err != nil {
		t.Fatal(err)
	}
}
