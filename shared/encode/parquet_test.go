package encode

import (
	"bytes"
	"crypto/md5"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
	"github.com/pg2s3/pg2s3/shared/layout"
	"github.com/pg2s3/pg2s3/shared/record"
)

// typesStream has a column of every warehouse type, at the widths that
// choose different Parquet encodings.
var typesStream = &record.Stream{ID: "db-public-t", Schema: "public", Table: "t", Columns: []record.Column{
	{Name: "id", SQLType: "bigint", Kind: record.KindInteger},
	{Name: "small", SQLType: "smallint", Kind: record.KindInteger},
	{Name: "f8", SQLType: "double precision", Kind: record.KindNumber},
	{Name: "f4", SQLType: "real", Kind: record.KindNumber},
	{Name: "d9", SQLType: "numeric(9,2)", Kind: record.KindNumber},
	{Name: "d18", SQLType: "numeric(18,0)", Kind: record.KindNumber},
	{Name: "d38", SQLType: "numeric(38,10)", Kind: record.KindNumber},
	{Name: "n", SQLType: "numeric", Kind: record.KindNumber},
	{Name: "b", SQLType: "boolean", Kind: record.KindBool},
	{Name: "bit1", SQLType: "bit(1)", Kind: record.KindBit1},
	{Name: "ts", SQLType: "timestamp without time zone", Kind: record.KindTimestamp},
	{Name: "tz", SQLType: "timestamp with time zone", Kind: record.KindTimestampTZ},
	{Name: "day", SQLType: "date", Kind: record.KindDate},
	{Name: "s", SQLType: "text", Kind: record.KindString},
	{Name: `odd "name" é`, SQLType: "text", Kind: record.KindString},
	{Name: "by", SQLType: "bytea", Kind: record.KindBytea},
	{Name: "j", SQLType: "jsonb", Kind: record.KindJSON},
	{Name: "arr", SQLType: "integer[]", Kind: record.KindInteger, Dims: 1},
	{Name: "tarr", SQLType: "text[]", Kind: record.KindString, Dims: 1},
	{Name: "iv", SQLType: "interval", Kind: record.KindString},
}}

// typesRows are rows in PostgreSQL's text form (nil is NULL), parallel to
// typesStream's columns.
var typesRows = [][]any{
	{"1", "-32768", "1.7976931348623157e+308", "3.4028235e+38", "-9999999.99", "999999999999999999", "-9999999999999999999999999999.9999999999",
		("9" + strings.Repeat("0", 99) + ".5"), "t", "1", "9999-12-31 23:59:59.999999", "infinity", "0001-01-01",
		"line1\ntab\t\"q\" \\ \x01 é \u2028 😀", "x", `\x00ff`, `{"a": {"b": [1, 2.50, null, true, "\u00e9"]}, "e": {}}`, "{NULL,-2147483648,2147483647}", `{"a,b",NULL,"\"q\""}`, "1 year 2 mons"},
	{"2", "32767", "NaN", "-Infinity", "NaN", "-999999999999999999", "9999999999999999999999999999.9999999999",
		"NaN", "f", "0", "-infinity", "0044-03-15 12:00:00+00 BC", "infinity",
		"", "", `\x`, `[]`, "{}", "{}", "-1 days"},
	{"3", "0", "Infinity", "1e-45", "0.00", "0", "0.0000000001",
		"-0.000000001", "t", "1", "2024-02-29 12:30:00.5", "2024-06-30 23:59:59.999999-12", "2024-05-01",
		"plain", "y", `\x41`, `"just a string"`, "{{1,2},{3,4}}", `{}`, "00:00:01"},
	{"4", "1", "-0", "1e+06", "0.01", "1", "-0.0000000001",
		"1e-7", "f", "0", "1970-01-01 00:00:00", "1969-12-31 23:59:59.999999+00", "1970-01-01",
		"x", "y", `\x`, `12.50`, `{}`, `{""}`, "P"},
	{"5", "2", "5e-324", "1.1", "12.30", "-1", "1.0000000000",
		"-123.4560", "t", "1", "2000-01-01 00:00:00", "2000-01-01 00:00:00+00", "2000-01-01",
		"x", "y", `\x`, `null`, `{}`, `{}`, "P"},
	{"6", nil, "1e+15", "123456", nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil},
	{"7", "3", "123456789012345", "1.234567e+06", "1.50", "2", "2.0000000000", "0.5", "t", "0", "2000-01-01 00:00:00", "2000-01-01 00:00:00+00", "2000-01-01",
		"x", "y", `\x`, `{"k": "v"}`, `{}`, `{}`, "P"},
}

