package decode

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/pg2s3/pg2s3/shared/postgres/internal/pg"
	"github.com/pg2s3/pg2s3/shared/record"
)

// refWal2jsonDecoder is the wal2json decoder as it was before the
// hand-written scanner: encoding/json into structs. It stays here, in a
// test file, as the reference the scanner is compared with
// (TestWal2jsonScannerMatchesEncodingJSON) and measured against
// (BenchmarkWal2jsonDecode).
type refWal2jsonDecoder struct {
	a      *Assembler
	lookup columnLookup
	tables map[[2]string]*w2jTable
}

type refColumn struct {
	Name    string          `json:"name"`
	TypeOID uint32          `json:"typeoid"`
	Value   json.RawMessage `json:"value"`
}

type refRecord struct {
	Action        string      `json:"action"`
	XID           uint32      `json:"xid"`
	Timestamp     string      `json:"timestamp"`
	LSN           string      `json:"lsn"`
	NextLSN       string      `json:"nextlsn"`
	Schema        string      `json:"schema"`
	Table         string      `json:"table"`
	Columns       []refColumn `json:"columns"`
	Identity      []refColumn `json:"identity"`
	Transactional bool        `json:"transactional"`
	Prefix        string      `json:"prefix"`
	Content       string      `json:"content"`
}

func newRefWal2jsonDecoder(a *Assembler, lookup columnLookup) *refWal2jsonDecoder {
	return &refWal2jsonDecoder{a: a, lookup: lookup, tables: map[[2]string]*w2jTable{}}
}

func (d *refWal2jsonDecoder) Decode(ctx context.Context, walStart uint64, data []byte) error {
	var r refRecord
	if err := json.Unmarshal(data, &r); err != nil {
		return fmt.Errorf("decode wal2json record at %s: %w", pg.FormatLSN(walStart), err)
	}
	lsn, err := pg.ParseLSN(r.LSN)
	if err != nil {
		return fmt.Errorf("decode wal2json record at %s: %w", pg.FormatLSN(walStart), err)
	}
	switch r.Action {
	case "B":
		ts, err := parseW2JTime(r.Timestamp)
		if err != nil {
			return fmt.Errorf("decode wal2json begin at %s: %w", pg.FormatLSN(walStart), err)
		}
		d.a.beginTx(r.XID, lsn, ts)
	case "C":
		end, err := pg.ParseLSN(r.NextLSN)
		if err != nil {
			return fmt.Errorf("decode wal2json commit at %s: %w", pg.FormatLSN(walStart), err)
		}
		ts, err := parseW2JTime(r.Timestamp)
		if err != nil {
			return fmt.Errorf("decode wal2json commit at %s: %w", pg.FormatLSN(walStart), err)
		}
		if err := d.a.commit(lsn, end, ts); err != nil {
			return fmt.Errorf("decode wal2json commit at %s: %w", pg.FormatLSN(walStart), err)
		}
	case "I", "U":
		if !d.a.selected(r.Schema, r.Table) {
			return nil
		}
		op := record.Insert
		if r.Action == "U" {
			op = record.Update
		}
		t, err := d.table(ctx, r.Schema, r.Table, r.Columns, op == record.Insert)
		if err != nil {
			return err
		}
		c, err := refRowChange(op, r, lsn, t)
		if err != nil {
			return err
		}
		if op == record.Update {
			// The old values of the identity columns the update changed.
			var old record.Change
			for _, col := range r.Identity {
				i := slices.Index(t.columns, col.Name)
				if i < 0 || t.generated[col.Name] {
					continue
				}
				v, err := refValue(col)
				if err != nil {
					return fmt.Errorf("decode wal2json update on %s.%s at %s: %w", r.Schema, r.Table, r.LSN, err)
				}
				if n := c.Values[i]; !n.Unchanged && (n.Null != v.Null || !bytes.Equal(n.Text, v.Text)) {
					old.Columns = append(old.Columns, col.Name)
					old.Values = append(old.Values, v)
				}
			}
			if len(old.Columns) > 0 {
				c.Old = &old
			}
		}
		d.a.change(c, t.columns)
	case "D":
		if !d.a.selected(r.Schema, r.Table) {
			return nil
		}
		c := record.Change{Op: record.Delete, Schema: r.Schema, Table: r.Table, LSN: lsn}
		t, err := d.table(ctx, r.Schema, r.Table, r.Identity, false)
		if err != nil {
			return err
		}
		for _, col := range r.Identity {
			if t.generated[col.Name] {
				continue
			}
			v, err := refValue(col)
			if err != nil {
				return fmt.Errorf("decode wal2json delete on %s.%s at %s: %w", r.Schema, r.Table, r.LSN, err)
			}
			c.Columns = append(c.Columns, col.Name)
			c.Values = append(c.Values, v)
		}
		d.a.change(c, nil)
	case "T":
		d.a.change(record.Change{Op: record.Truncate, Schema: r.Schema, Table: r.Table, LSN: lsn}, nil)
	case "M":
		d.a.message(lsn, r.Transactional, r.Prefix, []byte(r.Content))
	default:
		return fmt.Errorf("decode wal2json record at %s: unknown action %q", pg.FormatLSN(walStart), r.Action)
	}
	return nil
}

