package report

import "context"

// Store is what reading run reports needs from a sink.
type Store interface {
	List(ctx context.Context, prefix string) ([]string, error)
	Get(ctx context.Context, key string) ([]byte, error)
}
