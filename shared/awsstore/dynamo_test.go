package awsstore

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/pg2s3/pg2s3/shared/bookmark"
)

func state(seq int64) bookmark.State {
	v := fmt.Sprint(seq * 10)
	return bookmark.State{Method: "INCREMENTAL", Version: 1700000000000, Seq: seq, ReplicationKey: "updated_at",
		ReplicationKeyValue: &v, LastKey: []string{fmt.Sprint(seq)}, UpdatedAt: time.UnixMilli(1700000000000 + seq).UTC()}
}

func TestBookmarkRoundTrip(t *testing.T) {
	ctx := context.Background()
	d := newBookmarks(t)
	const stream = "shop-public-orders"
	if v, err := d.Get(ctx, stream); err != nil || v.Rev != 0 {
		t.Fatalf("Get of a new stream = %+v, %v; want Rev 0", v, err)
	}
	rev, err := d.Put(ctx, stream, state(1), 0)
	if err != nil || rev != 1 {
		t.Fatalf("first Put = %d, %v; want 1", rev, err)
	}
	if rev, err = d.Put(ctx, stream, state(2), rev); err != nil || rev != 2 {
		t.Fatalf("second Put = %d, %v; want 2", rev, err)
	}
	got, err := d.Get(ctx, stream)
	if err != nil || got.Rev != 2 || !reflect.DeepEqual(got.State, state(2)) {
		t.Fatalf("Get = %+v, %v; want state(2) at rev 2", got, err)
	}
	// A stale writer (rev 1, or a "new" stream at 0) cannot move it.
	for _, stale := range []int64{0, 1, 5} {
		if _, err := d.Put(ctx, stream, state(9), stale); !errors.Is(err, bookmark.ErrConflict) {
			t.Errorf("Put at stale rev %d: %v, want bookmark.ErrConflict", stale, err)
		}
	}
	if _, err := d.Put(ctx, "shop-public-items", state(1), 0); err != nil {
		t.Fatal(err)
	}
	if err := d.Acquire(ctx, "slot", "run-1", time.Minute); err != nil {
		t.Fatal(err)
	}
	all, err := d.All(ctx)
	if err != nil || len(all) != 2 || all[stream].Rev != 2 || all["shop-public-items"].Rev != 1 {
		t.Fatalf("All = %+v, %v; want two streams (no lease items)", all, err)
	}
	if err := d.Delete(ctx, stream, 1); !errors.Is(err, bookmark.ErrConflict) {
		t.Errorf("Delete at stale rev: %v, want bookmark.ErrConflict", err)
	}
	if err := d.Delete(ctx, stream, 2); err != nil {
		t.Fatal(err)
	}
	if v, _ := d.Get(ctx, stream); v.Rev != 0 {
		t.Errorf("after Delete, Get = %+v, want Rev 0", v)
	}
	// Other pipelines in the same table are separate.
	if all, _ := newBookmarks(t).All(ctx); len(all) != 0 {
		t.Errorf("a new pipeline sees %d bookmarks, want 0", len(all))
	}
}

// TestBookmarkTwoWriters: writers that read the same revision race to move
// the bookmark; exactly one wins, every other gets ErrConflict.
func TestBookmarkTwoWriters(t *testing.T) {
	ctx := context.Background()
	d := newBookmarks(t)
	const stream = "shop-public-orders"
	rev, err := d.Put(ctx, stream, state(1), 0)
	if err != nil {
		t.Fatal(err)
	}
	for round := range 5 {
		const n = 4
		errs := make([]error, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				<-start
				_, errs[i] = d.Put(ctx, stream, state(int64(100*round+i)), rev)
			})
		}
		close(start)
		wg.Wait()
		wins, winner := 0, -1
		for i, err := range errs {
			switch {
			case err == nil:
				wins, winner = wins+1, i
			case !errors.Is(err, bookmark.ErrConflict):
				t.Fatalf("round %d writer %d: %v", round, i, err)
			}
		}
		if wins != 1 {
			t.Fatalf("round %d: %d writers won, want exactly 1", round, wins)
		}
		got, _ := d.Get(ctx, stream)
		if got.Rev != rev+1 || got.State.Seq != int64(100*round+winner) {
			t.Fatalf("round %d: stored %+v, want the winner's state at rev %d", round, got, rev+1)
		}
		rev = got.Rev
	}
}

