package encode

import (
	"bytes"
	"errors"
	"math/rand"
	"testing"

	"github.com/pg2s3/pg2s3/shared/record"
)

// oddRows are values typesRows leaves out: bytes that are not UTF-8,
// JSON text with whitespace around it or JSON null, U+2029, control
// bytes, numbers with exponents, hstore.
var oddRows = [][]any{
	{"8", "4", "1.5e10", "-2.5E-3", "-0.5", "12", "1e-10",
		"1E+2", "f", "0", "2024-01-01 00:00:00.123", "2024-01-01 00:00:00+05:30", "-infinity",
		"bad \xff\xfe utf8 \xed\xa0\x80 end", "\u2029\x7f\x00\x1f", `\xdeadbeef`, ` { "a" : 1 } `, `{{NULL}}`, `{"\xff",NULL}`, "\x80"},
	{"9", "5", "-1e-300", "0", "1e2", "-0", "0e5",
		"Infinity", "t", "1", "10000-01-01 00:00:00", "12345-06-07 00:00:00+00", "10000-01-01",
		"", "\t\r\n", `\x`, " null ", `[0:1]={1,2}`, `{"a b","c\"d\\e"}`, ""},
	{"10", "6", "1", "2", "3", "4", "5", "6", "f", "0", nil, nil, nil, nil, nil, nil, "", nil, nil, nil},
}

var hstoreStream = &record.Stream{ID: "db-public-h", Table: "h", Columns: []record.Column{
	{Name: "h", SQLType: "hstore", Kind: record.KindHstore},
	{Name: "u", SQLType: "uuid", Kind: record.KindString},
	{Name: "x", SQLType: "xml", Kind: record.KindUnsupported},
}}

