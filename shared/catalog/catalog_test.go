package catalog

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/pg2s3/pg2s3/shared/layout"
	"github.com/pg2s3/pg2s3/shared/record"
)

func TestMapColumn(t *testing.T) {
	col := func(base string, typmod int32, dims int) ColumnInfo {
		return ColumnInfo{Name: "c", Base: base, BaseSchema: "pg_catalog", BaseTypType: 'b', Typmod: typmod, Dims: dims}
	}
	tests := []struct {
		name   string
		c      ColumnInfo
		schema string
		kind   record.Kind
		ok     bool
	}{
		{"int4", col("int4", -1, 0), `{"maximum":2147483647,"minimum":-2147483648,"type":["null","integer"]}`, record.KindInteger, true},
		{"numeric(10,2)", col("numeric", 10<<16|2+4, 0), `{"exclusiveMaximum":true,"exclusiveMinimum":true,"maximum":100000000,"minimum":-100000000,"multipleOf":0.01,"type":["null","number"]}`, record.KindNumber, true},
		{"numeric(10,5)", col("numeric", 10<<16|5+4, 0), `{"exclusiveMaximum":true,"exclusiveMinimum":true,"maximum":100000,"minimum":-100000,"multipleOf":1e-05,"type":["null","number"]}`, record.KindNumber, true},
		{"numeric(200,50) capped", col("numeric", 200<<16|50+4, 0), `{"exclusiveMaximum":true,"exclusiveMinimum":true,"maximum":100000000000000000000000000000000000000000000000000000000000000,"minimum":-100000000000000000000000000000000000000000000000000000000000000,"multipleOf":1e-38,"type":["null","number"]}`, record.KindNumber, true},
		{"varchar(5)", col("varchar", 9, 0), `{"maxLength":5,"type":["null","string"]}`, record.KindString, true},
		{"bit(1)", col("bit", 1, 0), `{"type":["null","boolean"]}`, record.KindBit1, true},
		{"timestamptz", col("timestamptz", -1, 0), `{"format":"date-time","type":["null","string"]}`, record.KindTimestampTZ, true},
		{"bytea", col("bytea", -1, 0), `{"contentEncoding":"base64","type":["null","string"]}`, record.KindBytea, true},
		{"int8[][]", col("int8", -1, 2), `{"items":{"$ref":"#/definitions/sdc_recursive_integer_array"},"type":["null","array"]}`, record.KindInteger, true},
		{"hstore elsewhere", ColumnInfo{Base: "hstore", BaseSchema: "extensions", BaseTypType: 'b', Typmod: -1}, `{"properties":{},"type":["null","object"]}`, record.KindHstore, true},
		{"enum key", ColumnInfo{Base: "mood", BaseSchema: "public", BaseTypType: 'e', Typmod: -1, PrimaryKey: true}, `{"type":["string"]}`, record.KindString, true},
		{"range", ColumnInfo{Base: "int4range", BaseSchema: "pg_catalog", BaseTypType: 'r', Typmod: -1}, `{}`, record.KindUnsupported, false},
		{"point", col("point", -1, 0), `{}`, record.KindUnsupported, false},
		{"look-alike text outside pg_catalog", ColumnInfo{Base: "text", BaseSchema: "public", BaseTypType: 'b', Typmod: -1}, `{}`, record.KindUnsupported, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := MapColumn(tt.c)
			b, _ := json.Marshal(m.Schema)
			if string(b) != tt.schema || m.Kind != tt.kind || m.Supported != tt.ok || m.Dims != tt.c.Dims {
				t.Errorf("got %s kind %d supported %v dims %d", b, m.Kind, m.Supported, m.Dims)
			}
		})
	}
}

func TestOrderable(t *testing.T) {
	for base, want := range map[string]bool{"timestamptz": true, "int8": true, "text": true, "json": false, "jsonb": false, "point": false} {
		if got := MapColumn(ColumnInfo{Base: base, BaseSchema: "pg_catalog", BaseTypType: 'b', Typmod: -1}).Orderable; got != want {
			t.Errorf("%s orderable = %v", base, got)
		}
	}
}

