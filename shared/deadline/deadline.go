// Package deadline carries, in a context, the moment nothing of an
// invocation may outlive: a Lambda function's own limit less a last
// word. A run's calls stop earlier (its deadline, then the app's hard
// stop); what a run does after they were cancelled (its report, a lease
// release, a last reading of the slot) gets a short grace of its own
// (Cleanup), and that grace never runs past the final moment, so a store
// that hangs cannot turn a clean failure into a Lambda timeout.
// Standard library only.
package deadline

import (
	"context"
	"time"
)

type finalKey struct{}

// WithFinal returns ctx cancelled at t and carrying t as the final moment
// for Cleanup.
func WithFinal(ctx context.Context, t time.Time) (context.Context, context.CancelFunc) {
	return context.WithDeadline(context.WithValue(ctx, finalKey{}, t), t)
}

// Final is the final moment ctx carries, if any.
func Final(ctx context.Context) (time.Time, bool) {
	t, ok := ctx.Value(finalKey{}).(time.Time)
	return t, ok
}

// Cleanup is a context for work that must run even though ctx was
// cancelled: not cancelled with ctx, but ended after grace, or at the
// final moment ctx carries if that comes first.
func Cleanup(ctx context.Context, grace time.Duration) (context.Context, context.CancelFunc) {
	end := time.Now().Add(grace)
	if f, ok := Final(ctx); ok && f.Before(end) {
		end = f
	}
	return context.WithDeadline(context.WithoutCancel(ctx), end)
}
