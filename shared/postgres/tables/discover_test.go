package tables

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pg2s3/pg2s3/shared/catalog"
	"github.com/pg2s3/pg2s3/shared/config"
	"github.com/pg2s3/pg2s3/shared/postgres/connect"
	"github.com/pg2s3/pg2s3/shared/postgres/internal/pg"
	"github.com/pg2s3/pg2s3/shared/postgres/internal/pgtest"
	"github.com/pg2s3/pg2s3/shared/testenv"
)

var update = flag.Bool("update", false, "rewrite golden files")

// testPG is the package's private cluster, started once by TestMain.
var testPG *testenv.Postgres

func TestMain(m *testing.M) {
	os.Exit(testenv.RunWithPostgres(m, &testPG, testenv.PostgresOptions{}))
}

// discoverDB creates a database, runs setup in it and returns its config
// and a connection to it (closed at the end of the test).
func discoverDB(t *testing.T, prefix, setup string) (*config.Config, *connect.Conn) {
	t.Helper()
	cfg := pgtest.NewDB(t, testPG, prefix, setup)
	return cfg, pgtest.Open(t, cfg)
}

// typeMatrix has one column of each type the mapping covers, plus
// unsupported ones (listed with inclusion unsupported).
const typeMatrix = `
CREATE EXTENSION citext;
CREATE EXTENSION hstore;
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN amount AS numeric(10,3);
CREATE DOMAIN short_code AS varchar(8);
CREATE DOMAIN amounts AS amount[];
CREATE TABLE types (
  c_smallint smallint, c_integer integer, c_bigint bigint PRIMARY KEY,
  c_serial serial, c_bigserial bigserial,
  c_numeric numeric(12,2), c_numeric_unconstrained numeric, c_decimal decimal(5,0), c_numeric_negscale numeric(5,-2),
  c_real real, c_double double precision, c_money money, c_boolean boolean,
  c_char char(3), c_char1 char, c_varchar varchar(40), c_varchar_nolen varchar, c_text text, c_citext citext, c_uuid uuid,
  c_date date, c_time time, c_timetz timetz, c_timestamp timestamp, c_timestamptz timestamptz(3), c_interval interval,
  c_json json, c_jsonb jsonb, c_hstore hstore, c_bit1 bit(1), c_bit bit, c_bit8 bit(8), c_varbit varbit(16),
  c_inet inet, c_cidr cidr, c_macaddr macaddr, c_macaddr8 macaddr8, c_enum mood, c_domain amount, c_domain_varchar short_code,
  c_int_array int[], c_text_2d text[][], c_numeric_array numeric(8,4)[], c_numeric_array_unconstrained numeric[],
  c_bool_array boolean[], c_ts_array timestamptz[], c_jsonb_array jsonb[], c_hstore_array hstore[], c_enum_array mood[],
  c_domain_array amount[], c_array_domain amounts, c_bytea bytea, c_float_array float8[],
  c_point point, c_tsvector tsvector, c_int4range int4range, c_xml xml, c_pg_lsn pg_lsn, c_oid oid, c_regclass regclass,
  c_composite pg_stat_archiver
);
ALTER TABLE types DROP COLUMN c_serial;
ALTER TABLE types ADD COLUMN c_serial serial;
`

func TestDiscoverTypesGolden(t *testing.T) {
	_, conn := discoverDB(t, "types", typeMatrix)
	cat, err := New(conn, Settings{Database: "typesdb"}).Discover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got, err := cat.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "types.golden.json")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("catalog differs from %s (go test ./shared/postgres/tables -run TestDiscoverTypesGolden -update to accept):\n%s", golden, firstDiff(string(want), string(got)))
	}
	// The golden file must round-trip through Parse and Marshal unchanged.
	back, err := catalog.Parse(want)
	if err != nil {
		t.Fatal(err)
	}
	again, err := back.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, want) {
		t.Errorf("Parse+Marshal changed the catalog:\n%s", firstDiff(string(want), string(again)))
	}
}

func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(al) || i < len(bl); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return fmt.Sprintf("line %d:\n  want %s\n  got  %s", i+1, x, y)
		}
	}
	return ""
}

