package replicate_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pg2s3/pg2s3/shared/layout"
	"github.com/pg2s3/pg2s3/shared/record"
	"github.com/pg2s3/pg2s3/shared/replicate"
	"github.com/pg2s3/pg2s3/shared/report"
)

// TestDrainStopsWhenIdle: a drain that receives nothing for its
// IdleTimeout (logical_poll_total_seconds) stops before its fence and
// deadline, committing and acknowledging what it read.
func TestDrainStopsWhenIdle(t *testing.T) {
	f := newFixture(t, "")
	s := &record.Stream{ID: "db-public-t", Schema: "public", Table: "t", Method: layout.LogBased,
		Columns: []record.Column{{Name: "id", Kind: record.KindInteger}}, KeyColumns: []string{"id"}}
	log := &scriptLog{events: []record.Event{
		{Kind: record.EventBegin, CommitLSN: 0x200},
		{Kind: record.EventChange, CommitLSN: 0x200, Change: record.Change{Op: record.Insert, Schema: "public", Table: "t",
			Columns: []string{"id"}, Values: []record.Value{{Text: []byte("1")}}, LSN: 0x100, CommitLSN: 0x200}},
		{Kind: record.EventCommit, CommitLSN: 0x200, EndLSN: 0x210},
	}}
	const idle = 300 * time.Millisecond
	drain := replicate.SlotRead{Slot: "s", Streams: []*record.Stream{s}, Log: log, Fence: 1 << 40, IdleTimeout: idle,
		Budget: replicate.Budget{BatchRows: 1000, BatchBytes: 1 << 20, Deadline: time.Now().Add(time.Minute)}}
	start := time.Now()
	reps, err := f.engine.ReadSlot(f.ctx, drain, &report.Slot{})
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if took < idle || took > 20*idle {
		t.Errorf("the drain stopped after %s; want about its idle timeout %s", took, idle)
	}
	if len(reps) != 1 || reps[0].Rows != 1 || !slices.Equal(log.acks, []uint64{0x210}) {
		t.Errorf("the idle drain wrote %+v and acknowledged %#x; want the one change, acknowledged at 0x210", reps, log.acks)
	}
}

// TestBatchBytesCutsSlotBatches: a drain ends a slot batch once its
// changes reach batch_bytes, between transactions or inside one.
func TestBatchBytesCutsSlotBatches(t *testing.T) {
	f := newFixture(t, "")
	s := &record.Stream{ID: "db-public-t", Schema: "public", Table: "t", Method: layout.LogBased,
		Columns: []record.Column{{Name: "id", Kind: record.KindInteger}, {Name: "pad", Kind: record.KindString}}, KeyColumns: []string{"id"}}
	pad := []byte(strings.Repeat("x", 200))
	log := &scriptLog{events: []record.Event{{Kind: record.EventBegin, CommitLSN: 0x10000}}}
	for i := 1; i <= 100; i++ {
		log.events = append(log.events, record.Event{Kind: record.EventChange, CommitLSN: 0x10000, Change: record.Change{Op: record.Insert,
			Schema: "public", Table: "t", Columns: []string{"id", "pad"}, Values: []record.Value{{Text: []byte(fmt.Sprint(i))}, {Text: pad}},
			LSN: uint64(i), CommitLSN: 0x10000}})
	}
	log.events = append(log.events, record.Event{Kind: record.EventCommit, CommitLSN: 0x10000, EndLSN: 0x10010})
	const limit = 4 << 10
	drain := replicate.SlotRead{Slot: "s", Streams: []*record.Stream{s}, Log: log, Fence: 0x10000,
		Budget: replicate.Budget{BatchRows: 100000, BatchBytes: limit}}
	reps, err := f.engine.ReadSlot(f.ctx, drain, &report.Slot{})
	if err != nil {
		t.Fatal(err)
	}
	// 100 changes of about 300 encoded bytes: 4 KiB holds about 13.
	if len(reps) != 1 || reps[0].Rows != 100 || reps[0].Batches < 5 {
		t.Fatalf("drain of 100 changes in batches of %d bytes: %+v", limit, reps)
	}
}
