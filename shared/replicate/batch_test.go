package replicate_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pg2s3/pg2s3/shared/bookmark"
	"github.com/pg2s3/pg2s3/shared/layout"
	"github.com/pg2s3/pg2s3/shared/localstore"
	"github.com/pg2s3/pg2s3/shared/record"
	"github.com/pg2s3/pg2s3/shared/replicate"
)

const itemsSchema = `
CREATE TABLE items (id bigint PRIMARY KEY, name text, price numeric(12,2), updated_at timestamptz NOT NULL);
INSERT INTO items SELECT g, 'item ' || g, g * 1.25, '2024-01-01'::timestamptz + g * interval '1 second'
  FROM generate_series(1, 1000) g;
`

func itemsStream(method layout.Method) *record.Stream {
	s := &record.Stream{
		ID: "db-public-items", Schema: "public", Table: "items", Method: method, KeyColumns: []string{"id"},
		Columns: []record.Column{
			{Name: "id", Kind: record.KindInteger, SQLType: "bigint"},
			{Name: "name", Kind: record.KindString, SQLType: "text"},
			{Name: "price", Kind: record.KindNumber, SQLType: "numeric(12,2)"},
			{Name: "updated_at", Kind: record.KindTimestampTZ, SQLType: "timestamp with time zone"},
		},
	}
	if method == layout.Incremental {
		s.ReplicationKey = "updated_at"
	}
	return s
}

func seq(from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, fmt.Sprint(i))
	}
	sort.Strings(out)
	return out
}

func TestFullTableMultiRunCopy(t *testing.T) {
	f := newFixture(t, itemsSchema)
	s := itemsStream(layout.FullTable)
	budget := replicate.Budget{BatchRows: 70, BatchBytes: 1 << 20, MaxBatches: 4}
	runs := 0
	for {
		runs++
		rep := f.engine.CopyStream(f.ctx, s, budget)
		if rep.Error != "" {
			t.Fatal(rep.Error)
		}
		if rep.CopyDone {
			break
		}
		if runs > 10 {
			t.Fatal("copy never finished")
		}
		// A row inserted after the copy began is past its upper key: it
		// belongs to the next version.
		if runs == 1 {
			f.exec("INSERT INTO items VALUES (1001, 'late', 1, now())")
		}
	}
	if runs != 4 { // 1000 rows / 70 per batch = 15 batches, 4 per run
		t.Fatalf("copy took %d runs, want 4", runs)
	}
	ms := f.manifests(s.ID)
	if !ms[0].VersionStarted || !ms[len(ms)-1].VersionComplete {
		t.Fatalf("version markers: first %+v last %+v", ms[0].VersionStarted, ms[len(ms)-1].VersionComplete)
	}
	got := ids(f.rows(ms))
	want := seq(1, 1000)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("rows: got %d, want %d (each exactly once)", len(got), len(want))
	}
	// The next run starts a new version and copies everything again.
	rep := f.engine.CopyStream(f.ctx, s, replicate.Budget{BatchRows: 5000, BatchBytes: 1 << 30})
	if !rep.NewVersion || !rep.CopyDone || rep.Rows != 1001 {
		t.Fatalf("second copy: %+v", rep)
	}
	row := f.rows(f.manifests(s.ID)[len(ms):])[0]
	if row["price"].(interface{ String() string }).String() != "1.25" || row["updated_at"] != "2024-01-01T00:00:01.000000Z" {
		t.Fatalf("row encoding: %v", row)
	}
}

// Both reads: one cursor per run (no index on the key) and streamed
// (key, primary key) pages (an index leads with the key).
func TestIncrementalTiesAndConcurrentWrites(t *testing.T) {
	for _, indexed := range []bool{false, true} {
		t.Run(map[bool]string{false: "cursor", true: "indexed-pages"}[indexed], func(t *testing.T) { incrementalTies(t, indexed) })
	}
}

