package reportview

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Chart geometry is computed here; html.go's template only writes the
// shapes out. Every coordinate is in the SVG's user units (its viewBox).

// svgText is a label.
type svgText struct {
	X, Y   float64
	Text   string
	Anchor string // start, middle, end
	Rotate bool   // vertical, reading upwards
	Class  string
}

// svgLine is a grid line, an axis or a threshold.
type svgLine struct {
	X1, Y1, X2, Y2 float64
	Class          string
}

// svgRect is a bar segment or a shade.
type svgRect struct {
	X, Y, W, H float64
	Fill       string
	Title      string
}

// frame is a chart's plot area, axes, ticks and labels.
type frame struct {
	W, H                     float64
	Left, Right, Top, Bottom float64 // margins
	Grid                     []svgLine
	Axes                     []svgLine
	Texts                    []svgText
}

func (f *frame) plotW() float64 { return f.W - f.Left - f.Right }
func (f *frame) plotH() float64 { return f.H - f.Top - f.Bottom }
func (f *frame) baseY() float64 { return f.H - f.Bottom }

// yAxis draws horizontal grid lines and tick labels for a scale from 0
// to top, and the axis title.
func (f *frame) yAxis(sc scale, title string) {
	for _, v := range sc.ticks() {
		y := f.baseY() - v/sc.top*f.plotH()
		f.Grid = append(f.Grid, svgLine{X1: f.Left, Y1: y, X2: f.W - f.Right, Y2: y, Class: "grid"})
		f.Texts = append(f.Texts, svgText{X: f.Left - 6, Y: y + 4, Text: sc.label(v), Anchor: "end", Class: "tick"})
	}
	f.Axes = append(f.Axes,
		svgLine{X1: f.Left, Y1: f.Top, X2: f.Left, Y2: f.baseY(), Class: "axis"},
		svgLine{X1: f.Left, Y1: f.baseY(), X2: f.W - f.Right, Y2: f.baseY(), Class: "axis"})
	f.Texts = append(f.Texts, svgText{X: 14, Y: f.Top + f.plotH()/2, Text: title, Anchor: "middle", Rotate: true, Class: "title"})
}

// xTitle writes the x axis' title under the tick labels.
func (f *frame) xTitle(title string) {
	f.Texts = append(f.Texts, svgText{X: f.Left + f.plotW()/2, Y: f.H - 8, Text: title, Anchor: "middle", Class: "title"})
}

// tickCharWidth is about how wide a tick label's character is (11px
// type).
const tickCharWidth = 6.5

// xTick writes a tick mark and its label at x; a label that would stick
// out of the chart is left off.
func (f *frame) xTick(x float64, label string) {
	f.Axes = append(f.Axes, svgLine{X1: x, Y1: f.baseY(), X2: x, Y2: f.baseY() + 4, Class: "axis"})
	half := float64(len(label)) * tickCharWidth / 2
	if x-half < 2 || x+half > f.W-2 {
		return
	}
	f.Texts = append(f.Texts, svgText{X: x, Y: f.baseY() + 17, Text: label, Anchor: "middle", Class: "tick"})
}

// scale is a linear scale from 0 to top with ticks every step, labels in
// unit (values are divided by div before printing).
type scale struct {
	top, step float64
	div       float64
	unit      string
}

// niceScale covers 0..max with about five round ticks.
func niceScale(max float64) scale {
	if !(max > 0) || math.IsInf(max, 0) {
		return scale{top: 1, step: 0.25, div: 1}
	}
	raw := max / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	top := math.Ceil(max/step-1e-9) * step
	return scale{top: top, step: step, div: 1}
}

// byteScale is niceScale in the binary unit that suits max.
func byteScale(max float64) scale {
	div, unit := 1.0, "B"
	for _, u := range []string{"KiB", "MiB", "GiB", "TiB"} {
		if max < div*1024 {
			break
		}
		div *= 1024
		unit = u
	}
	sc := niceScale(max / div)
	sc.top *= div
	sc.step *= div
	sc.div, sc.unit = div, unit
	return sc
}

