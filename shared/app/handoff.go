package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/pg2s3/pg2s3/shared/layout"
	"github.com/pg2s3/pg2s3/shared/record"
	"github.com/pg2s3/pg2s3/shared/replicate"
	"github.com/pg2s3/pg2s3/shared/report"
)

// ParallelCopies starts executions of a pipeline's parallel copy state
// machine (awsstore.ParallelCopies).
type ParallelCopies interface {
	// StartCopy starts the execution name copying stream in ranges;
	// started is false, with no error, when an execution of that name
	// exists already (a running one may also answer as started: Step
	// Functions' idempotency for the same name and input).
	StartCopy(ctx context.Context, name, stream string) (started bool, err error)
}

// Handoff hands the copies of large keyed FULL_TABLE streams from a
// scheduled run to the parallel copy state machine (README: Parallel
// copies of large tables). A stream estimated above MinRows rows whose
// copy is not split is planned in ranges (a new table version when its
// last copy finished) and an execution is started for it, named after the
// stream and version (ExecutionName), so runs that race start one. While
// a stream's copy is split and not done, runs leave it to the execution
// (asking again to start it, which is a no-op while it exists). Without
// a Handoff (the CLI), a run copies every stream itself.
type Handoff struct {
	Copies  ParallelCopies
	MinRows int64
}

// maxExecutionName is Step Functions' limit on an execution's name.
const maxExecutionName = 80

// ExecutionName is the name of the parallel copy execution of stream's
// table version: the stream id in the characters Step Functions logs
// allow (A-Z a-z 0-9 - _), then -v<version>. An id with other characters,
// or too long, is cut and given a hash of itself, so two streams never
// share a name.
func ExecutionName(stream string, version int64) string {
	suffix := fmt.Sprintf("-v%d", version)
	b := []byte(stream)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			b[i] = '_'
		}
	}
	base := string(b)
	if base != stream || len(base)+len(suffix) > maxExecutionName {
		sum := sha256.Sum256([]byte(stream))
		h := "-" + hex.EncodeToString(sum[:4])
		base = base[:min(len(base), maxExecutionName-len(suffix)-len(h))] + h
	}
	return base + suffix
}

// handoff is the run's SyncJob.Handoff for h over eng.
func (a *App) handoff(h *Handoff, eng *replicate.Engine) func(context.Context, *record.Stream) (report.Stream, bool) {
	return func(ctx context.Context, s *record.Stream) (report.Stream, bool) {
		if s.Method != layout.FullTable || len(s.KeyColumns) == 0 {
			return report.Stream{}, false
		}
		start := time.Now()
		rep := report.Stream{Stream: s.ID, Method: s.Method}
		defer func() { rep.DurationMS = time.Since(start).Milliseconds() }()
		cur, err := eng.Bookmarks.Get(ctx, s.ID)
		if err != nil {
			rep.Error = err.Error()
			return rep, true
		}
		st := cur.State
		rep.TableVersion = st.Version
		ranges := st.Ranges
		split := st.Ranges > 0 && !st.CopyDone && st.Method == s.Method
		if !split {
			if s.RowEstimate <= h.MinRows {
				return rep, false
			}
			plan, err := eng.PlanRanges(ctx, s, a.Cfg.RowsPerRange)
			if err != nil {
				rep.Error = err.Error()
				return rep, true
			}
			if plan.Done {
				return rep, false
			}
			rep.TableVersion, rep.NewVersion, ranges = plan.Version, plan.Version != st.Version, plan.Ranges
		}
		name := ExecutionName(s.ID, rep.TableVersion)
		started, err := h.Copies.StartCopy(ctx, name, s.ID)
		if err != nil {
			rep.Error = fmt.Sprintf("%v (its copy is planned in %d key ranges, table version %d: the next scheduled run starts the execution again)", err, ranges, rep.TableVersion)
			return rep, true
		}
		rep.Handoff = name
		rep.Skipped = fmt.Sprintf("copied in %d key ranges by parallel copy execution %s (or one started by hand): scheduled runs leave it until its copy is done", ranges, name)
		a.Log.Info("parallel copy handed off", "stream", s.ID, "version", rep.TableVersion, "ranges", ranges, "execution", name, "started", started, "row_estimate", s.RowEstimate)
		return rep, true
	}
}
