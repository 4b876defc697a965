package replicate_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pg2s3/pg2s3/shared/bookmark"
	"github.com/pg2s3/pg2s3/shared/layout"
	"github.com/pg2s3/pg2s3/shared/localstore"
	"github.com/pg2s3/pg2s3/shared/record"
	"github.com/pg2s3/pg2s3/shared/replicate"
	"github.com/pg2s3/pg2s3/shared/report"
)

// The log run's commit logic against a scripted slot: no server, so each
// case sets up exactly the state it is about.

// fakeSlot is a SlotSource whose answers the test sets; calls records
// what the engine asked for, in order.
type fakeSlot struct {
	readyErr   error
	carried    [][2]string // with publishErr: what the log still carries
	publishErr error
	confirmed  uint64
	current    uint64 // CurrentWALLSN
	fence      uint64
	log        *scriptLog
	calls      []string
}

func (f *fakeSlot) LogReady(context.Context) error {
	f.calls = append(f.calls, "ready")
	return f.readyErr
}
func (f *fakeSlot) Publish(_ context.Context, tables [][2]string) ([][2]string, error) {
	f.calls = append(f.calls, "publish")
	if f.publishErr != nil {
		return f.carried, f.publishErr
	}
	return tables, nil
}
func (f *fakeSlot) EnsureSlot(context.Context) (uint64, bool, error) {
	f.calls = append(f.calls, "ensure")
	return f.confirmed, false, nil
}
func (f *fakeSlot) CurrentWALLSN(context.Context) (uint64, error) { return f.current, nil }
func (f *fakeSlot) Heartbeat(context.Context) (uint64, error) {
	f.calls = append(f.calls, "heartbeat")
	return f.fence, nil
}
func (f *fakeSlot) OpenLog(_ context.Context, start uint64, tables [][2]string) (record.Log, error) {
	f.calls = append(f.calls, fmt.Sprintf("open %#x", start))
	return f.log, nil
}
func (f *fakeSlot) RetainedBytes(context.Context) (int64, error) { return 0, nil }

// scriptLog delivers its events, then nothing until ctx ends, like a slot
// whose server has nothing selected to decode.
type scriptLog struct {
	events []record.Event
	acks   []uint64
	closed bool
}

func (l *scriptLog) Next(ctx context.Context) (record.Event, error) {
	if len(l.events) > 0 {
		ev := l.events[0]
		l.events = l.events[1:]
		return ev, nil
	}
	<-ctx.Done()
	return record.Event{}, ctx.Err()
}
func (l *scriptLog) Ack(_ context.Context, lsn uint64) error {
	l.acks = append(l.acks, lsn)
	return nil
}
func (l *scriptLog) Close(context.Context) error { l.closed = true; return nil }

// tx returns the events of one transaction inserting ids into table t,
// committed at commit (its end one past it).
func tx(table string, commit uint64, ids ...int) []record.Event {
	evs := []record.Event{{Kind: record.EventBegin, CommitLSN: commit}}
	for i, id := range ids {
		evs = append(evs, record.Event{Kind: record.EventChange, CommitLSN: commit, Change: record.Change{Op: record.Insert,
			Schema: "public", Table: table, Columns: []string{"id"}, Values: []record.Value{{Text: []byte(strconv.Itoa(id))}},
			LSN: commit - uint64(len(ids)-i), CommitLSN: commit}})
	}
	return append(evs, record.Event{Kind: record.EventCommit, CommitLSN: commit, EndLSN: commit + 1})
}

// memTable is a TableSource over in-memory tables of integer ids.
type memTable map[string][]int

func (m memTable) Scan(_ context.Context, q record.PageQuery, fn func(row [][]byte) error) error {
	n := 0
	for _, id := range m[q.Stream.Table] {
		if len(q.After) > 0 && id <= atoi(q.After[0]) || len(q.Upto) > 0 && id > atoi(q.Upto[0]) {
			continue
		}
		if q.Limit > 0 && n == q.Limit {
			return nil
		}
		n++
		if err := fn([][]byte{[]byte(strconv.Itoa(id))}); err != nil {
			if errors.Is(err, record.ErrStopPage) {
				return nil
			}
			return err
		}
	}
	return nil
}

