package main

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Cron is an EventBridge cron expression: six fields, minutes hours
// day-of-month month day-of-week year, exactly one of the day fields "?".
type Cron struct {
	fields  [6]string
	minutes []int
	hours   []int
}

type cronField struct {
	name     string
	min, max int
	names    []string // month or weekday names, index 0 = min
	extra    string   // the special characters the field allows beyond , - * /
}

var cronFields = [6]cronField{
	{name: "minutes", min: 0, max: 59},
	{name: "hours", min: 0, max: 23},
	{name: "day-of-month", min: 1, max: 31, extra: "?LW"},
	{name: "month", min: 1, max: 12, names: []string{"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"}},
	{name: "day-of-week", min: 1, max: 7, names: []string{"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"}, extra: "?L#"},
	{name: "year", min: 1970, max: 2199},
}

// ParseCron validates an expression the way EventBridge Scheduler does
// ("cron(...)" around it is optional) and returns it.
func ParseCron(expr string) (*Cron, error) {
	s := strings.TrimSpace(expr)
	if strings.HasPrefix(s, "cron(") && strings.HasSuffix(s, ")") {
		s = s[len("cron(") : len(s)-1]
	}
	parts := strings.Fields(s)
	if len(parts) != 6 {
		return nil, fmt.Errorf("has %d fields; EventBridge wants 6: minutes hours day-of-month month day-of-week year", len(parts))
	}
	c := &Cron{}
	copy(c.fields[:], parts)
	var problems []error
	for i, f := range cronFields {
		if err := f.check(strings.ToUpper(parts[i])); err != nil {
			problems = append(problems, fmt.Errorf("%s %q: %w", f.name, parts[i], err))
		}
	}
	dom, dow := parts[2] == "?", parts[4] == "?"
	switch {
	case dom && dow:
		problems = append(problems, errors.New("day-of-month and day-of-week are both '?'; one of them must name days"))
	case !dom && !dow:
		problems = append(problems, errors.New("day-of-month and day-of-week both name days; one of them must be '?'"))
	}
	if len(problems) > 0 {
		return nil, errors.Join(problems...)
	}
	c.minutes = expand(cronFields[0], parts[0])
	c.hours = expand(cronFields[1], parts[1])
	return c, nil
}

// String is the six fields without the cron(...) wrapper.
func (c *Cron) String() string { return strings.Join(c.fields[:], " ") }

// MinInterval is a lower bound of the time between two firings: the
// smallest gap between the day's firing times, counting the wrap to the
// next day. Restricting days only lengthens gaps, so the bound holds.
func (c *Cron) MinInterval() time.Duration {
	var times []int
	for _, h := range c.hours {
		for _, m := range c.minutes {
			times = append(times, h*60+m)
		}
	}
	sort.Ints(times)
	best := 24 * 60
	for i := range times {
		next := times[0] + 24*60
		if i+1 < len(times) {
			next = times[i+1]
		}
		if g := next - times[i]; g < best {
			best = g
		}
	}
	return time.Duration(best) * time.Minute
}

func (f cronField) check(field string) error {
	if field == "?" {
		if !strings.Contains(f.extra, "?") {
			return errors.New("'?' is allowed only in day-of-month or day-of-week")
		}
		return nil
	}
	for _, item := range strings.Split(field, ",") {
		if err := f.checkItem(item); err != nil {
			return err
		}
	}
	return nil
}

func (f cronField) checkItem(item string) error {
	if item == "" {
		return errors.New("empty list item")
	}
	if item == "*" {
		return nil
	}
	switch {
	case strings.Contains(f.extra, "L") && f.min == 1 && f.max == 31 && (item == "L" || item == "LW"):
		return nil
	case strings.Contains(f.extra, "W") && strings.HasSuffix(item, "W"):
		return f.checkValue(strings.TrimSuffix(item, "W"))
	case strings.Contains(f.extra, "#") && strings.Contains(item, "#"):
		day, nth, _ := strings.Cut(item, "#")
		if n, err := strconv.Atoi(nth); err != nil || n < 1 || n > 5 {
			return fmt.Errorf("%q: the week after '#' must be 1-5", item)
		}
		return f.checkValue(day)
	case strings.Contains(f.extra, "L") && f.names != nil && strings.HasSuffix(item, "L"):
		if item == "L" {
			return nil
		}
		return f.checkValue(strings.TrimSuffix(item, "L"))
	}
	base, step, hasStep := strings.Cut(item, "/")
	if hasStep {
		n, err := strconv.Atoi(step)
		if err != nil || n < 1 {
			return fmt.Errorf("%q: step %q must be a positive number", item, step)
		}
		if base == "*" {
			return nil
		}
	}
	lo, hi, isRange := strings.Cut(base, "-")
	if err := f.checkValue(lo); err != nil {
		return err
	}
	if isRange {
		if err := f.checkValue(hi); err != nil {
			return err
		}
		a, _ := f.value(lo)
		b, _ := f.value(hi)
		if f.names == nil && a > b {
			return fmt.Errorf("%q: range runs backwards", item)
		}
	}
	return nil
}

func (f cronField) checkValue(v string) error {
	if _, ok := f.value(v); !ok {
		if f.names != nil {
			return fmt.Errorf("%q is not %d-%d or %s-%s", v, f.min, f.max, f.names[0], f.names[len(f.names)-1])
		}
		return fmt.Errorf("%q is not %d-%d", v, f.min, f.max)
	}
	return nil
}

func (f cronField) value(v string) (int, bool) {
	for i, n := range f.names {
		if strings.EqualFold(v, n) {
			return f.min + i, true
		}
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < f.min || n > f.max {
		return 0, false
	}
	return n, true
}

// expand lists the values a validated minutes or hours field matches.
func expand(f cronField, field string) []int {
	set := map[int]bool{}
	for _, item := range strings.Split(field, ",") {
		base, step, hasStep := strings.Cut(item, "/")
		n := 1
		if hasStep {
			n, _ = strconv.Atoi(step)
		}
		lo, hi := f.min, f.max
		if base != "*" {
			a, b, isRange := strings.Cut(base, "-")
			lo, _ = f.value(a)
			hi = lo
			if isRange {
				hi, _ = f.value(b)
			} else if hasStep {
				hi = f.max
			}
		}
		for v := lo; v <= hi; v += n {
			set[v] = true
		}
	}
	out := make([]int, 0, len(set))
	for v := range set {
		out = append(out, v)
	}
	sort.Ints(out)
	return out
}
