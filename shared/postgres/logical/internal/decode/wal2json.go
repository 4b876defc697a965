package decode

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/pg2s3/pg2s3/shared/postgres/internal/pg"
	"github.com/pg2s3/pg2s3/shared/record"
)

// wal2json format version 2 prints values through each type's output
// function (in the walsender's session settings, the same as pgoutput's),
// except: integers, oid, floats and numerics unquoted (their text exactly;
// NaN and ±Infinity become null, a wal2json limitation), booleans as
// true/false, and bytea without its \x prefix. It leaves out unchanged
// TOASTed values and prints generated columns, which pgoutput does not send.

const byteaOID = 17

// w2jTable is a table's column list as pgoutput would send it.
type w2jTable struct {
	columns    []string
	generated  map[string]bool
	duplicates bool // a name appears twice in columns (see noteDuplicates)
}

// columnLookup reads a table's current columns from the catalog.
type columnLookup func(ctx context.Context, schema, table string) (w2jTable, error)

// wal2jsonDecoder decodes wal2json format-version-2 records (one per
// change, see Wal2jsonArgs) into Events, with the scanner of
// wal2json_scan.go.
type wal2jsonDecoder struct {
	a         *Assembler
	lookup    columnLookup
	relations map[string]*w2jRelation // by schema and table (see relation)
	scan      w2jScanner
	key       []byte // scratch: a relation's key
	found     []bool // scratch: the columns a row change has a value for
	old       []byte // scratch: an update's old identity values
	oldVals   []changedValue
}

// w2jRelation is what the decoder keeps about a table it has seen.
type w2jRelation struct {
	schema, table string
	columns       *w2jTable // read from the catalog when a change needs it
	lastDelete    []string  // the last delete's column list
}

func newWal2jsonDecoder(a *Assembler, lookup columnLookup) *wal2jsonDecoder {
	return &wal2jsonDecoder{a: a, lookup: lookup, relations: map[string]*w2jRelation{}}
}

