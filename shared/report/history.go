package report

import "context"

// Store is what reading run reports needs from a sink.
type Store interface {
	List(ctx context.Context, prefix string) ([]string, error)
	Get(ctx context.Context, key string) ([]byte, error)
}

// RunsPrefix is where run reports live below the sink's prefix.
const RunsPrefix = "_runs/"

// Recent returns the newest n run reports (all when n <= 0), oldest
// first.
func Recent(ctx context.Context, st Store, n int) ([]*Run, error) {
	return Find(ctx, st, Query{Last: max(n, 0)})
}
