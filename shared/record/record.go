// Package record holds the types every package speaks: a stream's shape,
// the rows read from a table and the changes read from a replication slot.
// Values travel in PostgreSQL's text output form (what COPY and pgoutput
// send); package encode turns them into JSON exactly once, so a row read by
// a table scan and the same row read from the WAL encode identically.
package record

import (
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/pg2s3/pg2s3/shared/layout"
)

// Column is one replicated column of a stream.
type Column struct {
	Name string
	// SQLType is the column's type as format_type() prints it, e.g.
	// "numeric(10,2)", "timestamp with time zone", "integer[]".
	SQLType string
	// Kind is the encoding class chosen by catalog for this type.
	Kind Kind
	// Dims is the array dimension count (0 for scalars); Kind then names the
	// element kind.
	Dims int
}

// Kind tells package encode how to turn a value's text form into JSON.
type Kind uint8

const (
	KindString      Kind = iota // JSON string of the text form
	KindInteger                 // JSON number, text form copied
	KindNumber                  // numeric/float: JSON number; NaN and ±Infinity as strings
	KindBool                    // t/f -> true/false
	KindBit1                    // bit(1): 1/0 -> true/false
	KindJSON                    // json/jsonb: embedded as JSON
	KindTimestamp               // timestamp without time zone -> RFC 3339 UTC
	KindTimestampTZ             // timestamp with time zone -> RFC 3339 UTC
	KindDate                    // date -> RFC 3339 midnight UTC
	KindBytea                   // bytea (hex text form) -> base64 JSON string
	KindHstore                  // hstore -> JSON object
	KindUnsupported             // not replicated
)

// Stream is what a run knows about one selected stream.
type Stream struct {
	ID      string // tap_stream_id: <dbname>-<schema>-<table>
	Schema  string
	Table   string
	Columns []Column // selected columns, in table order
	// KeyColumns are the primary key columns (table-key-properties).
	KeyColumns []string
	IsView     bool
	Method     layout.Method // FULL_TABLE, INCREMENTAL, LOG_BASED
	// ReplicationKey is the INCREMENTAL stream's ordering column.
	ReplicationKey string
	// ReplicationKeyIndexed says an index leads with the replication key,
	// so pages in (key, primary key) order are index range scans.
	ReplicationKeyIndexed bool
	// JSONSchema is the stream's schema as discovered (for manifests).
	JSONSchema map[string]any
	// RowEstimate is pg_class.reltuples at discovery (for progress).
	RowEstimate int64
	// Skipped are the live table's columns not replicated: not selected
	// in the catalog, of a type pg2s3 cannot encode, or added after
	// discovery to a table whose select-new-columns is false. A column in
	// neither Columns nor Skipped was added after the stream was resolved.
	Skipped []string
	// NewColumns are the live columns the catalog did not list when the
	// stream was resolved (added after discovery): in Columns when the
	// table selects new columns, else in Skipped.
	NewColumns []string
	// SelectNewColumns is the catalog's select-new-columns for the table.
	SelectNewColumns bool
}

// ColumnNames returns the names of s.Columns, in order.
func (s *Stream) ColumnNames() []string {
	names := make([]string, len(s.Columns))
	for i, c := range s.Columns {
		names[i] = c.Name
	}
	return names
}

// ColumnIndex returns the position of name in s.Columns, or -1.
// Knows says whether name is a column of the stream as resolved:
// replicated or skipped.
func (s *Stream) Knows(name string) bool {
	return s.ColumnIndex(name) >= 0 || slices.Contains(s.Skipped, name)
}

func (s *Stream) ColumnIndex(name string) int {
	for i, c := range s.Columns {
		if c.Name == name {
			return i
		}
	}
	return -1
}

// Op is the kind of a change read from the log.
type Op uint8

const (
	Insert Op = iota + 1
	Update
	Delete
	Truncate
)

func (o Op) String() string {
	switch o {
	case Insert:
		return "insert"
	case Update:
		return "update"
	case Delete:
		return "delete"
	case Truncate:
		return "truncate"
	}
	return fmt.Sprintf("op(%d)", uint8(o))
}

// Value is one column value in text form. Null and Unchanged (an unchanged
// TOASTed value that the log does not carry) have no text.
type Value struct {
	Text      []byte
	Null      bool
	Unchanged bool
}

// Change is one row-level change decoded from a logical replication slot.
type Change struct {
	Op     Op
	Schema string
	Table  string
	// Columns and Values are parallel: the columns the message carries.
	Columns []string
	Values  []Value
	// LSN is the position of the change's own WAL record; CommitLSN the end
	// of its transaction. Changes are ordered by (CommitLSN, Seq).
	LSN       uint64
	CommitLSN uint64
	// Seq is the change's position inside its transaction (0-based).
	Seq int64
	// CommitTime is the transaction's commit time (microsecond precision).
	CommitTimeMicros int64
	// Old, on an update whose message carried the row's old replica
	// identity (its key changed, or REPLICA IDENTITY FULL), holds the old
	// values of the identity columns the update changed (Columns and
	// Values only; nil when it changed none). When a key column is among
	// them, the drain writes a delete of the old key before the update,
	// so that a merge by key does not keep the row under its old key too.
	Old *Change
}

// Tables returns the (schema, table) pair of each stream.
func Tables(streams []*Stream) [][2]string {
	t := make([][2]string, 0, len(streams))
	for _, s := range streams {
		t = append(t, [2]string{s.Schema, s.Table})
	}
	return t
}

// ObjectInfo describes an object committed to a sink.
type ObjectInfo struct {
	Key    string `json:"key"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
}

// ObjectWriter is one object being written to a sink. Nothing is visible
// under its key until Commit succeeds, which returns what was stored; a
// failed Commit, or Abort, leaves no object (or the one there before) and
// nothing half-uploaded. Abort after Commit does nothing.
type ObjectWriter interface {
	io.Writer
	Commit() (ObjectInfo, error)
	Abort()
}

// Errors that sinks return and callers branch on.
var (
	ErrExists   = errors.New("object already exists")
	ErrNotFound = errors.New("object not found")
)

// PageQuery describes one ordered read of a stream.
type PageQuery struct {
	Stream *Stream
	// After is the text form of the last key read (keyset order over
	// Stream.KeyColumns); nil starts at the beginning.
	After []string
	// Upto, when set, ends the keyset read at this key (inclusive).
	Upto []string
	// From, for INCREMENTAL streams, reads rows whose replication key is
	// at least this value, in replication key order; with After too, the
	// rows strictly after (From, After) in (key, primary key) order.
	From *string
	// Limit, when set, reads at most this many rows (keyset pages).
	Limit int
}

// ErrStopPage, returned by a page callback, ends the page cleanly.
var ErrStopPage = errors.New("stop page")
