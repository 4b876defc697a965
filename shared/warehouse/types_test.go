package warehouse

import (
	"testing"

	"github.com/pg2s3/pg2s3/shared/record"
)

func TestTypeOf(t *testing.T) {
	cases := []struct {
		col  record.Column
		hive string
	}{
		{record.Column{SQLType: "integer", Kind: record.KindInteger}, "bigint"},
		{record.Column{SQLType: "numeric(10,2)", Kind: record.KindNumber}, "decimal(10,2)"},
		{record.Column{SQLType: "numeric(12)", Kind: record.KindNumber}, "decimal(12,0)"},
		{record.Column{SQLType: "numeric(60,4)", Kind: record.KindNumber}, "string"},
		{record.Column{SQLType: "numeric", Kind: record.KindNumber}, "string"},
		{record.Column{SQLType: "numeric(2,5)", Kind: record.KindNumber}, "string"},
		{record.Column{SQLType: "double precision", Kind: record.KindNumber}, "double"},
		{record.Column{SQLType: "real", Kind: record.KindNumber}, "double"},
		{record.Column{SQLType: "boolean", Kind: record.KindBool}, "boolean"},
		{record.Column{SQLType: "bit(1)", Kind: record.KindBit1}, "boolean"},
		{record.Column{SQLType: "date", Kind: record.KindDate}, "timestamp"},
		{record.Column{SQLType: "timestamp with time zone", Kind: record.KindTimestampTZ}, "timestamp"},
		{record.Column{SQLType: "jsonb", Kind: record.KindJSON}, "string"},
		{record.Column{SQLType: "integer[]", Kind: record.KindInteger, Dims: 1}, "string"},
		{record.Column{SQLType: "uuid", Kind: record.KindString}, "string"},
	}
	for _, c := range cases {
		if got := Of(c.col).Hive(); got != c.hive {
			t.Errorf("%s: got %s, want %s", c.col.SQLType, got, c.hive)
		}
	}
	if Of(record.Column{SQLType: "integer[]", Kind: record.KindInteger, Dims: 1}).Logical != JSON {
		t.Error("arrays are JSON text")
	}
}

func TestFieldsEndWithMetadata(t *testing.T) {
	s := &record.Stream{Columns: []record.Column{{Name: "id", SQLType: "integer", Kind: record.KindInteger}}}
	f := Fields(s)
	if len(f) != 1+len(MetaFields) || f[0].Name != "id" || f[0].Column == nil || f[len(f)-1].Name != "_sdc_sequence" {
		t.Fatalf("fields: %+v", f)
	}
}
