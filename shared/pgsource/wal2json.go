package pgsource

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/pg2s3/pg2s3/shared/record"
)

// wal2json format version 2 prints values through each type's output
// function (in the walsender's session settings, the same as pgoutput's),
// except: integers, oid, floats and numerics unquoted (their text exactly;
// NaN and ±Infinity become null, a wal2json limitation), booleans as
// true/false, and bytea without its \x prefix. It leaves out unchanged
// TOASTed values and prints generated columns, which pgoutput does not send.

const byteaOID = 17

type w2jColumn struct {
	Name    string          `json:"name"`
	TypeOID uint32          `json:"typeoid"`
	Value   json.RawMessage `json:"value"`
}

type w2jRecord struct {
	Action        string      `json:"action"`
	XID           uint32      `json:"xid"`
	Timestamp     string      `json:"timestamp"`
	LSN           string      `json:"lsn"`
	NextLSN       string      `json:"nextlsn"`
	Schema        string      `json:"schema"`
	Table         string      `json:"table"`
	Columns       []w2jColumn `json:"columns"`
	Identity      []w2jColumn `json:"identity"`
	Transactional bool        `json:"transactional"`
	Prefix        string      `json:"prefix"`
	Content       string      `json:"content"`
}

// w2jTable is a table's column list as pgoutput would send it.
type w2jTable struct {
	columns   []string
	generated map[string]bool
}

// columnLookup reads a table's current columns from the catalog.
type columnLookup func(ctx context.Context, schema, table string) (w2jTable, error)

type wal2jsonDecoder struct {
	a      *assembler
	lookup columnLookup
	tables map[[2]string]*w2jTable
}

func newWal2jsonDecoder(a *assembler, lookup columnLookup) *wal2jsonDecoder {
	return &wal2jsonDecoder{a: a, lookup: lookup, tables: map[[2]string]*w2jTable{}}
}

// wal2jsonArgs are START_REPLICATION options for wal2json format 2.
func wal2jsonArgs(tables map[[2]string]bool) []string {
	args := []string{
		`"format-version" '2'`,
		`"include-transaction" 'true'`,
		`"include-xids" 'true'`,
		`"include-lsn" 'true'`,
		`"include-timestamp" 'true'`,
		`"include-types" 'false'`,
		`"include-type-oids" 'true'`,
	}
	if len(tables) > 0 {
		names := make([]string, 0, len(tables))
		for t := range tables {
			names = append(names, wal2jsonEscape(t[0])+"."+wal2jsonEscape(t[1]))
		}
		sort.Strings(names)
		args = append(args, `"add-tables" `+quoteLiteral(strings.Join(names, ",")))
	}
	return args
}

// wal2jsonEscape escapes what wal2json's table list treats specially.
func wal2jsonEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '\\', '.', ',', ' ', '\'', '*':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func (d *wal2jsonDecoder) decode(ctx context.Context, walStart uint64, data []byte) error {
	var r w2jRecord
	if err := json.Unmarshal(data, &r); err != nil {
		return fmt.Errorf("decode wal2json record at %s: %w", FormatLSN(walStart), err)
	}
	lsn, err := parseLSN(r.LSN)
	if err != nil {
		return fmt.Errorf("decode wal2json record at %s: %w", FormatLSN(walStart), err)
	}
	switch r.Action {
	case "B":
		ts, err := parseW2JTime(r.Timestamp)
		if err != nil {
			return fmt.Errorf("decode wal2json begin at %s: %w", FormatLSN(walStart), err)
		}
		d.a.beginTx(r.XID, lsn, ts)
	case "C":
		end, err := parseLSN(r.NextLSN)
		if err != nil {
			return fmt.Errorf("decode wal2json commit at %s: %w", FormatLSN(walStart), err)
		}
		ts, err := parseW2JTime(r.Timestamp)
		if err != nil {
			return fmt.Errorf("decode wal2json commit at %s: %w", FormatLSN(walStart), err)
		}
		d.a.commit(lsn, end, ts)
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
		c, err := rowChange(op, r, lsn, t)
		if err != nil {
			return err
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
			v, err := w2jValue(col)
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
		return fmt.Errorf("decode wal2json record at %s: unknown action %q", FormatLSN(walStart), r.Action)
	}
	return nil
}

// table returns the table's column list, reading the catalog the first
// time and again when a record names a column the list lacks. An insert
// carries every column, so its list (without generated columns) wins.
func (d *wal2jsonDecoder) table(ctx context.Context, schema, name string, cols []w2jColumn, complete bool) (*w2jTable, error) {
	key := [2]string{schema, name}
	t := d.tables[key]
	if t == nil || !knows(t, cols) {
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

func knows(t *w2jTable, cols []w2jColumn) bool {
	for _, c := range cols {
		if !t.generated[c.Name] && !slices.Contains(t.columns, c.Name) {
			return false
		}
	}
	return true
}

// rowChange lays an insert's or update's values out in the table's column
// order. A column the record leaves out is an unchanged TOASTed value:
// taken from the old row when REPLICA IDENTITY FULL printed it, otherwise
// marked Unchanged (as pgoutput's 'u').
func rowChange(op record.Op, r w2jRecord, lsn uint64, t *w2jTable) (record.Change, error) {
	c := record.Change{Op: op, Schema: r.Schema, Table: r.Table, LSN: lsn,
		Columns: slices.Clone(t.columns), Values: make([]record.Value, len(t.columns))}
	found := make([]bool, len(t.columns))
	fill := func(cols []w2jColumn, onlyMissing bool) error {
		for _, col := range cols {
			i := slices.Index(t.columns, col.Name)
			if i < 0 || (onlyMissing && found[i]) {
				continue
			}
			v, err := w2jValue(col)
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

// w2jValue turns a printed value back into PostgreSQL's text form.
func w2jValue(col w2jColumn) (record.Value, error) {
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

// parseW2JTime parses wal2json's timestamps (timestamptz output in the
// session's UTC time zone) into Unix microseconds.
func parseW2JTime(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	for _, layout := range []string{"2006-01-02 15:04:05.999999-07", "2006-01-02 15:04:05.999999-07:00", "2006-01-02 15:04:05.999999-07:00:00"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UnixMicro(), nil
		}
	}
	return 0, fmt.Errorf("parse timestamp %q", s)
}