func (m memTable) MaxKey(_ context.Context, s *record.Stream) ([]string, error) {
	ids := m[s.Table]
	if len(ids) == 0 {
		return nil, nil
	}
	return []string{strconv.Itoa(ids[len(ids)-1])}, nil
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

func bookmarkAt(committed uint64) bookmark.State { return bookmark.State{CommittedLSN: committed} }

func bookmarkStart(start uint64) bookmark.State {
	return bookmark.State{Method: layout.LogBased, Version: 1, StartLSN: start}
}

func logStream(table string) *record.Stream {
	return &record.Stream{ID: "db-public-" + table, Schema: "public", Table: table, Method: layout.LogBased,
		Columns: []record.Column{{Name: "id", Kind: record.KindInteger}}, KeyColumns: []string{"id"}}
}

// logEngine is an engine over local stores and in-memory tables.
func logEngine(t *testing.T, tables memTable) (*replicate.Engine, *localstore.Dir, *localstore.File) {
	t.Helper()
	dir := t.TempDir()
	sink, err := localstore.NewDir(filepath.Join(dir, "out"))
	if err != nil {
		t.Fatal(err)
	}
	bms, err := localstore.NewFile(filepath.Join(dir, "bookmarks.json"))
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	return &replicate.Engine{Tables: tables, Sink: sink, Bookmarks: bms, Log: quiet}, sink, bms
}

func job(src *fakeSlot, streams ...*record.Stream) replicate.DrainJob {
	return replicate.DrainJob{Pipeline: "db", Slot: "s", Plugin: "pgoutput", Streams: streams, Source: src,
		Budget: replicate.Budget{BatchRows: 2, BatchBytes: 1 << 20, Deadline: time.Now().Add(time.Minute)}, IdleTimeout: time.Minute}
}

// TestLogRunOrder: start position, fence, then the log from the slot's
// committed position; every acknowledgment is a position the slot
// bookmark already holds, and the last is the fence's commit. The initial
// copy follows with the rest of the budget.
func TestLogRunOrder(t *testing.T) {
	ctx := context.Background()
	eng, sink, bms := logEngine(t, memTable{"a": {1, 2, 3}})
	log := &scriptLog{events: slices.Concat(tx("a", 0x200, 10, 11, 12), tx("other", 0x300, 1), tx("a", 0x400, 13))}
	src := &fakeSlot{confirmed: 0x100, current: 0x150, fence: 0x400, log: log}
	run, err := eng.Drain(ctx, job(src, logStream("a")))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"ready", "publish", "ensure", "heartbeat", "open 0x0"}; !slices.Equal(src.calls, want) {
		t.Errorf("calls %q, want %q", src.calls, want)
	}
	slot, _ := bms.Get(ctx, layout.SlotBookmarkID("s"))
	if slot.State.CommittedLSN != 0x401 || len(log.acks) == 0 || log.acks[len(log.acks)-1] != 0x401 || !log.closed {
		t.Fatalf("slot bookmark %#x, acks %#x, closed %v: want the fence's end 0x401 acknowledged last", slot.State.CommittedLSN, log.acks, log.closed)
	}
	if !slices.IsSorted(log.acks) {
		t.Errorf("acks go backwards: %#x", log.acks)
	}
	st, _ := bms.Get(ctx, "db-public-a")
	if st.State.StartLSN != 0x150 || !st.State.CopyDone || run.Failed() || run.Slot == nil || !run.Slot.ReachedFence {
		t.Fatalf("stream bookmark %+v, run %+v", st.State, run)
	}
	if len(run.Streams) != 1 || run.Streams[0].Rows != 4+3 {
		t.Errorf("report %+v: want 4 changes and 3 copied rows", run.Streams)
	}
	// Batches of 2 rows, cut inside the first transaction and the last;
	// the fence's commit moves only the bookmark.
	if keys, _ := sink.List(ctx, "_wal/s/"); len(keys) != 2 {
		t.Errorf("slot manifests %q, want 2", keys)
	}
}

// failManifests fails every manifest write.
type failManifests struct{ replicate.Sink }

func (failManifests) PutIfAbsent(context.Context, string, []byte, string) ([]byte, error) {
	return nil, errors.New("injected: manifest write failed")
}

