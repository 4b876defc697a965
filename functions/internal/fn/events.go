package fn

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// SyncEvent is the sync function's input: the streams of its schedule
// group (empty: every selected FULL_TABLE and INCREMENTAL stream), or one
// step of a parallel copy (parallel.go): {"plan": id}, {"stream": id,
// "range": n} or {"activate": id}.
type SyncEvent struct {
	Streams    []string `json:"streams,omitempty"`
	MaxBatches int      `json:"max_batches,omitempty"`
	Plan       string   `json:"plan,omitempty"`
	Stream     string   `json:"stream,omitempty"`
	Range      *int     `json:"range,omitempty"`
	Owner      string   `json:"owner,omitempty"`
	Activate   string   `json:"activate,omitempty"`
}

// WalEvent is the wal function's input (a scheduled drain needs none).
type WalEvent struct {
	Streams []string `json:"streams,omitempty"`
}

// ResetEvent resets one stream, or the slot with confirm, or prunes table
// versions no reader needs (keeping the newest Keep activated ones).
type ResetEvent struct {
	Stream  string `json:"stream,omitempty"`
	Slot    bool   `json:"slot,omitempty"`
	Confirm bool   `json:"confirm,omitempty"`
	Prune   bool   `json:"prune,omitempty"`
	Keep    int    `json:"keep,omitempty"`
}

// MaterializeEvent is the materialize function's input: the streams
// whose Iceberg tables to bring up to date (empty: every selected
// stream), or with Maintain their tables' compaction and snapshot
// expiry instead (snapshots older than SnapshotAgeSeconds, default a
// day, beyond the newest KeepSnapshots, default 1, are expired).
type MaterializeEvent struct {
	Streams            []string `json:"streams,omitempty"`
	Maintain           bool     `json:"maintain,omitempty"`
	SnapshotAgeSeconds int      `json:"snapshot_age_seconds,omitempty"`
	KeepSnapshots      int      `json:"keep_snapshots,omitempty"`
}

// Validate checks a materialize event.
func (e MaterializeEvent) Validate() error {
	switch {
	case e.SnapshotAgeSeconds < 0 || e.KeepSnapshots < 0:
		return fmt.Errorf("materialize event: \"snapshot_age_seconds\" and \"keep_snapshots\" are positive")
	case !e.Maintain && (e.SnapshotAgeSeconds > 0 || e.KeepSnapshots > 0):
		return fmt.Errorf("materialize event: \"snapshot_age_seconds\" and \"keep_snapshots\" go with \"maintain\": true")
	}
	return nil
}

// DiscoverEvent refreshes the catalog.
type DiscoverEvent struct{}

// Decode reads an event strictly: unknown keys are an error that names
// them, so a typo in a manual invoke does not silently do something else.
func Decode(payload []byte, v any) error {
	if len(bytes.TrimSpace(payload)) == 0 || string(bytes.TrimSpace(payload)) == "null" {
		payload = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("event: %w (see events/ for the expected shapes)", err)
	}
	return nil
}

// Validate checks a reset event.
func (e ResetEvent) Validate() error {
	n := 0
	for _, given := range []bool{e.Stream != "", e.Slot, e.Prune} {
		if given {
			n++
		}
	}
	switch {
	case n > 1:
		return fmt.Errorf("reset event: give one of \"stream\", \"slot\" or \"prune\"")
	case n == 0:
		return fmt.Errorf("reset event: give {\"stream\": \"<tap_stream_id>\"}, {\"slot\": true, \"confirm\": true} or {\"prune\": true, \"keep\": 1}")
	case e.Keep < 0 || e.Keep > 0 && !e.Prune:
		return fmt.Errorf("reset event: \"keep\" is the number of versions a prune keeps (1 or more)")
	case e.Slot && !e.Confirm:
		return fmt.Errorf("reset event: a slot reset drops the slot and re-copies every log-based stream: add \"confirm\": true")
	}
	return nil
}
