package replicate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/pg2s3/pg2s3/shared/bookmark"
	"github.com/pg2s3/pg2s3/shared/deadline"
)

// HoldLease takes the lease name for owner and renews it every third of
// ttl until release is called, so a run longer than ttl keeps it while it
// lives, and a run that dies loses it within ttl. A lease held by another
// run is an "already running" error (errors.Is bookmark.ErrLeaseHeld).
func HoldLease(ctx context.Context, l Leaser, name, owner string, ttl time.Duration) (release func(), err error) {
	h, err := holdLease(ctx, l, name, owner, ttl)
	if err != nil {
		return nil, err
	}
	return h.release, nil
}

// heldLease is a lease a run holds and renews; it either releases it at
// its end or hands it to the task it started (startTask).
type heldLease struct {
	ctx         context.Context
	l           Leaser
	name, owner string
	stop, done  chan struct{}
	once        sync.Once
	kept        bool
}

func holdLease(ctx context.Context, l Leaser, name, owner string, ttl time.Duration) (*heldLease, error) {
	if err := l.Acquire(ctx, name, owner, ttl); err != nil {
		if errors.Is(err, bookmark.ErrLeaseHeld) {
			return nil, fmt.Errorf("already running: %w", err)
		}
		return nil, fmt.Errorf("take lease %s: %w", name, err)
	}
	h := &heldLease{ctx: ctx, l: l, name: name, owner: owner, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(h.done)
		t := time.NewTicker(max(ttl/3, time.Second))
		defer t.Stop()
		for {
			select {
			case <-h.stop:
				return
			case <-t.C:
				rctx, cancel := deadline.Cleanup(ctx, cleanupGrace)
				if err := l.Acquire(rctx, name, owner, ttl); err != nil {
					slog.Warn("renew lease", "lease", name, "err", err)
				}
				cancel()
			}
		}
	}()
	return h, nil
}

// cleanupGrace bounds what a run does after its own calls were cancelled
// (releasing a lease, writing its report), and a lease renewal or
// extension: a store that hangs must not hold the run past its function's
// limit.
const cleanupGrace = 5 * time.Second

func (h *heldLease) stopRenewing() {
	h.once.Do(func() {
		close(h.stop)
		<-h.done
	})
}

// release gives the lease up, unless it was handed off.
func (h *heldLease) release() {
	if h == nil {
		return
	}
	h.stopRenewing()
	if !h.kept {
		rctx, cancel := deadline.Cleanup(h.ctx, cleanupGrace)
		defer cancel()
		h.l.Release(rctx, h.name, h.owner) // if the store hangs, the lease expires with its ttl
	}
}

// extend stops renewing and holds the lease for ttl from now, for a task
// to take over as the same owner; release still gives it up unless keep
// is called (the task started).
func (h *heldLease) extend(ttl time.Duration) error {
	h.stopRenewing()
	rctx, cancel := deadline.Cleanup(h.ctx, cleanupGrace)
	defer cancel()
	return h.l.Acquire(rctx, h.name, h.owner, ttl)
}

func (h *heldLease) keep() { h.kept = true }
