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
	"github.com/pg2s3/pg2s3/shared/report"
)

func init() {
	prog.Register("status", "show each stream's bookmark and last run and the slot's retained WAL; exit 1 when something needs attention", runStatus)
}

// errAttention makes the exit status say that something needs a person;
// the screen already said what.
var errAttention = errors.New("needs attention (see above)")

func runStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := prog.NewFlags("status", stderr)
	cfgPath := fs.String("config", "config.json", "config file (JSON)")
	catPath := fs.String("catalog", "catalog.json", "catalog file, to list selected streams that never ran (optional)")
	asJSON := fs.Bool("json", false, "print the status as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := cli.LoadConfig(*cfgPath)
	if err != nil {
		return err
	}
	var cat *catalog.Catalog
	if _, err := os.Stat(*catPath); err == nil {
		if cat, err = catalog.Load(*catPath); err != nil {
			return err
		}
	}
	a, err := app.Open(ctx, cfg, nil)
	if err != nil {
		return err
	}
	st, err := a.Status(ctx, cat)
	if err != nil {
		return err
	}
	if *asJSON {
		b, _ := json.MarshalIndent(st, "", "  ")
		fmt.Fprintln(stdout, string(b))
	} else {
		writeStatus(stdout, st)
	}
	if len(st.Attention) > 0 {
		return errAttention
	}
	return nil
}

func writeStatus(w io.Writer, st *app.Status) {
	now := st.CheckedAt
	fmt.Fprintf(w, "pipeline %s: %s\n\n", st.Pipeline, st.Where)
	if len(st.Streams) == 0 {
		fmt.Fprintln(w, "no streams yet: select streams in catalog.json (pg2s3 discover) and run pg2s3 sync")
	} else {
		fmt.Fprintf(w, "%-34s %-11s %-15s %-16s %9s  %s\n", "STREAM", "METHOD", "VERSION", "LAST RUN", "ROWS", "RESULT / BOOKMARK")
	}
	for _, s := range st.Streams {
		last := "never"
		if !s.LastRun.IsZero() {
			last = ago(now, s.LastRun)
		}
		version := "-"
		if s.Version != 0 {
			version = fmt.Sprint(s.Version)
		}
		method := s.Method
		if !s.Selected {
			method += "*"
		}
		result := s.LastResult
		if len(result) > 60 {
			result = result[:57] + "..."
		}
		fmt.Fprintf(w, "%-34s %-11s %-15s %-16s %9d  %s\n", s.Stream, method, version, last, s.LastRows, result)
		if s.Bookmark != "" {
			fmt.Fprintf(w, "%-34s %-11s %-15s %-16s %9s  bookmark: %s\n", "", "", "", "", "", s.Bookmark)
		}
	}
	if anyUnselected(st) {
		fmt.Fprintln(w, "* not selected in the catalog any more (its bookmark is kept)")
	}
	if sl := st.Slot; sl != nil {
		fmt.Fprintf(w, "\nslot %s (%s): ", sl.Name, sl.Plugin)
		switch {
		case sl.Error != "":
			fmt.Fprintln(w, "unknown: the database could not be asked")
		case !sl.Exists:
			fmt.Fprintln(w, "does not exist")
		default:
			active := "idle"
			if sl.Active {
				active = "being read"
			}
			fmt.Fprintf(w, "%s, retains %s of WAL, %s behind the server", active, report.HumanBytes(sl.RetainedBytes), report.HumanBytes(sl.BehindBytes))
			if sl.CommittedLSN != "" {
				fmt.Fprintf(w, ", committed up to %s", sl.CommittedLSN)
			}
			fmt.Fprintln(w)
		}
		if sl.LastDrain.IsZero() {
			fmt.Fprintln(w, "  last drain: never")
		} else {
			failed := ""
			if sl.LastDrainFailed {
				failed = " (failed: see the attention list)"
			}
			fmt.Fprintf(w, "  last drain: %s%s, lag %.1fs\n", ago(now, sl.LastDrain), failed, sl.LastLagSeconds)
		}
		if sl.PartialRuns > 0 {
			in := "before the next transaction"
			if sl.PartialCommitLSN != "" {
				in = "inside the transaction committing at " + sl.PartialCommitLSN
			}
			fmt.Fprintf(w, "  cut off %s in %d drain(s) in a row\n", in, sl.PartialRuns)
		}
	}
	if len(st.Tasks) > 0 {
		fmt.Fprintln(w, "\ntasks (work a bounded run cannot finish):")
		for _, t := range st.Tasks {
			fmt.Fprintf(w, "  %s: started %s by run %s: %s\n", t.Work, ago(now, t.StartedAt), t.StartedBy, t.State)
		}
	}
	fmt.Fprintln(w)
	if len(st.Attention) == 0 {
		fmt.Fprintln(w, "status: ok")
		return
	}
	fmt.Fprintf(w, "status: NEEDS ATTENTION (%d)\n", len(st.Attention))
	for _, a := range st.Attention {
		fmt.Fprintf(w, "  - %s\n", a)
	}
}

func anyUnselected(st *app.Status) bool {
	for _, s := range st.Streams {
		if !s.Selected {
			return true
		}
	}
	return false
}

// ago prints a time as how long before now it was.
func ago(now, t time.Time) string {
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%.1fh ago", d.Hours())
	}
	return t.Format("2006-01-02")
}
