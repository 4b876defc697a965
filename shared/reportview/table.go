package reportview

import (
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pg2s3/pg2s3/shared/layout"
	"github.com/pg2s3/pg2s3/shared/report"
)

// TableWidth is the terminal width WriteTable fits.
const TableWidth = 100

// Column widths of a stream line; the result takes what is left.
const (
	streamCol  = 30
	methodCol  = 11
	rowsCol    = 10
	bytesCol   = 10
	batchesCol = 7
	timeCol    = 7
)

// WriteRun prints one run for people, as pg2s3 sync shows it when the
// run ends: the run's line, a line per stream (method, rows, bytes,
// batches, table version or error), a log drain's slot line and where the
// report was stored.
func WriteRun(w io.Writer, r *report.Run) {
	fmt.Fprintf(w, "run %s (%s) %s, %s, stopped: %s\n", r.RunID, r.Kind, r.StartedAt.Format(time.RFC3339), r.FinishedAt.Sub(r.StartedAt).Round(time.Millisecond), r.StopReason)
	fmt.Fprintf(w, "  %-40s %-11s %10s %12s %7s  %s\n", "STREAM", "METHOD", "ROWS", "BYTES", "BATCHES", "STATE")
	for _, s := range r.Streams {
		state := fmt.Sprintf("version %d", s.TableVersion)
		if s.CopyDone {
			state += ", copy done"
		}
		if s.Handoff != "" {
			state += ", copied in key ranges by parallel copy execution " + s.Handoff
		}
		if len(s.NewColumns) > 0 {
			state += ", new columns " + strings.Join(s.NewColumns, ", ") + " (not in the catalog: pg2s3 discover --out records them)"
		}
		if s.Error != "" {
			state = "ERROR: " + s.Error
		}
		fmt.Fprintf(w, "  %-40s %-11s %10d %12d %7d  %s\n", s.Stream, s.Method, s.Rows, s.Bytes, s.Batches, state)
	}
	if sl := r.Slot; sl != nil {
		fmt.Fprintf(w, "  %s\n", slotLine(sl))
	}
	if r.ReportKey != "" {
		fmt.Fprintf(w, "  report: %s\n", r.ReportKey)
	}
}

// WriteTable prints runs for people, oldest first, within TableWidth
// columns: a summary, then per run a line (start, kind, run id, duration,
// stop reason), a line per stream (method, rows, bytes, batches, duration,
// result), a failed stream's error wrapped below it and a log drain's slot
// line. where names where the reports were read, for the summary.
func WriteTable(w io.Writer, runs []*report.Run, where string) error {
	tw := &errWriter{w: w}
	sum := summarize(runs)
	tw.printf("%s\n", summaryLines(sum))
	if where != "" {
		tw.printf("reports in %s\n", where)
	}
	if len(runs) == 0 {
		return tw.err
	}
	tw.printf("\n  %-*s %-*s %*s %*s %*s %*s  %s\n", streamCol, "STREAM", methodCol, "METHOD", rowsCol, "ROWS",
		bytesCol, "BYTES", batchesCol, "BATCHES", timeCol, "TIME", "RESULT")
	for _, r := range runs {
		writeRun(tw, r)
	}
	return tw.err
}

// summaryLines are the table's first lines.
func summaryLines(s summary) string {
	if s.Runs == 0 {
		return "no runs"
	}
	line := fmt.Sprintf("%s from %s to %s UTC (%s)\n%s rows, %s",
		plural(s.Runs, "run"), s.First.UTC().Format("2006-01-02 15:04:05"),
		s.Last.UTC().Format(spanEndLayout(s.First, s.Last)), s.kindCounts(), groupDigits(s.Rows), report.HumanBytes(s.Bytes))
	if s.FailedRuns > 0 {
		return line + fmt.Sprintf("; %s with errors", plural(s.FailedRuns, "run"))
	}
	return line + "; no errors"
}

