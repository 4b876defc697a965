// Package bookmark is the per-stream state machine: what a stream has
// replicated and where its next batch starts. It is pure: no I/O. Stores
// persist a State as JSON, and only the functions here move it.
package bookmark

import (
	"errors"
	"time"

	"github.com/pg2s3/pg2s3/shared/layout"
)

// State is one stream's bookmark. Fields unused by a method stay zero.
type State struct {
	Method layout.Method `json:"method"`
	// Version is the table version (milliseconds since the epoch when it
	// began, as tap-postgres does); a reset or a new full copy bumps it.
	Version int64 `json:"version"`
	// Seq is the sequence number of the next batch within Version.
	Seq int64 `json:"seq"`

	// Keyset progress (full table and the log-based initial copy): the key
	// columns and the text form of the last key written.
	KeyColumns []string `json:"key_columns,omitempty"`
	LastKey    []string `json:"last_key,omitempty"`
	// UpperKey is the largest key when the copy began: the copy reads up
	// to it, so it ends even while rows are inserted faster than it reads
	// (later rows come from the log, or with the next version).
	UpperKey []string `json:"upper_key,omitempty"`
	// CopyDone says the (initial) copy of Version finished.
	CopyDone bool `json:"copy_done,omitempty"`
	// Ranges, on a stream's bookmark, says its copy of Version is split
	// into this many ranges (a parallel copy), each a bookmark of its own
	// (layout.RangeBookmarkID) with its keyset position in LastKey, its
	// end in UpperKey and its batches numbered from layout.RangeFirstSeq;
	// the stream's CopyDone is set once every range is done.
	Ranges int `json:"ranges,omitempty"`

	// Key-based incremental: the replication key and the text form of the
	// largest value written.
	ReplicationKey      string  `json:"replication_key,omitempty"`
	ReplicationKeyValue *string `json:"replication_key_value,omitempty"`

	// Log-based: StartLSN is the slot position recorded before the initial
	// copy; changes committed at or after it are applied after the copy.
	// A version begun by a TRUNCATE starts inside the truncating
	// transaction: StartLSN is its commit and StartAfter the truncate's
	// own LSN, so that transaction's earlier changes (and the truncate)
	// are before it.
	StartLSN   uint64 `json:"start_lsn,omitempty"`
	StartAfter uint64 `json:"start_after,omitempty"`

	// Slot drains (the layout.SlotBookmarkID bookmark, method
	// layout.SlotDrain): CommittedLSN is the end of the last transaction
	// written in full, the position the slot may be acknowledged to. A
	// batch that ended inside a transaction leaves PartialCommitLSN (that
	// transaction's commit LSN) and PartialLSN (its last change written);
	// the next drain skips those changes.
	CommittedLSN     uint64 `json:"committed_lsn,omitempty"`
	PartialCommitLSN uint64 `json:"partial_commit_lsn,omitempty"`
	PartialLSN       uint64 `json:"partial_lsn,omitempty"`
	// PartialRuns counts the consecutive runs that the deadline cut off
	// at one place in the log: inside the transaction PartialCommitLSN,
	// or before the server sent anything of the transaction after
	// CommittedLSN. A transaction too large to read within one bounded run
	// keeps it growing, and the wal function hands the slot to the task
	// (no deadline) once it reaches replicate.EscalateAfter.
	PartialRuns int `json:"partial_runs,omitempty"`

	// Staging, on a materializer's bookmark (layout.Materialize), is a
	// replacement of the table by a newer version that runs are writing
	// into data files without committing them yet.
	Staging *Staging `json:"staging,omitempty"`

	// UpdatedAt is when the bookmark last moved (informational).
	UpdatedAt time.Time `json:"updated_at,omitzero"`
}

// Staging is how far a materializer's replacement of its table by a newer
// version got: the copy batches before Seq are written into data files
// the table does not reference yet, listed in Lists small JSON objects
// next to the table (the list of paths grows with the copy, the item
// stays small). The replacement commits them in one snapshot once every
// copy batch is staged.
type Staging struct {
	// Version is the table version being staged, Seq the sequence of its
	// next copy batch to stage.
	Version int64 `json:"version"`
	Seq     int64 `json:"seq"`
	// Lists is the number of file lists written (numbered from 0), Files
	// and Rows what they hold.
	Lists int   `json:"lists"`
	Files int   `json:"files"`
	Rows  int64 `json:"rows"`
	// SchemaID is the table schema the files were written with: a schema
	// change starts the staging over.
	SchemaID int `json:"schema_id"`
}

// Phase is where a stream is in its life, read from its State (stores
// keep only the State, so bookmarks written before phases existed have one
// too). A stream goes initial → copying → log (LOG_BASED), initial →
// copying → copied (FULL_TABLE, then a new version starts), or initial →
// incremental (INCREMENTAL).
type Phase uint8

