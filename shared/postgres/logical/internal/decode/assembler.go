// Package decode turns the bytes of a logical replication stream into
// record Events: pgoutput's protocol (version 1, with messages) and
// wal2json's format 2, which give the same events for the same WAL. A
// Decoder reads one message at a time into an Assembler, the queue the
// events are taken from.
package decode

import (
	"fmt"
	"slices"

	"github.com/pg2s3/pg2s3/shared/postgres/internal/pg"
	"github.com/pg2s3/pg2s3/shared/record"
)

// Assembler turns what a decoder read into Events: it filters tables,
// holds back Begin until the transaction has something selected, numbers
// changes and announces column lists. Its events wait in a queue that Pop
// takes from.
type Assembler struct {
	tables map[[2]string]bool
	out    []record.Event

	inTx  bool
	begun bool
	begin record.Event
	seq   int64
	shown map[[2]string][]string // column list last announced per table

	commits, lastEnd uint64 // see Commits
}

// NewAssembler keeps only the changes of tables ((schema, table) pairs);
// nil keeps all.
func NewAssembler(tables map[[2]string]bool) *Assembler {
	return &Assembler{tables: tables, shown: map[[2]string][]string{}}
}

func (a *Assembler) selected(schema, table string) bool {
	return a.tables == nil || a.tables[[2]string{schema, table}]
}

func (a *Assembler) beginTx(xid uint32, commitLSN uint64, commitMicros int64) {
	a.inTx, a.begun, a.seq = true, false, 0
	a.begin = record.Event{Kind: record.EventBegin, XID: xid, CommitLSN: commitLSN, CommitTimeMicros: commitMicros}
}

func (a *Assembler) ensureBegun() {
	if a.inTx && !a.begun {
		a.begun = true
		a.out = append(a.out, a.begin)
	}
}

// change adds a row change. cols, when not nil, is the table's current
// column list: a new or different list is announced first.
func (a *Assembler) change(c record.Change, cols []string) {
	if !a.selected(c.Schema, c.Table) {
		return
	}
	a.ensureBegun()
	key := [2]string{c.Schema, c.Table}
	if cols != nil && !slices.Equal(a.shown[key], cols) {
		cols = slices.Clone(cols)
		a.shown[key] = cols
		a.out = append(a.out, record.Event{Kind: record.EventRelation, Schema: c.Schema, Table: c.Table, Columns: cols,
			CommitLSN: a.begin.CommitLSN, XID: a.begin.XID, CommitTimeMicros: a.begin.CommitTimeMicros})
	}
	c.CommitLSN = a.begin.CommitLSN
	c.CommitTimeMicros = a.begin.CommitTimeMicros
	c.Seq = a.seq
	a.seq++
	a.out = append(a.out, record.Event{Kind: record.EventChange, Change: c, Schema: c.Schema, Table: c.Table,
		CommitLSN: a.begin.CommitLSN, XID: a.begin.XID, CommitTimeMicros: a.begin.CommitTimeMicros})
}

func (a *Assembler) message(lsn uint64, transactional bool, prefix string, content []byte) {
	e := record.Event{Kind: record.EventMessage, LSN: lsn, Prefix: prefix, Content: content, Transactional: transactional}
	if transactional && a.inTx {
		a.ensureBegun()
		e.CommitLSN, e.XID, e.CommitTimeMicros = a.begin.CommitLSN, a.begin.XID, a.begin.CommitTimeMicros
	}
	a.out = append(a.out, e)
}

// commit ends the transaction. A commit whose position is not its
// begin's, or that ends before it starts, is refused: the bytes were
// damaged on the way, and a position taken from them could move a
// bookmark, and the slot, past changes never read.
func (a *Assembler) commit(commitLSN, endLSN uint64, commitMicros int64) error {
	if a.inTx && commitLSN != a.begin.CommitLSN {
		return fmt.Errorf("commit at %s of a transaction that began as ending at %s: the stream is damaged", pg.FormatLSN(commitLSN), pg.FormatLSN(a.begin.CommitLSN))
	}
	if endLSN <= commitLSN {
		return fmt.Errorf("commit at %s ends at %s, before it starts: the stream is damaged", pg.FormatLSN(commitLSN), pg.FormatLSN(endLSN))
	}
	if a.inTx && a.begun {
		a.out = append(a.out, record.Event{Kind: record.EventCommit, XID: a.begin.XID, CommitLSN: commitLSN, EndLSN: endLSN, CommitTimeMicros: commitMicros})
	}
	a.inTx, a.begun = false, false
	a.commits++
	a.lastEnd = endLSN
	return nil
}

// Commits counts the commits decoded and gives the end of the last: the
// server sends a commit at its end position, which the log reader checks
// against the message's header.
func (a *Assembler) Commits() (n, lastEnd uint64) { return a.commits, a.lastEnd }

// Pop takes the oldest event not taken yet; false when there is none.
func (a *Assembler) Pop() (record.Event, bool) {
	if len(a.out) == 0 {
		return record.Event{}, false
	}
	e := a.out[0]
	a.out[0] = record.Event{} // the queue's array lets go of the values
	a.out = a.out[1:]
	return e, true
}