// TestLogRunNoAckPastAFailedCommit: a batch whose manifest cannot be
// written moves neither the slot bookmark nor the slot.
func TestLogRunNoAckPastAFailedCommit(t *testing.T) {
	ctx := context.Background()
	eng, _, bms := logEngine(t, memTable{})
	eng.Sink = failManifests{eng.Sink}
	log := &scriptLog{events: tx("a", 0x200, 1)}
	run, err := eng.Drain(ctx, job(&fakeSlot{confirmed: 0x100, current: 0x150, fence: 0x200, log: log}, logStream("a")))
	if err != nil {
		t.Fatal(err)
	}
	slot, _ := bms.Get(ctx, layout.SlotBookmarkID("s"))
	if len(log.acks) != 0 || slot.Rev != 0 || !run.Failed() || !strings.Contains(run.Streams[0].Error, "injected") {
		t.Fatalf("acks %#x, slot bookmark rev %d, run %+v: want no ack, no bookmark and the error reported", log.acks, slot.Rev, run.Streams)
	}
}

// TestLogRunSlotPassedTheBookmark: a slot confirmed past the committed
// position lost the changes in between: the run stops before reading.
func TestLogRunSlotPassedTheBookmark(t *testing.T) {
	ctx := context.Background()
	eng, _, bms := logEngine(t, memTable{})
	if _, err := bms.Put(ctx, layout.SlotBookmarkID("s"), bookmarkAt(0x100), 0); err != nil {
		t.Fatal(err)
	}
	src := &fakeSlot{confirmed: 0x200, log: &scriptLog{}}
	run, err := eng.Drain(ctx, job(src, logStream("a")))
	if err != nil {
		t.Fatal(err)
	}
	if !run.Failed() || !strings.Contains(run.Streams[0].Error, "moved past the last committed position") || slices.Contains(src.calls, "heartbeat") {
		t.Fatalf("calls %q, run %+v", src.calls, run.Streams)
	}
	if st, _ := bms.Get(ctx, "db-public-a"); st.Rev != 0 {
		t.Errorf("the stream's start position was recorded: %+v", st.State)
	}
}

// TestLogRunServerNotReady: a server that cannot serve the run is asked
// nothing else, and nothing is written but the run report.
func TestLogRunServerNotReady(t *testing.T) {
	ctx := context.Background()
	eng, sink, bms := logEngine(t, memTable{})
	src := &fakeSlot{readyErr: errors.New("not allowed: fix it")}
	run, err := eng.Drain(ctx, job(src, logStream("a"), logStream("b")))
	if err != nil {
		t.Fatal(err)
	}
	all, _ := bms.All(ctx)
	keys, _ := sink.List(ctx, "")
	if !slices.Equal(src.calls, []string{"ready"}) || len(all) != 0 || len(run.Streams) != 2 || !strings.Contains(run.Streams[1].Error, "fix it") ||
		len(keys) != 1 || !strings.HasPrefix(keys[0], "_runs/") {
		t.Fatalf("calls %q, bookmarks %v, objects %q, run %+v", src.calls, all, keys, run.Streams)
	}
}

// TestLogRunPublicationNotChangeable: the log carries only some tables and
// the user may not change that. A stream not yet following the log fails
// alone; one that already follows it stops the run before the slot passes
// its changes.
func TestLogRunPublicationNotChangeable(t *testing.T) {
	ctx := context.Background()
	eng, _, bms := logEngine(t, memTable{"a": {1}})
	notMine := errors.New(`not allowed to manage the publication: run ALTER PUBLICATION "p" ADD TABLE "public"."b"`)
	log := &scriptLog{events: tx("a", 0x200, 5)}
	src := &fakeSlot{carried: [][2]string{{"public", "a"}}, publishErr: notMine, confirmed: 0x100, current: 0x150, fence: 0x200, log: log}
	run, err := eng.Drain(ctx, job(src, logStream("a"), logStream("b")))
	if err != nil {
		t.Fatal(err)
	}
	by := map[string]string{}
	for _, s := range run.Streams {
		by[s.Stream] = s.Error
	}
	if by["db-public-a"] != "" || !strings.Contains(by["db-public-b"], "ADD TABLE") || len(log.acks) == 0 {
		t.Fatalf("run %+v, acks %#x", run.Streams, log.acks)
	}
	// b has started following the log (by an earlier run): draining now
	// would pass its changes.
	if _, err := bms.Put(ctx, "db-public-b", bookmarkStart(0x150), 0); err != nil {
		t.Fatal(err)
	}
	src.calls = nil
	if _, err := eng.Drain(ctx, job(src, logStream("a"), logStream("b"))); err == nil || !strings.Contains(err.Error(), "would skip its changes") ||
		slices.Contains(src.calls, "ensure") {
		t.Fatalf("a followed stream left out of the publication: %v, calls %q", err, src.calls)
	}
}

