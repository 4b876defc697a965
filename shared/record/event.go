package record

import (
	"context"
	"fmt"
)

// Log is an open logical replication stream of a slot.
type Log interface {
	// Next returns the next event; it returns ctx's error when ctx ends,
	// so a short deadline tells "nothing more to read".
	Next(ctx context.Context) (Event, error)
	// Ack confirms to the server that everything before flushLSN is
	// durable: the slot may then release that WAL.
	Ack(ctx context.Context, flushLSN uint64) error
	// Close ends the stream.
	Close(ctx context.Context) error
}

// EventKind tells what an Event from the log holds.
type EventKind uint8

const (
	// EventBegin starts a transaction that has selected changes or messages.
	EventBegin EventKind = iota + 1
	// EventChange carries one row change (Event.Change).
	EventChange
	// EventCommit ends the transaction; acknowledge Event.EndLSN once all
	// of it is durable.
	EventCommit
	// EventRelation announces a table's column list: the first time the
	// table's inserts or updates appear in a reader, and whenever the list
	// changes. It precedes the change that uses the new list.
	EventRelation
	// EventMessage is a logical decoding message (pg_logical_emit_message),
	// such as a heartbeat.
	EventMessage
)

func (k EventKind) String() string {
	switch k {
	case EventBegin:
		return "begin"
	case EventChange:
		return "change"
	case EventCommit:
		return "commit"
	case EventRelation:
		return "relation"
	case EventMessage:
		return "message"
	}
	return fmt.Sprintf("event(%d)", uint8(k))
}

// Event is one item decoded from the log. Both decoders (pgoutput and
// wal2json) produce the same events for the same WAL. Transactions without
// a selected change or message produce no events at all.
type Event struct {
	Kind   EventKind
	Change Change // EventChange
	// CommitLSN is the LSN of the transaction's commit record (Begin,
	// Change, Commit, transactional Message); every change carries it too.
	CommitLSN uint64
	// EndLSN (Commit) is the position just past the commit record: the
	// flush position to acknowledge once the transaction is durable.
	// Acknowledging CommitLSN instead would replay the transaction.
	EndLSN           uint64
	CommitTimeMicros int64
	XID              uint32
	// Schema, Table and Columns describe a Relation event; Schema and
	// Table are also set for Change events.
	Schema, Table string
	Columns       []string
	// Message fields: its own LSN, prefix, content and whether it belongs
	// to a transaction.
	LSN           uint64
	Prefix        string
	Content       []byte
	Transactional bool
}
