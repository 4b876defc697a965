package encode

import (
	"bytes"
	"math/rand"
	"strconv"
	"strings"
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

// TestDecimalFastPath: the fast path for PostgreSQL's numeric text gives
// what the general path (unscaledDigits) gives for every value it takes,
// and leaves to it every value it cannot take exactly: too many digits
// for the precision, more fractional digits than the scale, exponents,
// leading zeros, malformed text.
func TestDecimalFastPath(t *testing.T) {
	slow := func(raw string, scale, precision int) (int64, bool) {
		neg, digits, err := unscaledDigits(nil, []byte(raw), scale)
		if err != nil || len(digits) > precision {
			return 0, false
		}
		n, err := strconv.ParseInt(string(digits), 10, 64)
		if len(digits) == 0 {
			n, err = 0, nil
		}
		if neg {
			n = -n
		}
		return n, err == nil
	}
	cases := []string{"0", "-0", "0.00", "1", "-1", "12.5", "12.50", "12.505", "0.01", "-0.01", "999999999999999999",
		"9999999999999999.99", "99999999999999999.99", "1000000000000000000", "123456789012345678901234567890",
		"0.000000000000000000001", "1e5", "1.5E-3", "01", "1.", ".5", "-", "", "1.2.3", "NaN", "12a", "1,5", "--1"}
	r := rand.New(rand.NewSource(7))
	for range 20000 {
		s := strconv.FormatInt(r.Int63n(1<<uint(1+r.Intn(62))), 10)
		if k := r.Intn(len(s) + 1); k < len(s) && r.Intn(2) == 0 {
			s = s[:k] + "." + s[k:]
			if s[0] == '.' {
				s = "0" + s
			}
		}
		if r.Intn(3) == 0 {
			s = "-" + s
		}
		cases = append(cases, s)
	}
	for _, raw := range cases {
		for _, pc := range [][2]int{{18, 0}, {18, 2}, {14, 2}, {9, 4}, {4, 4}, {18, 18}, {1, 0}} {
			precision, scale := pc[0], pc[1]
			want, wantOK := slow(raw, scale, precision)
			got, ok := smallDecimal([]byte(raw), scale, precision)
			if ok && (!wantOK || got != want) {
				t.Fatalf("smallDecimal(%q, scale %d, precision %d) = %d, want %d (%v)", raw, scale, precision, got, want, wantOK)
			}
			if !ok && wantOK && isPostgresNumeric(raw, scale) {
				t.Errorf("smallDecimal(%q, scale %d, precision %d) left %d to the slow path", raw, scale, precision, want)
			}
		}
	}
}

// isPostgresNumeric is the form numeric_out prints for a column of the
// scale: -?digits[.digits] without a leading zero, at most scale
// fractional digits.
func isPostgresNumeric(s string, scale int) bool {
	dot := strings.IndexByte(s, '.')
	return isNumber([]byte(s)) && !strings.ContainsAny(s, "eE") && (dot < 0 || len(s)-dot-1 <= scale)
}

// TestParseInt64: the fast path for plain digits agrees with strconv on
// every input, including those it leaves to strconv.
func TestParseInt64(t *testing.T) {
	cases := []string{"0", "-0", "1", "-1", "007", "+5", "-", "", "999999999999999999", "-999999999999999999",
		"9223372036854775807", "-9223372036854775808", "9223372036854775808", "1a", "1.0", " 1"}
	r := rand.New(rand.NewSource(8))
	for range 20000 {
		cases = append(cases, strconv.FormatInt(r.Int63()>>uint(r.Intn(63))*int64(1-2*r.Intn(2)), 10))
	}
	for _, s := range cases {
		got, err := parseInt64([]byte(s))
		want, werr := strconv.ParseInt(s, 10, 64)
		if (err == nil) != (werr == nil) || got != want && err == nil {
			t.Fatalf("parseInt64(%q) = %d, %v; strconv: %d, %v", s, got, err, want, werr)
		}
	}
}