// TestLogRunLeaseHeld: another run drains the slot: this one reads nothing.
func TestLogRunLeaseHeld(t *testing.T) {
	ctx := context.Background()
	eng, _, bms := logEngine(t, memTable{})
	if err := bms.Acquire(ctx, "slot#s", "other-run", time.Minute); err != nil {
		t.Fatal(err)
	}
	src := &fakeSlot{log: &scriptLog{}}
	j := job(src, logStream("a"))
	j.Leaser = bms
	if _, err := eng.Drain(ctx, j); err == nil || !strings.Contains(err.Error(), "already running") || slices.Contains(src.calls, "ensure") {
		t.Fatalf("lease held elsewhere: %v, calls %q", err, src.calls)
	}
}

// TestLogRunHeldByAnUnreadableStream: a stream that follows the log but
// failed to resolve holds the slot for every stream; one that has not
// started following it does not.
func TestLogRunHeldByAnUnreadableStream(t *testing.T) {
	ctx := context.Background()
	eng, _, bms := logEngine(t, memTable{"a": {1}})
	broken := report.Stream{Stream: "db-public-b", Method: layout.LogBased, Error: `selected column "x" no longer exists`}
	newcomer := report.Stream{Stream: "db-public-c", Method: layout.LogBased, Error: "table c no longer exists"}

	src := &fakeSlot{confirmed: 0x100, current: 0x150, fence: 0x200, log: &scriptLog{events: tx("a", 0x200, 5)}}
	j := job(src, logStream("a"))
	j.Failed = []report.Stream{newcomer}
	if run, err := eng.Drain(ctx, j); err != nil || run.Streams[1].Error != "" {
		t.Fatalf("a failed stream not following the log yet held the others: %v %+v", err, run)
	}

	st := bookmarkStart(0x150)
	st.CopyDone = true
	if _, err := bms.Put(ctx, "db-public-b", st, 0); err != nil {
		t.Fatal(err)
	}
	src = &fakeSlot{confirmed: 0x201, current: 0x250, fence: 0x300, log: &scriptLog{events: tx("a", 0x300, 6)}}
	j = job(src, logStream("a"))
	j.Failed = []report.Stream{broken, newcomer}
	run, err := eng.Drain(ctx, j)
	if err != nil {
		t.Fatal(err)
	}
	last := run.Streams[len(run.Streams)-1]
	if !strings.Contains(last.Error, "the slot holds: stream db-public-b follows the log") || !strings.Contains(last.Error, "pg2s3 reset --stream db-public-b") ||
		slices.Contains(src.calls, "ensure") || len(src.log.acks) != 0 {
		t.Fatalf("calls %q, acks %#x, run %+v", src.calls, src.log.acks, run.Streams)
	}
}

func keylessStream(table string) *record.Stream {
	return &record.Stream{ID: "db-public-" + table, Schema: "public", Table: table, Method: layout.LogBased,
		Columns: []record.Column{{Name: "id", Kind: record.KindInteger}}}
}

