// Package app is the composition root shared by the CLI and the Lambda
// functions: it opens the stores and the database named by a config and
// runs the engine. It holds no replication logic of its own.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/pg2s3/pg2s3/shared/catalog"
	"github.com/pg2s3/pg2s3/shared/config"
	"github.com/pg2s3/pg2s3/shared/layout"
	"github.com/pg2s3/pg2s3/shared/postgres/connect"
	"github.com/pg2s3/pg2s3/shared/postgres/tables"
	"github.com/pg2s3/pg2s3/shared/record"
	"github.com/pg2s3/pg2s3/shared/replicate"
	"github.com/pg2s3/pg2s3/shared/report"
)

// App is one pipeline's open stores.
type App struct {
	Cfg    *config.Config
	Stores Stores
	Log    *slog.Logger
	// Progress, when set, shows long copies' progress.
	Progress *report.Progress
	// OnTask: this process is the task (functions/task): runs have no
	// deadline and their reports say so.
	OnTask bool
}

// Open opens the sink, bookmark store and leases the config names.
func Open(ctx context.Context, cfg *config.Config, log *slog.Logger) (*App, error) {
	st, err := OpenStores(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	return &App{Cfg: cfg, Stores: st, Log: log}, nil
}

// RunOptions bound and filter one run.
type RunOptions struct {
	// Streams limits the run to these tap_stream_ids (empty: all selected).
	Streams []string
	// Deadline is when the run must have committed its last batch.
	Deadline   time.Time
	MaxBatches int
	RunID      string
	// Parallel, above 1, copies keyed streams estimated above the config's
	// rows_per_range in ranges with this many workers (a connection each).
	Parallel int
	// Tasker, when set, is handed work a bounded run cannot finish (see
	// replicate.Tasker): the functions set it when the stack has a task.
	Tasker replicate.Tasker
	// Handoff, when set, hands large keyed FULL_TABLE streams to the
	// parallel copy state machine instead of copying them (handoff.go).
	Handoff *Handoff
}

// hardStop is how long after a run's deadline its calls are cancelled.
// Batches stop at the deadline, after the one being committed; a call
// still hanging then (a black-holed endpoint: accepted, never answered)
// is abandoned, so the run ends, having moved nothing past what is
// durable, before the function's own limit (PG2S3_SAFETY_SECONDS, 20 s by
// default, after the deadline).
const hardStop = 5 * time.Second

// runContext bounds every call of a run by its deadline and hardStop.
func runContext(ctx context.Context, deadline time.Time) (context.Context, context.CancelFunc) {
	if deadline.IsZero() {
		return context.WithCancel(ctx)
	}
	return context.WithDeadline(ctx, deadline.Add(hardStop))
}

// RunDeadline is when a run starting now must have committed its last
// batch: the earlier of deadline (zero: none) and max_run_seconds from now.
// Resolve it once per run: every later step then shares what is left
// instead of starting a new budget.
func (a *App) RunDeadline(deadline time.Time) time.Time {
	if a.OnTask {
		return time.Time{}
	}
	if a.Cfg.MaxRunDuration <= 0 {
		return deadline
	}
	if d := time.Now().Add(a.Cfg.MaxRunDuration); deadline.IsZero() || d.Before(deadline) {
		return d
	}
	return deadline
}

// Budget returns the engine budget for opts, whose Deadline RunDeadline
// has resolved.
func (a *App) Budget(opts RunOptions) replicate.Budget {
	return replicate.Budget{BatchRows: a.Cfg.BatchRows, BatchBytes: a.Cfg.BatchBytes, MaxBatches: opts.MaxBatches, Deadline: opts.Deadline}
}

// Resolve types the catalog's selected streams against the live database.
// Streams that fail are returned as report entries, so one bad stream
// never stops the others.
func Resolve(ctx context.Context, src *tables.Source, cat *catalog.Catalog, defaultMethod layout.Method, only []string) ([]*record.Stream, []report.Stream, error) {
	sels, selErr := cat.Selections(defaultMethod)
	var failed []report.Stream
	if selErr != nil {
		for _, e := range unjoin(selErr) {
			failed = append(failed, report.Stream{Stream: "catalog", Error: e.Error()})
		}
	}
	want := map[string]bool{} // asked for and not found yet
	for _, id := range only {
		want[id] = true
	}
	var streams []*record.Stream
	for _, sel := range sels {
		if len(only) > 0 && !slices.Contains(only, sel.StreamID) {
			continue
		}
		delete(want, sel.StreamID)
		s, err := src.Resolve(ctx, sel)
		if err != nil {
			failed = append(failed, report.Stream{Stream: sel.StreamID, Method: sel.Method, Error: err.Error()})
			continue
		}
		streams = append(streams, &s)
	}
	for id := range want {
		failed = append(failed, report.Stream{Stream: id, Error: fmt.Sprintf("stream %s is not selected in the catalog (or does not exist): select it or run discover", id)})
	}
	if len(streams) == 0 && len(failed) == 0 {
		return nil, nil, errors.New("the catalog selects no stream: set \"selected\": true in a stream's table metadata (breadcrumb [])")
	}
	return streams, failed, nil
}

// Sync runs one bounded batch run over the FULL_TABLE and
// INCREMENTAL streams, on the secondary with use_secondary.
func (a *App) Sync(ctx context.Context, cat *catalog.Catalog, opts RunOptions) (*report.Run, error) {
	opts.Deadline = a.RunDeadline(opts.Deadline)
	ctx, cancel := runContext(ctx, opts.Deadline)
	defer cancel()
	conn, err := connect.Open(ctx, connect.FromConfig(a.Cfg.ForReads()))
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	src := tables.New(conn, tables.FromConfig(a.Cfg))
	streams, failed, err := Resolve(ctx, src, cat, a.Cfg.DefaultReplicationMethod, opts.Streams)
	if err != nil {
		return nil, err
	}
	if opts.RunID == "" {
		opts.RunID = replicate.NewRunID()
	}
	eng := a.engine(src, opts.RunID)
	job := replicate.SyncJob{Pipeline: a.Cfg.Pipeline, RunID: opts.RunID, Streams: streams, Budget: a.Budget(opts), Leaser: a.Stores.Leaser, Failed: failed, Tasker: opts.Tasker,
		Parallel: a.parallel(opts, a.Cfg.ForReads())}
	if opts.Handoff != nil {
		job.Handoff = a.handoff(opts.Handoff, eng)
	}
	run := eng.Sync(ctx, job)
	a.Progress.Done()
	return run, nil
}

// engine is the replication engine over the app's stores and src, its
// range leases held for runID.
func (a *App) engine(src *tables.Source, runID string) *replicate.Engine {
	return &replicate.Engine{Tables: src, Sink: a.Stores.Sink, Bookmarks: a.Stores.Bookmarks, Log: a.Log, Progress: a.Progress, Format: a.Cfg.Sink.Format,
		Leaser: a.Stores.Leaser, Owner: runID, OnTask: a.OnTask}
}

// parallel is how a run copies large keyed streams: opts.Parallel workers,
// each on a connection of its own to the server cfg names.
func (a *App) parallel(opts RunOptions, cfg *config.Config) replicate.Parallel {
	return replicate.Parallel{Workers: opts.Parallel, RowsPerRange: a.Cfg.RowsPerRange,
		Open: func(ctx context.Context) (replicate.TableSource, func(), error) {
			conn, err := connect.Open(ctx, connect.FromConfig(cfg))
			if err != nil {
				return nil, nil, err
			}
			return tables.New(conn, tables.FromConfig(a.Cfg)), func() { conn.Close(context.WithoutCancel(ctx)) }, nil
		}}
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
