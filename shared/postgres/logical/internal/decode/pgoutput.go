package decode

import (
	"context"
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
	msg, err := pglogrepl.Parse(data)
	if err != nil {
		return fmt.Errorf("decode pgoutput message %q at %s: %w", data[0], pg.FormatLSN(walStart), err)
	}
	switch m := msg.(type) {
	case *pglogrepl.BeginMessage:
		d.a.beginTx(m.Xid, uint64(m.FinalLSN), m.CommitTime.UnixMicro())
	case *pglogrepl.CommitMessage:
		d.a.commit(uint64(m.CommitLSN), uint64(m.TransactionEndLSN), m.CommitTime.UnixMicro())
	case *pglogrepl.RelationMessage:
		rel := &pgoutputRelation{schema: m.Namespace, table: m.RelationName}
		for _, c := range m.Columns {
			rel.columns = append(rel.columns, c.Name)
			rel.key = append(rel.key, c.Flags&1 != 0)
		}
		d.relations[m.RelationID] = rel
	case *pglogrepl.InsertMessage:
		rel, err := d.relation(m.RelationID, walStart)
		if err != nil {
			return err
		}
		c, err := tupleChange(record.Insert, rel, walStart, m.Tuple, nil, false)
		if err != nil {
			return err
		}
		d.a.change(c, rel.columns)
	case *pglogrepl.UpdateMessage:
		rel, err := d.relation(m.RelationID, walStart)
		if err != nil {
			return err
		}
		var old *pglogrepl.TupleData
		if m.OldTupleType == pglogrepl.UpdateMessageTupleTypeOld {
			old = m.OldTuple // REPLICA IDENTITY FULL: fills unchanged TOAST values
		}
		c, err := tupleChange(record.Update, rel, walStart, m.NewTuple, old, false)
		if err != nil {
			return err
		}
		d.a.change(c, rel.columns)
	case *pglogrepl.DeleteMessage:
		rel, err := d.relation(m.RelationID, walStart)
		if err != nil {
			return err
		}
		keyOnly := m.OldTupleType != pglogrepl.DeleteMessageTupleTypeOld
		c, err := tupleChange(record.Delete, rel, walStart, m.OldTuple, nil, keyOnly)
		if err != nil {
			return err
		}
		d.a.change(c, nil)
	case *pglogrepl.TruncateMessage:
		for _, id := range m.RelationIDs {
			rel, err := d.relation(id, walStart)
			if err != nil {
				return err
			}
			d.a.change(record.Change{Op: record.Truncate, Schema: rel.schema, Table: rel.table, LSN: walStart}, nil)
		}
	case *pglogrepl.LogicalDecodingMessage:
		d.a.message(uint64(m.LSN), m.Transactional, m.Prefix, append([]byte(nil), m.Content...))
	case *pglogrepl.TypeMessage, *pglogrepl.OriginMessage:
		// Values travel as text, so type OIDs and origins are not needed.
	default:
		return fmt.Errorf("decode pgoutput at %s: unexpected message %T", pg.FormatLSN(walStart), msg)
	}
	return nil
}

func (d *pgoutputDecoder) relation(id uint32, walStart uint64) (*pgoutputRelation, error) {
	rel, ok := d.relations[id]
	if !ok {
		return nil, fmt.Errorf("decode pgoutput at %s: change for relation %d before its Relation message", pg.FormatLSN(walStart), id)
	}
	return rel, nil
}

// tupleChange builds a Change from a tuple. old, when set (REPLICA IDENTITY
// FULL), supplies the values of unchanged TOASTed columns. keyOnly keeps
// only the replica identity columns (a delete's key tuple). The values are
// copied: the tuple's bytes belong to the connection's read buffer.
func tupleChange(op record.Op, rel *pgoutputRelation, lsn uint64, tup, old *pglogrepl.TupleData, keyOnly bool) (record.Change, error) {
	c := record.Change{Op: op, Schema: rel.schema, Table: rel.table, LSN: lsn}
	if tup == nil {
		return c, fmt.Errorf("decode pgoutput %s on %s.%s at %s: no tuple", op, rel.schema, rel.table, pg.FormatLSN(lsn))
	}
	if len(tup.Columns) != len(rel.columns) {
		return c, fmt.Errorf("decode pgoutput %s on %s.%s at %s: %d values for %d columns", op, rel.schema, rel.table, pg.FormatLSN(lsn), len(tup.Columns), len(rel.columns))
	}
	size := 0
	for _, col := range tup.Columns {
		size += len(col.Data)
	}
	buf := make([]byte, 0, size)
	for i, col := range tup.Columns {
		if keyOnly && !rel.key[i] {
			continue
		}
		if col.DataType == pglogrepl.TupleDataTypeToast && old != nil && i < len(old.Columns) && old.Columns[i].DataType != pglogrepl.TupleDataTypeToast {
			col = old.Columns[i]
		}
		var v record.Value
		switch col.DataType {
		case pglogrepl.TupleDataTypeNull:
			v.Null = true
		case pglogrepl.TupleDataTypeToast:
			v.Unchanged = true
		case pglogrepl.TupleDataTypeText:
			if len(buf)+len(col.Data) > cap(buf) { // an old value from REPLICA IDENTITY FULL
				v.Text = append([]byte{}, col.Data...)
			} else {
				start := len(buf)
				buf = append(buf, col.Data...)
				v.Text = buf[start:len(buf):len(buf)]
			}
		default:
			return c, fmt.Errorf("decode pgoutput %s on %s.%s at %s: column %s has binary data", op, rel.schema, rel.table, pg.FormatLSN(lsn), rel.columns[i])
		}
		c.Columns = append(c.Columns, rel.columns[i])
		c.Values = append(c.Values, v)
	}
	return c, nil
}
