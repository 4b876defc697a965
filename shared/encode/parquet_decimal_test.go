package encode

import (
	"bytes"
	"testing"

	"github.com/pg2s3/pg2s3/shared/record"
)

// TestParquetWideDecimalZero: zero in a decimal wider than 18 digits (a
// FIXED_LEN_BYTE_ARRAY) is written and reads back as zero (it panicked:
// zero's unscaled digits are none).
func TestParquetWideDecimalZero(t *testing.T) {
	s := &record.Stream{ID: "db-public-z", Table: "z", Columns: []record.Column{
		{Name: "d", SQLType: "numeric(38,10)", Kind: record.KindNumber},
		{Name: "e", SQLType: "numeric(20,0)", Kind: record.KindNumber},
	}}
	rows := [][]any{{"0.0000000000", "0"}, {"1.0000000000", "-1"}}
	jsonl, pq, _ := writeBoth(t, s, lines(t, s, rows, 0))
	for i := range rows {
		if got, want := canonicalJSON(pq[i]), canonicalJSON(jsonl[i]); got != want {
			t.Errorf("row %d:\n parquet %s\n   jsonl %s", i+1, got, want)
		}
	}
	var body bytes.Buffer
	w, _ := NewParquetLines(&body, s)
	for _, line := range []string{`{"d":0,"e":-0}`, `{"d":-0.0,"e":0e5}`} {
		if err := w.WriteLine([]byte(line + "\n")); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
	}
}
