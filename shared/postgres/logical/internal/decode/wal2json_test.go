package decode

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/pg2s3/pg2s3/shared/record"
)

func TestWal2jsonValue(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		oid  uint32
		want record.Value
	}{
		{`null`, 25, record.Value{Null: true}},
		{`"a\"b\\c\n"`, 25, record.Value{Text: []byte("a\"b\\c\n")}},
		{`""`, 25, record.Value{Text: []byte{}}},
		{`true`, 16, record.Value{Text: []byte("t")}},
		{`false`, 16, record.Value{Text: []byte("f")}},
		{`1234567890123456789012345678901234567890.123456789`, 1700, record.Value{Text: []byte("1234567890123456789012345678901234567890.123456789")}},
		{`-1.5e-300`, 701, record.Value{Text: []byte("-1.5e-300")}},
		{`"00ff"`, byteaOID, record.Value{Text: []byte(`\x00ff`)}},
		{`"\\x00ff"`, 16401, record.Value{Text: []byte(`\x00ff`)}}, // a domain over bytea prints \x
	} {
		got, err := w2jValue(w2jColumn{Name: "c", TypeOID: tc.oid, Value: json.RawMessage(tc.raw)})
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %+v %v, want %+v", tc.raw, got, err, tc.want)
		}
	}
	if _, err := w2jValue(w2jColumn{Name: "c", Value: json.RawMessage(`{"x":1}`)}); err == nil {
		t.Error("accepted an object")
	}
}

func TestWal2jsonArgs(t *testing.T) {
	got := Wal2jsonArgs(map[[2]string]bool{{"public", `a"b.c,d`}: true, {"My Schema", "it's"}: true})
	want := `"add-tables" 'My\ Schema.it\''s,public.a"b\.c\,d'`
	if got[len(got)-1] != want {
		t.Errorf("add-tables %s, want %s", got[len(got)-1], want)
	}
	if p := PgoutputArgs(`my "pub"`); p[1] != `publication_names '"my ""pub"""'` {
		t.Errorf("publication_names %s", p[1])
	}
}
