package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/pg2s3/pg2s3/cmd/internal/cli"
	"github.com/pg2s3/pg2s3/shared/app"
	"github.com/pg2s3/pg2s3/shared/catalog"
	"github.com/pg2s3/pg2s3/shared/layout"
	"github.com/pg2s3/pg2s3/shared/report"
	"github.com/pg2s3/pg2s3/shared/reportview"
)

func init() {
	prog.Register("sync", "run one bounded batch run over the catalog's selected streams", runSync)
}

func runSync(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := prog.NewFlags("sync", stderr)
	cfgPath := fs.String("config", "config.json", "config file (JSON)")
	catPath := fs.String("catalog", "catalog.json", "catalog file with selections (from pg2s3 discover)")
	maxDur := fs.Duration("max-duration", 0, "stop after a committed batch once this much time has passed, for the table streams and the drain together (with the config's max_run_seconds the shorter wins; 0: max_run_seconds alone, else no limit)")
	maxBatches := fs.Int("max-batches", 0, "at most this many batches per stream in this run (0: no limit)")
	asJSON := fs.Bool("json", false, "print the run report as JSON")
	onlyKind := fs.String("only", "", "run only the table streams (tables) or only the log drain (wal); default both")
	parallel := fs.Int("parallel", 1, "copy keyed FULL_TABLE and LOG_BASED streams estimated above rows_per_range rows in key ranges with this many workers, a database connection each (1: one copy per stream)")
	var only cli.StreamList
	fs.Var(&only, "stream", "sync only this tap_stream_id (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *onlyKind != "" && *onlyKind != "tables" && *onlyKind != "wal" {
		return fmt.Errorf("--only takes tables or wal, not %q: %w", *onlyKind, cli.ErrUsage)
	}
	cfg, cat, err := cli.LoadConfigAndCatalog(*cfgPath, *catPath)
	if err != nil {
		return err
	}
	a, err := app.Open(ctx, cfg, nil)
	if err != nil {
		return err
	}
	a.Progress = newProgress(stderr)
	if *parallel < 1 || *parallel > 64 {
		return fmt.Errorf("--parallel takes 1 to 64 workers, not %d: %w", *parallel, cli.ErrUsage)
	}
	opts := app.RunOptions{Streams: only, MaxBatches: *maxBatches, Parallel: *parallel}
	if *maxDur > 0 {
		opts.Deadline = time.Now().Add(*maxDur)
	}
	// One budget for the table streams and the drain together.
	opts.Deadline = a.RunDeadline(opts.Deadline)
	var failed error
	if *onlyKind != "wal" {
		run, err := a.Sync(ctx, cat, opts)
		if err != nil {
			return err
		}
		failed = printRun(stdout, run, *asJSON)
	}
	if *onlyKind != "tables" && hasLogBased(cat, cfg.DefaultReplicationMethod) {
		run, err := a.Drain(ctx, cat, opts)
		if err != nil {
			return err
		}
		if err := printRun(stdout, run, *asJSON); err != nil {
			failed = err
		}
	}
	return failed
}

// hasLogBased says whether the catalog selects a LOG_BASED stream.
func hasLogBased(cat *catalog.Catalog, defaultMethod layout.Method) bool {
	sels, _ := cat.Selections(defaultMethod)
	for _, s := range sels {
		if s.Method == layout.LogBased {
			return true
		}
	}
	return false
}

// errRunFailed makes the exit status say that a stream failed; the
// report already said which and why.
var errRunFailed = errors.New("some streams failed (see the report above)")

func printRun(w io.Writer, run *report.Run, asJSON bool) error {
	if asJSON {
		b, _ := json.MarshalIndent(run, "", "  ")
		fmt.Fprintln(w, string(b))
	} else {
		reportview.WriteRun(w, run)
	}
	if run.Failed() {
		return errRunFailed
	}
	return nil
}

func newProgress(w io.Writer) *report.Progress {
	tty := false
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	return &report.Progress{W: w, TTY: tty, Interval: 10 * time.Second}
}