// lines encodes rows with the contract's encoder; meta LSN 0 leaves
// _sdc_lsn out as copies of non-log streams do.
func lines(t *testing.T, s *record.Stream, rows [][]any, lsn uint64) [][]byte {
	t.Helper()
	enc := NewRowEncoder(s.Columns)
	var out [][]byte
	for i, r := range rows {
		vals := make([][]byte, len(r))
		for j, v := range r {
			if v != nil {
				vals[j] = []byte(v.(string))
			}
		}
		meta := Meta{ExtractedAt: "2024-01-01T00:00:00.000000Z", BatchedAt: "2024-01-01T00:00:00.000000Z", TableVersion: 7, LSN: lsn, Sequence: int64(i)}
		line, err := enc.AppendRow(nil, vals, &meta)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, line)
	}
	return out
}

// writeBoth writes lines in both formats and decodes both with
// ReadObject. The line buffer is overwritten after each write, as the
// engine reuses it.
func writeBoth(t *testing.T, s *record.Stream, ls [][]byte) (jsonl, pq []map[string]any, pqBody []byte) {
	t.Helper()
	var bodies [2]bytes.Buffer
	for i, format := range []layout.Format{layout.JSONL, layout.Parquet} {
		w, err := NewLineWriter(format, &bodies[i], s)
		if err != nil {
			t.Fatal(err)
		}
		var buf []byte
		for _, l := range ls {
			buf = append(buf[:0], l...)
			if err := w.WriteLine(buf); err != nil {
				t.Fatalf("%s: %v", format, err)
			}
			for k := range buf {
				buf[k] = 'X' // a writer that kept the line would now hold garbage
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if w.PlainBytes() != int64(len(bytes.Join(ls, nil))) {
			t.Errorf("%s: PlainBytes %d, want %d", format, w.PlainBytes(), len(bytes.Join(ls, nil)))
		}
	}
	var err error
	if jsonl, err = ReadObject("s/v1/0000000000.jsonl.gz", bodies[0].Bytes()); err != nil {
		t.Fatal(err)
	}
	if pq, err = ReadObject("s/v1/0000000000.parquet", bodies[1].Bytes()); err != nil {
		t.Fatal(err)
	}
	return jsonl, pq, bodies[1].Bytes()
}

func canonicalJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestParquetRoundTripsEveryType writes rows of every type at their
// extremes as Parquet and as JSON Lines: both decode to the same rows,
// except NaN in a numeric(p,s), which a Parquet DECIMAL holds as null.
func TestParquetRoundTripsEveryType(t *testing.T) {
	jsonl, pq, _ := writeBoth(t, typesStream, lines(t, typesStream, typesRows, 0))
	if len(jsonl) != len(typesRows) || len(pq) != len(typesRows) {
		t.Fatalf("%d JSONL rows, %d Parquet rows, want %d", len(jsonl), len(pq), len(typesRows))
	}
	for i := range jsonl {
		want := jsonl[i]
		if want["d9"] == "NaN" {
			want["d9"] = nil // DECIMAL has no NaN
		}
		if got := canonicalJSON(pq[i]); got != canonicalJSON(want) {
			t.Errorf("row %d:\n parquet %s\n   jsonl %s", i+1, got, canonicalJSON(want))
		}
		if _, ok := pq[i]["_sdc_lsn"]; ok {
			t.Errorf("row %d: _sdc_lsn is null in Parquet and should be left out, as in JSON Lines", i+1)
		}
	}
	// Spot checks against the contract itself, not only against JSONL.
	if got := canonicalJSON(pq[0]["d38"]); got != "-9999999999999999999999999999.9999999999" {
		t.Errorf("d38 = %s", got)
	}
	if pq[1]["f8"] != "NaN" || pq[1]["f4"] != "-Infinity" || pq[2]["f8"] != "Infinity" {
		t.Errorf("special floats: %v %v %v", pq[1]["f8"], pq[1]["f4"], pq[2]["f8"])
	}
	if pq[1]["ts"] != "0001-01-01T00:00:00.000000Z" || pq[0]["ts"] != "9999-12-31T23:59:59.999999Z" {
		t.Errorf("clamped timestamps: %v %v", pq[1]["ts"], pq[0]["ts"])
	}
}

// TestParquetSchema checks each column's Parquet type: the mapping a
// query engine sees.
func TestParquetSchema(t *testing.T) {
	_, _, body := writeBoth(t, typesStream, lines(t, typesStream, typesRows[:1], 0))
	f, err := parquet.OpenFile(bytes.NewReader(body), int64(len(body)))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"id": "INT64 INT(64,true)", "small": "INT64 INT(64,true)", "f8": "DOUBLE", "f4": "DOUBLE",
		"d9": "INT32 DECIMAL(9,2)", "d18": "INT64 DECIMAL(18,0)", "d38": "FIXED_LEN_BYTE_ARRAY(16) DECIMAL(38,10)",
		"n": "BYTE_ARRAY STRING", "b": "BOOLEAN", "bit1": "BOOLEAN",
		"ts": "INT64 TIMESTAMP(isAdjustedToUTC=true,unit=MICROS)", "tz": "INT64 TIMESTAMP(isAdjustedToUTC=true,unit=MICROS)", "day": "INT64 TIMESTAMP(isAdjustedToUTC=true,unit=MICROS)",
		"s": "BYTE_ARRAY STRING", `odd "name" é`: "BYTE_ARRAY STRING", "by": "BYTE_ARRAY STRING", "j": "BYTE_ARRAY STRING",
		"arr": "BYTE_ARRAY STRING", "tarr": "BYTE_ARRAY STRING", "iv": "BYTE_ARRAY STRING",
		"_sdc_extracted_at": "INT64 TIMESTAMP(isAdjustedToUTC=true,unit=MICROS)", "_sdc_batched_at": "INT64 TIMESTAMP(isAdjustedToUTC=true,unit=MICROS)",
		"_sdc_deleted_at": "INT64 TIMESTAMP(isAdjustedToUTC=true,unit=MICROS)", "_sdc_table_version": "INT64 INT(64,true)", "_sdc_lsn": "INT64 INT(64,true)", "_sdc_sequence": "INT64 INT(64,true)",
		"_sdc_unchanged": "BYTE_ARRAY STRING",
	}
	var order []string
	for _, fd := range f.Schema().Fields() {
		order = append(order, fd.Name())
		if !fd.Optional() {
			t.Errorf("%s is not optional", fd.Name())
		}
		typ := fd.Type()
		got := typ.Kind().String()
		if typ.Kind() == parquet.FixedLenByteArray {
			got = fmt.Sprintf("%s(%d)", got, typ.Length())
		}
		if lt := typ.LogicalType(); lt != nil {
			got += " " + lt.String()
		}
		if got != want[fd.Name()] {
			t.Errorf("%s: %s, want %s", fd.Name(), got, want[fd.Name()])
		}
	}
	wantOrder := []string{}
	for _, c := range typesStream.Columns {
		wantOrder = append(wantOrder, c.Name)
	}
	wantOrder = append(wantOrder, "_sdc_extracted_at", "_sdc_batched_at", "_sdc_deleted_at", "_sdc_table_version", "_sdc_lsn", "_sdc_sequence", "_sdc_unchanged")
	if !reflect.DeepEqual(order, wantOrder) {
		t.Errorf("column order %v, want %v", order, wantOrder)
	}
	for _, cc := range f.Metadata().RowGroups[0].Columns {
		if cc.MetaData.Codec.String() != "ZSTD" {
			t.Errorf("%v: codec %s", cc.MetaData.PathInSchema, cc.MetaData.Codec)
		}
		// Integer columns are delta-encoded (what readers decode anyway:
		// text is DELTA_LENGTH_BYTE_ARRAY), the others as parquet-go
		// writes them.
		wantEnc := "PLAIN"
		switch cc.MetaData.Type.String() {
		case "INT32", "INT64":
			wantEnc = "DELTA_BINARY_PACKED"
		case "BYTE_ARRAY":
			wantEnc = "DELTA_LENGTH_BYTE_ARRAY"
		}
		if !slices.ContainsFunc(cc.MetaData.Encoding, func(e format.Encoding) bool { return e.String() == wantEnc }) {
			t.Errorf("%v (%s): encodings %v, want %s", cc.MetaData.PathInSchema, cc.MetaData.Type, cc.MetaData.Encoding, wantEnc)
		}
	}
}

// TestParquetUnchangedColumns writes log changes that leave columns out
// (an unchanged TOASTed value, a delete's key): Parquet holds them null,
// names them in _sdc_unchanged, and reads back without them.
func TestParquetUnchangedColumns(t *testing.T) {
	s := &record.Stream{ID: "db-public-doc", Table: "doc", Columns: []record.Column{
		{Name: "id", SQLType: "integer", Kind: record.KindInteger},
		{Name: "body", SQLType: "text", Kind: record.KindString},
		{Name: `big "blob"`, SQLType: "jsonb", Kind: record.KindJSON},
		{Name: "n", SQLType: "integer", Kind: record.KindInteger},
	}}
	enc := NewRowEncoder(s.Columns)
	meta := Meta{ExtractedAt: "2024-01-01T00:00:00.000000Z", BatchedAt: "2024-01-01T00:00:00.000000Z", TableVersion: 1, LSN: 99, Sequence: 5}
	cols := []int{0, 1, 2, 3}
	var ls [][]byte
	add := func(vals []record.Value, idx []int) {
		line, err := enc.AppendValues(nil, vals, idx, &meta)
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, line)
	}
	txt := func(s string) record.Value { return record.Value{Text: []byte(s)} }
	add([]record.Value{txt("1"), txt("long"), txt(`{"a": 1}`), txt("1")}, cols)         // insert
	add([]record.Value{txt("1"), {Unchanged: true}, {Unchanged: true}, txt("2")}, cols) // update, TOAST unchanged
	add([]record.Value{txt("1"), {Null: true}, {Null: true}, {Null: true}}, cols)       // real NULLs
	add([]record.Value{txt("1"), txt("not selected"), txt("3")}, []int{0, -1, 3})       // columns not in the change
	meta.DeletedAt = "2024-01-02T00:00:00.000000Z"
	add([]record.Value{txt("1")}, []int{0}) // delete: key only
	jsonl, pq, body := writeBoth(t, s, ls)
	if got, want := canonicalJSON(pq), canonicalJSON(jsonl); got != want {
		t.Fatalf("parquet rows\n %s\njsonl rows\n %s", got, want)
	}
	if _, ok := pq[1]["body"]; ok {
		t.Errorf("an unchanged column is in the decoded row: %v", pq[1])
	}
	if v, ok := pq[2]["body"]; !ok || v != nil {
		t.Errorf("a NULL column is not null in the decoded row: %v", pq[2])
	}
	// The raw file: null values and the list of unchanged names.
	raw := rawParquet(t, body)
	want := []any{nil, `["body","big \"blob\""]`, nil, `["body","big \"blob\""]`, `["body","big \"blob\"","n"]`}
	for i, r := range raw {
		if r["_sdc_unchanged"] != want[i] {
			t.Errorf("row %d: _sdc_unchanged = %v, want %v", i+1, r["_sdc_unchanged"], want[i])
		}
	}
	if raw[1]["body"] != nil || raw[1][`big "blob"`] != nil {
		t.Errorf("unchanged columns are not null: %v", raw[1])
	}
}

