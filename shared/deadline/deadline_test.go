package deadline

import (
	"context"
	"testing"
	"time"
)

func TestCleanupOutlivesCancelButNotTheFinalMoment(t *testing.T) {
	final := time.Now().Add(150 * time.Millisecond)
	outer, cancelOuter := WithFinal(context.Background(), final)
	defer cancelOuter()
	run, cancelRun := context.WithCancel(outer)
	cancelRun() // the run's calls were cancelled

	c, cancel := Cleanup(run, time.Hour)
	defer cancel()
	if c.Err() != nil {
		t.Fatalf("cleanup context cancelled with the run: %v", c.Err())
	}
	d, ok := c.Deadline()
	if !ok || !d.Equal(final) {
		t.Fatalf("cleanup deadline %v %v: want the final moment %v", d, ok, final)
	}
	<-c.Done() // ends at the final moment, not after an hour

	if got, _ := Final(run); !got.Equal(final) {
		t.Fatalf("Final = %v, want %v", got, final)
	}
}

func TestCleanupWithoutAFinalMomentGetsItsGrace(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	c, done := Cleanup(ctx, 2*time.Second)
	defer done()
	d, ok := c.Deadline()
	if c.Err() != nil || !ok || d.Sub(start) < 2*time.Second-10*time.Millisecond || d.Sub(start) > 3*time.Second {
		t.Fatalf("cleanup after a cancelled run without a final moment: err %v, deadline in %v", c.Err(), d.Sub(start))
	}
	if _, ok := Final(ctx); ok {
		t.Fatal("Final of a context without one")
	}
}