// TestLogRunKeylessCopyRestarts: a copy without a key that a run left
// unfinished starts over in a new version at a new start position (read
// again into the same version, its rows would be there twice), and the
// drain skips changes committed before a version's start position, which
// its copy already holds.
func TestLogRunKeylessCopyRestarts(t *testing.T) {
	ctx := context.Background()
	eng, sink, bms := logEngine(t, memTable{"k": {1, 2, 3, 4, 5}})
	s := keylessStream("k")

	first := job(&fakeSlot{confirmed: 0x100, current: 0x150, fence: 0x200, log: &scriptLog{events: tx("other", 0x200, 1)}}, s)
	first.Budget.MaxBatches = 1 // cut the copy after one batch of 2 rows
	if _, err := eng.Drain(ctx, first); err != nil {
		t.Fatal(err)
	}
	cut, _ := bms.Get(ctx, s.ID)
	if cut.State.CopyDone || cut.State.Seq != 1 {
		t.Fatalf("first run: %+v, want an unfinished copy", cut.State)
	}

	// The next run drains (into the old version), then restarts the copy
	// at the server's position after the fence.
	log := &scriptLog{events: tx("k", 0x380, 6)}
	run, err := eng.Drain(ctx, job(&fakeSlot{confirmed: 0x100, current: 0x400, fence: 0x380, log: log}, s))
	if err != nil || run.Failed() {
		t.Fatalf("second run: %v %+v", err, run)
	}
	done, _ := bms.Get(ctx, s.ID)
	if !done.State.CopyDone || done.State.Version <= cut.State.Version || done.State.StartLSN != 0x400 {
		t.Fatalf("second run's bookmark %+v, want a finished copy of a new version starting at 0x400", done.State)
	}
	// A later drain: a change committed before the new start position is
	// in the copy already; one after it is the version's.
	log = &scriptLog{events: slices.Concat(tx("k", 0x390, 7), tx("k", 0x480, 9))}
	if run, err := eng.Drain(ctx, job(&fakeSlot{confirmed: 0x100, current: 0x500, fence: 0x480, log: log}, s)); err != nil || run.Failed() {
		t.Fatalf("third run: %v %+v", err, run)
	}
	rows := versionRows(t, sink, s.ID, done.State.Version)
	slices.Sort(rows)
	if want := []string{"1", "2", "3", "4", "5", "9"}; !slices.Equal(rows, want) {
		t.Errorf("the new version holds %v, want each copied row once and the change after its start", rows)
	}
}

// versionRows returns the ids of every row the manifests of a stream's
// version name, copy and log alike.
func versionRows(t *testing.T, sink *localstore.Dir, stream string, version int64) []string {
	t.Helper()
	ctx := context.Background()
	keys, err := sink.List(ctx, layout.StreamPrefix(stream))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, k := range keys {
		o, ok := layout.ParseObject(k)
		if !ok || o.Version != version || o.Kind == layout.CopyManifest {
			continue
		}
		for _, r := range readObject(t, filepath.Join(sink.Root(), k)) {
			ids = append(ids, fmt.Sprint(r["id"]))
		}
	}
	return ids
}

// failNthSlotPut fails the n-th write of the slot's bookmark.
type failNthSlotPut struct {
	replicate.Bookmarks
	n, seen int
}

func (b *failNthSlotPut) Put(ctx context.Context, id string, st bookmark.State, rev int64) (int64, error) {
	if _, ok := layout.ParseSlotBookmarkID(id); ok {
		if b.seen++; b.seen == b.n {
			return 0, errors.New("injected: slot bookmark write failed")
		}
	}
	return b.Bookmarks.Put(ctx, id, st, rev)
}

