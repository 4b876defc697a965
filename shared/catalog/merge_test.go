package catalog

import (
	"strings"
	"testing"
)

func TestMergeKeepsSelections(t *testing.T) {
	cols := func(names ...string) []ColumnInfo {
		var out []ColumnInfo
		for _, n := range names {
			out = append(out, ColumnInfo{Name: n, Type: "integer", SQLType: "integer", Base: "int4", BaseTypType: 'b', PrimaryKey: n == "id"})
		}
		return out
	}
	table := func(name string, c ...string) Table {
		return Table{Database: "db", Schema: "public", Name: name, Kind: KindTable, KeyColumns: []string{"id"}, Columns: cols(c...)}
	}
	cur := &Catalog{Streams: []*Stream{NewStream(table("a", "id", "x")), NewStream(table("gone", "id"))}}
	cur.Streams[0].SetTableMetadata("selected", true)
	cur.Streams[0].SetTableMetadata("replication-method", "INCREMENTAL")
	cur.Streams[0].SetTableMetadata("replication-key", "x")
	cur.Streams[0].SetColumnMetadata("x", "selected", false)
	fresh := &Catalog{Streams: []*Stream{NewStream(table("a", "id", "x", "y")), NewStream(table("b", "id"))}}
	merged, ch := Merge(cur, fresh)
	a := merged.Stream("db-public-a")
	md := a.TableMetadata()
	if md["selected"] != true || md["replication-method"] != "INCREMENTAL" || md["replication-key"] != "x" {
		t.Fatalf("table selections lost: %v", md)
	}
	if a.ColumnMetadata("x")["selected"] != false {
		t.Fatalf("column selection lost: %v", a.ColumnMetadata("x"))
	}
	if merged.Stream("db-public-b").Selected() {
		t.Fatal("a new stream came out selected")
	}
	s := ch.String()
	for _, want := range []string{"db-public-b", "db-public-a.y", "db-public-gone"} {
		if !strings.Contains(s, want) {
			t.Errorf("changes %q lack %s", s, want)
		}
	}
}

// TestNewColumns: a column added to a selected table is selected, in a
// merge and when a run records it (AddColumns), unless the table's
// select-new-columns is false; Selections names every column the catalog
// knows, so a resolve can tell the new ones.
func TestNewColumns(t *testing.T) {
	table := func(cols ...ColumnInfo) *Stream {
		return NewStream(Table{Database: "db", Schema: "public", Name: "a", Kind: KindTable, KeyColumns: []string{"id"}, Columns: cols})
	}
	col := func(name, typ, base string, typmod int32) ColumnInfo {
		return ColumnInfo{Name: name, Type: typ, SQLType: typ, Base: base, BaseSchema: "pg_catalog", BaseTypType: 'b', Typmod: typmod, PrimaryKey: name == "id"}
	}
	id, x := col("id", "integer", "int4", -1), col("x", "integer", "int4", -1)
	price, odd := col("price", "numeric", "numeric", 10<<16|2+4), col("odd", "int4range", "int4range", -1)
	odd.BaseTypType = 'r' // a range: not supported
	for _, optOut := range []bool{false, true} {
		cur := table(id, x)
		cur.SetTableMetadata("selected", true)
		cur.SetTableMetadata("replication-method", "LOG_BASED")
		cur.SetColumnMetadata("x", "selected", false)
		if optOut {
			cur.SetTableMetadata("select-new-columns", false)
		}
		sels, err := (&Catalog{Streams: []*Stream{cur}}).Selections("")
		if err != nil || len(sels) != 1 || strings.Join(sels[0].Known, ",") != "id,x" || strings.Join(sels[0].Columns, ",") != "id" || sels[0].SelectNewColumns == optOut {
			t.Fatalf("selection %+v: %v", sels, err)
		}

		fresh := table(id, x, price, odd)
		added := cur.AddColumns(fresh, []string{"price", "odd", "nope"})
		if strings.Join(added, ",") != "price,odd" {
			t.Fatalf("added %q", added)
		}
		if _, ok := cur.Schema["properties"].(map[string]any)["price"]; !ok {
			t.Error("the added column has no JSON Schema")
		}
		if again := cur.AddColumns(fresh, []string{"price"}); len(again) != 0 {
			t.Errorf("added twice: %q", again)
		}
		sels, _ = (&Catalog{Streams: []*Stream{cur}}).Selections("")
		want := "id,price"
		if optOut {
			want = "id"
		}
		if got := strings.Join(sels[0].Columns, ","); got != want {
			t.Errorf("select-new-columns opt-out %v: selected %s after AddColumns, want %s", optOut, got, want)
		}

		merged, _ := Merge(&Catalog{Streams: []*Stream{table(id, x)}}, &Catalog{Streams: []*Stream{table(id, x, price)}})
		if optOut {
			prev := table(id, x)
			prev.SetTableMetadata("select-new-columns", false)
			merged, _ = Merge(&Catalog{Streams: []*Stream{prev}}, &Catalog{Streams: []*Stream{table(id, x, price)}})
		}
		_, set := mdBool(merged.Streams[0].ColumnMetadata("price"), "selected")
		if set != optOut {
			t.Errorf("merge with select-new-columns opt-out %v: price metadata %v", optOut, merged.Streams[0].ColumnMetadata("price"))
		}
	}
}