func (s scale) ticks() []float64 {
	var out []float64
	for i := 0; ; i++ {
		v := float64(i) * s.step
		if v > s.top*(1+1e-9) {
			return out
		}
		out = append(out, v)
	}
}

func (s scale) label(v float64) string {
	if s.div != 1 || s.unit != "" {
		return compactNumber(v / s.div)
	}
	return compactNumber(v)
}

// compactNumber prints 0, 2.5, 750, 1.5k, 12M.
func compactNumber(v float64) string {
	abs := math.Abs(v)
	for _, u := range []struct {
		div    float64
		suffix string
	}{{1e12, "T"}, {1e9, "G"}, {1e6, "M"}, {1e3, "k"}} {
		if abs >= u.div {
			return trimFloat(v/u.div) + u.suffix
		}
	}
	return trimFloat(v)
}

func trimFloat(v float64) string {
	s := strconv.FormatFloat(v, 'f', 2, 64)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}

// timeScale maps a time span onto a chart's x range.
type timeScale struct {
	from, to time.Time
}

// minTimeSpan is the least time a time axis covers.
const minTimeSpan = 10 * time.Second

// newTimeScale covers first..last with a little room at both ends, and
// at least minTimeSpan around them.
func newTimeScale(first, last time.Time) timeScale {
	span := last.Sub(first)
	if span < minTimeSpan*9/10 {
		mid := first.Add(span / 2)
		return timeScale{from: mid.Add(-minTimeSpan / 2), to: mid.Add(minTimeSpan / 2)}
	}
	room := span / 25
	return timeScale{from: first.Add(-room), to: last.Add(room)}
}

func (t timeScale) x(f *frame, at time.Time) float64 {
	return f.Left + float64(at.Sub(t.from))/float64(t.to.Sub(t.from))*f.plotW()
}

// tickSteps are the spacings time axes choose from.
var tickSteps = []time.Duration{
	time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second, 30 * time.Second,
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour,
	24 * time.Hour, 2 * 24 * time.Hour, 7 * 24 * time.Hour, 14 * 24 * time.Hour, 28 * 24 * time.Hour,
	91 * 24 * time.Hour, 182 * 24 * time.Hour, 364 * 24 * time.Hour,
}

// ticks returns round instants within the scale, at most about most.
func (t timeScale) ticks(most int) ([]time.Time, time.Duration) {
	span := t.to.Sub(t.from)
	step := tickSteps[len(tickSteps)-1]
	for _, s := range tickSteps {
		if span/s <= time.Duration(most) {
			step = s
			break
		}
	}
	var out []time.Time
	for at := t.from.Truncate(step); !at.After(t.to); at = at.Add(step) {
		if !at.Before(t.from) {
			out = append(out, at)
		}
	}
	return out, step
}

// timeLabels labels instants step apart (ref is the first instant the
// chart shows): the time of day, and the date where the day changes (the
// date alone at midnight).
func timeLabels(ticks []time.Time, step time.Duration, ref time.Time) []string {
	out := make([]string, len(ticks))
	prev := ref.UTC()
	for i, at := range ticks {
		at = at.UTC()
		newDay := at.Format("20060102") != prev.Format("20060102")
		switch {
		case step >= 24*time.Hour:
			out[i] = at.Format("Jan 2")
		case step < time.Minute && !newDay:
			out[i] = at.Format("15:04:05")
		case !newDay:
			out[i] = at.Format("15:04")
		case at.Hour() == 0 && at.Minute() == 0 && at.Second() == 0:
			out[i] = at.Format("Jan 2")
		default:
			out[i] = at.Format("Jan 2 15:04")
		}
		prev = at
	}
	return out
}

// spanCaption names the date(s) a chart covers, in UTC.
func spanCaption(from, to time.Time) string {
	from, to = from.UTC(), to.UTC()
	if from.Format("20060102") == to.Format("20060102") {
		return from.Format("Mon 2 Jan 2006")
	}
	return fmt.Sprintf("%s – %s", from.Format("2 Jan 2006 15:04"), to.Format("2 Jan 2006 15:04"))
}

// f1 prints a coordinate with one decimal.
func f1(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }
