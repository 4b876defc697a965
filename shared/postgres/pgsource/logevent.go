package pgsource

import (
	"slices"

	"github.com/pg2s3/pg2s3/shared/record"
)

// Event, EventKind and the kinds live in package record (the sync engine
// consumes them); these aliases keep pgsource's API self-explanatory.
type (
	// EventKind tells what an Event from the log holds.
	EventKind = record.EventKind
	// Event is one item decoded from the log; both decoders produce the
	// same events for the same WAL.
	Event = record.Event
)

// Event kinds; see record.EventKind.
const (
	EventBegin    = record.EventBegin
	EventChange   = record.EventChange
	EventCommit   = record.EventCommit
	EventRelation = record.EventRelation
	EventMessage  = record.EventMessage
)

// assembler turns decoded messages into Events: it filters tables, holds
// back Begin until the transaction has something selected, numbers changes
// and announces column lists.
type assembler struct {
	tables map[[2]string]bool
	out    []Event

	inTx  bool
	begun bool
	begin Event
	seq   int64
	shown map[[2]string][]string // column list last announced per table
}

func newAssembler(tables map[[2]string]bool) *assembler {
	return &assembler{tables: tables, shown: map[[2]string][]string{}}
}

func (a *assembler) selected(schema, table string) bool {
	return a.tables == nil || a.tables[[2]string{schema, table}]
}

func (a *assembler) beginTx(xid uint32, commitLSN uint64, commitMicros int64) {
	a.inTx, a.begun, a.seq = true, false, 0
	a.begin = Event{Kind: EventBegin, XID: xid, CommitLSN: commitLSN, CommitTimeMicros: commitMicros}
}

func (a *assembler) ensureBegun() {
	if a.inTx && !a.begun {
		a.begun = true
		a.out = append(a.out, a.begin)
	}
}

// change adds a row change. cols, when not nil, is the table's current
// column list: a new or different list is announced first.
func (a *assembler) change(c record.Change, cols []string) {
	if !a.selected(c.Schema, c.Table) {
		return
	}
	a.ensureBegun()
	key := [2]string{c.Schema, c.Table}
	if cols != nil && !slices.Equal(a.shown[key], cols) {
		cols = slices.Clone(cols)
		a.shown[key] = cols
		a.out = append(a.out, Event{Kind: EventRelation, Schema: c.Schema, Table: c.Table, Columns: cols,
			CommitLSN: a.begin.CommitLSN, XID: a.begin.XID, CommitTimeMicros: a.begin.CommitTimeMicros})
	}
	c.CommitLSN = a.begin.CommitLSN
	c.CommitTimeMicros = a.begin.CommitTimeMicros
	c.Seq = a.seq
	a.seq++
	a.out = append(a.out, Event{Kind: EventChange, Change: c, Schema: c.Schema, Table: c.Table,
		CommitLSN: a.begin.CommitLSN, XID: a.begin.XID, CommitTimeMicros: a.begin.CommitTimeMicros})
}

func (a *assembler) message(lsn uint64, transactional bool, prefix string, content []byte) {
	e := Event{Kind: EventMessage, LSN: lsn, Prefix: prefix, Content: content, Transactional: transactional}
	if transactional && a.inTx {
		a.ensureBegun()
		e.CommitLSN, e.XID, e.CommitTimeMicros = a.begin.CommitLSN, a.begin.XID, a.begin.CommitTimeMicros
	}
	a.out = append(a.out, e)
}

func (a *assembler) commit(commitLSN, endLSN uint64, commitMicros int64) {
	if a.inTx && a.begun {
		a.out = append(a.out, Event{Kind: EventCommit, XID: a.begin.XID, CommitLSN: commitLSN, EndLSN: endLSN, CommitTimeMicros: commitMicros})
	}
	a.inTx, a.begun = false, false
}