func incrementalTies(t *testing.T, indexed bool) {
	f := newFixture(t, `
CREATE TABLE items (id bigint PRIMARY KEY, name text, price numeric(12,2), updated_at timestamptz NOT NULL);
INSERT INTO items SELECT g, 'item ' || g, g, '2024-01-01'::timestamptz + (g / 100) * interval '1 day'
  FROM generate_series(1, 1000) g;`) // ties: 100 rows share each value
	s := itemsStream(layout.Incremental)
	if indexed {
		f.exec("CREATE INDEX ON items (updated_at)")
		s.ReplicationKeyIndexed = true
	}
	budget := replicate.Budget{BatchRows: 37, BatchBytes: 1 << 20, MaxBatches: 5}
	seen := map[string]bool{}
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(f.ctx)
	wg.Add(1)
	go func() { // concurrent inserts and updates throughout the runs
		defer wg.Done()
		// The statements run on f.ctx: cancelling one mid-flight would
		// close the admin connection the checks below read with.
		for i := 2000; ctx.Err() == nil && i < 2300; i++ {
			f.admin.Exec(f.ctx, "INSERT INTO items VALUES ($1, 'new', 1, clock_timestamp())", i)
			f.admin.Exec(f.ctx, "UPDATE items SET updated_at = clock_timestamp(), name = 'upd' WHERE id = $1", i-1500)
		}
	}()
	for run := 0; run < 200; run++ {
		rep := f.engine.CopyStream(f.ctx, s, budget)
		if rep.Error != "" {
			t.Fatal(rep.Error)
		}
		if rep.Rows == 0 && ctx.Err() != nil {
			break
		}
		if run > 40 {
			cancel()
		}
	}
	cancel()
	wg.Wait()
	// One more run after the writers stopped.
	f.engine.CopyStream(f.ctx, s, replicate.Budget{BatchRows: 1000, BatchBytes: 1 << 30})
	for _, r := range f.rows(f.manifests(s.ID)) {
		seen[fmt.Sprint(r["id"], "@", r["updated_at"])] = true
	}
	rows, err := f.admin.Query(f.ctx, "SELECT id, to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') FROM items")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for rows.Next() {
		var id int64
		var ts string
		rows.Scan(&id, &ts)
		n++
		if !seen[fmt.Sprint(id, "@", ts)] {
			t.Errorf("row %d with updated_at %s never replicated", id, ts)
		}
	}
	if n < 1000 {
		t.Fatalf("only %d rows in table", n)
	}
}

func TestResetRecopies(t *testing.T) {
	f := newFixture(t, itemsSchema)
	s := itemsStream(layout.FullTable)
	rep := f.engine.CopyStream(f.ctx, s, replicate.Budget{BatchRows: 400, BatchBytes: 1 << 20, MaxBatches: 1})
	if rep.Error != "" || rep.CopyDone {
		t.Fatalf("first run: %+v", rep)
	}
	if _, err := replicate.Reset(f.ctx, f.bms, "nope", []string{s.ID}, timeNow()); err == nil || !contains(err.Error(), s.ID) {
		t.Fatalf("unknown stream reset: %v", err)
	}
	st, err := replicate.Reset(f.ctx, f.bms, s.ID, []string{s.ID}, timeNow())
	if err != nil {
		t.Fatal(err)
	}
	if st.Version <= rep.TableVersion {
		t.Fatalf("reset did not bump the version: %d -> %d", rep.TableVersion, st.Version)
	}
	rep2 := f.engine.CopyStream(f.ctx, s, replicate.Budget{BatchRows: 5000, BatchBytes: 1 << 30})
	if rep2.TableVersion != st.Version || rep2.Rows != 1000 || !rep2.CopyDone {
		t.Fatalf("after reset: %+v", rep2)
	}
}

// failingSink wraps a real sink to fail data writes on demand.
type failingSink struct {
	replicate.Sink
	failWrite, failManifest bool
}

func (s *failingSink) Create(ctx context.Context, key, ct string) (record.ObjectWriter, error) {
	if s.failWrite {
		return nil, errors.New("injected: sink down")
	}
	return s.Sink.Create(ctx, key, ct)
}

func (s *failingSink) PutIfAbsent(ctx context.Context, key string, body []byte, ct string) ([]byte, error) {
	if s.failManifest {
		return nil, errors.New("injected: manifest write failed")
	}
	return s.Sink.PutIfAbsent(ctx, key, body, ct)
}

func TestSinkFailureMovesNoBookmark(t *testing.T) {
	f := newFixture(t, itemsSchema)
	s := itemsStream(layout.FullTable)
	fs := &failingSink{Sink: f.sink}
	f.engine.Sink = fs
	budget := replicate.Budget{BatchRows: 300, BatchBytes: 1 << 20, MaxBatches: 1}
	if rep := f.engine.CopyStream(f.ctx, s, budget); rep.Error != "" {
		t.Fatal(rep.Error)
	}
	before, _ := f.bms.Get(f.ctx, s.ID)
	for _, mode := range []string{"data", "manifest"} {
		fs.failWrite, fs.failManifest = mode == "data", mode == "manifest"
		rep := f.engine.CopyStream(f.ctx, s, budget)
		if rep.Error == "" {
			t.Fatalf("%s failure not reported", mode)
		}
		after, _ := f.bms.Get(f.ctx, s.ID)
		if after.Rev != before.Rev {
			t.Fatalf("%s failure moved the bookmark", mode)
		}
	}
	fs.failWrite, fs.failManifest = false, false
	for done := false; !done; {
		rep := f.engine.CopyStream(f.ctx, s, budget)
		if rep.Error != "" {
			t.Fatal(rep.Error)
		}
		done = rep.CopyDone
	}
	ms := f.manifests(s.ID)
	if got := ids(f.rows(ms)); fmt.Sprint(got) != fmt.Sprint(seq(1, 1000)) {
		t.Fatalf("after recovery: %d rows, want 1000 exactly once", len(got))
	}
}

