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
