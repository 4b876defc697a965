package reportview

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/pg2s3/pg2s3/shared/report"
)

// maxBars is the most bars the rows chart draws: more runs are grouped,
// consecutive runs sharing a bar, so that every bar stays a few pixels
// wide.
const maxBars = 120

// namedStreams is how many streams get a color of their own in the rows
// chart; the rest share one ("other streams").
const namedStreams = 9

// palette colors the streams; red is kept for failures.
var palette = []string{"#4e79a7", "#f28e2b", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#9c755f", "#a0cbe8", "#8cd17d", "#86bcb6"}

const (
	otherColor = "#bab0ac"
	emptyColor = "#c8c8c8"
	failColor  = "#d62728"
)

// barChart is rows per run, stacked by stream.
type barChart struct {
	frame
	Bars []bar
	// Legend names each color, largest stream first.
	Legend []legendItem
	// PerBar is how many runs share a bar (1: one bar per run).
	PerBar int
	// HasFailed says some bar is marked failed.
	HasFailed bool
}

// bar is one run, or a group of consecutive runs.
type bar struct {
	Runs   int
	Failed bool
	Shade  svgRect   // failed: a faint red column behind the bar
	Rects  []svgRect // stream segments, bottom up
	Marker string    // failed: the points of a red triangle above the bar
	Title  string
}

type legendItem struct {
	Color string
	Name  string
	Rows  string
}

// colorKey is a stream's color group: itself or "other streams".
type colorKey struct {
	name  string
	color string
}

// streamColors gives the streams with most rows a color each, the others
// one shared color, and returns the legend in stacking order.
func streamColors(runs []*report.Run) (map[string]colorKey, []legendItem) {
	totals := map[string]int64{}
	for _, r := range runs {
		for _, s := range r.Streams {
			totals[s.Stream] += s.Rows
		}
	}
	names := make([]string, 0, len(totals))
	for n := range totals {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		if totals[names[i]] != totals[names[j]] {
			return totals[names[i]] > totals[names[j]]
		}
		return names[i] < names[j]
	})
	named := len(names)
	if named > namedStreams+1 {
		named = namedStreams
	}
	keys := map[string]colorKey{}
	var legend []legendItem
	for i, n := range names[:named] {
		keys[n] = colorKey{name: n, color: palette[i%len(palette)]}
		legend = append(legend, legendItem{Color: palette[i%len(palette)], Name: n, Rows: groupDigits(totals[n])})
	}
	if rest := names[named:]; len(rest) > 0 {
		other := colorKey{name: fmt.Sprintf("%d other streams", len(rest)), color: otherColor}
		var rows int64
		for _, n := range rest {
			keys[n] = other
			rows += totals[n]
		}
		legend = append(legend, legendItem{Color: otherColor, Name: other.name, Rows: groupDigits(rows)})
	}
	return keys, legend
}

// runGroup is the runs one bar stands for.
type runGroup struct {
	runs   []*report.Run
	rows   int64
	byKey  map[colorKey]int64
	failed []string // what failed, for the tooltip
}

// groupRuns splits runs (oldest first) into at most most groups of
// consecutive runs, all of the same size but the last.
func groupRuns(runs []*report.Run, most int, keys map[string]colorKey) []runGroup {
	per := (len(runs) + most - 1) / most
	if per < 1 {
		per = 1
	}
	var groups []runGroup
	for i := 0; i < len(runs); i += per {
		g := runGroup{runs: runs[i:min(i+per, len(runs))], byKey: map[colorKey]int64{}}
		for _, r := range g.runs {
			for _, s := range r.Streams {
				g.byKey[keys[s.Stream]] += s.Rows
				g.rows += s.Rows
				if s.Error != "" {
					g.failed = append(g.failed, s.Stream)
				}
			}
			if r.Unsuccessful() && !r.Failed() {
				g.failed = append(g.failed, fmt.Sprintf("run %s stopped: %s", r.RunID, r.StopReason))
			}
		}
		groups = append(groups, g)
	}
	return groups
}

// rowsChart draws the rows each run moved, one bar per run (or per group
// of runs when there are more than maxBars), stacked by stream, failed
// runs marked.
func rowsChart(runs []*report.Run) *barChart {
	c := &barChart{frame: frame{W: 1160, H: 320, Left: 76, Right: 16, Top: 26, Bottom: 56}}
	keys, legend := streamColors(runs)
	c.Legend = legend
	groups := groupRuns(runs, maxBars, keys)
	if len(groups) == 0 {
		return c
	}
	c.PerBar = len(groups[0].runs)
	var most float64
	for _, g := range groups {
		most = math.Max(most, float64(g.rows))
	}
	sc := niceScale(most)
	yTitle := "rows per run"
	if c.PerBar > 1 {
		yTitle = fmt.Sprintf("rows per %d runs", c.PerBar)
	}
	c.yAxis(sc, yTitle)
	slot := c.plotW() / float64(len(groups))
	width := math.Max(1, math.Min(slot*0.75, 48))
	for i, g := range groups {
		b := c.drawBar(g, legend, keys, sc, c.Left+slot*float64(i), slot, width)
		c.HasFailed = c.HasFailed || b.Failed
		c.Bars = append(c.Bars, b)
	}
	c.xTicks(groups, slot)
	per := "one bar per run"
	if c.PerBar > 1 {
		per = fmt.Sprintf("one bar per %d consecutive runs", c.PerBar)
	}
	c.xTitle(fmt.Sprintf("run start, %s (UTC); %s, oldest left", spanCaption(runs[0].StartedAt, runs[len(runs)-1].StartedAt), per))
	return c
}