func TestDroppedTableFailsOnlyItsStream(t *testing.T) {
	f := newFixture(t, itemsSchema+"CREATE TABLE gone (id int PRIMARY KEY);")
	gone := &record.Stream{ID: "db-public-gone", Schema: "public", Table: "gone", Method: layout.FullTable, KeyColumns: []string{"id"},
		Columns: []record.Column{{Name: "id", Kind: record.KindInteger}}}
	f.exec("DROP TABLE gone")
	run := f.engine.Sync(f.ctx, replicate.SyncJob{Streams: []*record.Stream{gone, itemsStream(layout.FullTable)},
		Budget: replicate.Budget{BatchRows: 5000, BatchBytes: 1 << 30}, Leaser: f.bms})
	if !run.Failed() || run.Streams[0].Error == "" || !contains(run.Streams[0].Error, "no longer exists") {
		t.Fatalf("dropped table: %+v", run.Streams)
	}
	if run.Streams[1].Rows != 1000 {
		t.Fatalf("other stream: %+v", run.Streams[1])
	}
	if run.ReportKey == "" {
		t.Fatal("no run report written")
	}
}

// A run whose calls were cancelled before it reached its streams (a store
// that never answered kept it waiting until its hard stop) fails each
// stream it did not start, instead of reporting a clean run of nothing.
func TestCancelledRunFailsTheStreamsItDidNotStart(t *testing.T) {
	f := newFixture(t, itemsSchema)
	ctx, cancel := context.WithCancel(f.ctx)
	cancel()
	run := f.engine.Sync(ctx, replicate.SyncJob{Streams: []*record.Stream{itemsStream(layout.FullTable)},
		Budget: replicate.Budget{BatchRows: 5000, BatchBytes: 1 << 30}, Leaser: f.bms})
	if !run.Failed() || run.StopReason != "cancelled" || len(run.Streams) != 1 || !contains(run.Streams[0].Error, "not started") {
		t.Fatalf("cancelled run: failed %v, stop %q, streams %+v", run.Failed(), run.StopReason, run.Streams)
	}
	if run.ReportKey == "" {
		t.Fatal("no run report written")
	}
}

// A version is marked for readers once its copy completes (FULL_TABLE) or
// with its first batch (INCREMENTAL), never while a copy is half done.
func TestVersionMarkers(t *testing.T) {
	f := newFixture(t, itemsSchema)
	marker := func(id string, version int64) *replicate.Activation {
		body, err := f.sink.Get(f.ctx, fmt.Sprintf("versions/%s/v%d.json", id, version))
		if errors.Is(err, record.ErrNotFound) {
			return nil
		}
		if err != nil {
			t.Fatal(err)
		}
		var a replicate.Activation
		if err := json.Unmarshal(body, &a); err != nil || body[len(body)-1] != '\n' || bytes.Count(body, []byte("\n")) != 1 {
			t.Fatalf("marker %q: %v", body, err)
		}
		return &a
	}
	full := itemsStream(layout.FullTable)
	rep := f.engine.CopyStream(f.ctx, full, replicate.Budget{BatchRows: 400, BatchBytes: 1 << 20, MaxBatches: 1})
	if rep.Error != "" || rep.CopyDone || marker(full.ID, rep.TableVersion) != nil {
		t.Fatalf("a half-done copy is marked: %+v", rep)
	}
	rep = f.engine.CopyStream(f.ctx, full, replicate.Budget{BatchRows: 400, BatchBytes: 1 << 20})
	if a := marker(full.ID, rep.TableVersion); !rep.CopyDone || a == nil || a.Stream != full.ID || a.Method != layout.FullTable {
		t.Fatalf("a finished copy is not marked: %+v %+v", rep, a)
	}
	inc := itemsStream(layout.Incremental)
	inc.ID = "db-public-items-inc"
	rep = f.engine.CopyStream(f.ctx, inc, replicate.Budget{BatchRows: 400, BatchBytes: 1 << 20, MaxBatches: 1})
	if a := marker(inc.ID, rep.TableVersion); rep.Error != "" || a == nil || a.TableVersion != rep.TableVersion {
		t.Fatalf("an incremental version is not marked from its first batch: %+v %+v", rep, a)
	}
}

