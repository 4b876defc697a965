package app_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/pg2s3/pg2s3/shared/app"
)

// TestExtremeValuesFollowTheContract copies, and then streams through the
// log, rows of every supported type at their extremes, and checks each
// value against the output contract.
func TestExtremeValuesFollowTheContract(t *testing.T) {
	dsn, _ := newDB(t, `
CREATE EXTENSION hstore;
CREATE TABLE "Odd ""Name"".x" (
  id int PRIMARY KEY,
  "select" numeric, f double precision, r real, d date, ts timestamp, tz timestamptz,
  arr int[], nested text[][], j jsonb, h hstore, b bytea, s text, bit1 bit(1), iv interval, m money);
INSERT INTO "Odd ""Name"".x" VALUES
 (1, ('9' || repeat('0', 999))::numeric + 0.5, 'NaN', '-Infinity', '0001-01-01', '9999-12-31 23:59:59.999999',
  '2024-06-30 23:59:59.999999-12:00', '{}', '{{"a,b",NULL},{"\"q\"","é"}}',
  '{"a": {"b": {"c": {"d": [1, 2.50, null, true]}}}}', '"k"=>"v", "n"=>NULL', '\x00ff', 'line1' || chr(10) || 'tab' || chr(9) || '"quote" \ u2028:' || chr(8232),
  B'1', '1 year 2 mons 3 days 04:05:06.7', 12.34),
 (2, 'NaN', 'Infinity', 1.5, 'infinity', '-infinity', '0044-03-15 12:00:00+00 BC', '{NULL,-2147483648,2147483647}', '{}',
  '[]', '', '\x', '', B'0', '-1 day', -1),
 (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
`)
	p := newPipeline(t, dsn, nil, map[string]string{`Odd "Name".x`: "LOG_BASED"})
	drain(t, p, app.RunOptions{})
	drain(t, p, app.RunOptions{})
	if err := execSQL(dsn, `UPDATE "Odd ""Name"".x" SET s = s WHERE id IN (1, 2, 3)`); err != nil {
		t.Fatal(err)
	}
	drain(t, p, app.RunOptions{})
	id := streamID(p, `Odd "Name".x`)
	copyRows, logRows := p.rows(id), p.logRows(id)
	if len(copyRows) < 3 || len(logRows) != 3 {
		t.Fatalf("%d copy rows, %d log rows", len(copyRows), len(logRows))
	}
	want := map[string]string{
		"1": `{"arr":[],"b":"AP8=","bit1":true,"d":"0001-01-01T00:00:00.000000Z","f":"NaN","h":{"k":"v","n":null},"id":1,"iv":"P1Y2M3DT4H5M6.7S","j":{"a":{"b":{"c":{"d":[1,2.50,null,true]}}}},"m":"$12.34","nested":[["a,b",null],["\"q\"","é"]],"r":"-Infinity","s":"line1\ntab\t\"quote\" \\ u2028:\u2028","select":` + "9" + strings.Repeat("0", 999) + `.5,"ts":"9999-12-31T23:59:59.999999Z","tz":"2024-07-01T11:59:59.999999Z"}`,
		"2": `{"arr":[null,-2147483648,2147483647],"b":"","bit1":false,"d":"9999-12-31T23:59:59.999999Z","f":"Infinity","h":{},"id":2,"iv":"P-1D","j":[],"m":"-$1.00","nested":[],"r":1.5,"s":"","select":"NaN","ts":"0001-01-01T00:00:00.000000Z","tz":"0001-01-01T00:00:00.000000Z"}`,
		"3": `{"arr":null,"b":null,"bit1":null,"d":null,"f":null,"h":null,"id":3,"iv":null,"j":null,"m":null,"nested":null,"r":null,"s":null,"select":null,"ts":null,"tz":null}`,
	}
	for _, set := range [][]map[string]any{copyRows[len(copyRows)-3:], logRows} {
		for _, r := range set {
			for k := range r {
				if strings.HasPrefix(k, "_sdc_") {
					delete(r, k)
				}
			}
			got, _ := json.Marshal(r) // keys sorted; json.Number keeps every digit
			key := string(r["id"].(json.Number))
			if string(got) != canonical(t, want[key]) {
				t.Errorf("row %s:\n got %s\nwant %s", key, got, canonical(t, want[key]))
			}
		}
	}
}

// canonical re-encodes a JSON object with sorted keys and exact numbers.
func canonical(t *testing.T, s string) string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("bad expectation %s: %v", s, err)
	}
	b, _ := json.Marshal(m)
	return string(b)
}
