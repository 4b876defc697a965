package replicate_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/pg2s3/pg2s3/shared/bookmark"
	"github.com/pg2s3/pg2s3/shared/localstore"
	"github.com/pg2s3/pg2s3/shared/replicate"
)

func TestHoldLeaseRenewsUntilReleased(t *testing.T) {
	ctx := context.Background()
	f, _ := localstore.NewFile(filepath.Join(t.TempDir(), "b.json"))
	release, err := replicate.HoldLease(ctx, f, "slot#s", "run-a", 1500*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(2500 * time.Millisecond) // past the ttl: only renewal keeps it
	if _, err := replicate.HoldLease(ctx, f, "slot#s", "run-b", time.Minute); !errors.Is(err, bookmark.ErrLeaseHeld) {
		t.Fatalf("a second run got a renewed lease: %v", err)
	}
	release()
	r2, err := replicate.HoldLease(ctx, f, "slot#s", "run-b", time.Minute)
	if err != nil {
		t.Fatalf("lease not free after release: %v", err)
	}
	r2()
}