// TestLogRunTruncateRedo: a TRUNCATE begins a new, empty version; when the
// run dies after that but before the slot moved past it, the redo meets
// the TRUNCATE again and neither begins another version nor lets the
// changes the TRUNCATE wiped into the new one.
func TestLogRunTruncateRedo(t *testing.T) {
	ctx := context.Background()
	eng, sink, bms := logEngine(t, memTable{"a": {1}})
	s := logStream("a")
	if _, err := eng.Drain(ctx, job(&fakeSlot{confirmed: 0x100, current: 0x150, fence: 0x200, log: &scriptLog{events: tx("other", 0x200, 1)}}, s)); err != nil {
		t.Fatal(err)
	}
	first, _ := bms.Get(ctx, s.ID)
	// One transaction: two inserts, the TRUNCATE, one insert.
	events := func() []record.Event {
		evs := tx("a", 0x300, 10, 11, 99, 12) // 99's place holds the TRUNCATE
		evs[3].Change = record.Change{Op: record.Truncate, Schema: "public", Table: "a", LSN: evs[3].Change.LSN, CommitLSN: 0x300}
		return evs
	}
	flaky := &failNthSlotPut{Bookmarks: bms, n: 2}
	eng.Bookmarks = flaky
	run, err := eng.Drain(ctx, job(&fakeSlot{confirmed: 0x100, current: 0x250, fence: 0x300, log: &scriptLog{events: events()}}, s))
	if err != nil || !run.Failed() {
		t.Fatalf("the run meant to die after the TRUNCATE: %v %+v", err, run)
	}
	truncated, _ := bms.Get(ctx, s.ID)
	if truncated.State.Version == first.State.Version || !truncated.State.CopyDone {
		t.Fatalf("no new version at the TRUNCATE: %+v", truncated.State)
	}
	eng.Bookmarks = bms
	if run, err := eng.Drain(ctx, job(&fakeSlot{confirmed: 0x100, current: 0x350, fence: 0x300, log: &scriptLog{events: events()}}, s)); err != nil || run.Failed() {
		t.Fatalf("redo: %v %+v", err, run)
	}
	redone, _ := bms.Get(ctx, s.ID)
	if redone.State.Version != truncated.State.Version {
		t.Fatalf("the redo began another version: %d, then %d", truncated.State.Version, redone.State.Version)
	}
	if rows := versionRows(t, sink, s.ID, redone.State.Version); !slices.Equal(rows, []string{"12"}) {
		t.Errorf("the new version holds %v, want only the insert after the TRUNCATE", rows)
	}
}

func (m memTable) Refresh(_ context.Context, s *record.Stream) (record.Stream, error) { return *s, nil }

// liveTable is a memTable whose Refresh answers what the test says the
// live table is now.
type liveTable struct {
	memTable
	refreshed int
	now       func(s *record.Stream) (record.Stream, error)
}

func (l *liveTable) Refresh(_ context.Context, s *record.Stream) (record.Stream, error) {
	l.refreshed++
	return l.now(s)
}

// change is one insert into table a of a transaction committed at commit.
func change(commit, lsn uint64, cols []string, vals ...string) record.Event {
	c := record.Change{Op: record.Insert, Schema: "public", Table: "a", Columns: cols, LSN: lsn, CommitLSN: commit}
	for _, v := range vals {
		c.Values = append(c.Values, record.Value{Text: []byte(v)})
	}
	return record.Event{Kind: record.EventChange, CommitLSN: commit, Change: c}
}