func TestDiscoverSampleSchema(t *testing.T) {
	_, conn := discoverDB(t, "sample", testenv.SampleSchema+testenv.SampleData(120)+`
CREATE SCHEMA "Other Schema";
CREATE TABLE "Other Schema"."MixedCase" (id int PRIMARY KEY);`)
	ctx := context.Background()
	cat, err := New(conn, Settings{Database: "shopdb"}).Discover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range cat.Streams {
		ids = append(ids, s.TapStreamID)
	}
	want := []string{
		"shopdb-Other Schema-MixedCase",
		"shopdb-shop-Order Items", "shopdb-shop-customers", "shopdb-shop-daily_sales", "shopdb-shop-events",
		"shopdb-shop-order_totals", "shopdb-shop-orders", "shopdb-shop-page_views", "shopdb-shop-products", "shopdb-shop-select",
	}
	if !slices.Equal(ids, want) {
		t.Fatalf("streams:\n got %q\nwant %q", ids, want)
	}
	items := cat.Stream("shopdb-shop-Order Items")
	if got := items.TableMetadata()["table-key-properties"]; !slices.Equal(got.([]string), []string{"order_id", "line_no"}) {
		t.Errorf("Order Items keys = %v", got)
	}
	if md := items.ColumnMetadata("unit_price"); md["sql-datatype"] != "shop.price" && md["sql-datatype"] != "price" {
		t.Errorf("unit_price sql-datatype = %v", md["sql-datatype"])
	}
	price := items.Schema["properties"].(map[string]any)["unit_price"].(map[string]any)
	if fmt.Sprint(price["multipleOf"]) != "0.01" || fmt.Sprint(price["type"]) != "[null number]" {
		t.Errorf("domain unit_price schema = %v", price)
	}
	events := cat.Stream("shopdb-shop-events")
	if n := events.TableMetadata()["row-count"].(int64); n != 120 {
		t.Errorf("partitioned events row-count = %d, want the partitions' sum 120", n)
	}
	view := cat.Stream("shopdb-shop-order_totals")
	if view.TableMetadata()["is-view"] != true || len(view.TableMetadata()["table-key-properties"].([]string)) != 0 {
		t.Errorf("view metadata = %v", view.TableMetadata())
	}
	if got := view.TableMetadata()["valid-replication-methods"]; !slices.Equal(got.([]string), []string{"FULL_TABLE", "INCREMENTAL"}) {
		t.Errorf("view methods = %v", got)
	}
	if cat.Stream("shopdb-shop-daily_sales").TableMetadata()["is-view"] != true {
		t.Error("materialized view is not is-view")
	}
	if keys := cat.Stream("shopdb-shop-page_views").TableMetadata()["table-key-properties"].([]string); len(keys) != 0 {
		t.Errorf("page_views keys = %v", keys)
	}
	sel := cat.Stream("shopdb-shop-select")
	if !slices.Equal(sel.Columns(), []string{"Größe", `a"b`, "from", "updated_at"}) {
		t.Errorf("select columns = %q", sel.Columns())
	}
	if sel.ColumnMetadata("Größe")["inclusion"] != "automatic" {
		t.Errorf("Größe metadata = %v", sel.ColumnMetadata("Größe"))
	}
	if md := cat.Stream("shopdb-shop-products").ColumnMetadata("location"); md["inclusion"] != "unsupported" || md["selected-by-default"] != false {
		t.Errorf("point column metadata = %v", md)
	}
	if n := cat.Stream("shopdb-shop-orders").TableMetadata()["row-count"].(int64); n != 120 {
		t.Errorf("orders row-count = %d", n)
	}

	only, err := New(conn, Settings{Database: "shopdb", Schemas: []string{"Other Schema"}}).Discover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(only.Streams) != 1 || only.Streams[0].TableName != "MixedCase" {
		t.Errorf("filter_schemas: %d streams", len(only.Streams))
	}
	if _, err := New(conn, Settings{Database: "shopdb", Schemas: []string{"nope"}}).Discover(ctx); err == nil || !strings.Contains(err.Error(), "filter_schemas") {
		t.Errorf("empty schema filter: %v", err)
	}
}

func TestDiscoverWithoutPrivileges(t *testing.T) {
	cfg, _ := discoverDB(t, "nopriv", `
CREATE TABLE hidden (id int PRIMARY KEY);
CREATE TABLE visible (id int PRIMARY KEY, secret text);
DROP ROLE IF EXISTS discover_reader;
CREATE ROLE discover_reader LOGIN;
GRANT SELECT ON visible TO discover_reader;`)
	ctx := context.Background()
	reader := *cfg
	reader.User = "discover_reader"
	conn := pgtest.Open(t, &reader)
	src := New(conn, FromConfig(cfg))
	cat, err := src.Discover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(cat.Streams) != 1 || cat.Streams[0].TableName != "visible" {
		t.Fatalf("streams = %d, want only the readable table", len(cat.Streams))
	}
	if _, err := pg.PGX(conn).Exec(ctx, "SET ROLE NONE"); err != nil {
		t.Fatal(err)
	}
	if err := testenv.Exec(ctx, testPG.DSN(cfg.DBName), "REVOKE SELECT ON visible FROM discover_reader"); err != nil {
		t.Fatal(err)
	}
	_, err = src.Discover(ctx)
	if err == nil || !strings.Contains(err.Error(), "GRANT SELECT") || !strings.Contains(err.Error(), "none of the 2 tables") {
		t.Errorf("no privileges: %v", err)
	}
}