func (d *refWal2jsonDecoder) table(ctx context.Context, schema, name string, cols []refColumn, complete bool) (*w2jTable, error) {
	key := [2]string{schema, name}
	t := d.tables[key]
	if t == nil || !refKnows(t, cols) {
		fresh, err := d.lookup(ctx, schema, name)
		if err != nil {
			return nil, fmt.Errorf("read columns of %s.%s: %w", schema, name, err)
		}
		t = &fresh
		d.tables[key] = t
	}
	if complete {
		var list []string
		for _, c := range cols {
			if !t.generated[c.Name] {
				list = append(list, c.Name)
			}
		}
		if !slices.Equal(list, t.columns) {
			t.columns = list
		}
	}
	return t, nil
}

func refKnows(t *w2jTable, cols []refColumn) bool {
	for _, c := range cols {
		if !t.generated[c.Name] && !slices.Contains(t.columns, c.Name) {
			return false
		}
	}
	return true
}

func refRowChange(op record.Op, r refRecord, lsn uint64, t *w2jTable) (record.Change, error) {
	c := record.Change{Op: op, Schema: r.Schema, Table: r.Table, LSN: lsn,
		Columns: slices.Clone(t.columns), Values: make([]record.Value, len(t.columns))}
	found := make([]bool, len(t.columns))
	fill := func(cols []refColumn, onlyMissing bool) error {
		for _, col := range cols {
			i := slices.Index(t.columns, col.Name)
			if i < 0 || (onlyMissing && found[i]) {
				continue
			}
			v, err := refValue(col)
			if err != nil {
				return fmt.Errorf("decode wal2json %s on %s.%s at %s: %w", op, r.Schema, r.Table, r.LSN, err)
			}
			c.Values[i], found[i] = v, true
		}
		return nil
	}
	if err := fill(r.Columns, false); err != nil {
		return c, err
	}
	if err := fill(r.Identity, true); err != nil {
		return c, err
	}
	for i := range found {
		if !found[i] {
			c.Values[i] = record.Value{Unchanged: true}
		}
	}
	return c, nil
}

func refValue(col refColumn) (record.Value, error) {
	raw := bytes.TrimSpace(col.Value)
	switch {
	case len(raw) == 0 || string(raw) == "null":
		return record.Value{Null: true}, nil
	case raw[0] == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return record.Value{}, fmt.Errorf("column %s: %w", col.Name, err)
		}
		if col.TypeOID == byteaOID {
			s = `\x` + s
		}
		return record.Value{Text: []byte(s)}, nil
	case string(raw) == "true":
		return record.Value{Text: []byte("t")}, nil
	case string(raw) == "false":
		return record.Value{Text: []byte("f")}, nil
	case raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9':
		return record.Value{Text: append([]byte{}, raw...)}, nil
	}
	return record.Value{}, fmt.Errorf("column %s: unexpected value %.40s", col.Name, raw)
}
