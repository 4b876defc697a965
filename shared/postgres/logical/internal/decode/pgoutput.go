package decode

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/jackc/pglogrepl"
	"github.com/pg2s3/pg2s3/shared/postgres/internal/pg"
	"github.com/pg2s3/pg2s3/shared/record"
)

// pgoutputRelation is what a Relation message told about a table.
type pgoutputRelation struct {
	schema, table string
	columns       []string
	key           []bool // column is part of the replica identity
}

// pgoutputDecoder decodes pgoutput protocol version 1 messages (with
// messages enabled) into Events.
type pgoutputDecoder struct {
	a         *Assembler
	relations map[uint32]*pgoutputRelation
	// The columns of the tuples being read, reused message after message.
	tuple, old []rawColumn
}

// rawColumn is one column of a tuple as the message holds it: its kind
// ('n' null, 'u' unchanged TOASTed value, 't' text, 'b' binary) and, for
// text, its bytes (in the message, which the connection reuses).
type rawColumn struct {
	kind byte
	data []byte
}

func newPgoutputDecoder(a *Assembler) *pgoutputDecoder {
	return &pgoutputDecoder{a: a, relations: map[uint32]*pgoutputRelation{}}
}

// PgoutputArgs are the START_REPLICATION options NewPgoutput decodes:
// protocol version 1 of publication, with logical messages.
func PgoutputArgs(publication string) []string {
	pub := `"` + strings.ReplaceAll(publication, `"`, `""`) + `"`
	return []string{
		"proto_version '1'",
		"publication_names " + pg.QuoteLiteral(pub),
		"messages 'true'",
	}
}

func (d *pgoutputDecoder) Decode(_ context.Context, walStart uint64, data []byte) error {
	if len(data) == 0 {
		return nil
	}
	switch data[0] {
	case 'I', 'U', 'D':
		// The messages of every change are read here rather than by
		// pglogrepl.Parse, which allocates every column and copies its
		// bytes one at a time: here a change costs one copy of its values.
		return d.rowChange(walStart, data)
	case 'T':
		return d.truncate(walStart, data)
	}
	msg, err := parse(data)
	if err != nil {
		return fmt.Errorf("decode pgoutput message %q at %s: %w", data[0], pg.FormatLSN(walStart), err)
	}
	switch m := msg.(type) {
	case *pglogrepl.BeginMessage:
		d.a.beginTx(m.Xid, uint64(m.FinalLSN), m.CommitTime.UnixMicro())
	case *pglogrepl.CommitMessage:
		if err := d.a.commit(uint64(m.CommitLSN), uint64(m.TransactionEndLSN), m.CommitTime.UnixMicro()); err != nil {
			return fmt.Errorf("decode pgoutput commit at %s: %w", pg.FormatLSN(walStart), err)
		}
	case *pglogrepl.RelationMessage:
		rel := &pgoutputRelation{schema: m.Namespace, table: m.RelationName}
		for _, c := range m.Columns {
			rel.columns = append(rel.columns, c.Name)
			rel.key = append(rel.key, c.Flags&1 != 0)
		}
		d.relations[m.RelationID] = rel
	case *pglogrepl.LogicalDecodingMessage:
		d.a.message(uint64(m.LSN), m.Transactional, m.Prefix, append([]byte(nil), m.Content...))
	case *pglogrepl.TypeMessage, *pglogrepl.OriginMessage:
		// Values travel as text, so type OIDs and origins are not needed.
	default:
		return fmt.Errorf("decode pgoutput at %s: unexpected message %T", pg.FormatLSN(walStart), msg)
	}
	return nil
}

// truncate decodes a Truncate message (the number of relations, an
// options byte, their ids) here: pglogrepl sizes its slice from the count
// before checking it against the message, so a damaged count asked for
// gigabytes.
func (d *pgoutputDecoder) truncate(walStart uint64, data []byte) error {
	if len(data) < 6 {
		return fmt.Errorf("decode pgoutput message 'T' at %s: too short", pg.FormatLSN(walStart))
	}
	n, ids := binary.BigEndian.Uint32(data[1:5]), data[6:]
	if uint64(len(ids)) != uint64(n)*4 {
		return fmt.Errorf("decode pgoutput message 'T' at %s: %d relations in %d bytes", pg.FormatLSN(walStart), n, len(ids))
	}
	for i := 0; i < len(ids); i += 4 {
		rel, err := d.relation(binary.BigEndian.Uint32(ids[i:]), walStart)
		if err != nil {
			return err
		}
		d.a.change(record.Change{Op: record.Truncate, Schema: rel.schema, Table: rel.table, LSN: walStart}, nil)
	}
	return nil
}