// TestLeaseRace: runs racing for one lease: exactly one gets it; the
// holder renews it; a release by another owner does nothing.
func TestLeaseRace(t *testing.T) {
	ctx := context.Background()
	d := newBookmarks(t)
	const n = 6
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = d.Acquire(ctx, "slot-pg2s3", fmt.Sprintf("run-%d", i), time.Minute)
		})
	}
	close(start)
	wg.Wait()
	holder := -1
	for i, err := range errs {
		switch {
		case err == nil:
			if holder >= 0 {
				t.Fatalf("runs %d and %d both hold the lease", holder, i)
			}
			holder = i
		case errors.Is(err, bookmark.ErrLeaseHeld):
		default:
			t.Fatalf("run %d: %v", i, err)
		}
	}
	if holder < 0 {
		t.Fatal("no run got the lease")
	}
	me, other := fmt.Sprintf("run-%d", holder), fmt.Sprintf("run-%d", (holder+1)%n)
	err := d.Acquire(ctx, "slot-pg2s3", other, time.Minute)
	assertExplained(t, err, "acquire lease slot-pg2s3", fmt.Sprintf("held by %q", me), "already running")
	if err := d.Acquire(ctx, "slot-pg2s3", me, time.Minute); err != nil {
		t.Errorf("the holder renewing: %v", err)
	}
	if err := d.Release(ctx, "slot-pg2s3", other); err != nil {
		t.Errorf("Release by a non-holder: %v, want nil (no-op)", err)
	}
	if err := d.Acquire(ctx, "slot-pg2s3", other, time.Minute); !errors.Is(err, bookmark.ErrLeaseHeld) {
		t.Errorf("after a non-holder's Release, Acquire: %v, want ErrLeaseHeld", err)
	}
	if err := d.Release(ctx, "slot-pg2s3", me); err != nil {
		t.Fatal(err)
	}
	if err := d.Acquire(ctx, "slot-pg2s3", other, time.Minute); err != nil {
		t.Errorf("after the holder's Release, Acquire: %v", err)
	}
}

// TestLeaseExpiredIsTakenOver: a holder that died (never released) loses
// the lease at its expiry, and its late Release does not free the new
// holder's lease.
func TestLeaseExpiredIsTakenOver(t *testing.T) {
	ctx := context.Background()
	d := newBookmarks(t)
	if err := d.Acquire(ctx, "stream-orders", "dead-run", 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := d.Acquire(ctx, "stream-orders", "next-run", time.Minute); !errors.Is(err, bookmark.ErrLeaseHeld) {
		t.Fatalf("before expiry: %v, want ErrLeaseHeld", err)
	}
	time.Sleep(400 * time.Millisecond)
	if err := d.Acquire(ctx, "stream-orders", "next-run", time.Minute); err != nil {
		t.Fatalf("after expiry: %v, want the lease", err)
	}
	if err := d.Release(ctx, "stream-orders", "dead-run"); err != nil {
		t.Fatal(err)
	}
	if err := d.Acquire(ctx, "stream-orders", "third-run", time.Minute); !errors.Is(err, bookmark.ErrLeaseHeld) {
		t.Errorf("the dead run's late Release freed the lease: %v", err)
	}
}

// TestDynamoStopped: with the server down a Put fails (nothing moves);
// after a restart the old bookmark is intact and can move on.
func TestDynamoStopped(t *testing.T) {
	ctx := context.Background()
	d := newBookmarks(t, fast())
	const stream = "shop-public-orders"
	rev, err := d.Put(ctx, stream, state(1), 0)
	if err != nil {
		t.Fatal(err)
	}
	dynsrv.Stop()
	_, err = d.Put(ctx, stream, state(2), rev)
	if serr := dynsrv.Start(); serr != nil {
		t.Fatal(serr)
	}
	assertExplained(t, err, "put bookmark "+stream, "cannot reach DynamoDB", dynsrv.Endpoint())
	got, err := d.Get(ctx, stream)
	if err != nil || got.Rev != rev || !reflect.DeepEqual(got.State, state(1)) {
		t.Fatalf("after restart Get = %+v, %v; want state(1) at rev %d", got, err, rev)
	}
	if _, err := d.Put(ctx, stream, state(2), rev); err != nil {
		t.Fatalf("Put after restart: %v", err)
	}
}

func TestBadTable(t *testing.T) {
	ctx := context.Background()
	d, err := NewDynamoBookmarks(ctx, bookmarksConfig("no-such-table"), "p", testCreds())
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.Get(ctx, "s")
	assertExplained(t, err, "get bookmark s", `dynamodb table "no-such-table" does not exist`, "setup-stores", "bookmarks.table")
	_, err = d.Put(ctx, "s", state(1), 0)
	assertExplained(t, err, `dynamodb table "no-such-table" does not exist`)
	err = d.Acquire(ctx, "l", "me", time.Minute)
	assertExplained(t, err, `dynamodb table "no-such-table" does not exist`)
	err = d.CheckTable(ctx)
	assertExplained(t, err, `dynamodb table "no-such-table" does not exist`)
}

func TestCreateTableIsIdempotent(t *testing.T) {
	ctx := context.Background()
	d, err := NewDynamoBookmarks(ctx, bookmarksConfig(unique("table")), "p", testCreds())
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []bool{true, false} {
		created, err := d.CreateTable(ctx)
		if err != nil || created != want {
			t.Fatalf("CreateTable #%d = %v, %v; want %v", i+1, created, err, want)
		}
	}
	if _, err := d.Put(ctx, "s", state(1), 0); err != nil {
		t.Fatal(err)
	}
}
