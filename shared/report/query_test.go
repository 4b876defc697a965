package report

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pg2s3/pg2s3/shared/layout"
)

var t0 = time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)

// sampleRuns makes n runs 15 minutes apart, alternating a table sync of
// three streams and a log drain of one: what Find and Newest read.
func sampleRuns(n int) []*Run {
	var runs []*Run
	for i := range n {
		start := t0.Add(time.Duration(i) * 15 * time.Minute)
		r := &Run{RunID: fmt.Sprintf("r%04d", i), Kind: "sync", StartedAt: start, FinishedAt: start.Add(3 * time.Second),
			Streams: []Stream{{Stream: "shop-public-customers"}, {Stream: "shop-public-products"}, {Stream: "shop-public-events"}}}
		if i%2 == 1 {
			r.Kind, r.Streams = "wal", []Stream{{Stream: "shop-public-orders"}}
		}
		runs = append(runs, r)
	}
	return runs
}

// memStore is a sink holding run reports.
type memStore map[string][]byte

func (m memStore) List(ctx context.Context, prefix string) ([]string, error) {
	var keys []string
	for k := range m {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	return keys, nil
}

func (m memStore) Get(ctx context.Context, key string) ([]byte, error) {
	b, ok := m[key]
	if !ok {
		return nil, errors.New("not found")
	}
	return b, nil
}

func TestFind(t *testing.T) {
	st := memStore{"_runs/notes.txt": []byte("not a report")}
	for _, r := range sampleRuns(10) {
		b, _ := json.Marshal(r)
		st[layout.RunReportKey(r.StartedAt, r.Kind, r.RunID)] = b
	}
	ctx := context.Background()
	ids := func(runs []*Run) string {
		var s []string
		for _, r := range runs {
			s = append(s, r.RunID)
		}
		return strings.Join(s, " ")
	}
	cases := []struct {
		q    Query
		want string
	}{
		{Query{}, "r0000 r0001 r0002 r0003 r0004 r0005 r0006 r0007 r0008 r0009"},
		{Query{Last: 3}, "r0007 r0008 r0009"},
		{Query{Since: t0.Add(105 * time.Minute)}, "r0007 r0008 r0009"},
		{Query{Since: t0.Add(105*time.Minute + time.Millisecond)}, "r0008 r0009"},
		{Query{Streams: []string{"shop-public-orders"}, Last: 2}, "r0007 r0009"},
		{Query{Streams: []string{"nope"}}, ""},
	}
	for _, c := range cases {
		runs, err := Find(ctx, st, c.q)
		if err != nil {
			t.Fatal(err)
		}
		if got := ids(runs); got != c.want {
			t.Errorf("%+v: got %q, want %q", c.q, got, c.want)
		}
	}
	runs, _ := Find(ctx, st, Query{Streams: []string{"shop-public-events"}, Last: 1})
	if len(runs) != 1 || len(runs[0].Streams) != 1 || runs[0].Streams[0].Stream != "shop-public-events" {
		t.Errorf("a stream filter keeps only that stream's part: %+v", runs)
	}
	// Within a second, key order (by kind) is not time order.
	late, early := sampleRuns(2)[0], sampleRuns(2)[1]
	late.RunID, late.StartedAt = "late", t0.Add(5*time.Hour+900*time.Millisecond)
	early.RunID, early.StartedAt = "early", t0.Add(5*time.Hour+100*time.Millisecond)
	for _, r := range []*Run{late, early} {
		b, _ := json.Marshal(r)
		st[layout.RunReportKey(r.StartedAt, r.Kind, r.RunID)] = b
	}
	for last, want := range map[int]string{1: "late", 2: "early late", 3: "r0009 early late"} {
		if runs, err := Find(ctx, st, Query{Last: last}); err != nil || ids(runs) != want {
			t.Errorf("last %d in one second: %q, want %q (%v)", last, ids(runs), want, err)
		}
	}
	st["_runs/20250314T100000Z-sync-bad.json"] = []byte("{")
	if _, err := Find(ctx, st, Query{}); err == nil || !strings.Contains(err.Error(), "20250314T100000Z-sync-bad.json") {
		t.Errorf("a broken report should be an error naming it: %v", err)
	}
}

// TestNewestStopsWhenEnough: Newest reads back only until the caller has
// what it needs (plus the rest of that second), never past max.
func TestNewestStopsWhenEnough(t *testing.T) {
	st := memStore{}
	for _, r := range sampleRuns(10) {
		b, _ := json.Marshal(r)
		st[layout.RunReportKey(r.StartedAt, r.Kind, r.RunID)] = b
	}
	ctx := context.Background()
	runs, err := Newest(ctx, st, 100, func(read []*Run) bool { return len(read) >= 3 })
	if err != nil || len(runs) != 3 || runs[0].RunID != "r0007" || runs[2].RunID != "r0009" {
		t.Fatalf("enough after 3: %d runs %v", len(runs), err)
	}
	if runs, _ := Newest(ctx, st, 4, func([]*Run) bool { return false }); len(runs) != 4 || runs[3].RunID != "r0009" {
		t.Fatalf("capped at 4: %d runs", len(runs))
	}
	if runs, _ := Newest(ctx, st, 100, func([]*Run) bool { return false }); len(runs) != 10 {
		t.Fatalf("never enough: %d runs", len(runs))
	}
}
