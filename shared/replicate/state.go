package replicate

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/pg2s3/pg2s3/shared/bookmark"
	"github.com/pg2s3/pg2s3/shared/layout"
)

// Reset clears a stream's progress and starts a new table version; the
// next run copies it again. known lists the streams a user may name.
func Reset(ctx context.Context, bms Bookmarks, stream string, known []string, now time.Time) (bookmark.State, error) {
	found := false
	for _, k := range known {
		found = found || k == stream
	}
	cur, err := bms.Get(ctx, stream)
	if err != nil {
		return bookmark.State{}, err
	}
	if !found && cur.Rev == 0 {
		sort.Strings(known)
		return bookmark.State{}, fmt.Errorf("unknown stream %q; known streams: %s", stream, strings.Join(known, ", "))
	}
	next := bookmark.Reset(cur.State, now)
	next.UpdatedAt = now
	if _, err := bms.Put(ctx, stream, next, cur.Rev); err != nil {
		return bookmark.State{}, fmt.Errorf("reset %s: %w", stream, err)
	}
	return next, nil
}

// ResetSlot restarts a slot's bookmark and every log-based stream's, after
// the slot itself was dropped: the streams copy again, each from a new
// start position, and the slot's batch numbers go on, so a new batch never
// lands on the keys of the old slot's manifests under _wal/<slot>/. It
// returns how many streams it reset.
func ResetSlot(ctx context.Context, bms Bookmarks, slot string, now time.Time) (int, error) {
	all, err := bms.All(ctx)
	if err != nil {
		return 0, err
	}
	if v, ok := all[layout.SlotBookmarkID(slot)]; ok {
		fresh := bookmark.State{Seq: v.State.Seq, UpdatedAt: now}
		if _, err := bms.Put(ctx, layout.SlotBookmarkID(slot), fresh, v.Rev); err != nil {
			return 0, fmt.Errorf("reset slot %s: %w", slot, err)
		}
	}
	n := 0
	for id, v := range all {
		if v.State.Method != layout.LogBased {
			continue
		}
		if _, err := bms.Put(ctx, id, bookmark.Reset(v.State, now), v.Rev); err != nil {
			return n, fmt.Errorf("reset %s: %w", id, err)
		}
		n++
	}
	return n, nil
}

// SingerState is tap-postgres' STATE document.
type SingerState struct {
	CurrentlySyncing *string                   `json:"currently_syncing"`
	Bookmarks        map[string]SingerBookmark `json:"bookmarks"`
}

// SingerBookmark is one stream's tap-postgres bookmark, plus pg2s3's own
// state under "pg2s3" so an export re-imports without loss.
type SingerBookmark struct {
	Version               int64           `json:"version,omitempty"`
	LastReplicationMethod string          `json:"last_replication_method,omitempty"`
	ReplicationKey        string          `json:"replication_key,omitempty"`
	ReplicationKeyValue   json.RawMessage `json:"replication_key_value,omitempty"`
	LSN                   uint64          `json:"lsn,omitempty"`
	Xmin                  json.RawMessage `json:"xmin,omitempty"`
	Pg2s3                 *bookmark.State `json:"pg2s3,omitempty"`
}

// ExportState renders every bookmark as a tap-postgres STATE document.
func ExportState(ctx context.Context, bms Bookmarks) (*SingerState, error) {
	all, err := bms.All(ctx)
	if err != nil {
		return nil, fmt.Errorf("export state: %w", err)
	}
	var committed uint64
	for id, v := range all {
		if _, isSlot := layout.ParseSlotBookmarkID(id); isSlot && v.State.CommittedLSN > committed {
			committed = v.State.CommittedLSN
		}
	}
	out := &SingerState{Bookmarks: map[string]SingerBookmark{}}
	for id, v := range all {
		if !layout.IsStreamID(id) {
			continue
		}
		st := v.State
		b := ToSingerBookmark(st, committed)
		b.Pg2s3 = &st
		out.Bookmarks[id] = b
	}
	return out, nil
}

// ToSingerBookmark renders one stream's bookmark in tap-postgres' form:
// version and last_replication_method, plus replication_key and
// replication_key_value (INCREMENTAL) or lsn (LOG_BASED: the later of the
// stream's start position and committed, the slot's last committed LSN).
// It leaves the pg2s3 extension out: tap-postgres rejects unknown keys in
// an INCREMENTAL bookmark.
func ToSingerBookmark(st bookmark.State, committed uint64) SingerBookmark {
	b := SingerBookmark{Version: st.Version, LastReplicationMethod: string(st.Method)}
	switch st.Method {
	case layout.Incremental:
		b.ReplicationKey = st.ReplicationKey
		if st.ReplicationKeyValue != nil {
			b.ReplicationKeyValue, _ = json.Marshal(*st.ReplicationKeyValue)
		}
	case layout.LogBased:
		b.LSN = max(st.StartLSN, committed)
	}
	return b
}

// ImportState loads a tap-postgres (or pg2s3) STATE document. Streams
// whose tap-postgres copy was unfinished (an xmin bookmark) restart their
// copy as a keyset copy in the same table version.
func ImportState(ctx context.Context, bms Bookmarks, doc []byte, now time.Time) ([]string, error) {
	var s SingerState
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("import state: not a STATE document: %w", err)
	}
	var imported []string
	ids := make([]string, 0, len(s.Bookmarks))
	for id := range s.Bookmarks {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		b := s.Bookmarks[id]
		st, err := fromSinger(id, b, now)
		if err != nil {
			return imported, err
		}
		cur, err := bms.Get(ctx, id)
		if err != nil {
			return imported, err
		}
		if _, err := bms.Put(ctx, id, st, cur.Rev); err != nil {
			return imported, fmt.Errorf("import %s: %w", id, err)
		}
		imported = append(imported, id)
	}
	return imported, nil
}

func fromSinger(id string, b SingerBookmark, now time.Time) (bookmark.State, error) {
	if b.Pg2s3 != nil {
		return *b.Pg2s3, nil
	}
	method := layout.Method(strings.ToUpper(b.LastReplicationMethod))
	st := bookmark.State{Method: method, Version: b.Version, UpdatedAt: now}
	if st.Version == 0 {
		st.Version = bookmark.NewVersion(0, now)
	}
	unfinished := len(b.Xmin) > 0 && string(b.Xmin) != "null"
	switch method {
	case layout.FullTable:
		st.CopyDone = !unfinished
	case layout.Incremental:
		if b.ReplicationKey == "" {
			return st, fmt.Errorf("import %s: INCREMENTAL bookmark without replication_key", id)
		}
		st.ReplicationKey = b.ReplicationKey
		if len(b.ReplicationKeyValue) > 0 && string(b.ReplicationKeyValue) != "null" {
			v := scalarText(b.ReplicationKeyValue)
			st.ReplicationKeyValue = &v
		}
	case layout.LogBased:
		st.StartLSN = b.LSN
		st.CopyDone = !unfinished && b.LSN > 0
	default:
		return st, fmt.Errorf("import %s: last_replication_method %q is not FULL_TABLE, INCREMENTAL or LOG_BASED", id, b.LastReplicationMethod)
	}
	return st, nil
}

// scalarText returns a JSON scalar's text: strings unquoted, numbers as
// written.
func scalarText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}