// TestLogRunFollowsAddedColumn: a change carrying a column the stream
// does not know (added after it was resolved) makes the drain resolve the
// table again: the batch before it is committed with the old columns, and
// that change and the next ones carry the new column, in their objects
// and manifests; the report names it. A column the live table no longer
// has (added and dropped again) is skipped, asking the table once.
func TestLogRunFollowsAddedColumn(t *testing.T) {
	ctx := context.Background()
	eng, sink, bms := logEngine(t, nil)
	live := &liveTable{memTable: memTable{}}
	live.now = func(s *record.Stream) (record.Stream, error) {
		ns := *s
		ns.Columns = append(slices.Clone(s.Columns), record.Column{Name: "note", SQLType: "text", Kind: record.KindString})
		ns.NewColumns = []string{"note"}
		return ns, nil
	}
	eng.Tables = live
	id, withNote := []string{"id"}, []string{"id", "note"}
	log := &scriptLog{events: []record.Event{
		{Kind: record.EventBegin, CommitLSN: 0x200},
		change(0x200, 0x1f0, id, "1"),
		change(0x200, 0x1f1, withNote, "2", "hello"),
		change(0x200, 0x1f2, withNote, "3", "again"),
		{Kind: record.EventCommit, CommitLSN: 0x200, EndLSN: 0x201},
	}}
	if _, err := bms.Put(ctx, "db-public-a", bookmark.State{Method: layout.LogBased, Version: 1, StartLSN: 0x100, CopyDone: true}, 0); err != nil {
		t.Fatal(err)
	}
	j := job(&fakeSlot{confirmed: 0x100, current: 0x150, fence: 0x200, log: log}, logStream("a"))
	j.Budget.BatchRows = 100
	run, err := eng.Drain(ctx, j)
	if err != nil || run.Failed() {
		t.Fatalf("run %+v: %v", run, err)
	}
	if live.refreshed != 1 {
		t.Errorf("the table was resolved %d times, want once", live.refreshed)
	}
	if !slices.Equal(run.Streams[0].NewColumns, []string{"note"}) {
		t.Errorf("report new columns %q, want [note]", run.Streams[0].NewColumns)
	}
	var cols [][]string
	keys, _ := sink.List(ctx, "_wal/s/")
	for _, k := range keys {
		var m replicate.Manifest
		body, _ := sink.Get(ctx, k)
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatal(err)
		}
		for _, o := range m.Objects {
			cols = append(cols, o.Columns)
		}
	}
	if len(cols) != 2 || !slices.Equal(cols[0], id) || !slices.Equal(cols[1], withNote) {
		t.Fatalf("objects' columns %q: want the batch before the new column cut, then [id note]", cols)
	}
	var notes []string
	for _, k := range mustList(t, sink, layout.StreamPrefix("db-public-a")) {
		if o, ok := layout.ParseObject(k); ok && o.Kind != layout.CopyManifest {
			for _, r := range readObject(t, filepath.Join(sink.Root(), k)) {
				notes = append(notes, fmt.Sprint(r["id"], "=", r["note"]))
			}
		}
	}
	slices.Sort(notes)
	if want := []string{"1=<nil>", "2=hello", "3=again"}; !slices.Equal(notes, want) {
		t.Errorf("rows %q, want %q", notes, want)
	}

	// Added and dropped again before the drain: the live table does not
	// have it; its values are skipped and the table is asked once.
	eng2, _, _ := logEngine(t, nil)
	gone := &liveTable{memTable: memTable{}, now: func(s *record.Stream) (record.Stream, error) { return *s, nil }}
	eng2.Tables = gone
	log2 := &scriptLog{events: []record.Event{
		{Kind: record.EventBegin, CommitLSN: 0x200},
		change(0x200, 0x1f1, withNote, "2", "x"),
		change(0x200, 0x1f2, withNote, "3", "y"),
		{Kind: record.EventCommit, CommitLSN: 0x200, EndLSN: 0x201},
	}}
	run, err = eng2.Drain(ctx, job(&fakeSlot{confirmed: 0x100, current: 0x150, fence: 0x200, log: log2}, logStream("a")))
	if err != nil || run.Failed() || gone.refreshed != 1 || len(run.Streams[0].NewColumns) != 0 {
		t.Fatalf("dropped-again column: run %+v, refreshed %d: %v", run.Streams, gone.refreshed, err)
	}

	// A table that cannot be resolved again fails the drain before the
	// change: the slot is not acknowledged past it.
	eng3, _, bms3 := logEngine(t, nil)
	eng3.Tables = &liveTable{memTable: memTable{}, now: func(s *record.Stream) (record.Stream, error) {
		return record.Stream{}, errors.New(`selected column "id" no longer exists`)
	}}
	log3 := &scriptLog{events: slices.Concat(tx("a", 0x180, 1), []record.Event{{Kind: record.EventBegin, CommitLSN: 0x200}, change(0x200, 0x1f1, withNote, "2", "x")})}
	run, err = eng3.Drain(ctx, job(&fakeSlot{confirmed: 0x100, current: 0x150, fence: 0x200, log: log3}, logStream("a")))
	slot, _ := bms3.Get(ctx, layout.SlotBookmarkID("s"))
	if err != nil || !run.Failed() || !strings.Contains(run.Streams[0].Error, "cannot be resolved again") || slot.State.CommittedLSN > 0x181 ||
		len(log3.acks) > 0 && log3.acks[len(log3.acks)-1] > 0x181 {
		t.Fatalf("unresolvable table: run %+v, slot %+v, acks %#x: %v", run.Streams, slot.State, log3.acks, err)
	}
}

func mustList(t *testing.T, sink *localstore.Dir, prefix string) []string {
	t.Helper()
	keys, err := sink.List(context.Background(), prefix)
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

func (m memTable) SplitKeys(context.Context, *record.Stream, int64, []string, []string) ([][]string, string, error) {
	return nil, "one range", nil
}
