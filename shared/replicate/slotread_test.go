package replicate_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pg2s3/pg2s3/shared/catalog"
	"github.com/pg2s3/pg2s3/shared/encode"
	"github.com/pg2s3/pg2s3/shared/layout"
	"github.com/pg2s3/pg2s3/shared/postgres/tables"
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

// TestDrainFollowsColumnAddedMidRun: the table gains a column after the
// stream was resolved (as during a long drain); the change that first
// carries it makes the drain resolve the live table again, so that change
// and the next ones hold the column with its live type, in a Parquet
// object of its own whose schema and manifest name it. With the table's
// select-new-columns false, the column is skipped.
func TestDrainFollowsColumnAddedMidRun(t *testing.T) {
	for _, selectNew := range []bool{true, false} {
		t.Run(fmt.Sprint("select-new-columns=", selectNew), func(t *testing.T) {
			f := newFixture(t, "CREATE TABLE t (id int PRIMARY KEY, a text)")
			f.engine.Format = layout.Parquet
			s, err := f.engine.Tables.(*tables.Source).Resolve(f.ctx, catalog.Selection{StreamID: "db-public-t", Schema: "public", Table: "t",
				Method: layout.LogBased, Columns: []string{"id", "a"}, Known: []string{"id", "a"}, SelectNewColumns: selectNew})
			if err != nil {
				t.Fatal(err)
			}
			f.exec("ALTER TABLE t ADD COLUMN b numeric(10,2)")
			ins := func(lsn uint64, vals ...string) record.Event {
				c := record.Change{Op: record.Insert, Schema: "public", Table: "t", Columns: []string{"id", "a", "b"}[:len(vals)], LSN: lsn, CommitLSN: 0x200}
				for _, v := range vals {
					c.Values = append(c.Values, record.Value{Text: []byte(v)})
				}
				return record.Event{Kind: record.EventChange, CommitLSN: 0x200, Change: c}
			}
			log := &scriptLog{events: []record.Event{{Kind: record.EventBegin, CommitLSN: 0x200},
				ins(0x101, "1", "x"), ins(0x102, "2", "y", "12.50"), ins(0x103, "3", "z", "-0.01"),
				{Kind: record.EventCommit, CommitLSN: 0x200, EndLSN: 0x201}}}
			drain := replicate.SlotRead{Slot: "s", Streams: []*record.Stream{&s}, Log: log, Fence: 0x200,
				Budget: replicate.Budget{BatchRows: 1000, BatchBytes: 1 << 20}}
			if _, err := f.engine.ReadSlot(f.ctx, drain, &report.Slot{}); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(s.NewColumns, []string{"b"}) {
				t.Errorf("new columns %q, want [b]", s.NewColumns)
			}
			var got []string
			var objCols [][]string
			keys, _ := f.sink.List(f.ctx, "_wal/s/")
			for _, k := range keys {
				b, _ := f.sink.Get(f.ctx, k)
				var m replicate.Manifest
				if err := json.Unmarshal(b, &m); err != nil {
					t.Fatal(err)
				}
				for _, o := range m.Objects {
					objCols = append(objCols, o.Columns)
					body, err := os.ReadFile(filepath.Join(f.sink.Root(), o.Key))
					if err != nil {
						t.Fatal(err)
					}
					rows, err := encode.ReadObject(o.Key, body)
					if err != nil {
						t.Fatal(err)
					}
					for _, r := range rows {
						got = append(got, fmt.Sprint(r["id"], ":", r["b"]))
					}
				}
			}
			want, wantCols := []string{"1:<nil>", "2:12.50", "3:-0.01"}, [][]string{{"id", "a"}, {"id", "a", "b"}}
			if !selectNew {
				want, wantCols = []string{"1:<nil>", "2:<nil>", "3:<nil>"}, [][]string{{"id", "a"}}
			}
			if !slices.Equal(got, want) || fmt.Sprint(objCols) != fmt.Sprint(wantCols) {
				t.Errorf("rows %q in objects of columns %q; want %q in %q", got, objCols, want, wantCols)
			}
		})
	}
}
