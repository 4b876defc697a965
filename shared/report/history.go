package report

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Store is what reading run reports needs from a sink.
type Store interface {
	List(ctx context.Context, prefix string) ([]string, error)
	Get(ctx context.Context, key string) ([]byte, error)
}

// RunsPrefix is where run reports live below the sink's prefix.
const RunsPrefix = "_runs/"

// Recent returns the newest n run reports (all when n <= 0), oldest
// first. Keys start with the run's start time (to the second), so their
// order is time order. A report that cannot be read is an error: it names the key.
func Recent(ctx context.Context, st Store, n int) ([]*Run, error) {
	keys, err := st.List(ctx, RunsPrefix)
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
	if n > 0 && len(reports) > n {
		reports = reports[len(reports)-n:]
	}
	runs := make([]*Run, 0, len(reports))
	for _, k := range reports {
		body, err := st.Get(ctx, k)
		if err != nil {
			return nil, fmt.Errorf("read run report %s: %w", k, err)
		}
		r := new(Run)
		if err := json.Unmarshal(body, r); err != nil {
			return nil, fmt.Errorf("run report %s is not a pg2s3 run report: %w", k, err)
		}
		r.ReportKey = k
		runs = append(runs, r)
	}
	// Keys order runs to the second; runs started within one second are
	// ordered by their start time.
	sort.SliceStable(runs, func(i, j int) bool { return runs[i].StartedAt.Before(runs[j].StartedAt) })
	return runs, nil
}