// spanEndLayout leaves the date out of a span's end on the start's day.
func spanEndLayout(first, last time.Time) string {
	if first.UTC().Format("20060102") == last.UTC().Format("20060102") {
		return "15:04:05"
	}
	return "2006-01-02 15:04:05"
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func writeRun(tw *errWriter, r *report.Run) {
	head := fmt.Sprintf("%s  %-5s run %s, %s, stopped: %s", r.StartedAt.UTC().Format("2006-01-02 15:04:05 UTC"),
		r.Kind, r.RunID, shortDuration(r.Duration()), orDash(r.StopReason))
	if r.Unsuccessful() {
		head += "  <-- errors"
	}
	tw.printf("%s\n", head)
	if len(r.Streams) == 0 {
		tw.printf("  (no streams)\n")
	}
	for _, s := range r.Streams {
		tw.printf("  %s %-*s %*s %*s %*d %*s  %s\n", pad(cut(s.Stream, streamCol), streamCol), methodCol, s.Method,
			rowsCol, groupDigits(s.Rows), bytesCol, report.HumanBytes(s.Bytes), batchesCol, s.Batches,
			timeCol, streamTime(s), streamResult(s))
		if s.Error != "" {
			for _, l := range wrap(s.Error, TableWidth-4) {
				tw.printf("    %s\n", l)
			}
		}
	}
	if r.Slot != nil {
		for i, l := range pack(slotParts(r.Slot), TableWidth-4) {
			tw.printf("%s%s\n", indent(i), l)
		}
	}
}

// indent is how far line i of a wrapped line is indented: continuation
// lines two more than the first.
func indent(i int) string {
	if i == 0 {
		return "  "
	}
	return "    "
}

// pack joins phrases with ", " into lines of at most width characters,
// breaking only between phrases (a phrase longer than width is wrapped).
func pack(phrases []string, width int) []string {
	var lines []string
	line := ""
	flush := func() {
		if line != "" {
			lines = append(lines, wrap(line, width)...)
		}
		line = ""
	}
	for i, p := range phrases {
		if i < len(phrases)-1 {
			p += ","
		}
		if line != "" && utf8.RuneCountInString(line)+1+utf8.RuneCountInString(p) > width {
			flush()
		}
		if line == "" {
			line = p
		} else {
			line += " " + p
		}
	}
	flush()
	return lines
}

// cut shortens s to n characters, keeping its start and end (a stream
// id's table name is at its end).
func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	head := (n - 1) / 3
	tail := n - 1 - head
	return string(r[:head]) + "…" + string(r[len(r)-tail:])
}

// pad pads s with spaces to n characters (fmt pads bytes, not runes).
func pad(s string, n int) string {
	if k := utf8.RuneCountInString(s); k < n {
		return s + strings.Repeat(" ", n-k)
	}
	return s
}

// wrap breaks text into lines of at most width characters at spaces; a
// word longer than width is broken. Newlines in text are kept.
func wrap(text string, width int) []string {
	var lines []string
	for _, para := range strings.Split(strings.TrimSpace(text), "\n") {
		var line []rune
		for _, word := range strings.Fields(para) {
			wr := []rune(word)
			for len(wr) > width {
				if len(line) > 0 {
					lines = append(lines, string(line))
					line = nil
				}
				lines = append(lines, string(wr[:width]))
				wr = wr[width:]
			}
			switch {
			case len(line) == 0:
				line = wr
			case len(line)+1+len(wr) <= width:
				line = append(append(line, ' '), wr...)
			default:
				lines = append(lines, string(line))
				line = wr
			}
		}
		if len(line) > 0 {
			lines = append(lines, string(line))
		}
	}
	return lines
}

// errWriter keeps the first write error.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, a ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, a...)
	}
}

// streamTime prints a stream's time in a run. A log-based stream's
// changes share the drain's time, which the run's line shows: "-" unless
// the stream spent time of its own (an initial copy).
func streamTime(s report.Stream) string {
	if s.DurationMS == 0 && s.Method == layout.LogBased {
		return "-"
	}
	return shortDuration(time.Duration(s.DurationMS) * time.Millisecond)
}
