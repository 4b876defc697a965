package app

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/pg2s3/pg2s3/shared/catalog"
	"github.com/pg2s3/pg2s3/shared/layout"
	"github.com/pg2s3/pg2s3/shared/postgres/connect"
	"github.com/pg2s3/pg2s3/shared/postgres/logical"
	"github.com/pg2s3/pg2s3/shared/postgres/tables"
	"github.com/pg2s3/pg2s3/shared/record"
	"github.com/pg2s3/pg2s3/shared/replicate"
	"github.com/pg2s3/pg2s3/shared/report"
)

// Drain runs one bounded log-based run of the config's slot (see
// replicate.Engine.Drain): the streams resolved here, the slot and the
// log read through a session on the primary, use_secondary or not: an
// initial copy's snapshot must not be older than the stream's start
// position in the slot.
func (a *App) Drain(ctx context.Context, cat *catalog.Catalog, opts RunOptions) (*report.Run, error) {
	cfg := a.Cfg
	opts.Deadline = a.RunDeadline(opts.Deadline)
	ctx, cancel := runContext(ctx, opts.Deadline)
	defer cancel()
	conn, err := connect.Open(ctx, connect.FromConfig(cfg))
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	src, slot := tables.New(conn, tables.FromConfig(cfg)), logical.New(conn, logical.FromConfig(cfg))
	all, failed, err := Resolve(ctx, src, cat, cfg.DefaultReplicationMethod, opts.Streams)
	if err != nil {
		return nil, err
	}
	streams, bad := logStreams(ctx, slot, all)
	if opts.RunID == "" {
		opts.RunID = replicate.NewRunID()
	}
	eng := a.engine(src, opts.RunID)
	return eng.Drain(ctx, replicate.DrainJob{
		Pipeline: cfg.Pipeline, RunID: opts.RunID, Slot: cfg.SlotName, Plugin: cfg.LogicalPlugin,
		Streams: streams, Failed: append(failed, bad...), Source: slot,
		Budget: a.Budget(opts), IdleTimeout: cfg.IdleTimeout, Leaser: a.Stores.Leaser,
		Parallel: a.parallel(opts, cfg), Tasker: opts.Tasker,
	})
}

// logStreams returns the LOG_BASED streams that can be read from the log
// (see logical.Source.CheckLogStream), and the others as failures.
func logStreams(ctx context.Context, slot *logical.Source, all []*record.Stream) ([]*record.Stream, []report.Stream) {
	var ok []*record.Stream
	var bad []report.Stream
	for _, s := range all {
		if s.Method != layout.LogBased {
			continue
		}
		if err := slot.CheckLogStream(ctx, s); err != nil {
			bad = append(bad, report.Stream{Stream: s.ID, Method: s.Method, Error: err.Error()})
			continue
		}
		ok = append(ok, s)
	}
	return ok, bad
}

// SetupSlot creates the publication (pgoutput) and the slot for the
// catalog's LOG_BASED streams, as a drain would at its start.
func (a *App) SetupSlot(ctx context.Context, cat *catalog.Catalog) (logical.SlotInfo, bool, error) {
	conn, err := connect.Open(ctx, connect.FromConfig(a.Cfg))
	if err != nil {
		return logical.SlotInfo{}, false, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	slot := logical.New(conn, logical.FromConfig(a.Cfg))
	all, _, err := Resolve(ctx, tables.New(conn, tables.FromConfig(a.Cfg)), cat, a.Cfg.DefaultReplicationMethod, nil)
	if err != nil {
		return logical.SlotInfo{}, false, err
	}
	streams, bad := logStreams(ctx, slot, all)
	if len(bad) > 0 {
		return logical.SlotInfo{}, false, fmt.Errorf("%s", bad[0].Error)
	}
	// Before the publication: a standby would refuse it with a message
	// that names neither the cause nor the fix.
	if err := slot.LogReady(ctx); err != nil {
		return logical.SlotInfo{}, false, err
	}
	if _, err := slot.Publish(ctx, record.Tables(streams)); err != nil {
		return logical.SlotInfo{}, false, err
	}
	_, created, err := slot.EnsureSlot(ctx)
	if err != nil {
		return logical.SlotInfo{}, false, err
	}
	info, err := slot.Slot(ctx)
	return info, created, err
}

// ResetSlot drops the slot and restarts its bookmark and every log-based
// stream (see replicate.ResetSlot), so the next drain creates the slot and
// copies them again.
func (a *App) ResetSlot(ctx context.Context, out io.Writer) error {
	cfg := a.Cfg
	release, err := replicate.HoldLease(ctx, a.Stores.Leaser, "slot#"+cfg.SlotName, replicate.NewRunID(), 5*time.Minute)
	if err != nil {
		return fmt.Errorf("reset slot %s: %w", cfg.SlotName, err)
	}
	defer release()
	conn, err := connect.Open(ctx, connect.FromConfig(cfg))
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if err := logical.New(conn, logical.FromConfig(cfg)).DropSlot(ctx); err != nil {
		return err
	}
	n, err := replicate.ResetSlot(ctx, a.Stores.Bookmarks, cfg.SlotName, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "dropped slot %s; %d log-based streams will be copied again by the next run\n", cfg.SlotName, n)
	return nil
}