// TestParquetRejectsWhatItCannotHold names the column of a bad value.
func TestParquetRejectsWhatItCannotHold(t *testing.T) {
	s := &record.Stream{ID: "x", Columns: []record.Column{{Name: "d", SQLType: "numeric(4,1)", Kind: record.KindNumber}}}
	for _, line := range []string{`{"d":123456.5}`, `{"d":1.25}`, `{"d":"x"}`, `{"other":1}`, `[1]`} {
		w, err := NewParquetLines(&bytes.Buffer{}, s)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.WriteLine([]byte(line + "\n")); err == nil {
			t.Errorf("%s: no error", line)
		}
	}
	if _, err := NewLineWriter("csv", &bytes.Buffer{}, s); err == nil || !strings.Contains(err.Error(), "use jsonl or parquet") {
		t.Errorf("unknown format: %v", err)
	}
}

// TestParquetBoundsMemory writes a batch far larger than the row group
// bound: row groups reach the output as rows come, so the heap stays near
// the bound whatever the batch size, and the file has a row group per
// bound's worth of rows.
func TestParquetBoundsMemory(t *testing.T) {
	const total = 96 << 20
	s := &record.Stream{ID: "db-public-big", Table: "big", Columns: []record.Column{
		{Name: "id", SQLType: "bigint", Kind: record.KindInteger},
		{Name: "payload", SQLType: "text", Kind: record.KindString},
		{Name: "amount", SQLType: "numeric(12,2)", Kind: record.KindNumber},
	}}
	out := &tailWriter{keep: 4 << 20}
	w, err := NewParquetLines(out, s)
	if err != nil {
		t.Fatal(err)
	}
	enc := NewRowEncoder(s.Columns)
	r := rand.New(rand.NewSource(1))
	payload := make([]byte, 400)
	meta := Meta{ExtractedAt: "2024-01-01T00:00:00.000000Z", BatchedAt: "2024-01-01T00:00:00.000000Z", TableVersion: 1}
	var line []byte
	var peakHeap, outAtHalf int64
	var ms runtime.MemStats
	for i := 0; w.PlainBytes() < total; i++ {
		for k := range payload {
			payload[k] = 'a' + byte(r.Intn(26)) // random text: compresses little
		}
		meta.Sequence = int64(i)
		line, err = enc.AppendRow(line[:0], [][]byte{[]byte(fmt.Sprint(i)), payload, []byte(fmt.Sprintf("%d.%02d", r.Intn(1e9), r.Intn(100)))}, &meta)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.WriteLine(line); err != nil {
			t.Fatal(err)
		}
		if outAtHalf == 0 && w.PlainBytes() >= total/2 {
			outAtHalf = out.n
		}
		if i%20000 == 0 {
			runtime.GC()
			runtime.ReadMemStats(&ms)
			peakHeap = max(peakHeap, int64(ms.HeapAlloc))
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if outAtHalf < out.n/4 {
		t.Errorf("half way through %d MiB of rows only %d of %d bytes had reached the output: the writer holds the rows", total>>20, outAtHalf, out.n)
	}
	if peakHeap > 64<<20 {
		t.Errorf("heap reached %d MiB while writing %d MiB of rows", peakHeap>>20, total>>20)
	}
	f, err := parquet.OpenFile(out, out.n, parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
	if err != nil {
		t.Fatal(err)
	}
	groups := len(f.Metadata().RowGroups)
	if groups < total/DefaultRowGroupBytes || groups > total/DefaultRowGroupBytes+1 {
		t.Errorf("%d row groups for %d MiB of rows, want %d or %d", groups, total>>20, total/DefaultRowGroupBytes, total/DefaultRowGroupBytes+1)
	}
	t.Logf("%d MiB of JSON -> %d MiB of Parquet in %d row groups; peak heap %d MiB", total>>20, out.n>>20, groups, peakHeap>>20)
}

// tailWriter counts what is written and keeps only its first bytes and
// its last keep bytes, enough to read a Parquet file's footer back.
type tailWriter struct {
	keep int
	n    int64
	head []byte
	tail []byte
}

func (t *tailWriter) Write(p []byte) (int, error) {
	if len(t.head) < 4 {
		t.head = append(t.head, p[:min(len(p), 4-len(t.head))]...)
	}
	t.n += int64(len(p))
	t.tail = append(t.tail, p...)
	if len(t.tail) > 2*t.keep {
		t.tail = append(t.tail[:0], t.tail[len(t.tail)-t.keep:]...)
	}
	return len(p), nil
}

// ReadAt serves reads within the kept tail.
func (t *tailWriter) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) <= int64(len(t.head)) {
		return copy(p, t.head[off:]), nil
	}
	start := t.n - int64(len(t.tail))
	if off < start || off+int64(len(p)) > t.n {
		return 0, fmt.Errorf("read of %d bytes at %d is outside the kept tail [%d, %d)", len(p), off, start, t.n)
	}
	return copy(p, t.tail[off-start:]), nil
}

// rawParquet reads a Parquet file's rows as column name -> Go value (nil
// for null, string for BYTE_ARRAY), without the contract's decoding.
func rawParquet(t *testing.T, body []byte) []map[string]any {
	t.Helper()
	f, err := parquet.OpenFile(bytes.NewReader(body), int64(len(body)))
	if err != nil {
		t.Fatal(err)
	}
	fields := f.Schema().Fields()
	var out []map[string]any
	for _, rg := range f.RowGroups() {
		rows := rg.Rows()
		buf := make([]parquet.Row, 16)
		for {
			n, err := rows.ReadRows(buf)
			for _, row := range buf[:n] {
				m := map[string]any{}
				for _, v := range row {
					var x any
					switch {
					case v.IsNull():
					case v.Kind() == parquet.ByteArray:
						x = string(v.ByteArray())
					default:
						x = v.String()
					}
					m[fields[v.Column()].Name()] = x
				}
				out = append(out, m)
			}
			if err != nil {
				break
			}
		}
		rows.Close()
	}
	return out
}

// BenchmarkLineWriters compares the formats on rows like the bench's
// mixed table (go test -bench LineWriters ./shared/encode/).
// benchTable is BenchmarkLineWriters' stream and rows: case 1's mixed
// table, 20,000 distinct rows.
func benchTable() (*record.Stream, [][]any) {
	s := &record.Stream{ID: "db-public-mixed", Table: "mixed", Columns: []record.Column{
		{Name: "id", SQLType: "bigint", Kind: record.KindInteger},
		{Name: "qty", SQLType: "integer", Kind: record.KindInteger},
		{Name: "price", SQLType: "numeric(14,2)", Kind: record.KindNumber},
		{Name: "name", SQLType: "text", Kind: record.KindString},
		{Name: "note", SQLType: "text", Kind: record.KindString},
		{Name: "updated_at", SQLType: "timestamp with time zone", Kind: record.KindTimestampTZ},
		{Name: "attrs", SQLType: "jsonb", Kind: record.KindJSON},
		{Name: "tags", SQLType: "text[]", Kind: record.KindString, Dims: 1},
		{Name: "uid", SQLType: "uuid", Kind: record.KindString},
		{Name: "active", SQLType: "boolean", Kind: record.KindBool},
		{Name: "score", SQLType: "integer", Kind: record.KindInteger},
	}}
	// Distinct rows, md5 hex where the bench's table has it, so the
	// compressors see what they see there (run with -cpu 1 for CPU per
	// row: the writers' goroutines then share one core).
	var rows [][]any
	for g := 1; g <= 20000; g++ {
		sum := fmt.Sprintf("%x", md5.Sum([]byte(fmt.Sprint(g))))
		note := any(strings.Repeat(sum, 1+g%4))
		if g%5 == 0 {
			note = nil
		}
		rows = append(rows, []any{fmt.Sprint(g), fmt.Sprint(g * 7 % 1000), fmt.Sprintf("%d.%02d", g*7919%100000, g%100), fmt.Sprintf("customer %d", g),
			note, fmt.Sprintf("2024-01-01 %02d:%02d:%02d.5+00", g/3600%24, g/60%60, g%60), fmt.Sprintf(`{"n": %d, "kind": "k%d", "flags": [true, %d]}`, g, g%17, g%3),
			fmt.Sprintf(`{tag%d,tag%d,"x y"}`, g%10, g%13), sum[:8] + "-" + sum[8:12] + "-" + sum[12:16] + "-" + sum[16:20] + "-" + sum[20:], "t", fmt.Sprint(g % 3)})
	}
	return s, rows
}

// textRows is rows in the text form a copy reads (nil for null).
func textRows(rows [][]any) [][][]byte {
	vals := make([][][]byte, len(rows))
	for i, r := range rows {
		vals[i] = make([][]byte, len(r))
		for j, v := range r {
			if v != nil {
				vals[i][j] = []byte(v.(string))
			}
		}
	}
	return vals
}

func BenchmarkLineWriters(b *testing.B) {
	s, rows := benchTable()
	ls := lines(&testing.T{}, s, rows, 0)
	plain := int64(len(bytes.Join(ls, nil)))
	for _, format := range []layout.Format{layout.JSONL, layout.Parquet} {
		b.Run(string(format), func(b *testing.B) {
			out := &countingDiscard{}
			w, err := NewLineWriter(format, out, s)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(plain)
			for i := 0; i < b.N; i++ {
				for _, l := range ls {
					if err := w.WriteLine(l); err != nil {
						b.Fatal(err)
					}
				}
			}
			if err := w.Close(); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(out.n)/float64(plain*int64(b.N)), "out/plain")
		})
	}
	// As a copy writes them: from the text form, through a JSON line for
	// gzip JSON Lines, straight for Parquet (WriteRow).
	vals := textRows(rows)
	enc := NewRowEncoder(s.Columns)
	meta := Meta{ExtractedAt: "2024-01-01T00:00:00.000000Z", BatchedAt: "2024-01-01T00:00:00.000000Z", TableVersion: 1}
	for _, format := range []layout.Format{layout.JSONL, layout.Parquet} {
		b.Run(string(format)+"-rows", func(b *testing.B) {
			out := &countingDiscard{}
			w, err := NewLineWriter(format, out, s)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(plain)
			var line []byte
			for i := 0; i < b.N; i++ {
				for _, v := range vals {
					if rw, ok := w.(RowWriter); ok {
						err = rw.WriteRow(v, &meta)
					} else if line, err = enc.AppendRow(line[:0], v, &meta); err == nil {
						err = w.WriteLine(line)
					}
					if err != nil {
						b.Fatal(err)
					}
				}
			}
			if err := w.Close(); err != nil {
				b.Fatal(err)
			}
		})
	}
}