// Wal2jsonArgs are the START_REPLICATION options NewWal2json decodes:
// format version 2, limited to tables when there are any.
func Wal2jsonArgs(tables map[[2]string]bool) []string {
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
		args = append(args, `"add-tables" `+pg.QuoteLiteral(strings.Join(names, ",")))
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

// Decode reads one record. Values are copied out of data (the connection's
// read buffer): each change owns one buffer holding all its values, so
// events stay valid after later records, as pgoutput's do.
func (d *wal2jsonDecoder) Decode(ctx context.Context, walStart uint64, data []byte) error {
	r, err := d.scan.scan(data)
	if err != nil {
		return fmt.Errorf("decode wal2json record at %s: %w", pg.FormatLSN(walStart), err)
	}
	lsn, err := parseLSNBytes(r.lsn)
	if err != nil {
		return fmt.Errorf("decode wal2json record at %s: %w", pg.FormatLSN(walStart), err)
	}
	switch string(r.action) {
	case "B":
		ts, err := parseW2JTimeBytes(r.timestamp)
		if err != nil {
			return fmt.Errorf("decode wal2json begin at %s: %w", pg.FormatLSN(walStart), err)
		}
		d.a.beginTx(r.xid, lsn, ts)
	case "C":
		end, err := parseLSNBytes(r.nextLSN)
		if err != nil {
			return fmt.Errorf("decode wal2json commit at %s: %w", pg.FormatLSN(walStart), err)
		}
		ts, err := parseW2JTimeBytes(r.timestamp)
		if err != nil {
			return fmt.Errorf("decode wal2json commit at %s: %w", pg.FormatLSN(walStart), err)
		}
		if err := d.a.commit(lsn, end, ts); err != nil {
			return fmt.Errorf("decode wal2json commit at %s: %w", pg.FormatLSN(walStart), err)
		}
	case "I", "U":
		rel := d.relation(r.schema, r.table)
		if !d.a.selected(rel.schema, rel.table) {
			return nil
		}
		op := record.Insert
		if r.action[0] == 'U' {
			op = record.Update
		}
		t, err := d.table(ctx, rel, r.columns, op == record.Insert)
		if err != nil {
			return fmt.Errorf("decode wal2json %s at %s: %w", op, pg.FormatLSN(lsn), err)
		}
		c, err := d.rowChange(op, rel, lsn, t, r)
		if err != nil {
			return err
		}
		if op == record.Update && len(r.identity) > 0 {
			if c.Old, err = d.changedIdentity(rel, lsn, t, r, &c); err != nil {
				return err
			}
		}
		d.a.change(c, t.columns)
	case "D":
		rel := d.relation(r.schema, r.table)
		if !d.a.selected(rel.schema, rel.table) {
			return nil
		}
		t, err := d.table(ctx, rel, r.identity, false)
		if err != nil {
			return fmt.Errorf("decode wal2json delete at %s: %w", pg.FormatLSN(lsn), err)
		}
		c, err := d.deleteChange(rel, lsn, t, r)
		if err != nil {
			return err
		}
		d.a.change(c, nil)
	case "T":
		rel := d.relation(r.schema, r.table)
		d.a.change(record.Change{Op: record.Truncate, Schema: rel.schema, Table: rel.table, LSN: lsn}, nil)
	case "M":
		d.a.message(lsn, r.transactional, string(r.prefix), append([]byte{}, r.content...))
	default:
		return fmt.Errorf("decode wal2json record at %s: unknown action %q", pg.FormatLSN(walStart), r.action)
	}
	return nil
}

// relation returns what the decoder keeps about a table. Its key is the
// schema's length, the schema and the table: no two tables share one, and
// looking it up allocates nothing.
func (d *wal2jsonDecoder) relation(schema, table []byte) *w2jRelation {
	k := binary.AppendUvarint(d.key[:0], uint64(len(schema)))
	k = append(append(k, schema...), table...)
	d.key = k
	if rel := d.relations[string(k)]; rel != nil {
		return rel
	}
	rel := &w2jRelation{schema: string(schema), table: string(table)}
	d.relations[string(k)] = rel
	return rel
}

// table returns the table's column list, reading the catalog the first
// time and again when a record names a column the list lacks. An insert
// carries every column, so its list (without generated columns) wins. It
// sets each field's idx.
func (d *wal2jsonDecoder) table(ctx context.Context, rel *w2jRelation, fields []w2jField, complete bool) (*w2jTable, error) {
	t := rel.columns
	if t == nil || !t.index(fields) {
		fresh, err := d.lookup(ctx, rel.schema, rel.table)
		if err != nil {
			return nil, fmt.Errorf("read columns of %s.%s: %w", rel.schema, rel.table, err)
		}
		t = &fresh
		t.noteDuplicates()
		rel.columns = t
		t.index(fields)
	}
	if complete && !t.sameColumns(fields) {
		var list []string
		for i := range fields {
			if !t.isGenerated(fields[i].name) {
				list = append(list, string(fields[i].name))
			}
		}
		t.columns = list
		t.noteDuplicates()
		t.index(fields)
	}
	return t, nil
}

// noteDuplicates notes whether a column name appears twice in the list
// (never in a table's catalog, but a record could name one twice).
func (t *w2jTable) noteDuplicates() {
	t.duplicates = false
	for i, c := range t.columns {
		if slices.Contains(t.columns[:i], c) {
			t.duplicates = true
		}
	}
}

// index sets each field's position in the column list (-1 when absent,
// the first when a name appears twice) and reports whether every field is
// a known column or generated. Records list columns in table order, so
// the position after the previous field's is tried first.
func (t *w2jTable) index(fields []w2jField) bool {
	known, next := true, 0
	for i := range fields {
		f := &fields[i]
		f.idx = -1
		if next < len(t.columns) && t.columns[next] == string(f.name) && !t.duplicates {
			f.idx = next
		} else {
			for j, c := range t.columns {
				if c == string(f.name) {
					f.idx = j
					break
				}
			}
		}
		if f.idx >= 0 {
			next = f.idx + 1
		} else if !t.isGenerated(f.name) {
			known = false
		}
	}
	return known
}

// sameColumns reports whether the fields, without generated columns, are
// the column list.
func (t *w2jTable) sameColumns(fields []w2jField) bool {
	n := 0
	for i := range fields {
		if t.isGenerated(fields[i].name) {
			continue
		}
		if n >= len(t.columns) || t.columns[n] != string(fields[i].name) {
			return false
		}
		n++
	}
	return n == len(t.columns)
}

func (t *w2jTable) isGenerated(name []byte) bool {
	return len(t.generated) > 0 && t.generated[string(name)]
}

// rowChange lays an insert's or update's values out in the table's column
// order. A column the record leaves out is an unchanged TOASTed value:
// taken from the old row when REPLICA IDENTITY FULL printed it, otherwise
// marked Unchanged (as pgoutput's 'u'). The change shares the table's
// column list, which is replaced, never modified.
func (d *wal2jsonDecoder) rowChange(op record.Op, rel *w2jRelation, lsn uint64, t *w2jTable, r *w2jRecord) (record.Change, error) {
	n := len(t.columns)
	c := record.Change{Op: op, Schema: rel.schema, Table: rel.table, LSN: lsn,
		Columns: t.columns[:n:n], Values: make([]record.Value, n)}
	t.index(r.identity)
	if cap(d.found) < n {
		d.found = make([]bool, n)
	}
	// The record's columns, then the old row's values of the columns it
	// leaves out: one buffer sized for exactly those.
	found := d.found[:n]
	clear(found)
	size := 0
	for i := range r.columns {
		if f := &r.columns[i]; f.idx >= 0 {
			found[f.idx] = true
			size += valueSize(f)
		}
	}
	for i := range r.identity {
		if f := &r.identity[i]; f.idx >= 0 && !found[f.idx] {
			size += valueSize(f)
		}
	}
	buf := make([]byte, 0, size)
	for pass, fields := range [2][]w2jField{r.columns, r.identity} {
		for i := range fields {
			f := &fields[i]
			if f.idx < 0 || pass == 1 && found[f.idx] {
				continue
			}
			var err error
			c.Values[f.idx], buf, err = appendValue(buf, f)
			if err != nil {
				return c, fmt.Errorf("decode wal2json %s on %s.%s at %s: %w", op, rel.schema, rel.table, pg.FormatLSN(lsn), err)
			}
			found[f.idx] = true
		}
	}
	for i := range found {
		if !found[i] {
			c.Values[i] = record.Value{Unchanged: true}
		}
	}
	return c, nil
}

// changedIdentity returns the old values of the record's identity
// columns that differ from the update's new ones, nil when none does (see
// record.Change.Old; rowChange indexed the identity fields). The old
// values are laid out in a scratch buffer first, so an update that keeps
// its identity allocates nothing here.
func (d *wal2jsonDecoder) changedIdentity(rel *w2jRelation, lsn uint64, t *w2jTable, r *w2jRecord, c *record.Change) (*record.Change, error) {
	scratch := d.old[:0]
	d.oldVals = d.oldVals[:0]
	size := 0
	for i := range r.identity {
		f := &r.identity[i]
		if f.idx < 0 || t.isGenerated(f.name) {
			continue
		}
		var v record.Value
		var err error
		if v, scratch, err = appendValue(scratch, f); err != nil {
			return nil, fmt.Errorf("decode wal2json update on %s.%s at %s: %w", rel.schema, rel.table, pg.FormatLSN(lsn), err)
		}
		if n := c.Values[f.idx]; n.Unchanged || n.Null == v.Null && bytes.Equal(n.Text, v.Text) {
			continue
		}
		d.oldVals = append(d.oldVals, changedValue{idx: f.idx, v: v})
		size += len(v.Text)
	}
	d.old = scratch[:0]
	if len(d.oldVals) == 0 {
		return nil, nil
	}
	old := &record.Change{Columns: make([]string, 0, len(d.oldVals)), Values: make([]record.Value, 0, len(d.oldVals))}
	buf := make([]byte, 0, size)
	for _, cv := range d.oldVals {
		v := cv.v
		if !v.Null {
			start := len(buf)
			buf = append(buf, v.Text...)
			v.Text = buf[start:len(buf):len(buf)]
		}
		old.Columns = append(old.Columns, c.Columns[cv.idx])
		old.Values = append(old.Values, v)
	}
	return old, nil
}

// changedValue is an identity column's old value and its column.
type changedValue struct {
	idx int
	v   record.Value
}

// deleteChange builds a delete from the record's identity columns (the
// key, or every column under REPLICA IDENTITY FULL).
func (d *wal2jsonDecoder) deleteChange(rel *w2jRelation, lsn uint64, t *w2jTable, r *w2jRecord) (record.Change, error) {
	c := record.Change{Op: record.Delete, Schema: rel.schema, Table: rel.table, LSN: lsn}
	n := 0
	for i := range r.identity {
		if !t.isGenerated(r.identity[i].name) {
			n++
		}
	}
	if n == 0 {
		return c, nil
	}
	c.Columns = rel.deleteColumns(t, r.identity, n)
	c.Values = make([]record.Value, 0, n)
	size := 0
	for i := range r.identity {
		size += valueSize(&r.identity[i])
	}
	buf := make([]byte, 0, size)
	for i := range r.identity {
		f := &r.identity[i]
		if t.isGenerated(f.name) {
			continue
		}
		var v record.Value
		var err error
		if v, buf, err = appendValue(buf, f); err != nil {
			return c, fmt.Errorf("decode wal2json delete on %s.%s at %s: %w", rel.schema, rel.table, pg.FormatLSN(lsn), err)
		}
		c.Values = append(c.Values, v)
	}
	return c, nil
}

// deleteColumns returns the names of the n identity fields that are not
// generated: the last delete's list when it is the same (deletes of a
// table usually name the same key columns).
func (rel *w2jRelation) deleteColumns(t *w2jTable, fields []w2jField, n int) []string {
	same := len(rel.lastDelete) == n
	for i, j := 0, 0; same && i < len(fields); i++ {
		if !t.isGenerated(fields[i].name) {
			same = rel.lastDelete[j] == string(fields[i].name)
			j++
		}
	}
	if same {
		return rel.lastDelete
	}
	list := make([]string, 0, n)
	for i := range fields {
		f := &fields[i]
		switch {
		case t.isGenerated(f.name):
		case f.idx >= 0 && f.idx < len(t.columns) && t.columns[f.idx] == string(f.name):
			list = append(list, t.columns[f.idx])
		default:
			list = append(list, string(f.name))
		}
	}
	rel.lastDelete = list[:n:n]
	return rel.lastDelete
}

// valueSize bounds the bytes a field's value takes decoded (escapes only
// shrink, except invalid UTF-8, which append handles).
func valueSize(f *w2jField) int {
	switch f.kind {
	case w2jString:
		if f.typeOID == byteaOID {
			return len(f.raw) + 2
		}
	case w2jTrue, w2jFalse:
		return 1
	}
	return len(f.raw)
}

// appendValue appends a printed value, in PostgreSQL's text form, to buf
// and returns it as a Value pointing into buf. Earlier values stay valid
// when append moves buf: they keep the old array.
func appendValue(buf []byte, f *w2jField) (record.Value, []byte, error) {
	start := len(buf)
	switch f.kind {
	case w2jNull:
		return record.Value{Null: true}, buf, nil
	case w2jString:
		if f.typeOID == byteaOID {
			buf = append(buf, '\\', 'x') // wal2json leaves out bytea's \x
		}
		if f.plain {
			buf = append(buf, f.raw...)
		} else {
			buf = appendUnescaped(buf, f.raw)
		}
	case w2jNumber:
		buf = append(buf, f.raw...)
	case w2jTrue:
		buf = append(buf, 't')
	case w2jFalse:
		buf = append(buf, 'f')
	default:
		return record.Value{}, buf, fmt.Errorf("column %s: unexpected value %.40s", f.name, f.raw)
	}
	return record.Value{Text: buf[start:len(buf):len(buf)]}, buf, nil
}

// w2jColumn is one printed column value.
type w2jColumn struct {
	Name    string
	TypeOID uint32
	Value   []byte
}

// w2jValue turns one printed value back into PostgreSQL's text form (what
// decode does for each column).
func w2jValue(col w2jColumn) (record.Value, error) {
	f := w2jField{name: []byte(col.Name), typeOID: col.TypeOID}
	s := w2jScanner{data: col.Value}
	s.ws()
	if s.pos < len(s.data) {
		if err := s.value(&f); err != nil {
			return record.Value{}, fmt.Errorf("column %s: %w", col.Name, err)
		}
		if s.ws(); s.pos < len(s.data) {
			return record.Value{}, fmt.Errorf("column %s: %w", col.Name, s.errf("unexpected %q after the value", s.data[s.pos]))
		}
	}
	v, _, err := appendValue(make([]byte, 0, len(col.Value)+2), &f)
	return v, err
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
