package reportview

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/pg2s3/pg2s3/shared/report"
)

var t0 = time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)

// sampleRuns makes n runs 15 minutes apart, alternating a table sync of
// three streams and a log drain of one; every seventh run has a failed
// stream.
func sampleRuns(n int) []*report.Run {
	var runs []*report.Run
	for i := range n {
		start := t0.Add(time.Duration(i) * 15 * time.Minute)
		r := &report.Run{RunID: fmt.Sprintf("r%04d", i), Pipeline: "shop", StartedAt: start, FinishedAt: start.Add(3 * time.Second), StopReason: "done"}
		if i%2 == 0 {
			r.Kind = "sync"
			r.Streams = []report.Stream{
				{Stream: "shop-public-customers", Method: "FULL_TABLE", Rows: 1200, Bytes: 90 << 10, Batches: 3, DurationMS: 900, CopyDone: true},
				{Stream: "shop-public-products", Method: "INCREMENTAL", Rows: int64(i % 40), Bytes: int64(i%40) * 80, Batches: 1, DurationMS: 20},
				{Stream: "shop-public-events", Method: "FULL_TABLE", Rows: 300, Bytes: 20 << 10, Batches: 1, DurationMS: 200, CopyDone: true},
			}
		} else {
			r.Kind = "wal"
			r.Streams = []report.Stream{{Stream: "shop-public-orders", Method: "LOG_BASED", Rows: int64(50 + i%17*10), Bytes: 4 << 10, Batches: 1, CopyDone: true}}
			r.Slot = &report.Slot{Name: "pg2s3_shop", Plugin: "pgoutput", StartLSN: "0/1000", EndLSN: "0/2000", FenceLSN: "0/1F00", Changes: 60, Transactions: 6,
				RetainedBytes: int64(1<<20 + i%11*300<<10), LagSeconds: float64(i%13) * 1.5, ReachedFence: true}
		}
		if i%7 == 3 {
			r.Streams[0].Error = "relation \"public.customers\" does not exist"
			r.StopReason = "error"
		}
		runs = append(runs, r)
	}
	return runs
}

func renderHTML(t *testing.T, runs []*report.Run, opt PageOptions) string {
	t.Helper()
	var b bytes.Buffer
	if err := WriteHTML(&b, runs, opt); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// element is an element of a parsed page.
type element struct {
	name  string
	attrs map[string]string
	text  string // its own text, entities decoded
}

// parsePage reads an HTML page with encoding/xml's HTML mode: it fails
// on broken markup and returns every element with its attributes.
func parsePage(t *testing.T, page string) []*element {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(page))
	d.Strict = false
	d.AutoClose = xml.HTMLAutoClose
	d.Entity = xml.HTMLEntity
	var out, stack []*element
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("the page does not parse: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			e := &element{name: strings.ToLower(tok.Name.Local), attrs: map[string]string{}}
			for _, a := range tok.Attr {
				name := a.Name.Local
				if a.Name.Space != "" {
					name = a.Name.Space + ":" + name
				}
				e.attrs[strings.ToLower(name)] = a.Value
			}
			out = append(out, e)
			stack = append(stack, e)
		case xml.EndElement:
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].text += string(tok)
			}
		}
	}
}

// checkSelfContained fails on anything that would load from elsewhere or
// run code.
func checkSelfContained(t *testing.T, page string, els []*element) {
	t.Helper()
	for _, e := range els {
		if e.name == "script" || e.name == "link" || e.name == "iframe" || e.name == "img" {
			t.Errorf("the page has a <%s> element", e.name)
		}
		for k, v := range e.attrs {
			if k == "src" || k == "href" || k == "xlink:href" || strings.HasPrefix(k, "on") {
				t.Errorf("<%s %s=%q>: the page must not load or run anything", e.name, k, v)
			}
		}
	}
	for _, bad := range []string{"url(", "@import", "ZgotmplZ", "http://", "https://"} {
		if strings.Contains(page, bad) {
			t.Errorf("the page holds %q", bad)
		}
	}
}

