package decode

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"testing"
)

// testdata/wal2json_messages.jsonl holds records as the test server's
// wal2json printed them (pg_logical_slot_peek_changes with the options of
// Wal2jsonArgs) for decoderWorkload, one transaction on the mixed table
// of bench case 3 (12 inserts, 2 deletes, 6 updates) and rows of odd
// values (NaN, control characters, emoji, nested jsonb, 2-D arrays), and
// two logical messages.

// w2jMessages reads the captured records.
func w2jMessages(tb testing.TB) [][]byte {
	tb.Helper()
	data, err := os.ReadFile("testdata/wal2json_messages.jsonl")
	if err != nil {
		tb.Fatal(err)
	}
	return bytes.Split(bytes.TrimSpace(data), []byte("\n"))
}

// w2jCatalog is a column lookup answering from the columns the records
// name, in order of first appearance; "g" of "Order Items" is generated.
func w2jCatalog(tb testing.TB, msgs [][]byte) columnLookup {
	tb.Helper()
	cols := map[[2]string][]string{}
	for _, m := range msgs {
		var r refRecord
		if err := json.Unmarshal(m, &r); err != nil {
			tb.Fatal(err)
		}
		key := [2]string{r.Schema, r.Table}
		for _, c := range append(r.Columns, r.Identity...) {
			if c.Name != "g" && !containsString(cols[key], c.Name) {
				cols[key] = append(cols[key], c.Name)
			}
		}
	}
	return func(_ context.Context, schema, table string) (w2jTable, error) {
		t := w2jTable{columns: cols[[2]string{schema, table}], generated: map[string]bool{}}
		if table == "Order Items" {
			t.generated["g"] = true
		}
		return t, nil
	}
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// w2jTransaction returns the records of the first transaction that
// changes table: what bench case 3 decodes.
func w2jTransaction(tb testing.TB, msgs [][]byte, table string) [][]byte {
	tb.Helper()
	var tx [][]byte
	found := false
	for _, m := range msgs {
		var r refRecord
		json.Unmarshal(m, &r)
		switch r.Action {
		case "B":
			tx, found = nil, false
		case "C":
			if found {
				return append(tx, m)
			}
		}
		tx = append(tx, m)
		found = found || r.Table == table
	}
	tb.Fatalf("no transaction on %s", table)
	return nil
}

// BenchmarkWal2jsonDecode decodes captured records one per op: the
// transaction of bench case 3 (mixed), and every captured record (all).
// ref is the encoding/json decoder the scanner replaced.
func BenchmarkWal2jsonDecode(b *testing.B) {
	all := w2jMessages(b)
	lookup := w2jCatalog(b, all)
	sets := []struct {
		name string
		msgs [][]byte
	}{{"mixed", w2jTransaction(b, all, "walmix")}, {"all", all}}
	decoders := []struct {
		name string
		new  func(a *Assembler) Decoder
	}{
		{"scanner", func(a *Assembler) Decoder { return newWal2jsonDecoder(a, lookup) }},
		{"ref", func(a *Assembler) Decoder { return newRefWal2jsonDecoder(a, lookup) }},
	}
	for _, set := range sets {
		size := 0
		for _, m := range set.msgs {
			size += len(m)
		}
		for _, dec := range decoders {
			b.Run(set.name+"/"+dec.name, func(b *testing.B) {
				a := NewAssembler(nil)
				d := dec.new(a)
				ctx := context.Background()
				b.SetBytes(int64(size / len(set.msgs)))
				b.ReportAllocs()
				for i := 0; b.Loop(); i++ {
					if err := d.Decode(ctx, 1, set.msgs[i%len(set.msgs)]); err != nil {
						b.Fatal(err)
					}
					clear(a.out)
					a.out = a.out[:0]
				}
			})
		}
	}
}

// TestWal2jsonDecodeAllocations holds the decoder to two allocations per
// change (its values' bytes and the Values slice) and none for a begin or
// a commit, once the table is known.
func TestWal2jsonDecodeAllocations(t *testing.T) {
	all := w2jMessages(t)
	tx := w2jTransaction(t, all, "walmix")
	a := NewAssembler(nil)
	d := newWal2jsonDecoder(a, w2jCatalog(t, all))
	ctx := context.Background()
	decodeAll := func() {
		for _, m := range tx {
			if err := d.Decode(ctx, 1, m); err != nil {
				t.Fatal(err)
			}
			clear(a.out)
			a.out = a.out[:0]
		}
	}
	decodeAll()
	changes := len(tx) - 2
	if got := testing.AllocsPerRun(20, decodeAll); got > float64(2*changes) {
		t.Errorf("%.0f allocations for %d changes, want at most %d", got, changes, 2*changes)
	}
}