type countingDiscard struct{ n int64 }

func (c *countingDiscard) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// TestParseContractInstant checks the fast timestamp parser against
// time.Parse across the contract's whole range, leap days included.
func TestParseContractInstant(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	lo, hi := time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro(), time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC).UnixMicro()
	cases := []int64{lo, hi, 0, -1, time.Date(2024, 2, 29, 12, 0, 0, 0, time.UTC).UnixMicro(), time.Date(2000, 2, 29, 0, 0, 0, 1000, time.UTC).UnixMicro()}
	for range 20000 {
		cases = append(cases, lo+r.Int63n(hi-lo))
	}
	for _, us := range cases {
		s := `"` + time.UnixMicro(us).UTC().Format(contractTimestamp) + `"`
		got, ok := parseContractInstant([]byte(s))
		if !ok || got != us {
			t.Fatalf("%s: %d %v, want %d", s, got, ok, us)
		}
	}
	for _, bad := range []string{`"2023-02-29T00:00:00.000000Z"`, `"2024-13-01T00:00:00.000000Z"`, `"2024-01-01 00:00:00.000000Z"`, `"2024-01-01T24:00:00.000000Z"`,
		`"2024-01-0/T00:00:00.000000Z"`, `"2024-01-01T00:00:00.00000aZ"`, `"-024-01-01T00:00:00.000000Z"`} {
		if _, ok := parseContractInstant([]byte(bad)); ok {
			t.Errorf("%s parsed", bad)
		}
	}
}

