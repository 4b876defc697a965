package materialize

import (
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/apache/iceberg-go/table"

	"github.com/pg2s3/pg2s3/shared/bookmark"
	"github.com/pg2s3/pg2s3/shared/layout"
)

// Snapshot summary and table properties the materializer writes.
const (
	// propPosition, in every snapshot summary the materializer commits,
	// is the Position after the batches that snapshot applied.
	propPosition = "pg2s3.position"
	// propStream, a table property, is the stream the table materializes.
	propStream = "pg2s3.stream"
)

// Position is how far into a stream's committed batches a table is: the
// table version it holds, the next copy batch to apply (an INCREMENTAL
// version's batches; a FULL_TABLE or LOG_BASED copy is committed whole,
// CopyDone, even when staged over several runs: the bookmark's
// bookmark.Staging, not the Position, says how far that got), and for LOG_BASED the slot batch last applied: its slot,
// the next slot sequence, and the slot bookmark after it (the log
// position, which orders slot batches whatever the slot's name).
type Position struct {
	Version          int64  `json:"table_version"`
	CopySeq          int64  `json:"copy_seq"`
	CopyDone         bool   `json:"copy_done,omitempty"`
	Slot             string `json:"slot,omitempty"`
	SlotSeq          int64  `json:"slot_seq,omitempty"`
	CommittedLSN     uint64 `json:"committed_lsn,omitempty"`
	PartialCommitLSN uint64 `json:"partial_commit_lsn,omitempty"`
	PartialLSN       uint64 `json:"partial_lsn,omitempty"`
}

// logKey orders log positions: inside a transaction by its commit and
// the change, else at the end of the committed one.
func logKey(committed, partialCommit, partial uint64) [2]uint64 {
	if partialCommit != 0 {
		return [2]uint64{partialCommit, partial}
	}
	return [2]uint64{committed, math.MaxUint64}
}

func less(a, b [2]uint64) bool { return a[0] < b[0] || a[0] == b[0] && a[1] < b[1] }

// Before says p is strictly behind q.
func (p Position) Before(q Position) bool {
	if p.Version != q.Version {
		return p.Version < q.Version
	}
	if p.CopyDone != q.CopyDone {
		return !p.CopyDone
	}
	if p.CopySeq != q.CopySeq {
		return p.CopySeq < q.CopySeq
	}
	return less(logKey(p.CommittedLSN, p.PartialCommitLSN, p.PartialLSN), logKey(q.CommittedLSN, q.PartialCommitLSN, q.PartialLSN))
}

// State is the position as the materializer's bookmark item holds it.
func (p Position) State(now time.Time) bookmark.State {
	return bookmark.State{Method: layout.Materialize, Version: p.Version, Seq: p.CopySeq, CopyDone: p.CopyDone,
		CommittedLSN: p.CommittedLSN, PartialCommitLSN: p.PartialCommitLSN, PartialLSN: p.PartialLSN, UpdatedAt: now}
}

// fromState reads a bookmark item back (without the slot's name and
// sequence, which only the table's snapshot keeps).
func fromState(st bookmark.State) Position {
	return Position{Version: st.Version, CopySeq: st.Seq, CopyDone: st.CopyDone,
		CommittedLSN: st.CommittedLSN, PartialCommitLSN: st.PartialCommitLSN, PartialLSN: st.PartialLSN}
}

// sameState says the bookmark item says p, ignoring the fields only the
// snapshot has.
func sameState(st bookmark.State, p Position) bool {
	q := fromState(st)
	p.Slot, p.SlotSeq = "", 0
	return q == p
}

// tablePosition returns the position the table's current snapshot
// recorded; ok is false for a table without one (new, or never written
// by the materializer).
func tablePosition(tbl *table.Table) (Position, bool, error) {
	snap := tbl.CurrentSnapshot()
	if snap == nil || snap.Summary == nil {
		return Position{}, false, nil
	}
	raw, ok := snap.Summary.Properties[propPosition]
	if !ok {
		return Position{}, false, fmt.Errorf("the current snapshot (%d) of the table was not written by pg2s3 materialize (no %s): another writer changed the table", snap.SnapshotID, propPosition)
	}
	var p Position
	if err := json.Unmarshal([]byte(raw), &p); err != nil {
		return Position{}, false, fmt.Errorf("snapshot %d: %s: %w", snap.SnapshotID, propPosition, err)
	}
	return p, true, nil
}

func (p Position) summary() string {
	b, _ := json.Marshal(p)
	return string(b)
}