// writeRows writes rows both ways, through the JSON line and straight
// from the text form, with the metadata of each row from meta.
func writeRows(t *testing.T, s *record.Stream, rows [][]any, meta func(i int) Meta) (lines, direct []byte, linePlain, directPlain int64) {
	t.Helper()
	enc := NewRowEncoder(s.Columns)
	var bodies [2]bytes.Buffer
	var plain [2]int64
	for way := range 2 {
		w, err := NewParquetLines(&bodies[way], s)
		if err != nil {
			t.Fatal(err)
		}
		var line []byte
		for i, r := range rows {
			vals := make([][]byte, len(r))
			for j, v := range r {
				if v != nil {
					vals[j] = []byte(v.(string))
				}
			}
			m := meta(i)
			if way == 0 {
				var err error
				if line, err = enc.AppendRow(line[:0], vals, &m); err != nil {
					t.Fatal(err)
				}
				err = w.WriteLine(line)
				if err != nil {
					t.Fatal(err)
				}
			} else if err := w.WriteRow(vals, &m); err != nil {
				t.Fatal(err)
			}
			for _, v := range vals {
				for k := range v {
					v[k] = 'X' // a writer that kept the values would now hold garbage
				}
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		plain[way] = w.PlainBytes()
	}
	return bodies[0].Bytes(), bodies[1].Bytes(), plain[0], plain[1]
}

// TestParquetWriteRowMatchesWriteLine: a row written from its text form
// makes the same file, byte for byte, as its JSON line does, and counts
// the same plain bytes (the batch budget and row groups depend on them).
func TestParquetWriteRowMatchesWriteLine(t *testing.T) {
	metas := map[string]func(i int) Meta{
		"copy": func(i int) Meta {
			return Meta{ExtractedAt: "2024-01-01T00:00:00.000000Z", BatchedAt: "2024-01-01T00:00:00.000000Z", TableVersion: 7, Sequence: int64(i)}
		},
		"varied": func(i int) Meta {
			m := Meta{ExtractedAt: "2024-01-01T00:00:00.000000Z", BatchedAt: "2024-01-02T03:04:05.678901Z", TableVersion: 1700000000000, LSN: uint64(i) * 12345678901, Sequence: 4_000_000_000 + int64(i)}
			if i%2 == 1 {
				m.ExtractedAt, m.DeletedAt = "2025-06-30T23:59:59.999999Z", "2025-07-01T00:00:00.000000Z"
			}
			return m
		},
	}
	rows := append(append([][]any{}, typesRows...), oddRows...)
	for name, meta := range metas {
		a, b, pa, pb := writeRows(t, typesStream, rows, meta)
		if !bytes.Equal(a, b) {
			t.Errorf("%s: the files differ (%d and %d bytes)", name, len(a), len(b))
		}
		if pa != pb {
			t.Errorf("%s: PlainBytes %d from lines, %d from rows", name, pa, pb)
		}
	}
	hrows := [][]any{{`"a"=>"1", "b"=>NULL, "c\"d"=>"e\\f"`, "c4ca4238-a0b9-3382-8dcc-509a6f75849b", nil}, {``, nil, nil}, {nil, "\xff", nil}}
	a, b, pa, pb := writeRows(t, hstoreStream, hrows, metas["copy"])
	if !bytes.Equal(a, b) || pa != pb {
		t.Errorf("hstore: files equal %v, PlainBytes %d and %d", bytes.Equal(a, b), pa, pb)
	}
}

// TestParquetWriteRowStrings checks random strings, mostly not UTF-8
// or escaped, both ways.
func TestParquetWriteRowStrings(t *testing.T) {
	s := &record.Stream{ID: "db-public-s", Table: "s", Columns: []record.Column{{Name: "s", SQLType: "text", Kind: record.KindString}}}
	r := rand.New(rand.NewSource(5))
	// Runs of plain ASCII too, so the eight-bytes-at-a-time paths meet
	// every other byte at every offset.
	alphabet := []string{"a", "é", "😀", "\u2028", "\u2029", "\"", "\\", "\n", "\x01", "\x7f", "\xff", "\xe2\x80", "\xed\xa0\x80", " ", "abcdefg", "0123456789~"}
	var rows [][]any
	for range 3000 {
		var b []byte
		for range r.Intn(24) {
			b = append(b, alphabet[r.Intn(len(alphabet))]...)
		}
		rows = append(rows, []any{string(b)})
	}
	a, b, pa, pb := writeRows(t, s, rows, func(i int) Meta {
		return Meta{ExtractedAt: "2024-01-01T00:00:00.000000Z", BatchedAt: "2024-01-01T00:00:00.000000Z", TableVersion: 1, Sequence: int64(i)}
	})
	if !bytes.Equal(a, b) || pa != pb {
		t.Errorf("files equal %v, PlainBytes %d and %d", bytes.Equal(a, b), pa, pb)
	}
}

// TestParquetWriteRowErrors: a value its kind cannot convert is the error
// RowEncoder.AppendRow gives, as a *ColumnError; so is a value the
// Parquet type cannot hold, as WriteLine says it.
func TestParquetWriteRowErrors(t *testing.T) {
	s := &record.Stream{ID: "x", Columns: []record.Column{
		{Name: "i", SQLType: "integer", Kind: record.KindInteger},
		{Name: "d", SQLType: "numeric(4,1)", Kind: record.KindNumber},
		{Name: "b", SQLType: "boolean", Kind: record.KindBool},
		{Name: "ts", SQLType: "timestamp", Kind: record.KindTimestamp},
		{Name: "by", SQLType: "bytea", Kind: record.KindBytea},
		{Name: "x", SQLType: "xml", Kind: record.KindUnsupported},
	}}
	good := []string{"1", "1.5", "t", "2024-01-01 00:00:00", `\x00`, ""}
	bad := []string{"1x", "1.x", "yes", "yesterday", "00", "<x/>"}
	enc := NewRowEncoder(s.Columns)
	meta := Meta{ExtractedAt: "2024-01-01T00:00:00.000000Z", BatchedAt: "2024-01-01T00:00:00.000000Z"}
	for col := range s.Columns {
		vals := make([][]byte, len(s.Columns))
		for i := range vals {
			if i != len(vals)-1 {
				vals[i] = []byte(good[i])
			}
		}
		vals[col] = []byte(bad[col])
		w, err := NewParquetLines(&bytes.Buffer{}, s)
		if err != nil {
			t.Fatal(err)
		}
		_, want := enc.AppendRow(nil, vals, &meta)
		err = w.WriteRow(vals, &meta)
		var ce *ColumnError
		if err == nil || want == nil || !errors.As(err, &ce) || err.Error() != want.Error() {
			t.Errorf("column %s: %v, want %v as a *ColumnError", s.Columns[col].Name, err, want)
		}
	}
	w, _ := NewParquetLines(&bytes.Buffer{}, s)
	if err := w.WriteRow([][]byte{[]byte("1"), []byte("123456.5"), nil, nil, nil, nil}, &meta); err == nil {
		t.Error("a decimal too wide: no error")
	}
	if err := w.WriteRow([][]byte{[]byte("1")}, &meta); err == nil {
		t.Error("too few values: no error")
	}
}