// TestParquetEmptyBatch: a batch without rows (a copy's last, announcing
// its version) is a valid Parquet file of no rows; a body that is not
// Parquet is an error naming the key.
func TestParquetEmptyBatch(t *testing.T) {
	var body bytes.Buffer
	w, err := NewLineWriter(layout.Parquet, &body, typesStream)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	rows, err := ReadObject("s/v1/0000000003.parquet", body.Bytes())
	if err != nil || len(rows) != 0 {
		t.Fatalf("empty batch: %d rows, %v", len(rows), err)
	}
	if _, err := ReadObject("s/v1/0000000003.parquet", []byte("not parquet")); err == nil || !strings.Contains(err.Error(), "0000000003.parquet") {
		t.Fatalf("garbage: %v", err)
	}
}

// TestParquetStatistics: every column chunk carries its bounds and null
// count in the footer, and every page its bounds in the column index
// (what readers prune row groups and pages by), though page headers do
// not repeat them.
func TestParquetStatistics(t *testing.T) {
	s, rows := benchTable()
	var body bytes.Buffer
	w, err := NewParquetLines(&body, s)
	if err != nil {
		t.Fatal(err)
	}
	w.RowGroupBytes = 2 << 20
	meta := Meta{ExtractedAt: "2024-01-01T00:00:00.000000Z", BatchedAt: "2024-01-01T00:00:00.000000Z", TableVersion: 1}
	for _, v := range textRows(rows) {
		if err := w.WriteRow(v, &meta); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := parquet.OpenFile(bytes.NewReader(body.Bytes()), int64(body.Len()))
	if err != nil {
		t.Fatal(err)
	}
	idCol, noteCol := s.ColumnIndex("id"), s.ColumnIndex("note")
	indexes, _, err := f.ReadPageIndex()
	if err != nil {
		t.Fatal(err)
	}
	groups := f.Metadata().RowGroups
	if len(groups) < 3 {
		t.Fatalf("%d row groups, want several", len(groups))
	}
	first := int64(1)
	for g, rg := range groups {
		last := first + rg.NumRows - 1
		st := rg.Columns[idCol].MetaData.Statistics
		lo, hi := int64(binary.LittleEndian.Uint64(st.MinValue)), int64(binary.LittleEndian.Uint64(st.MaxValue))
		if lo != first || hi != last {
			t.Errorf("row group %d: id bounds %d..%d, want %d..%d", g, lo, hi, first, last)
		}
		nulls := int64(0)
		for id := first; id <= last; id++ {
			if id%5 == 0 {
				nulls++
			}
		}
		if got := rg.Columns[noteCol].MetaData.Statistics.NullCount; got != nulls {
			t.Errorf("row group %d: note null count %d, want %d", g, got, nulls)
		}
		ci := indexes[g*len(rg.Columns)+idCol]
		if len(ci.MinValues) < 1 || len(ci.MinValues) != len(ci.MaxValues) {
			t.Fatalf("row group %d: column index of id has %d pages", g, len(ci.MinValues))
		}
		pageLo := int64(binary.LittleEndian.Uint64(ci.MinValues[0]))
		pageHi := int64(binary.LittleEndian.Uint64(ci.MaxValues[len(ci.MaxValues)-1]))
		if pageLo != first || pageHi != last {
			t.Errorf("row group %d: column index of id %d..%d, want %d..%d", g, pageLo, pageHi, first, last)
		}
		first = last + 1
	}
}