// parse is pglogrepl.Parse, which indexes past the end of a malformed
// message (a truncated Truncate, say) instead of returning an error: its
// panic is turned into the error it should have been, so that bytes
// damaged on the way end the stream with an error naming the position,
// and nothing past it is acknowledged.
func parse(data []byte) (msg pglogrepl.Message, err error) {
	defer func() {
		if r := recover(); r != nil {
			msg, err = nil, fmt.Errorf("malformed message (%d bytes): %v", len(data), r)
		}
	}()
	return pglogrepl.Parse(data)
}

func (d *pgoutputDecoder) relation(id uint32, walStart uint64) (*pgoutputRelation, error) {
	rel, ok := d.relations[id]
	if !ok {
		return nil, fmt.Errorf("decode pgoutput at %s: change for relation %d before its Relation message", pg.FormatLSN(walStart), id)
	}
	return rel, nil
}

// rowChange decodes an Insert ('I'), Update ('U') or Delete ('D')
// message of protocol version 1: the relation's id, then the tuples, each
// behind a byte that says which it is ('N' new, 'K' the replica identity's
// key, 'O' the whole old row under REPLICA IDENTITY FULL).
func (d *pgoutputDecoder) rowChange(walStart uint64, data []byte) error {
	bad := func(what string) error {
		return fmt.Errorf("decode pgoutput message %q at %s: %s", data[0], pg.FormatLSN(walStart), what)
	}
	if len(data) < 6 {
		return bad("too short")
	}
	rel, err := d.relation(binary.BigEndian.Uint32(data[1:5]), walStart)
	if err != nil {
		return err
	}
	rest := data[5:]
	var oldKind byte
	var old []rawColumn
	if data[0] != 'I' && (rest[0] == 'K' || rest[0] == 'O') {
		oldKind = rest[0]
		var n int
		if d.old, n, err = parseTuple(rest[1:], d.old[:0]); err != nil {
			return bad(err.Error())
		}
		old, rest = d.old, rest[1+n:]
	}
	switch data[0] {
	case 'D':
		if old == nil {
			return bad("a delete without its old tuple")
		}
		c, err := tupleChange(record.Delete, rel, walStart, old, nil, oldKind != 'O')
		if err != nil {
			return err
		}
		d.a.change(c, nil)
		return nil
	}
	if len(rest) == 0 || rest[0] != 'N' {
		return bad("no new tuple")
	}
	if d.tuple, _, err = parseTuple(rest[1:], d.tuple[:0]); err != nil {
		return bad(err.Error())
	}
	op := record.Insert
	if data[0] == 'U' {
		op = record.Update
	}
	var changed *record.Change
	if op == record.Update && old != nil {
		changed = changedIdentity(rel, old, d.tuple, oldKind == 'O')
	}
	if oldKind != 'O' {
		old = nil // a key tuple ('K') has no values for unchanged TOASTed columns
	}
	c, err := tupleChange(op, rel, walStart, d.tuple, old, false)
	if err != nil {
		return err
	}
	c.Old = changed
	d.a.change(c, rel.columns)
	return nil
}

