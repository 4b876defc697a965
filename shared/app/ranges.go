package app

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/pg2s3/pg2s3/shared/catalog"
	"github.com/pg2s3/pg2s3/shared/layout"
	"github.com/pg2s3/pg2s3/shared/postgres/connect"
	"github.com/pg2s3/pg2s3/shared/postgres/tables"
	"github.com/pg2s3/pg2s3/shared/record"
	"github.com/pg2s3/pg2s3/shared/replicate"
	"github.com/pg2s3/pg2s3/shared/report"
)

// A parallel copy driven from outside one process (the stack's state
// machine, one Lambda invocation per step): PlanRanges splits a stream's
// copy, CopyRange copies one bounded piece of one range, ActivateRanges
// activates the version once every range is done. Each step resolves the
// stream afresh and holds no state between calls: the bookmarks do.

// PlanRanges plans the parallel copy of the selected stream id (see
// replicate.Engine.PlanRanges): a second plan of a split stream returns
// the same plan.
func (a *App) PlanRanges(ctx context.Context, cat *catalog.Catalog, id string) (replicate.RangePlan, error) {
	var plan replicate.RangePlan
	err := a.withStream(ctx, cat, id, "", func(eng *replicate.Engine, s *record.Stream) error {
		var err error
		plan, err = eng.PlanRanges(ctx, s, a.Cfg.RowsPerRange)
		return err
	})
	return plan, err
}

// CopyRange copies one bounded piece of range r of the selected stream
// id's planned parallel copy, within opts' deadline (zero: none) and
// max_batches, under the range's lease held for owner (empty: this run alone),
// and writes a run report of it. Steps that give the same owner (one
// state machine execution, retrying after an invocation died holding the
// lease) take the lease over; another owner's is left alone: the range is
// reported Skipped, with nothing more to do here. more says the range has
// more to copy.
func (a *App) CopyRange(ctx context.Context, cat *catalog.Catalog, id string, r int, opts RunOptions, owner string) (run *report.Run, more bool, err error) {
	runID := replicate.NewRunID()
	if owner == "" {
		owner = runID
	}
	opts.Deadline = a.RunDeadline(opts.Deadline)
	ctx, cancel := runContext(ctx, opts.Deadline)
	defer cancel()
	err = a.withStream(ctx, cat, id, owner, func(eng *replicate.Engine, s *record.Stream) error {
		run = &report.Run{RunID: runID, Pipeline: a.Cfg.Pipeline, Kind: "sync", StartedAt: time.Now().UTC(), StopReason: "done"}
		rep, m := eng.CopyRange(ctx, s, r, a.Budget(opts))
		more = m
		if more {
			run.StopReason = "deadline"
		}
		run.Streams = append(run.Streams, rep)
		eng.Finish(ctx, run)
		return nil
	})
	return run, more, err
}

// ActivateRanges activates the version of the selected stream id's
// parallel copy if every range is done (replicate.Engine.ActivateRanges);
// it reports whether the copy is complete, and is idempotent.
func (a *App) ActivateRanges(ctx context.Context, cat *catalog.Catalog, id string) (bool, error) {
	var done bool
	err := a.withStream(ctx, cat, id, "", func(eng *replicate.Engine, s *record.Stream) error {
		var err error
		done, err = eng.ActivateRanges(ctx, s)
		return err
	})
	return done, err
}

// withStream resolves the selected stream id on a connection of its own
// and runs f with an engine over it whose range leases are held for
// owner. A FULL_TABLE stream is read where
// the config's reads go (the secondary with use_secondary); a LOG_BASED
// stream's copy reads the primary, as Drain's does.
func (a *App) withStream(ctx context.Context, cat *catalog.Catalog, id, owner string, f func(*replicate.Engine, *record.Stream) error) error {
	method, err := selectedMethod(cat, a.Cfg.DefaultReplicationMethod, id)
	if err != nil {
		return err
	}
	cfg := a.Cfg
	if method != layout.LogBased {
		cfg = a.Cfg.ForReads()
	}
	conn, err := connect.Open(ctx, connect.FromConfig(cfg))
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	src := tables.New(conn, tables.FromConfig(a.Cfg))
	streams, failed, err := Resolve(ctx, src, cat, a.Cfg.DefaultReplicationMethod, []string{id})
	if err != nil {
		return err
	}
	for _, f := range failed {
		if f.Stream == id {
			return fmt.Errorf("%s", f.Error)
		}
	}
	if len(streams) != 1 {
		return fmt.Errorf("stream %s could not be resolved", id)
	}
	return f(a.engine(src, owner), streams[0])
}

// selectedMethod is the replication method of the selected stream id, or
// an error listing the selected streams.
func selectedMethod(cat *catalog.Catalog, def layout.Method, id string) (layout.Method, error) {
	if id == "" {
		return "", fmt.Errorf("no stream given: name a selected stream's tap_stream_id")
	}
	sels, selErr := cat.Selections(def)
	var ids []string
	for _, sel := range sels {
		if sel.StreamID == id {
			return sel.Method, nil
		}
		ids = append(ids, sel.StreamID)
	}
	if selErr != nil {
		return "", fmt.Errorf("stream %s: %w", id, selErr)
	}
	sort.Strings(ids)
	return "", fmt.Errorf("stream %s is not selected in the catalog (or does not exist); the selected streams are: %s", id, strings.Join(ids, ", "))
}