const (
	// PhaseInitial: nothing of the current version is written yet (a
	// LOG_BASED stream has no start position in the slot yet).
	PhaseInitial Phase = iota
	// PhaseCopying: the version's copy is under way (a LOG_BASED stream
	// has its start position; changes after it wait in the slot).
	PhaseCopying
	// PhaseCopied: a FULL_TABLE copy finished; the next run begins a new
	// version.
	PhaseCopied
	// PhaseIncremental: INCREMENTAL reads rows from the replication key's
	// last value on.
	PhaseIncremental
	// PhaseLog: a LOG_BASED copy finished; the stream follows the slot.
	PhaseLog
)

var phaseNames = [...]string{"initial", "copying", "copied", "incremental", "log"}

func (p Phase) String() string {
	if int(p) < len(phaseNames) {
		return phaseNames[p]
	}
	return "unknown"
}

// Phase reads the stream's phase from s.
func (s State) Phase() Phase {
	switch s.Method {
	case layout.Incremental:
		if s.ReplicationKeyValue != nil || s.Seq > 0 {
			return PhaseIncremental
		}
		return PhaseInitial
	case layout.LogBased:
		// Without a start position nothing ties the copy to the slot yet,
		// however far it got: the next run records one.
		switch {
		case s.StartLSN == 0:
			return PhaseInitial
		case s.CopyDone:
			return PhaseLog
		}
		return PhaseCopying
	}
	switch {
	case s.CopyDone:
		return PhaseCopied
	case s.Seq > 0 || len(s.LastKey) > 0 || s.Ranges > 0:
		return PhaseCopying
	}
	return PhaseInitial
}

// Before says whether a change (its transaction's commit LSN and its own
// LSN) comes before the version's start: its copy, or the TRUNCATE that
// began it, already holds (or wiped) it.
func (s State) Before(commitLSN, lsn uint64) bool {
	return commitLSN < s.StartLSN || commitLSN == s.StartLSN && s.StartAfter != 0 && lsn <= s.StartAfter
}

// Versioned is a State with the store's version number, for conditional
// writes: Rev 0 means the stream has no bookmark yet.
type Versioned struct {
	State State
	Rev   int64
}

// ErrMethodChanged is returned by Begin when the catalog's method or
// replication key differs from the bookmark's; the stream then starts over.
var ErrMethodChanged = errors.New("replication method or key changed")

// NewVersion returns a table version after prev, based on now.
func NewVersion(prev int64, now time.Time) int64 {
	v := now.UnixMilli()
	if v <= prev {
		v = prev + 1
	}
	return v
}

// Begin returns the state a run starts from for a stream with the given
// method and replication key, and whether a new table version begins.
// A stream with no bookmark, or one whose method or key changed, starts a
// new version; a full-table stream whose copy finished starts a new
// version too (each finished copy is followed by a fresh one, like
// tap-postgres' ACTIVATE_VERSION).
func Begin(prev State, exists bool, method layout.Method, replicationKey string, keyColumns []string, now time.Time) (State, bool) {
	if exists && prev.Method == method && prev.ReplicationKey == replicationKey {
		if method == layout.FullTable && prev.CopyDone {
			return fresh(prev.Version, method, replicationKey, keyColumns, now), true
		}
		return prev, false
	}
	return fresh(prev.Version, method, replicationKey, keyColumns, now), true
}

func fresh(prevVersion int64, method layout.Method, rk string, keys []string, now time.Time) State {
	return State{
		Method:         method,
		Version:        NewVersion(prevVersion, now),
		KeyColumns:     append([]string(nil), keys...),
		ReplicationKey: rk,
	}
}

// Reset returns the state after a table-level reset: a new version whose
// copy starts from the beginning. The method is kept so the next run does
// not treat it as a method change.
func Reset(prev State, now time.Time) State {
	return State{
		Method:         prev.Method,
		Version:        NewVersion(prev.Version, now),
		KeyColumns:     prev.KeyColumns,
		ReplicationKey: prev.ReplicationKey,
	}
}

// Page moves the bookmark past one committed batch of a keyset copy.
func (s State) Page(lastKey []string, done bool, now time.Time) State {
	s.Seq++
	if lastKey != nil {
		s.LastKey = append([]string(nil), lastKey...)
	}
	s.CopyDone = done
	if done {
		s.LastKey, s.UpperKey = nil, nil
	}
	s.UpdatedAt = now
	return s
}

// Increment moves an incremental bookmark past one committed batch: the
// largest replication key value written and the key of its last row (the
// tie-breaker within a run).
func (s State) Increment(value *string, lastKey []string, now time.Time) State {
	s.Seq++
	if value != nil {
		v := *value
		s.ReplicationKeyValue = &v
	}
	s.LastKey = append([]string(nil), lastKey...)
	s.UpdatedAt = now
	return s
}

// Errors that bookmark stores return and callers branch on.
var (
	ErrConflict  = errors.New("bookmark was moved by another writer")
	ErrLeaseHeld = errors.New("another run holds the lease (already running)")
)