func find(els []*element, name, class string) []*element {
	var out []*element
	for _, e := range els {
		if e.name == name && (class == "" || strings.Contains(" "+e.attrs["class"]+" ", " "+class+" ")) {
			out = append(out, e)
		}
	}
	return out
}

func TestHTMLNoRuns(t *testing.T) {
	page := renderHTML(t, nil, PageOptions{Where: "/data/_runs/", Now: t0})
	els := parsePage(t, page)
	checkSelfContained(t, page, els)
	if !strings.Contains(page, "No run reports in /data/_runs/") || !strings.Contains(page, "pg2s3 sync") {
		t.Errorf("an empty page should say there are no reports and what to run")
	}
	if len(find(els, "svg", "")) != 0 || len(find(els, "table", "")) != 0 {
		t.Errorf("an empty page has no charts and no table")
	}
}

func TestHTMLOneRun(t *testing.T) {
	runs := sampleRuns(1)
	page := renderHTML(t, runs, PageOptions{Now: t0})
	els := parsePage(t, page)
	checkSelfContained(t, page, els)
	bars := find(els, "g", "bar")
	if len(bars) != 1 || bars[0].attrs["data-runs"] != "1" {
		t.Fatalf("%d bars, want one for one run", len(bars))
	}
	if rects := find(els, "rect", ""); len(rects) != 2 {
		t.Errorf("the bar has %d segments, want one per stream that moved rows (2)", len(rects))
	}
	if !strings.Contains(page, "No log drain") {
		t.Errorf("without wal runs the slot section should say so")
	}
	// The y axis reaches above the bar (1,500 rows) with round ticks.
	var ticks []string
	for _, e := range find(els, "text", "tick") {
		ticks = append(ticks, e.text)
	}
	if got := strings.Join(ticks, " "); !strings.HasPrefix(got, "0 500 1k 1.5k ") {
		t.Errorf("tick labels %q", got)
	}
}

func TestHTMLManyRuns(t *testing.T) {
	runs := sampleRuns(500)
	page := renderHTML(t, runs, PageOptions{Now: t0, MaxLag: 20 * time.Second, MaxRetainedBytes: 1 << 30})
	els := parsePage(t, page)
	checkSelfContained(t, page, els)
	bars := find(els, "g", "bar")
	if len(bars) > maxBars || len(bars) < maxBars/2 {
		t.Fatalf("%d bars for 500 runs, want at most %d and not too few", len(bars), maxBars)
	}
	total, failed := 0, 0
	for _, b := range bars {
		var n int
		fmt.Sscan(b.attrs["data-runs"], &n)
		total += n
		if strings.Contains(b.attrs["class"], "failed") {
			failed++
		}
	}
	if total != 500 {
		t.Errorf("the bars stand for %d runs, want 500", total)
	}
	if failed == 0 || failed == len(bars) {
		t.Errorf("%d of %d bars marked failed", failed, len(bars))
	}
	if len(find(els, "polygon", "marker")) != failed {
		t.Errorf("each failed bar needs a marker")
	}
	lines := find(els, "polyline", "series")
	if len(lines) != 2 {
		t.Fatalf("%d slot series, want lag and retained WAL", len(lines))
	}
	if n := len(strings.Fields(lines[0].attrs["points"])); n != 250 {
		t.Errorf("the lag line has %d points, want one per wal run (250)", n)
	}
	// 250 drains: only the failed ones get a dot.
	if dots := find(els, "circle", "dot"); len(dots) == 0 || len(dots) > 100 {
		t.Errorf("%d dots", len(dots))
	}
	// The lag alarm (20 s) is near the data (at most 18 s): drawn; the
	// retained WAL alarm (1 GiB) is far above a few MiB: only named.
	if th := find(els, "line", "threshold"); len(th) != 1 {
		t.Errorf("%d threshold lines, want the lag one", len(th))
	}
	if !strings.Contains(page, "alarm level 1 GiB (max_retained_wal_mb) is far above this range") {
		t.Errorf("the retained WAL chart should name its alarm level")
	}
	// Tick labels do not crowd: at most about eight under the bars.
	xLabels := 0
	for _, e := range find(els, "text", "tick") {
		if e.attrs["text-anchor"] == "middle" {
			xLabels++
		}
	}
	if xLabels > 8+2*8 {
		t.Errorf("%d x tick labels", xLabels)
	}
	if got := len(find(els, "tbody", "run")); got != 500 {
		t.Errorf("the table has %d runs, want 500", got)
	}
}

