package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/pg2s3/pg2s3/shared/bookmark"
	"github.com/pg2s3/pg2s3/shared/catalog"
	"github.com/pg2s3/pg2s3/shared/layout"
	"github.com/pg2s3/pg2s3/shared/pgsource"
	"github.com/pg2s3/pg2s3/shared/record"
	"github.com/pg2s3/pg2s3/shared/replicate"
	"github.com/pg2s3/pg2s3/shared/report"
)

// DrainWAL runs one bounded log-based run: it sets the slot (and the
// publication) up when needed, records the start position of new streams,
// drains the slot up to a fence, and spends what is left of the budget on
// the initial copies of streams that still need one.
func (a *App) DrainWAL(ctx context.Context, cat *catalog.Catalog, opts RunOptions) (*report.Run, error) {
	cfg := a.Cfg
	sess, err := pgsource.Open(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer sess.Close(context.WithoutCancel(ctx))
	all, failed, err := Resolve(ctx, sess, cat, cfg.DefaultReplicationMethod, opts.Streams)
	if err != nil {
		return nil, err
	}
	streams, bad := logStreams(ctx, sess, all)
	failed = append(failed, bad...)
	if opts.RunID == "" {
		opts.RunID = replicate.NewRunID()
	}
	eng := &replicate.Engine{Tables: sess.Tables(), Sink: a.Stores.Sink, Bookmarks: a.Stores.Bookmarks, Log: a.Log, Progress: a.Progress, Format: a.Cfg.Sink.Format}
	run := &report.Run{RunID: opts.RunID, Pipeline: cfg.Pipeline, Kind: "wal", StartedAt: time.Now().UTC(), StopReason: "done"}
	if len(streams) > 0 {
		// A server that cannot decode for this config (too old, the plugin
		// not allowed, a standby) fails every log stream before anything
		// on the server, in the sink or in the bookmarks changes.
		if err := sess.LogReady(ctx); err != nil {
			run.StopReason = "error"
			run.Streams = append(failed, streamErrors(streams, err)...)
			eng.Finish(ctx, run)
			return run, nil
		}
	}
	streams, bad, err = a.publish(ctx, sess, streams)
	if err != nil {
		return nil, err
	}
	run.Streams = append(failed, bad...)
	if len(streams) == 0 {
		eng.Finish(ctx, run)
		return run, nil
	}
	release, err := replicate.HoldLease(ctx, a.Stores.Leaser, "slot#"+cfg.SlotName, opts.RunID, leaseTTL(opts.Deadline))
	if err != nil {
		return nil, fmt.Errorf("slot %s: %w", cfg.SlotName, err)
	}
	defer release()

	slotRep := &report.Slot{Name: cfg.SlotName, Plugin: cfg.LogicalPlugin}
	run.Slot = slotRep
	byID, err := a.drain(ctx, sess, eng, streams, opts, slotRep)
	if err != nil {
		run.StopReason = "error"
		run.Streams = append(run.Streams, streamErrors(streams, err)...)
		eng.Finish(ctx, run)
		return run, nil
	}
	// Initial copies with the rest of the budget.
	budget := a.Budget(opts)
	for _, s := range streams {
		rep := byID[s.ID]
		if !rep.CopyDone && !budget.Expired(time.Now()) && ctx.Err() == nil {
			c := eng.SyncTable(ctx, s, budget)
			rep.Rows += c.Rows
			rep.Bytes += c.Bytes
			rep.Batches += c.Batches
			rep.DurationMS += c.DurationMS
			rep.CopyDone, rep.BookmarkAfter = c.CopyDone, c.BookmarkAfter
			if rep.BookmarkBefore == nil {
				rep.BookmarkBefore = c.BookmarkBefore
			}
			if c.Error != "" {
				rep.Error = c.Error
			}
		}
		run.Streams = append(run.Streams, rep)
	}
	if info, err := sess.Slot(ctx, cfg.SlotName); err == nil {
		slotRep.RetainedBytes = info.RetainedBytes
	}
	if budget.Expired(time.Now()) {
		run.StopReason = "deadline"
	}
	a.Progress.Done()
	eng.Finish(ctx, run)
	return run, nil
}

// streamErrors reports err as the failure of each of streams.
func streamErrors(streams []*record.Stream, err error) []report.Stream {
	out := make([]report.Stream, 0, len(streams))
	for _, s := range streams {
		out = append(out, report.Stream{Stream: s.ID, Method: s.Method, Error: err.Error()})
	}
	return out
}

// logStreams returns the LOG_BASED streams that can be read from the log:
// a table without a primary key needs REPLICA IDENTITY FULL, or its
// updates and deletes could not be told apart.
func logStreams(ctx context.Context, sess *pgsource.Session, all []*record.Stream) ([]*record.Stream, []report.Stream) {
	var ok []*record.Stream
	var bad []report.Stream
	for _, s := range all {
		if s.Method != layout.LogBased {
			continue
		}
		if len(s.KeyColumns) == 0 {
			ident, err := sess.ReplicaIdentity(ctx, s.Schema, s.Table)
			if err == nil && ident != "full" {
				err = fmt.Errorf("stream %s: a table without a primary key can be LOG_BASED only with REPLICA IDENTITY FULL (it has %s): run ALTER TABLE %s REPLICA IDENTITY FULL, or add a primary key, or replicate it FULL_TABLE",
					s.ID, ident, quoteTable(s))
			}
			if err != nil {
				bad = append(bad, report.Stream{Stream: s.ID, Method: s.Method, Error: err.Error()})
				continue
			}
		}
		ok = append(ok, s)
	}
	return ok, bad
}

func quoteTable(s *record.Stream) string {
	q := func(x string) string { return `"` + strings.ReplaceAll(x, `"`, `""`) + `"` }
	return q(s.Schema) + "." + q(s.Table)
}

// SetupSlot creates the publication (pgoutput) and the slot for the
// catalog's LOG_BASED streams, as a drain would at its start.
func (a *App) SetupSlot(ctx context.Context, cat *catalog.Catalog) (pgsource.SlotInfo, bool, error) {
	sess, err := pgsource.Open(ctx, a.Cfg)
	if err != nil {
		return pgsource.SlotInfo{}, false, err
	}
	defer sess.Close(context.WithoutCancel(ctx))
	all, _, err := Resolve(ctx, sess, cat, a.Cfg.DefaultReplicationMethod, nil)
	if err != nil {
		return pgsource.SlotInfo{}, false, err
	}
	streams, bad := logStreams(ctx, sess, all)
	if len(bad) > 0 {
		return pgsource.SlotInfo{}, false, fmt.Errorf("%s", bad[0].Error)
	}
	if a.Cfg.LogicalPlugin == "pgoutput" {
		if err := sess.EnsurePublication(ctx, a.Cfg.Publication, a.Cfg.PublishAll, tablesOf(streams)); err != nil {
			return pgsource.SlotInfo{}, false, err
		}
	}
	return pgsource.EnsureSlot(ctx, a.Cfg)
}

// publish makes the pgoutput publication cover the streams' tables. When
// the user may not change it but it exists, the drain goes on with the
// streams it publishes, and a stream it does not publish fails with the
// statement that adds it, as long as that stream has not started following
// the log: the slot is about to pass its changes, so then nothing drains.
func (a *App) publish(ctx context.Context, sess *pgsource.Session, streams []*record.Stream) ([]*record.Stream, []report.Stream, error) {
	cfg := a.Cfg
	if cfg.LogicalPlugin != "pgoutput" || len(streams) == 0 {
		return streams, nil, nil
	}
	err := sess.EnsurePublication(ctx, cfg.Publication, cfg.PublishAll, tablesOf(streams))
	if err == nil || !errors.Is(err, pgsource.ErrPublicationPrivilege) {
		return streams, nil, err
	}
	have, herr := sess.PublicationTables(ctx, cfg.Publication)
	if herr != nil || len(have) == 0 {
		return nil, nil, err
	}
	published := map[[2]string]bool{}
	for _, t := range have {
		published[t] = true
	}
	var ok []*record.Stream
	var failed []report.Stream
	for _, s := range streams {
		if published[[2]string{s.Schema, s.Table}] {
			ok = append(ok, s)
			continue
		}
		bm, gerr := a.Stores.Bookmarks.Get(ctx, s.ID)
		if gerr != nil {
			return nil, nil, gerr
		}
		if bm.State.StartLSN != 0 {
			return nil, nil, fmt.Errorf("stream %s follows the log but its table is not in publication %s any more; draining now would skip its changes: %w", s.ID, cfg.Publication, err)
		}
		failed = append(failed, report.Stream{Stream: s.ID, Method: s.Method, Error: fmt.Sprintf("not in publication %s yet: %v", cfg.Publication, err)})
	}
	return ok, failed, nil
}

func tablesOf(streams []*record.Stream) [][2]string {
	var t [][2]string
	for _, s := range streams {
		t = append(t, [2]string{s.Schema, s.Table})
	}
	return t
}

// drain prepares the slot and the streams' start positions and drains.
func (a *App) drain(ctx context.Context, sess *pgsource.Session, eng *replicate.Engine, streams []*record.Stream, opts RunOptions, slotRep *report.Slot) (map[string]report.Stream, error) {
	cfg := a.Cfg
	tables := tablesOf(streams)
	filter := map[[2]string]bool{}
	for _, t := range tables {
		filter[t] = true
	}
	info, created, err := pgsource.EnsureSlot(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if created {
		a.Log.Info("created replication slot", "slot", cfg.SlotName, "plugin", cfg.LogicalPlugin, "lsn", pgsource.FormatLSN(info.ConfirmedFlushLSN))
	}
	slotBM, err := a.Stores.Bookmarks.Get(ctx, layout.SlotBookmarkID(cfg.SlotName))
	if err != nil {
		return nil, err
	}
	if c := slotBM.State.CommittedLSN; c != 0 && c < info.ConfirmedFlushLSN {
		return nil, fmt.Errorf("slot %s has moved past the last committed position (%s < %s): the WAL between is gone, and reading on would skip changes; run pg2s3 reset --slot --confirm to re-copy the log-based streams",
			cfg.SlotName, pgsource.FormatLSN(c), pgsource.FormatLSN(info.ConfirmedFlushLSN))
	}
	byID := map[string]report.Stream{}
	// A stream without a start position records the current WAL position
	// before its copy begins: changes after it come from the slot.
	for _, s := range streams {
		cur, err := a.Stores.Bookmarks.Get(ctx, s.ID)
		if err != nil {
			return nil, err
		}
		st := cur.State
		if cur.Rev == 0 || st.Method != layout.LogBased || st.StartLSN == 0 {
			lsn, err := sess.CurrentWALLSN(ctx)
			if err != nil {
				return nil, err
			}
			if cur.Rev == 0 || st.Method != layout.LogBased {
				st = bookmark.State{Method: layout.LogBased, Version: bookmark.NewVersion(st.Version, time.Now()), KeyColumns: s.KeyColumns}
			}
			st.StartLSN, st.UpdatedAt = lsn, time.Now()
			if _, err := a.Stores.Bookmarks.Put(ctx, s.ID, st, cur.Rev); err != nil {
				return nil, fmt.Errorf("record start position of %s: %w", s.ID, err)
			}
		}
		byID[s.ID] = report.Stream{Stream: s.ID, Method: s.Method, TableVersion: st.Version, CopyDone: st.CopyDone}
	}
	fence, err := sess.Heartbeat(ctx)
	if err != nil {
		return nil, err
	}
	slotRep.FenceLSN = pgsource.FormatLSN(fence)
	reader, err := pgsource.OpenLog(ctx, cfg, pgsource.LogOptions{StartLSN: slotBM.State.CommittedLSN, Tables: filter})
	if err != nil {
		return nil, err
	}
	defer reader.Close(context.WithoutCancel(ctx))
	budget := a.Budget(opts)
	reps, err := eng.DrainLog(ctx, replicate.Drain{Slot: cfg.SlotName, Streams: streams, Log: reader, Fence: fence, Budget: budget, IdleTimeout: cfg.IdleTimeout}, slotRep)
	for _, r := range reps {
		b := byID[r.Stream]
		b.Rows, b.Bytes, b.Batches, b.Truncates = r.Rows, r.Bytes, r.Batches, r.Truncates
		byID[r.Stream] = b
	}
	return byID, err
}

// ResetSlot drops the slot and its bookmark and resets every log-based
// stream, so the next drain creates the slot and copies them again.
func (a *App) ResetSlot(ctx context.Context, out io.Writer) error {
	cfg := a.Cfg
	release, err := replicate.HoldLease(ctx, a.Stores.Leaser, "slot#"+cfg.SlotName, replicate.NewRunID(), 5*time.Minute)
	if err != nil {
		return fmt.Errorf("reset slot %s: %w", cfg.SlotName, err)
	}
	defer release()
	if err := pgsource.DropSlot(ctx, cfg, cfg.SlotName); err != nil {
		return err
	}
	all, err := a.Stores.Bookmarks.All(ctx)
	if err != nil {
		return err
	}
	// The slot's bookmark starts over at no position, but its batch
	// numbers go on: the batch manifests of the old slot
	// stay, and a new batch must not land on their keys.
	if v, ok := all[layout.SlotBookmarkID(cfg.SlotName)]; ok {
		fresh := bookmark.State{Seq: v.State.Seq, UpdatedAt: time.Now()}
		if _, err := a.Stores.Bookmarks.Put(ctx, layout.SlotBookmarkID(cfg.SlotName), fresh, v.Rev); err != nil {
			return fmt.Errorf("reset slot %s: %w", cfg.SlotName, err)
		}
	}
	n := 0
	for id, v := range all {
		if v.State.Method != layout.LogBased {
			continue
		}
		if _, err := a.Stores.Bookmarks.Put(ctx, id, bookmark.Reset(v.State, time.Now()), v.Rev); err != nil {
			return fmt.Errorf("reset %s: %w", id, err)
		}
		n++
	}
	fmt.Fprintf(out, "dropped slot %s; %d log-based streams will be copied again by the next run\n", cfg.SlotName, n)
	return nil
}

func leaseTTL(deadline time.Time) time.Duration {
	if deadline.IsZero() {
		return 5 * time.Minute // renewed while the run lives
	}
	return time.Until(deadline) + time.Minute
}