// TestBatchBytesCutsCopyBatches: batch_bytes ends a batch before
// batch_rows does; every row still arrives exactly once.
func TestBatchBytesCutsCopyBatches(t *testing.T) {
	f := newFixture(t, itemsSchema)
	s := itemsStream(layout.FullTable)
	const limit = 8 << 10
	rep := f.engine.CopyStream(f.ctx, s, replicate.Budget{BatchRows: 100000, BatchBytes: limit})
	if rep.Error != "" || !rep.CopyDone {
		t.Fatalf("copy: %+v", rep)
	}
	ms := f.manifests(s.ID)
	if len(ms) < 5 {
		t.Fatalf("1000 rows of about 100 bytes in batches of %d bytes made %d batches", limit, len(ms))
	}
	for _, m := range ms {
		if plain := m.Objects[0].PlainBytes; plain > limit+1024 {
			t.Errorf("batch %d holds %d uncompressed bytes; batch_bytes is %d (one row may overshoot)", m.Sequence, plain, limit)
		}
	}
	if got, want := ids(f.rows(ms)), seq(1, 1000); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("rows: got %d, want %d (each exactly once)", len(got), len(want))
	}
}

// slowBookmarks is the bookmark file, each write taking a while (so the
// next batch is being read meanwhile) and failing on call failOn (from 1;
// 0: never); it records the states written and fails the test if two
// writes ever overlap.
type slowBookmarks struct {
	*localstore.File
	t       *testing.T
	failOn  int
	calls   atomic.Int32
	writing atomic.Bool
	mu      sync.Mutex
	seqs    []int64
}

func (b *slowBookmarks) Put(ctx context.Context, id string, st bookmark.State, rev int64) (int64, error) {
	if !b.writing.CompareAndSwap(false, true) {
		b.t.Error("two bookmark writes at once: commits must be one at a time")
	}
	defer b.writing.Store(false)
	time.Sleep(30 * time.Millisecond)
	if int(b.calls.Add(1)) == b.failOn {
		return 0, errors.New("injected: bookmark write failed")
	}
	b.mu.Lock()
	b.seqs = append(b.seqs, st.Seq)
	b.mu.Unlock()
	return b.File.Put(ctx, id, st, rev)
}

// TestCommitBehindTheNextBatch: a copy batch commits while the next is
// read, yet the bookmark writes come one at a time and in order; when one
// fails, the run fails with the report's bookmark and counts at the last
// durable batch, the batch being read leaves no object behind, and the
// next run copies every row once.
func TestCommitBehindTheNextBatch(t *testing.T) {
	f := newFixture(t, itemsSchema)
	s := itemsStream(layout.FullTable)
	bms := &slowBookmarks{File: f.bms, t: t, failOn: 2}
	f.engine.Bookmarks = bms
	budget := replicate.Budget{BatchRows: 100, BatchBytes: 1 << 30}
	rep := f.engine.CopyStream(f.ctx, s, budget)
	if !strings.Contains(rep.Error, "injected: bookmark write failed") || rep.Rows != 100 || rep.Batches != 1 || rep.CopyDone {
		t.Fatalf("failed second commit: %+v", rep)
	}
	durable, _ := f.bms.Get(f.ctx, s.ID)
	if rep.BookmarkAfter == nil || rep.BookmarkAfter.Seq != durable.State.Seq || durable.State.Seq != 1 {
		t.Fatalf("report's bookmark %+v, durable %+v: want both after batch 0", rep.BookmarkAfter, durable.State)
	}
	var stray []string
	filepath.WalkDir(f.sink.Root(), func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (strings.Contains(path, "0000000002.") || strings.HasPrefix(d.Name(), ".")) {
			stray = append(stray, path)
		}
		return err
	})
	if len(stray) > 0 {
		t.Fatalf("the batch being read when the commit failed left %v", stray)
	}

	bms.failOn = 0
	for done := false; !done; {
		rep := f.engine.CopyStream(f.ctx, s, budget)
		if rep.Error != "" {
			t.Fatal(rep.Error)
		}
		done = rep.CopyDone
	}
	if got := ids(f.rows(f.manifests(s.ID))); fmt.Sprint(got) != fmt.Sprint(seq(1, 1000)) {
		t.Fatalf("after recovery: %d rows, want 1000 exactly once", len(got))
	}
	if !slices.IsSorted(bms.seqs) || len(bms.seqs) != 10 {
		t.Fatalf("bookmark writes in order %v: want 10, ascending", bms.seqs)
	}
}
