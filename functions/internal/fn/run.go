package fn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/pg2s3/pg2s3/shared/app"
	"github.com/pg2s3/pg2s3/shared/awsstore"
	"github.com/pg2s3/pg2s3/shared/catalog"
	"github.com/pg2s3/pg2s3/shared/deadline"
	"github.com/pg2s3/pg2s3/shared/record"
	"github.com/pg2s3/pg2s3/shared/report"
)

// Result is what every function returns: the run report's summary.
type Result struct {
	RunID      string          `json:"run_id,omitempty"`
	StopReason string          `json:"stop_reason,omitempty"`
	Rows       int64           `json:"rows"`
	Streams    []StreamSummary `json:"streams,omitempty"`
	ReportKey  string          `json:"report_key,omitempty"`
	Message    string          `json:"message,omitempty"`
	// Tasks are the long-running tasks the run started (or failed to).
	Tasks []report.Task `json:"tasks,omitempty"`
	// Tables are the materialize function's per-table results (the
	// materializer's, kept out of this package: no Iceberg here).
	Tables any `json:"tables,omitempty"`
	// Step is a parallel copy step's outcome (parallel.go), its fields
	// inline in the JSON for the state machine to read.
	*Step
}

// StreamSummary is one stream's line in a Result.
type StreamSummary struct {
	Stream string `json:"stream"`
	Rows   int64  `json:"rows"`
	// Handoff is the parallel copy execution the run handed the stream's
	// copy to (report.Stream.Handoff).
	Handoff string `json:"handoff,omitempty"`
	Error   string `json:"error,omitempty"`
}

// Finish records the columns a run met that the stored catalog does not
// list (app.RecordNewColumns; with the stack's inline selection every run
// discovers afresh, so there is nothing to record), then summarizes it. A
// catalog that cannot be written is logged, not failed: the data is
// written, and the next run finds the columns again.
func Finish(ctx context.Context, a *app.App, env Env, log *slog.Logger, run *report.Run) (Result, error) {
	if env.Selection == "" {
		cols, err := a.RecordNewColumns(ctx, run, env.CatalogKey)
		if err != nil {
			log.Warn("new columns not recorded in the catalog", "key", env.CatalogKey, "error", err.Error())
		} else if len(cols) > 0 {
			log.Info("new columns recorded in the catalog", "key", env.CatalogKey, "columns", cols)
		}
	}
	return Summarize(log, a.Cfg.Pipeline, run)
}

// Summarize turns a run report into a Result, emits its metrics and fails
// the invocation when a stream failed (so alarms and retries see it).
func Summarize(log *slog.Logger, pipeline string, run *report.Run) (Result, error) {
	r := Result{RunID: run.RunID, StopReason: run.StopReason, Rows: run.Rows(), ReportKey: run.ReportKey, Tasks: run.Tasks}
	for _, s := range run.Streams {
		r.Streams = append(r.Streams, StreamSummary{Stream: s.Stream, Rows: s.Rows, Handoff: s.Handoff, Error: s.Error})
	}
	EmitMetrics(os.Stdout, pipeline, run)
	if run.Failed() {
		b, _ := json.Marshal(r)
		return r, fmt.Errorf("run %s: some streams failed: %s", run.RunID, b)
	}
	log.Info("run finished", "run_id", run.RunID, "rows", r.Rows, "stop_reason", r.StopReason, "report", r.ReportKey, "tasks", len(r.Tasks))
	return r, nil
}

// Logger returns a JSON logger whose every line carries the request ID.
func Logger(ctx context.Context, pipeline string) *slog.Logger {
	l := slog.New(slog.NewJSONHandler(os.Stderr, nil)).With("pipeline", pipeline)
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		l = l.With("request_id", lc.AwsRequestID)
	}
	slog.SetDefault(l)
	return l
}

// Open builds the app and its catalog: the stack's inline selection
// applied to a fresh discovery, or the catalog stored in the sink.
func Open(ctx context.Context, env Env, log *slog.Logger) (*app.App, *catalog.Catalog, error) {
	cfg, err := env.Config(ctx)
	if err != nil {
		return nil, nil, err
	}
	a, err := app.Open(ctx, cfg, log)
	if err != nil {
		return nil, nil, err
	}
	if env.Selection != "" {
		var choices map[string]app.StreamChoice
		if err := json.Unmarshal([]byte(env.Selection), &choices); err != nil {
			return a, nil, fmt.Errorf("PG2S3_SELECTION: not a JSON object of streams: %w", err)
		}
		cat, err := a.SelectedCatalog(ctx, choices)
		return a, cat, err
	}
	cat, err := a.StoredCatalog(ctx, env.CatalogKey)
	if errors.Is(err, record.ErrNotFound) {
		err = fmt.Errorf("%w (invoke the discover function, then select streams in it)", err)
	}
	return a, cat, err
}

// lastWord is what an invocation keeps, at the very end, to return its
// result: nothing it does may run later (Final).
const lastWord = time.Second

// Final bounds everything an invocation does, the calls before and after
// its run included (the secret, the catalog, the report, a lease
// release), by the function's limit less lastWord, and marks that moment
// for cleanup (deadline.Cleanup): an endpoint that never answers makes the
// function return a clean error instead of being stopped by Lambda with
// a lease half held.
func Final(ctx context.Context) (context.Context, context.CancelFunc) {
	d, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	return deadline.WithFinal(ctx, d.Add(-min(lastWord, time.Until(d)/10)))
}

// Handler is one function's work on a decoded event.
type Handler[E any] func(ctx context.Context, a *app.App, cat *catalog.Catalog, ev E, env Env, log *slog.Logger) (Result, error)

// Serve starts the Lambda runtime: each invocation decodes its event
// strictly into E, checks it (when E has Validate), opens the app and its
// catalog and runs h. A missing catalog is left to h when allowNoCatalog
// (discover creates it).
func Serve[E any](getenv func(string) string, allowNoCatalog bool, h Handler[E]) {
	env, envErr := ReadEnv(getenv)
	if mb, err := strconv.Atoi(getenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")); err == nil && getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(int64(mb) << 20 * 3 / 4) // leave room for the runtime outside the heap
	}
	lambda.Start(func(ctx context.Context, payload json.RawMessage) (Result, error) {
		if envErr != nil {
			return Result{}, envErr
		}
		var ev E
		if err := Decode(payload, &ev); err != nil {
			return Result{}, err
		}
		if v, ok := any(ev).(interface{ Validate() error }); ok {
			if err := v.Validate(); err != nil {
				return Result{}, err
			}
		}
		ctx, cancel := Final(ctx)
		defer cancel()
		defer awsstore.CloseConnections() // nothing kept open while the function is frozen
		log := Logger(ctx, env.Pipeline)
		a, cat, err := Open(ctx, env, log)
		if err != nil && !(allowNoCatalog && a != nil && errors.Is(err, record.ErrNotFound)) {
			return Result{}, err
		}
		return h(ctx, a, cat, ev, env, log)
	})
}
