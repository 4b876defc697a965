package fn

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pg2s3/pg2s3/shared/app"
	"github.com/pg2s3/pg2s3/shared/catalog"
)

// The steps of a parallel copy, each one invocation of the sync function
// (the stack's state machine runs them; README: Parallel copies of large
// tables): {"plan": id} splits the stream's copy into ranges,
// {"stream": id, "range": n} copies one bounded piece of range n, and
// {"activate": id} activates the version once every range is done. A
// range step may name the owner of the range's lease ("owner": the state
// machine passes its execution's name), so a retry within one execution
// takes over a lease an invocation that died left behind, while another
// execution's ranges are left to it.

// Step is what a parallel copy step returns, beside the run summary.
type Step struct {
	Stream       string `json:"stream"`
	TableVersion int64  `json:"table_version"`
	// Ranges are the plan's range numbers 0..n-1, the state machine's Map
	// items (empty when the copy is already done); only a plan has them.
	Ranges *[]int `json:"ranges,omitempty"`
	How    string `json:"how,omitempty"`
	Range  *int   `json:"range,omitempty"`
	// More says the range has more to copy: invoke it again.
	More     bool `json:"more"`
	CopyDone bool `json:"copy_done"`
	// Skipped says why a range step did nothing (another run holds it).
	Skipped string `json:"skipped,omitempty"`
}

// ParallelCopyInput is the input of the stack's parallel copy state
// machine (events/parallel-copy.json): the stream to copy in ranges.
type ParallelCopyInput struct {
	Stream string `json:"stream"`
}

// Validate checks a state machine input.
func (e ParallelCopyInput) Validate() error {
	if e.Stream == "" {
		return fmt.Errorf(`parallel copy input: give {"stream": "<tap_stream_id>"}, a selected keyed FULL_TABLE stream (or a LOG_BASED one whose start position a drain recorded)`)
	}
	return nil
}

// parallelShapes is the error text naming the parallel copy events.
const parallelShapes = `{"plan": "<tap_stream_id>"}, {"stream": "<tap_stream_id>", "range": <n>} or {"activate": "<tap_stream_id>"}`

// IsStep says whether the event is a parallel copy step rather than a
// scheduled run.
func (e SyncEvent) IsStep() bool {
	return e.Plan != "" || e.Stream != "" || e.Range != nil || e.Activate != "" || e.Owner != ""
}

// Validate checks a sync event: a scheduled run's streams, or exactly one
// parallel copy step.
func (e SyncEvent) Validate() error {
	if !e.IsStep() {
		return nil
	}
	steps := 0
	for _, given := range []bool{e.Plan != "", e.Stream != "" || e.Range != nil, e.Activate != ""} {
		if given {
			steps++
		}
	}
	switch {
	case len(e.Streams) > 0:
		return fmt.Errorf("sync event: a parallel copy step (%s) takes no \"streams\"", parallelShapes)
	case e.MaxBatches != 0 && e.Range == nil:
		return fmt.Errorf("sync event: \"max_batches\" bounds a scheduled run or a range step, not a plan or an activation")
	case steps > 1:
		return fmt.Errorf("sync event: give one step: %s", parallelShapes)
	case e.Range != nil && e.Stream == "":
		return fmt.Errorf("sync event: \"range\" needs \"stream\", the tap_stream_id of the planned copy")
	case e.Stream != "" && e.Range == nil:
		return fmt.Errorf("sync event: {\"stream\": %q} needs \"range\", a range number from the plan (0 to ranges-1); to sync the stream use {\"streams\": [%q]}", e.Stream, e.Stream)
	case e.Owner != "" && e.Range == nil:
		return fmt.Errorf("sync event: \"owner\" names who holds a range's lease: give it only with \"stream\" and \"range\"")
	case e.Range != nil && *e.Range < 0:
		return fmt.Errorf("sync event: \"range\" %d is negative: ranges are numbered from 0", *e.Range)
	}
	return nil
}

// RunStep runs a parallel copy step (e.IsStep).
func RunStep(ctx context.Context, a *app.App, cat *catalog.Catalog, e SyncEvent, env Env, log *slog.Logger) (Result, error) {
	switch {
	case e.Plan != "":
		plan, err := a.PlanRanges(ctx, cat, e.Plan)
		if err != nil {
			return Result{}, err
		}
		ranges := make([]int, plan.Ranges)
		if plan.Done {
			ranges = []int{}
		}
		for i := range ranges {
			ranges[i] = i
		}
		log.Info("parallel copy plan", "stream", plan.Stream, "version", plan.Version, "ranges", plan.Ranges, "how", plan.How, "copy_done", plan.Done)
		return Result{Message: fmt.Sprintf("%s: table version %d in %d ranges", plan.Stream, plan.Version, len(ranges)),
			Step: &Step{Stream: plan.Stream, TableVersion: plan.Version, Ranges: &ranges, How: plan.How, CopyDone: plan.Done}}, nil
	case e.Activate != "":
		done, err := a.ActivateRanges(ctx, cat, e.Activate)
		if err != nil {
			return Result{}, err
		}
		msg := e.Activate + ": copy complete, version active"
		if !done {
			msg = e.Activate + ": not every range is done yet; the last range to finish activates the version"
		}
		log.Info("parallel copy activation", "stream", e.Activate, "copy_done", done)
		return Result{Message: msg, Step: &Step{Stream: e.Activate, CopyDone: done}}, nil
	}
	run, more, err := a.CopyRange(ctx, cat, e.Stream, *e.Range, app.RunOptions{Deadline: env.Deadline(ctx), MaxBatches: e.MaxBatches}, e.Owner)
	if err != nil {
		return Result{}, err
	}
	st := &Step{Stream: e.Stream, Range: e.Range, More: more}
	if len(run.Streams) > 0 {
		rep := run.Streams[0]
		st.TableVersion, st.CopyDone, st.Skipped = rep.TableVersion, rep.CopyDone, rep.Skipped
	}
	r, err := Finish(ctx, a, env, log, run)
	r.Step = st
	return r, err
}