func TestHTMLHostileText(t *testing.T) {
	evil := `<script>alert("x")</script>`
	runs := sampleRuns(2)
	runs[0].Streams[0].Stream = evil
	runs[0].Streams[0].Error = `bad </td></tr></table><img src=x onerror=alert(1)> & more`
	runs[1].RunID = `"><svg onload=alert(2)>`
	runs[1].Slot.Name = `</title><script>alert(3)</script>`
	page := renderHTML(t, runs, PageOptions{Title: `</title><script>alert(4)</script>`, Where: `s3://b/<i>p</i>/`, Now: t0})
	els := parsePage(t, page)
	checkSelfContained(t, page, els)
	if strings.Contains(page, "<script") || strings.Contains(page, "<img") || strings.Contains(page, "<svg onload") {
		t.Fatalf("text from the reports became markup")
	}
	found := map[string]bool{}
	for _, e := range els {
		for _, want := range []string{evil, runs[0].Streams[0].Error} {
			if strings.Contains(e.text, want) {
				found[want] = true
			}
		}
	}
	if len(found) != 2 {
		t.Errorf("the stream name and error should be shown as text, found %v", found)
	}
}

func TestTableFits(t *testing.T) {
	runs := sampleRuns(6)
	runs[3].Streams[0].Stream = "warehouse-analytics_staging-customer_lifetime_value_snapshots"
	runs[3].Streams[0].Error = strings.Repeat("a long error message that must wrap ", 8)
	var b bytes.Buffer
	if err := WriteTable(&b, runs, "/data/_runs/"); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, l := range strings.Split(out, "\n") {
		if n := utf8.RuneCountInString(l); n > TableWidth {
			t.Errorf("line of %d characters:\n%s", n, l)
		}
	}
	for _, want := range []string{
		"6 runs from 2025-03-14 09:00:00 to 10:15:03 UTC (3 sync, 3 wal)\n4,746 rows, 342.5 KiB; 1 run with errors\n",
		"2025-03-14 09:45:00 UTC  wal   run r0003, 3.0s, stopped: error  <-- errors",
		"warehouse…time_value_snapshots LOG_BASED",
		"    a long error message",
		"  slot pg2s3_shop (pgoutput): 60 changes in 6 transactions, 0/1000 -> 0/2000 (fence reached)",
		"  shop-public-customers          FULL_TABLE       1,200     90 KiB       3   900ms  ok, copy done\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	b.Reset()
	WriteTable(&b, nil, "/data/_runs/")
	if !strings.HasPrefix(b.String(), "no runs") {
		t.Errorf("empty table: %q", b.String())
	}
}

func TestScales(t *testing.T) {
	for _, c := range []struct {
		max       float64
		top, step float64
	}{{0, 1, 0.25}, {1, 1, 0.2}, {7, 8, 2}, {1500, 1500, 500}, {8006, 10000, 2000}, {0.19, 0.2, 0.05}} {
		sc := niceScale(c.max)
		if sc.top != c.top || sc.step != c.step {
			t.Errorf("niceScale(%v) = top %v step %v, want %v %v", c.max, sc.top, sc.step, c.top, c.step)
		}
	}
	if sc := byteScale(3 << 20); sc.unit != "MiB" || sc.label(sc.top) != "3" {
		t.Errorf("byteScale(3 MiB): %+v", sc)
	}
	for _, c := range []struct {
		d    time.Duration
		want string
	}{{850 * time.Millisecond, "850ms"}, {12300 * time.Millisecond, "12.3s"}, {245 * time.Second, "4m05s"}, {127 * time.Minute, "2h07m"}, {76 * time.Hour, "3d04h"}} {
		if got := shortDuration(c.d); got != c.want {
			t.Errorf("shortDuration(%v) = %q, want %q", c.d, got, c.want)
		}
	}
	if got := groupDigits(-1234567); got != "-1,234,567" {
		t.Errorf("groupDigits: %q", got)
	}
}
