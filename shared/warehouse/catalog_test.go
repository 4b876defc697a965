package warehouse_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/pg2s3/pg2s3/shared/catalog"
	"github.com/pg2s3/pg2s3/shared/config"
	"github.com/pg2s3/pg2s3/shared/postgres/connect"
	"github.com/pg2s3/pg2s3/shared/postgres/tables"
	"github.com/pg2s3/pg2s3/shared/record"
	"github.com/pg2s3/pg2s3/shared/testenv"
	"github.com/pg2s3/pg2s3/shared/warehouse"
)

// TestStreamsFromCatalogMatchResolve: the types DDL reads from a catalog
// are the types a run resolves against the live tables (and so the types
// of the Parquet files it writes), over the sample schema's type matrix
// plus numerics of every shape.
func TestStreamsFromCatalogMatchResolve(t *testing.T) {
	ctx := context.Background()
	_, dsn, err := testPG.NewDatabase(ctx, "wh_types")
	if err != nil {
		t.Fatal(err)
	}
	extra := `
CREATE DOMAIN shop.small_int AS integer;
CREATE DOMAIN shop.ratio AS real;
CREATE TABLE shop.numbers (
  id int PRIMARY KEY, a numeric(5,2), b numeric(38,0), c numeric(39,2), d numeric(12), e numeric(2,5), f numeric(5,-2),
  g numeric(1000,10), h numeric, i shop.small_int, j shop.ratio, k float8[], l numeric(4,1)[][], m bit(1)[], n date[],
  o timestamp, p "char", q varbit(3), r json, s jsonb[]
);`
	if err := testenv.Exec(ctx, dsn, testenv.SampleSchema+extra); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.FromURL(dsn)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := connect.Open(ctx, connect.FromConfig(cfg))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	src := tables.New(conn, tables.FromConfig(cfg))
	cat, err := src.Discover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range cat.Streams {
		s.SetTableMetadata("selected", true)
		s.SetTableMetadata("replication-method", "FULL_TABLE")
	}
	// Through JSON, as a catalog file is read.
	b, _ := cat.Marshal()
	if cat, err = catalog.Parse(b); err != nil {
		t.Fatal(err)
	}
	streams, err := warehouse.StreamsFromCatalog(cat, "")
	if err != nil {
		t.Fatal(err)
	}
	sels, err := cat.Selections("")
	if err != nil || len(sels) != len(streams) || len(streams) < 8 {
		t.Fatalf("%d selections, %d streams: %v", len(sels), len(streams), err)
	}
	checked := 0
	for i, sel := range sels {
		live, err := src.Resolve(ctx, sel)
		if err != nil {
			t.Fatal(err)
		}
		got, want := hiveTypes(&streams[i]), hiveTypes(&live)
		if got != want {
			t.Errorf("%s:\ncatalog %s\nlive    %s", sel.StreamID, got, want)
		}
		if !equalStrings(streams[i].KeyColumns, live.KeyColumns) {
			t.Errorf("%s: keys %v, live %v", sel.StreamID, streams[i].KeyColumns, live.KeyColumns)
		}
		checked += len(live.Columns)
	}
	if checked < 60 {
		t.Fatalf("only %d columns compared", checked)
	}
	// A few types spelled out, so agreement is not agreement on "string".
	var numbers *record.Stream
	for i := range streams {
		if streams[i].Table == "numbers" {
			numbers = &streams[i]
		}
	}
	got := hiveTypes(numbers)
	for _, want := range []string{`"a":"decimal(5,2)"`, `"b":"decimal(38,0)"`, `"c":"string"`, `"d":"decimal(12,0)"`, `"h":"string"`,
		`"i":"bigint"`, `"j":"string"`, `"k":"string"`, `"o":"timestamp"`} {
		if !strings.Contains(got, want) {
			t.Errorf("numbers: %s lacks %s", got, want)
		}
	}
}

func hiveTypes(s *record.Stream) string {
	var m []string
	for _, f := range warehouse.Fields(s) {
		b, _ := json.Marshal(map[string]string{f.Name: f.Type.Hive()})
		m = append(m, strings.Trim(string(b), "{}"))
	}
	return strings.Join(m, ",")
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
