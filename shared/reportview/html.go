package reportview

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"slices"
	"time"

	"github.com/pg2s3/pg2s3/shared/report"
)

// PageOptions describe the page WriteHTML writes.
type PageOptions struct {
	// Title names what the runs are of (a pipeline); Where is where the
	// reports were read; Filter describes the selection ("newest 50
	// runs"). Each is shown when set.
	Title, Where, Filter string
	// Now is when the page is made (zero: time.Now()).
	Now time.Time
	// MaxLag and MaxRetainedBytes are the alarm levels of the slot charts
	// (0: none).
	MaxLag           time.Duration
	MaxRetainedBytes int64
}

// WriteHTML writes runs (oldest first) as one self-contained HTML page:
// a summary, a chart of rows per run stacked by stream with failed runs
// marked, the slot's lag and retained WAL over the log drains, and a
// table of every run, newest first, with its errors. The page has no
// scripts and loads nothing: its CSS and SVG charts are inline, and all
// text from the reports is escaped.
func WriteHTML(w io.Writer, runs []*report.Run, opt PageOptions) error {
	if err := pageTemplate.Execute(w, newPage(runs, opt)); err != nil {
		return fmt.Errorf("write the HTML report: %w", err)
	}
	return nil
}

//go:embed page.html.tmpl
var pageSource string

var pageTemplate = template.Must(template.New("page").Funcs(template.FuncMap{"f1": f1}).Parse(pageSource))

// page is what the template shows.
type page struct {
	Title, Where, Filter, Generated string
	Cards                           []card
	Empty                           bool
	Rows                            *barChart
	Slot                            []*lineChart
	Runs                            []tableRun
}

// card is one number of the summary.
type card struct {
	Label, Value, Note string
	Bad                bool
}

// tableRun is a run in the table.
type tableRun struct {
	Started, Kind, Head string
	Failed              bool
	Streams             []tableStream
	Slot                string
}

type tableStream struct {
	Stream, Method, Rows, Bytes, Batches, Duration, Result, Error string
}

func newPage(runs []*report.Run, opt PageOptions) page {
	now := opt.Now
	if now.IsZero() {
		now = time.Now()
	}
	p := page{Title: opt.Title, Where: opt.Where, Filter: opt.Filter, Generated: now.UTC().Format("2006-01-02 15:04:05 UTC"), Empty: len(runs) == 0}
	p.Cards = cards(summarize(runs))
	if p.Empty {
		return p
	}
	p.Rows = rowsChart(runs)
	p.Slot = slotCharts(runs, opt.MaxLag, opt.MaxRetainedBytes)
	for _, r := range slices.Backward(runs) {
		p.Runs = append(p.Runs, newTableRun(r))
	}
	return p
}

// cards are the summary's numbers.
func cards(s summary) []card {
	out := []card{{Label: "Runs", Value: groupDigits(int64(s.Runs)), Note: s.kindCounts()}}
	if s.Runs == 0 {
		return out
	}
	out = append(out,
		card{Label: "Rows", Value: groupDigits(s.Rows), Note: report.HumanBytes(s.Bytes) + " written"},
		card{Label: "Runs with errors", Value: groupDigits(int64(s.FailedRuns)), Note: fmt.Sprintf("of %d", s.Runs), Bad: s.FailedRuns > 0},
		card{Label: "Time span", Value: shortDuration(s.Last.Sub(s.First)), Note: spanNote(s.First, s.Last)},
		card{Label: "Streams", Value: groupDigits(int64(len(s.Streams)))})
	if sl := s.LastSlot; sl != nil {
		out = append(out, card{Label: "Slot lag (last drain)", Value: lagText(sl.LagSeconds), Note: "retained WAL " + report.HumanBytes(sl.RetainedBytes) + ", slot " + sl.Name})
	}
	return out
}

func newTableRun(r *report.Run) tableRun {
	t := tableRun{Started: r.StartedAt.UTC().Format("2006-01-02 15:04:05"), Kind: r.Kind, Failed: r.Unsuccessful(),
		Head: fmt.Sprintf("run %s · %s · %s rows · %s · stopped: %s", r.RunID, plural(len(r.Streams), "stream"),
			groupDigits(r.Rows()), shortDuration(r.Duration()), orDash(r.StopReason))}
	for _, s := range r.Streams {
		t.Streams = append(t.Streams, tableStream{Stream: s.Stream, Method: string(s.Method), Rows: groupDigits(s.Rows), Bytes: report.HumanBytes(s.Bytes),
			Batches: groupDigits(int64(s.Batches)), Duration: streamTime(s),
			Result: streamResult(s), Error: s.Error})
	}
	if r.Slot != nil {
		t.Slot = slotLine(r.Slot)
	}
	return t
}

// spanNote is first – last to the minute, the date once when they share it.
func spanNote(first, last time.Time) string {
	first, last = first.UTC(), last.UTC()
	end := last.Format("2006-01-02 15:04")
	if first.Format("20060102") == last.Format("20060102") {
		end = last.Format("15:04")
	}
	return first.Format("2006-01-02 15:04") + " – " + end + " UTC"
}