const sampleCatalog = `{"streams": [
 {"tap_stream_id": "db-s-t", "table_name": "t", "stream": "t",
  "schema": {"type": "object", "properties": {"id": {"type": ["integer"]}, "a": {"type": ["null","string"]}, "b": {"type": ["null","string"]}, "p": {}, "u": {"type": ["null","string"]}}},
  "metadata": [
   {"breadcrumb": [], "metadata": {"selected": true, "replication-method": "INCREMENTAL", "replication-key": "u", "schema-name": "s", "table-key-properties": ["id"], "is-view": false, "row-count": 42}},
   {"breadcrumb": ["properties","id"], "metadata": {"inclusion": "automatic", "selected": false}},
   {"breadcrumb": ["properties","a"], "metadata": {"inclusion": "available", "selected-by-default": true}},
   {"breadcrumb": ["properties","b"], "metadata": {"inclusion": "available", "selected": false}},
   {"breadcrumb": ["properties","p"], "metadata": {"inclusion": "unsupported", "selected": true}},
   {"breadcrumb": ["properties","u"], "metadata": {"inclusion": "available", "selected": false}}]},
 {"tap_stream_id": "db-s-v", "table_name": "v", "stream": "v", "schema": {"type": "object", "properties": {"x": {}}},
  "metadata": [{"breadcrumb": [], "metadata": {"selected": "true", "schema-name": "s", "is-view": true, "view-key-properties": ["x"]}},
               {"breadcrumb": ["properties","x"], "metadata": {"inclusion": "available"}}]},
 {"tap_stream_id": "db-s-off", "table_name": "off", "stream": "off", "schema": {"type": "object", "properties": {}},
  "metadata": [{"breadcrumb": [], "metadata": {"schema-name": "s"}}]}
]}`

func TestSelections(t *testing.T) {
	cat, err := Parse([]byte(sampleCatalog))
	if err != nil {
		t.Fatal(err)
	}
	sels, err := cat.Selections("FULL_TABLE")
	if err != nil {
		t.Fatal(err)
	}
	if len(sels) != 2 {
		t.Fatalf("selections = %+v", sels)
	}
	s := sels[0]
	if !slices.Equal(s.Columns, []string{"id", "a", "u"}) || s.Method != layout.Incremental || s.ReplicationKey != "u" || s.RowCount != 42 || s.Schema != "s" {
		t.Errorf("t = %+v", s)
	}
	if props := s.JSONSchema["properties"].(map[string]any); len(props) != 3 || props["b"] != nil {
		t.Errorf("narrowed schema = %v", props)
	}
	if v := sels[1]; !v.IsView || v.Method != layout.FullTable || !slices.Equal(v.KeyColumns, []string{"x"}) {
		t.Errorf("v = %+v", v)
	}

	cases := map[string]string{
		`"replication-method": "LOG_BASED"`:                              "a view cannot be LOG_BASED",
		`"replication-method": "INCREMENTAL"`:                            "INCREMENTAL needs a replication-key",
		`"replication-method": "INCREMENTAL", "replication-key": "nope"`: `replication-key "nope" is not a column`,
		`"replication-method": "SOMETIMES"`:                              `replication-method "SOMETIMES" is not FULL_TABLE`,
	}
	for patch, want := range cases {
		doc := strings.Replace(sampleCatalog, `"selected": "true",`, `"selected": "true", `+patch+`,`, 1)
		cat, err := Parse([]byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		sels, err := cat.Selections("")
		if err == nil || !strings.Contains(err.Error(), "stream db-s-v: "+want) || len(sels) != 1 {
			t.Errorf("%s: %d selections, err %v", patch, len(sels), err)
		}
	}
	if _, err := cat.Selections(""); err == nil || !strings.Contains(err.Error(), "default_replication_method") {
		t.Errorf("no method: %v", err)
	}
}

func TestParseErrors(t *testing.T) {
	for doc, want := range map[string]string{
		`{"streams": [{"table_name": "t", "metadata": []}]}`:    "tap_stream_id is missing",
		`{"streams": [{"tap_stream_id": "x", "metadata": []}]}`: "no table-level metadata",
		`{"streams": [`: "parse catalog JSON",
		`{"streams": [{"tap_stream_id": "x", "metadata": [{"breadcrumb": [], "metadata": {}}]}, {"tap_stream_id": "x", "metadata": [{"breadcrumb": [], "metadata": {}}]}]}`: "appears twice",
	} {
		if _, err := Parse([]byte(doc)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v", doc, err)
		}
	}
}

func TestNewStreamMetadata(t *testing.T) {
	s := NewStream(Table{Database: "db", Schema: "s", Name: "v", Kind: KindView, RowCount: -1,
		Columns: []ColumnInfo{{Name: "doc", Type: "jsonb", Base: "jsonb", BaseSchema: "pg_catalog", BaseTypType: 'b', Typmod: -1}}})
	md := s.TableMetadata()
	if md["forced-replication-method"] != "FULL_TABLE" || md["row-count"] != int64(0) || md["selected-by-default"] != false {
		t.Errorf("view without orderable columns: %v", md)
	}
	cat := &Catalog{Streams: []*Stream{s}}
	b, err := cat.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"breadcrumb": [],`) || !strings.HasPrefix(string(b), "{\n  \"streams\": [\n    {\n      \"tap_stream_id\": \"db-s-v\"") {
		t.Errorf("marshal:\n%s", b)
	}
	empty, _ := (&Catalog{}).Marshal()
	if strings.TrimSpace(string(empty)) != `{
  "streams": []
}` {
		t.Errorf("empty catalog = %s", empty)
	}
}
