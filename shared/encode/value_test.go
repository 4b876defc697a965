package encode

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/pg2s3/pg2s3/shared/record"
)

func TestAppendValue(t *testing.T) {
	cases := []struct {
		kind record.Kind
		dims int
		in   string
		want string
	}{
		{record.KindInteger, 0, "-42", `-42`},
		{record.KindNumber, 0, "12345678901234567890.123456789012345678901", `12345678901234567890.123456789012345678901`},
		{record.KindNumber, 0, "NaN", `"NaN"`},
		{record.KindNumber, 0, "-Infinity", `"-Infinity"`},
		{record.KindNumber, 0, "1.2345678e+20", `1.2345678e+20`},
		{record.KindBool, 0, "t", `true`},
		{record.KindBool, 0, "f", `false`},
		{record.KindBit1, 0, "1", `true`},
		{record.KindString, 0, "a \"q\" \\ \n\t\x01 é \u2028", `"a \"q\" \\ \n\t\u0001 é \u2028"`},
		{record.KindString, 0, "bad \xff utf8", `"bad \ufffd utf8"`},
		{record.KindJSON, 0, `{"a": [1, 2.50]}`, `{"a": [1, 2.50]}`},
		{record.KindTimestampTZ, 0, "2024-05-01 12:30:00+00", `"2024-05-01T12:30:00.000000Z"`},
		{record.KindTimestampTZ, 0, "2024-05-01 12:30:00.12+00", `"2024-05-01T12:30:00.120000Z"`},
		{record.KindTimestampTZ, 0, "2024-05-01 12:30:00.123456+05:30", `"2024-05-01T07:00:00.123456Z"`},
		{record.KindTimestampTZ, 0, "infinity", `"9999-12-31T23:59:59.999999Z"`},
		{record.KindTimestampTZ, 0, "-infinity", `"0001-01-01T00:00:00.000000Z"`},
		{record.KindTimestampTZ, 0, "0044-03-15 00:00:00+00 BC", `"0001-01-01T00:00:00.000000Z"`},
		{record.KindTimestampTZ, 0, "12024-05-01 12:30:00+00", `"9999-12-31T23:59:59.999999Z"`},
		{record.KindTimestamp, 0, "2024-05-01 12:30:00.5", `"2024-05-01T12:30:00.500000Z"`},
		{record.KindDate, 0, "2024-05-01", `"2024-05-01T00:00:00.000000Z"`},
		{record.KindBytea, 0, `\x00ff10`, `"AP8Q"`},
		{record.KindHstore, 0, `"a"=>"1", "b \"x\""=>NULL`, `{"a":"1","b \"x\"":null}`},
		{record.KindInteger, 1, "{1,2,NULL}", `[1,2,null]`},
		{record.KindInteger, 2, "{{1,2},{3,4}}", `[[1,2],[3,4]]`},
		{record.KindString, 1, `{"a b","c\"d",NULL,"NULL",e}`, `["a b","c\"d",null,"NULL","e"]`},
		{record.KindString, 1, `{"x","y\\z","\"q",""}`, `["x","y\\z","\"q",""]`},
		{record.KindString, 2, `{{"a,b","}"},{"{",c}}`, `[["a,b","}"],["{","c"]]`},
		{record.KindInteger, 1, "[0:1]={7,8}", `[7,8]`},
		{record.KindString, 1, "{}", `[]`},
		{record.KindNumber, 1, "{1.50,NaN}", `[1.50,"NaN"]`},
	}
	for _, c := range cases {
		got, err := AppendValue(nil, c.kind, c.dims, []byte(c.in))
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		if string(got) != c.want {
			t.Errorf("%q: got %s, want %s", c.in, got, c.want)
		}
		if !json.Valid(got) {
			t.Errorf("%q: invalid JSON %s", c.in, got)
		}
	}
}

func TestAppendValueRejects(t *testing.T) {
	bad := []struct {
		kind record.Kind
		dims int
		in   string
	}{
		{record.KindInteger, 0, "12a"},
		{record.KindNumber, 0, "1e"},
		{record.KindBool, 0, "yes"},
		{record.KindTimestampTZ, 0, "May 1 2024"},
		{record.KindBytea, 0, "abc"},
		{record.KindInteger, 1, "{1,2"},
		{record.KindString, 1, `{"abc`},
		{record.KindString, 1, `{"ab\`},
		{record.KindString, 1, `{"a"b}`},
		{record.KindHstore, 0, `"a"=>`},
	}
	for _, c := range bad {
		if got, err := AppendValue(nil, c.kind, c.dims, []byte(c.in)); err == nil {
			t.Errorf("%q: accepted as %s", c.in, got)
		}
	}
}

func TestRowEncoder(t *testing.T) {
	e := NewRowEncoder([]record.Column{{Name: "id", Kind: record.KindInteger}, {Name: `a"b`, Kind: record.KindString}, {Name: "t", Kind: record.KindString}})
	m := &Meta{ExtractedAt: "2024-01-01T00:00:00.000000Z", BatchedAt: "2024-01-01T00:00:01.000000Z", TableVersion: 7, Sequence: 3}
	got, err := e.AppendRow(nil, [][]byte{[]byte("1"), nil, []byte("x")}, m)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":1,"a\"b":null,"t":"x","_sdc_extracted_at":"2024-01-01T00:00:00.000000Z","_sdc_batched_at":"2024-01-01T00:00:01.000000Z","_sdc_deleted_at":null,"_sdc_table_version":7,"_sdc_sequence":3}` + "\n"
	if string(got) != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	m.LSN, m.DeletedAt = 99, "2024-01-01T00:00:02.000000Z"
	got, err = e.AppendValues(nil, []record.Value{{Text: []byte("1")}, {Unchanged: true}, {Null: true}, {Text: []byte("z")}}, []int{0, 2, 2, -1}, m)
	if err != nil {
		t.Fatal(err)
	}
	want = `{"id":1,"t":null,"_sdc_extracted_at":"2024-01-01T00:00:00.000000Z","_sdc_batched_at":"2024-01-01T00:00:01.000000Z","_sdc_deleted_at":"2024-01-01T00:00:02.000000Z","_sdc_table_version":7,"_sdc_lsn":99,"_sdc_sequence":3}` + "\n"
	if string(got) != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

// plain8 agrees with the byte-at-a-time rule on every byte in every lane.
func TestPlain8(t *testing.T) {
	for b := 0; b < 256; b++ {
		want := b >= 0x20 && b < 0x80 && b != '"' && b != '\\'
		for lane := 0; lane < 8; lane++ {
			x := uint64(0x6161616161616161) // "aaaaaaaa"
			x = x&^(0xff<<(8*lane)) | uint64(b)<<(8*lane)
			if got := plain8(x); got != want {
				t.Fatalf("byte %#x in lane %d: plain8 %v, want %v", b, lane, got, want)
			}
		}
	}
	var buf []byte
	for _, s := range []string{"plain ascii text, long enough", "tab\there and \"quotes\" and \\ in the 2nd word", "ünïcödé after eight", "12345678\x01", "\u2028 separators \u2029", "bad \xff utf8 after some plain text"} {
		buf = AppendString(buf[:0], []byte(s))
		var back string
		if err := json.Unmarshal(buf, &back); err != nil || (back != s && !strings.Contains(s, "\xff")) {
			t.Errorf("AppendString(%q) = %s (%v)", s, buf, err)
		}
	}
}
