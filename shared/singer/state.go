package singer

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
	"github.com/pg2s3/pg2s3/shared/replicate"
)

// State is tap-postgres' STATE document.
type State struct {
	CurrentlySyncing *string             `json:"currently_syncing"`
	Bookmarks        map[string]Bookmark `json:"bookmarks"`
}

// Bookmark is one stream's tap-postgres bookmark, plus pg2s3's own state
// under "pg2s3" so an export re-imports without loss.
type Bookmark struct {
	Version               int64           `json:"version,omitempty"`
	LastReplicationMethod string          `json:"last_replication_method,omitempty"`
	ReplicationKey        string          `json:"replication_key,omitempty"`
	ReplicationKeyValue   json.RawMessage `json:"replication_key_value,omitempty"`
	LSN                   uint64          `json:"lsn,omitempty"`
	Xmin                  json.RawMessage `json:"xmin,omitempty"`
	Pg2s3                 *bookmark.State `json:"pg2s3,omitempty"`
}

// ExportState renders every bookmark as a tap-postgres STATE document.
func ExportState(ctx context.Context, bms replicate.Bookmarks) (*State, error) {
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
	out := &State{Bookmarks: map[string]Bookmark{}}
	for id, v := range all {
		if !layout.IsStreamID(id) {
			continue
		}
		st := v.State
		b := tapBookmark(st, committed)
		b.Pg2s3 = &st
		out.Bookmarks[id] = b
	}
	return out, nil
}

// tapBookmark renders one stream's bookmark in tap-postgres' form:
// version and last_replication_method, plus replication_key and
// replication_key_value (INCREMENTAL) or lsn (LOG_BASED: the later of the
// stream's start position and committed, the slot's last committed LSN).
// It leaves the pg2s3 extension out: tap-postgres rejects unknown keys in
// an INCREMENTAL bookmark.
func tapBookmark(st bookmark.State, committed uint64) Bookmark {
	b := Bookmark{Version: st.Version, LastReplicationMethod: string(st.Method)}
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
func ImportState(ctx context.Context, bms replicate.Bookmarks, doc []byte, now time.Time) ([]string, error) {
	var s State
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
		st, err := fromTap(id, b, now)
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

// fromTap is the pg2s3 bookmark of stream id that b, a tap-postgres
// bookmark, stands for; b's pg2s3 extension when it has one.
func fromTap(id string, b Bookmark, now time.Time) (bookmark.State, error) {
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