// changedIdentity returns the old values of the replica identity columns
// (every column when full) that differ from the new tuple's, nil when none
// does (see record.Change.Old). An unchanged TOASTed value on either side
// is no change. The values are copied: the tuples' bytes belong to the
// connection's read buffer.
func changedIdentity(rel *pgoutputRelation, old, tup []rawColumn, full bool) *record.Change {
	size, n := 0, 0
	differs := func(i int) bool {
		if i >= len(old) || i >= len(tup) || !full && !rel.key[i] {
			return false
		}
		o, v := old[i], tup[i]
		return o.kind != 'u' && v.kind != 'u' && (o.kind != v.kind || !bytes.Equal(o.data, v.data))
	}
	for i := range rel.columns {
		if differs(i) {
			size += len(old[i].data)
			n++
		}
	}
	if n == 0 {
		return nil
	}
	c := &record.Change{Columns: make([]string, 0, n), Values: make([]record.Value, 0, n)}
	buf := make([]byte, 0, size)
	for i := range rel.columns {
		if !differs(i) {
			continue
		}
		v := record.Value{Null: old[i].kind == 'n'}
		if !v.Null {
			start := len(buf)
			buf = append(buf, old[i].data...)
			v.Text = buf[start:len(buf):len(buf)]
		}
		c.Columns = append(c.Columns, rel.columns[i])
		c.Values = append(c.Values, v)
	}
	return c
}

// parseTuple reads a TupleData (a column count, then each column's kind
// and, for text and binary, its length and bytes) into cols, and returns
// them with the bytes read. The columns' bytes stay in src.
func parseTuple(src []byte, cols []rawColumn) ([]rawColumn, int, error) {
	if len(src) < 2 {
		return cols, 0, fmt.Errorf("tuple too short")
	}
	n := int(binary.BigEndian.Uint16(src))
	at := 2
	for i := 0; i < n; i++ {
		if at >= len(src) {
			return cols, at, fmt.Errorf("tuple ends at column %d of %d", i, n)
		}
		c := rawColumn{kind: src[at]}
		at++
		switch c.kind {
		case 'n', 'u':
		case 't', 'b':
			if at+4 > len(src) {
				return cols, at, fmt.Errorf("column %d: no length", i)
			}
			size := int(binary.BigEndian.Uint32(src[at:]))
			at += 4
			if size < 0 || at+size > len(src) {
				return cols, at, fmt.Errorf("column %d: %d bytes past the message's end", i, size)
			}
			c.data = src[at : at+size : at+size]
			at += size
		default:
			return cols, at, fmt.Errorf("column %d: unknown kind %q", i, c.kind)
		}
		cols = append(cols, c)
	}
	return cols, at, nil
}

// tupleChange builds a Change from a tuple. old, when set (REPLICA IDENTITY
// FULL), supplies the values of unchanged TOASTed columns. keyOnly keeps
// only the replica identity columns (a delete's key tuple). The values are
// copied into one buffer: the tuple's bytes belong to the connection's
// read buffer. A change of every column shares the relation's column list.
func tupleChange(op record.Op, rel *pgoutputRelation, lsn uint64, tup, old []rawColumn, keyOnly bool) (record.Change, error) {
	c := record.Change{Op: op, Schema: rel.schema, Table: rel.table, LSN: lsn}
	if len(tup) != len(rel.columns) {
		return c, fmt.Errorf("decode pgoutput %s on %s.%s at %s: %d values for %d columns", op, rel.schema, rel.table, pg.FormatLSN(lsn), len(tup), len(rel.columns))
	}
	size := 0
	for i, col := range tup {
		if col.kind == 'u' && i < len(old) && old[i].kind != 'u' {
			col = old[i]
		}
		size += len(col.data)
	}
	buf := make([]byte, 0, size)
	c.Values = make([]record.Value, 0, len(tup))
	if !keyOnly {
		c.Columns = rel.columns
	}
	for i, col := range tup {
		if keyOnly && !rel.key[i] {
			continue
		}
		if col.kind == 'u' && i < len(old) && old[i].kind != 'u' {
			col = old[i]
		}
		var v record.Value
		switch col.kind {
		case 'n':
			v.Null = true
		case 'u':
			v.Unchanged = true
		case 't':
			start := len(buf)
			buf = append(buf, col.data...)
			v.Text = buf[start:len(buf):len(buf)]
		default:
			return c, fmt.Errorf("decode pgoutput %s on %s.%s at %s: column %s has binary data", op, rel.schema, rel.table, pg.FormatLSN(lsn), rel.columns[i])
		}
		if keyOnly {
			c.Columns = append(c.Columns, rel.columns[i])
		}
		c.Values = append(c.Values, v)
	}
	return c, nil
}
