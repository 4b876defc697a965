package reportview

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/pg2s3/pg2s3/shared/report"
)

// maxDots is the most points a line chart marks with a dot; beyond it
// only failed drains get one.
const maxDots = 150

// lineChart is one measure of the slot over time, a point per log drain.
type lineChart struct {
	frame
	Heading string
	Caption string
	Points  string // the polyline
	Dots    []dot
	// Threshold is the configured alarm level, when it fits the chart.
	Threshold *svgLine
}

type dot struct {
	X, Y  float64
	Bad   bool
	Title string
}

// slotPoint is one drain's measures.
type slotPoint struct {
	at       time.Time
	lag      float64
	retained float64
	bad      bool
	title    string
}

// slotPoints are the log drains of runs (oldest first), at their finish.
func slotPoints(runs []*report.Run) []slotPoint {
	var out []slotPoint
	for _, r := range runs {
		if r.Slot == nil {
			continue
		}
		sl := r.Slot
		title := fmt.Sprintf("%s · %s run %s\nlag %s, retained WAL %s\n%s changes, %s -> %s",
			r.End().UTC().Format("2006-01-02 15:04:05 UTC"), r.Kind, r.RunID, lagText(sl.LagSeconds), report.HumanBytes(sl.RetainedBytes),
			groupDigits(sl.Changes), orDash(sl.StartLSN), orDash(sl.EndLSN))
		if r.Unsuccessful() {
			title += "\nstopped: " + r.StopReason
		}
		out = append(out, slotPoint{at: r.End(), lag: sl.LagSeconds, retained: float64(sl.RetainedBytes), bad: r.Unsuccessful(), title: title})
	}
	return out
}

// slotCharts draws the slot's lag and retained WAL over time; nil when
// runs hold no log drain. maxLag and maxRetained are the alarm levels
// (0: none).
func slotCharts(runs []*report.Run, maxLag time.Duration, maxRetained int64) []*lineChart {
	pts := slotPoints(runs)
	if len(pts) == 0 {
		return nil
	}
	lag := lineOf(pts, "Slot lag", func(p slotPoint) float64 { return p.lag })
	lagMax, drawLag := withThreshold(lag.max, maxLag.Seconds())
	lagScale := niceScale(lagMax)
	lag.plot(lagScale, "lag (seconds)")
	lag.caption("max_lag_seconds", maxLag.Seconds(), drawLag, lagScale, func(v float64) string { return trimFloat(v) + " s" })
	lag.Caption = "Seconds between the newest change read and the end of each drain; " + lag.Caption

	ret := lineOf(pts, "Retained WAL", func(p slotPoint) float64 { return p.retained })
	retMax, drawRet := withThreshold(ret.max, float64(maxRetained))
	retScale := byteScale(retMax)
	ret.plot(retScale, "retained WAL ("+retScale.unit+")")
	ret.caption("max_retained_wal_mb", float64(maxRetained), drawRet, retScale, func(v float64) string { return report.HumanBytes(int64(v)) })
	ret.Caption = "WAL the server keeps for the slot after each drain; " + ret.Caption
	return []*lineChart{lag.lineChart, ret.lineChart}
}

// withThreshold says whether an alarm level is drawn: when it is within
// twice the data's maximum, the scale grows to show it.
func withThreshold(dataMax, threshold float64) (float64, bool) {
	if threshold > 0 && dataMax > 0 && threshold <= 2*dataMax {
		return math.Max(dataMax, threshold), true
	}
	return dataMax, false
}

// lineBuild is a line chart being drawn.
type lineBuild struct {
	*lineChart
	pts  []slotPoint
	vals []float64
	max  float64
	ts   timeScale
}

func lineOf(pts []slotPoint, heading string, value func(slotPoint) float64) *lineBuild {
	b := &lineBuild{lineChart: &lineChart{frame: frame{W: 570, H: 270, Left: 64, Right: 18, Top: 16, Bottom: 56}, Heading: heading}, pts: pts}
	for _, p := range pts {
		v := value(p)
		b.vals = append(b.vals, v)
		b.max = math.Max(b.max, v)
	}
	b.ts = newTimeScale(pts[0].at, pts[len(pts)-1].at)
	return b
}

// plot draws the axes and the line on scale sc.
func (b *lineBuild) plot(sc scale, yTitle string) {
	c := b.lineChart
	c.yAxis(sc, yTitle)
	ticks, step := b.ts.ticks(5)
	labels := timeLabels(ticks, step, b.pts[0].at)
	for i, at := range ticks {
		c.xTick(b.ts.x(&c.frame, at), labels[i])
	}
	c.xTitle("drain end, " + spanCaption(b.pts[0].at, b.pts[len(b.pts)-1].at) + " (UTC)")
	var pts []string
	for i, p := range b.pts {
		x := b.ts.x(&c.frame, p.at)
		y := c.baseY() - b.vals[i]/sc.top*c.plotH()
		pts = append(pts, f1(x)+","+f1(y))
		if len(b.pts) <= maxDots || p.bad {
			c.Dots = append(c.Dots, dot{X: x, Y: y, Bad: p.bad, Title: p.title})
		}
	}
	c.Points = strings.Join(pts, " ")
}

// caption notes the alarm level: a dashed line when drawn, else words.
func (b *lineBuild) caption(setting string, threshold float64, drawn bool, sc scale, show func(float64) string) {
	c := b.lineChart
	switch {
	case threshold <= 0:
		c.Caption = "no alarm level configured"
	case drawn:
		y := c.baseY() - threshold/sc.top*c.plotH()
		c.Threshold = &svgLine{X1: c.Left, Y1: y, X2: c.W - c.Right, Y2: y, Class: "threshold"}
		c.Texts = append(c.Texts, svgText{X: c.W - c.Right - 4, Y: y - 5, Text: "alarm: " + show(threshold), Anchor: "end", Class: "alarm"})
		c.Caption = fmt.Sprintf("dashed: the alarm level (%s %s)", setting, show(threshold))
	default:
		c.Caption = fmt.Sprintf("alarm level %s (%s) is far above this range", show(threshold), setting)
	}
}
