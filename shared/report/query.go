package report

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/pg2s3/pg2s3/shared/layout"
)

// Query selects run reports for Find.
type Query struct {
	// Last keeps the newest this many matching runs (0: all).
	Last int
	// Since keeps runs started at or after it (zero: all).
	Since time.Time
	// Streams keeps the runs that touched one of these streams, each with
	// only those streams' parts (empty: every run, every stream). A log
	// drain keeps its slot line.
	Streams []string
}

// Find reads the run reports q selects, oldest first. Keys start with the
// run's start time to the second (layout.RunReportKey), so reports older than Since are not
// read, and reading stops once Last runs matched (and the runs of the
// same second were read: within a second, only the reports' own start
// times tell the order). A report that cannot be read is an error naming
// its key.
func Find(ctx context.Context, st Store, q Query) ([]*Run, error) {
	reports, err := runKeys(ctx, st)
	if err != nil {
		return nil, err
	}
	var runs []*Run
	cutoff := "" // the second in which Last runs had matched
	for i := len(reports) - 1; i >= 0; i-- {
		k := reports[i]
		if cutoff != "" && keySecond(k) != cutoff {
			break
		}
		if t, ok := keyTime(k); ok && !q.Since.IsZero() && t.Add(time.Second).Before(q.Since) {
			continue // the key's time is truncated to the second
		}
		r, err := readRun(ctx, st, k)
		if err != nil {
			return nil, err
		}
		if !q.Since.IsZero() && r.StartedAt.Before(q.Since) {
			continue
		}
		if r = r.only(q.Streams); r == nil {
			continue
		}
		runs = append(runs, r)
		if q.Last > 0 && len(runs) == q.Last {
			cutoff = keySecond(k)
		}
	}
	slices.Reverse(runs)
	sort.SliceStable(runs, func(i, j int) bool { return runs[i].StartedAt.Before(runs[j].StartedAt) })
	if q.Last > 0 && len(runs) > q.Last {
		runs = runs[len(runs)-q.Last:]
	}
	return runs, nil
}

// Newest reads run reports newest first until enough says the runs read
// so far (newest first) suffice, or max were read, and returns them oldest
// first. The runs of one second are always read together: only their own
// start times order them.
func Newest(ctx context.Context, st Store, max int, enough func(newestFirst []*Run) bool) ([]*Run, error) {
	reports, err := runKeys(ctx, st)
	if err != nil {
		return nil, err
	}
	var runs []*Run
	for i := len(reports) - 1; i >= 0 && len(runs) < max; i-- {
		k := reports[i]
		if len(runs) > 0 && keySecond(k) != keySecond(runs[len(runs)-1].ReportKey) && enough(runs) {
			break
		}
		r, err := readRun(ctx, st, k)
		if err != nil {
			return nil, err
		}
		runs = append(runs, r)
	}
	slices.Reverse(runs)
	sort.SliceStable(runs, func(i, j int) bool { return runs[i].StartedAt.Before(runs[j].StartedAt) })
	return runs, nil
}

// runKeys lists the run reports' keys in key (start time) order.
func runKeys(ctx context.Context, st Store) ([]string, error) {
	keys, err := st.List(ctx, layout.RunsPrefix)
	if err != nil {
		return nil, fmt.Errorf("list run reports: %w", err)
	}
	var reports []string
	for _, k := range keys {
		if strings.HasSuffix(k, ".json") {
			reports = append(reports, k)
		}
	}
	sort.Strings(reports)
	return reports, nil
}

// keySecond names the second a run report's key starts with; a key of
// another shape names only itself.
func keySecond(key string) string {
	if t, ok := keyTime(key); ok {
		return t.Format(time.RFC3339)
	}
	return key
}

// keyTime is the start time, to the second, a run report's key names.
func keyTime(key string) (time.Time, bool) {
	t, _, _, ok := layout.ParseRunReportKey(key)
	return t, ok
}

func readRun(ctx context.Context, st Store, key string) (*Run, error) {
	body, err := st.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("read run report %s: %w", key, err)
	}
	r := new(Run)
	if err := json.Unmarshal(body, r); err != nil {
		return nil, fmt.Errorf("run report %s is not a pg2s3 run report: %w", key, err)
	}
	r.ReportKey = key
	return r, nil
}

// only returns a copy of r with the parts of the given streams, or nil
// when r touched none of them; with no streams, r itself.
func (r *Run) only(streams []string) *Run {
	if len(streams) == 0 {
		return r
	}
	var keep []Stream
	for _, s := range r.Streams {
		if slices.Contains(streams, s.Stream) {
			keep = append(keep, s)
		}
	}
	if len(keep) == 0 {
		return nil
	}
	c := *r
	c.Streams = keep
	return &c
}
