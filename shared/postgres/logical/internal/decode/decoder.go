package decode

import "context"

// Decoder reads the messages of one replication stream, in order, into
// its Assembler.
type Decoder interface {
	// Decode reads one message whose WAL starts at walStart. The
	// message's bytes are the connection's: events keep copies.
	Decode(ctx context.Context, walStart uint64, data []byte) error
}

// NewPgoutput decodes pgoutput (see PgoutputArgs) into a.
func NewPgoutput(a *Assembler) Decoder { return newPgoutputDecoder(a) }

// Lookup reads a table's current columns from the catalog: the columns
// pgoutput would send, in table order, and the generated ones.
type Lookup func(ctx context.Context, schema, table string) (columns []string, generated map[string]bool, err error)

// NewWal2json decodes wal2json (see Wal2jsonArgs) into a. wal2json names
// the columns each record holds, not the table's: lookup gives those when
// a table is first seen or a record names a column it lacks.
func NewWal2json(a *Assembler, lookup Lookup) Decoder {
	return newWal2jsonDecoder(a, func(ctx context.Context, schema, table string) (w2jTable, error) {
		columns, generated, err := lookup(ctx, schema, table)
		return w2jTable{columns: columns, generated: generated}, err
	})
}