// drawBar stacks a group's streams in legend order in the slot starting
// at left.
func (c *barChart) drawBar(g runGroup, legend []legendItem, keys map[string]colorKey, sc scale, left, slot, width float64) bar {
	b := bar{Runs: len(g.runs), Failed: len(g.failed) > 0, Title: groupTitle(g)}
	x := left + (slot-width)/2
	y := c.baseY()
	for _, item := range legend {
		rows := g.byKey[colorKey{name: item.Name, color: item.Color}]
		if rows == 0 {
			continue
		}
		// A segment too small to see gets a pixel, so every stream
		// that moved rows shows.
		h := math.Max(2, float64(rows)/sc.top*c.plotH())
		y -= h
		b.Rects = append(b.Rects, svgRect{X: x, Y: y, W: width, H: h, Fill: item.Color,
			Title: fmt.Sprintf("%s: %s rows", item.Name, groupDigits(rows))})
	}
	if g.rows == 0 {
		// A run that moved nothing still gets a stub, so it is seen.
		y -= 2
		b.Rects = append(b.Rects, svgRect{X: x, Y: y, W: width, H: 2, Fill: emptyColor, Title: "no rows"})
	}
	if b.Failed {
		b.Shade = svgRect{X: left, Y: c.Top, W: slot, H: c.plotH(), Fill: failColor}
		half := math.Max(3, math.Min(width/2+1, 6))
		cx := x + width/2
		tip := y - 3
		b.Marker = fmt.Sprintf("%s,%s %s,%s %s,%s", f1(cx-half), f1(tip-8), f1(cx+half), f1(tip-8), f1(cx), f1(tip))
	}
	return b
}

// xTicks labels about eight bars with their first run's start.
func (c *barChart) xTicks(groups []runGroup, slot float64) {
	first := groups[0].runs[0].StartedAt
	last := groups[len(groups)-1].runs[0].StartedAt
	step := time.Minute // labels show minutes, or seconds when runs are close
	if last.Sub(first) < time.Hour {
		step = time.Second
	}
	every := (len(groups) + 7) / 8
	var at []time.Time
	var idx []int
	for i := 0; i < len(groups); i += every {
		at = append(at, groups[i].runs[0].StartedAt)
		idx = append(idx, i)
	}
	for k, label := range timeLabels(at, step, first) {
		c.xTick(c.Left+slot*(float64(idx[k])+0.5), label)
	}
}

// groupTitle is a bar's tooltip: when, what moved, what failed.
func groupTitle(g runGroup) string {
	var b strings.Builder
	first := g.runs[0]
	if len(g.runs) == 1 {
		fmt.Fprintf(&b, "%s · %s run %s · %s rows", first.StartedAt.UTC().Format("2006-01-02 15:04:05 UTC"), first.Kind, first.RunID, groupDigits(g.rows))
	} else {
		last := g.runs[len(g.runs)-1]
		fmt.Fprintf(&b, "%d runs, %s – %s · %s rows", len(g.runs), first.StartedAt.UTC().Format("2006-01-02 15:04"),
			last.StartedAt.UTC().Format(spanEndLayout(first.StartedAt, last.StartedAt)+" UTC"), groupDigits(g.rows))
	}
	streams := map[string]int64{}
	var names []string
	for _, r := range g.runs {
		for _, s := range r.Streams {
			if _, ok := streams[s.Stream]; !ok {
				names = append(names, s.Stream)
			}
			streams[s.Stream] += s.Rows
		}
	}
	sort.SliceStable(names, func(i, j int) bool { return streams[names[i]] > streams[names[j]] })
	for i, n := range names {
		if i == 12 {
			fmt.Fprintf(&b, "\n  … and %d more streams", len(names)-i)
			break
		}
		fmt.Fprintf(&b, "\n  %s: %s", n, groupDigits(streams[n]))
	}
	if len(g.failed) > 0 {
		fmt.Fprintf(&b, "\nerrors: %s", strings.Join(uniq(g.failed, 6), ", "))
	}
	return b.String()
}

// uniq keeps the first most distinct items, noting how many more.
func uniq(items []string, most int) []string {
	seen := map[string]bool{}
	var out []string
	more := 0
	for _, it := range items {
		if seen[it] {
			continue
		}
		seen[it] = true
		if len(out) == most {
			more++
			continue
		}
		out = append(out, it)
	}
	if more > 0 {
		out = append(out, fmt.Sprintf("%d more", more))
	}
	return out
}
