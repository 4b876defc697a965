package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/pg2s3/pg2s3/cmd/internal/cli"
	"github.com/pg2s3/pg2s3/shared/app"
	"github.com/pg2s3/pg2s3/shared/config"
	"github.com/pg2s3/pg2s3/shared/layout"
	"github.com/pg2s3/pg2s3/shared/report"
	"github.com/pg2s3/pg2s3/shared/reportview"
)

func init() {
	prog.Register("report", "show recent runs: what ran, what moved and what failed (table, --json, or an --html page with charts)", runReport)
}

func runReport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := prog.NewFlags("report", stderr)
	cfgPath := fs.String("config", "config.json", "config file (JSON); only its sink is read, the database is not contacted")
	last := fs.Int("last", 50, "show the newest N matching runs (0: all)")
	since := fs.Duration("since", 0, "only runs started within this long before now, e.g. 24h or 90m (0: any time)")
	asJSON := fs.Bool("json", false, "print the run reports as a JSON array (the fields of the _runs/ objects)")
	htmlPath := fs.String("html", "", "write a self-contained HTML page with charts to this file")
	var streams cli.StreamList
	fs.Var(&streams, "stream", "only runs of this tap_stream_id, and only its lines (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q: %w", fs.Arg(0), cli.ErrUsage)
	}
	if *last < 0 || *since < 0 {
		return fmt.Errorf("--last and --since take a count and a duration that are not negative: %w", cli.ErrUsage)
	}
	cfg, err := cli.LoadConfig(*cfgPath)
	if err != nil {
		return err
	}
	q := report.Query{Last: *last, Streams: streams}
	if *since > 0 {
		q.Since = time.Now().Add(-*since)
	}
	where := sinkLocation(cfg) + layout.RunsPrefix
	runs, err := readReports(ctx, cfg, q)
	if err != nil {
		return fmt.Errorf("cannot read the run reports in %s: %w (check the sink settings in %s and, for S3, your AWS credentials)", where, err, *cfgPath)
	}
	if len(runs) == 0 {
		fmt.Fprintf(noRunsOut(stdout, stderr, *asJSON || *htmlPath != ""), "no run reports under %s%s: run pg2s3 sync first\n", where, describeFilter(q, *since, false))
	}
	if *htmlPath != "" {
		if err := writeReportPage(*htmlPath, runs, cfg, where, describeFilter(q, *since, true)); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "wrote %s (%d runs)\n", *htmlPath, len(runs))
	}
	switch {
	case *asJSON:
		if runs == nil {
			runs = []*report.Run{}
		}
		b, err := json.MarshalIndent(runs, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(stdout, string(b))
		return err
	case *htmlPath == "" && len(runs) > 0:
		return reportview.WriteTable(stdout, runs, where)
	}
	return nil
}

// readReports reads the run reports q selects from cfg's sink. A local
// sink directory that does not exist holds no reports (and is not
// created).
func readReports(ctx context.Context, cfg *config.Config, q report.Query) ([]*report.Run, error) {
	if cfg.Sink.Type == "local" {
		if _, err := os.Stat(cfg.Sink.Path); errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
	}
	st, err := app.OpenStores(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return report.Find(ctx, st.Sink, q)
}

// noRunsOut is where "no run reports" goes: stdout, unless stdout carries
// JSON or a page is written.
func noRunsOut(stdout, stderr io.Writer, machine bool) io.Writer {
	if machine {
		return stderr
	}
	return stdout
}

// sinkLocation names the sink for people, ending in a slash.
func sinkLocation(cfg *config.Config) string {
	if cfg.Sink.Type == "local" {
		return strings.TrimSuffix(cfg.Sink.Path, "/") + "/"
	}
	loc := "s3://" + cfg.Sink.Bucket + "/"
	if cfg.Sink.Prefix != "" {
		loc += cfg.Sink.Prefix + "/"
	}
	return loc
}

// describeFilter says which runs were asked for; long includes the
// default --last.
func describeFilter(q report.Query, since time.Duration, long bool) string {
	var parts []string
	if q.Last > 0 && long {
		parts = append(parts, fmt.Sprintf("newest %d runs", q.Last))
	}
	if since > 0 {
		parts = append(parts, "started in the last "+since.String())
	}
	if len(q.Streams) > 0 {
		parts = append(parts, "streams "+strings.Join(q.Streams, ", "))
	}
	if len(parts) == 0 {
		return ""
	}
	if long {
		return strings.Join(parts, ", ")
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// writeReportPage writes the HTML page to path, whole or not at all.
func writeReportPage(path string, runs []*report.Run, cfg *config.Config, where, filter string) error {
	var buf bytes.Buffer
	opt := reportview.PageOptions{Title: cfg.Pipeline, Where: where, Filter: filter, MaxLag: cfg.MaxLag, MaxRetainedBytes: cfg.MaxRetainedWALBytes}
	if err := reportview.WriteHTML(&buf, runs, opt); err != nil {
		return err
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write the HTML report: %w", err)
	}
	return nil
}
