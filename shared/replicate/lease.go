package replicate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/pg2s3/pg2s3/shared/bookmark"
)

// HoldLease takes the lease name for owner and renews it every third of
// ttl until release is called, so a run longer than ttl keeps it while it
// lives, and a run that dies loses it within ttl. A lease held by another
// run is an "already running" error.
func HoldLease(ctx context.Context, l Leaser, name, owner string, ttl time.Duration) (release func(), err error) {
	if err := l.Acquire(ctx, name, owner, ttl); err != nil {
		if errors.Is(err, bookmark.ErrLeaseHeld) {
			return nil, fmt.Errorf("already running: %w", err)
		}
		return nil, fmt.Errorf("take lease %s: %w", name, err)
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(max(ttl/3, time.Second))
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupGrace)
				if err := l.Acquire(rctx, name, owner, ttl); err != nil {
					slog.Warn("renew lease", "lease", name, "err", err)
				}
				cancel()
			}
		}
	}()
	return func() {
		close(stop)
		<-done
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupGrace)
		defer cancel()
		l.Release(rctx, name, owner) // if the store hangs, the lease expires with its ttl
	}, nil
}

// cleanupGrace bounds what a run does after its own calls were cancelled
// (releasing a lease, writing its report), and a lease renewal: a store
// that hangs must not hold the run past its function's limit.
const cleanupGrace = 5 * time.Second
