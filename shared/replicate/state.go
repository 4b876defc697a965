package replicate

import (
	"context"
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
