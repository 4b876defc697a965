// Package materialize keeps an Apache Iceberg table per stream equal to
// the stream's current table, updated in place from the committed
// batches in the sink, by the README's loader rule: the newest change per
// key wins, a delete removes the key, a column a change did not carry
// keeps its previous value, and a newer table version (a reset, a new
// FULL_TABLE copy, a TRUNCATE) replaces the table's contents in one
// snapshot when it activates (its copy written into data files over as
// many runs as it takes first: stage.go). Keyless streams append every
// row.
//
// It reads the sink only through manifests (shared/stored), and only
// batches whose bookmark moved past them. Changes are applied
// merge-on-read: each commit is one Iceberg snapshot holding equality
// deletes on the key of every key the batches touched and the keys' new
// rows (iceberg-go's RowDelta). Each snapshot's summary records the
// Position it reached (pg2s3.position); the materializer's own bookmark
// item (layout.MaterializeBookmarkID) moves only after the snapshot is
// committed, and a run that finds the table ahead of its bookmark (a
// crash between the two) moves the bookmark there and applies nothing
// twice. One run per stream at a time: the lease materialize#<stream>.
package materialize

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/table"

	"github.com/pg2s3/pg2s3/shared/bookmark"
	"github.com/pg2s3/pg2s3/shared/encode"
	"github.com/pg2s3/pg2s3/shared/layout"
	"github.com/pg2s3/pg2s3/shared/record"
	"github.com/pg2s3/pg2s3/shared/replicate"
	"github.com/pg2s3/pg2s3/shared/stored"
)

// Materializer applies a pipeline's stored batches to Iceberg tables.
type Materializer struct {
	// Sink is where the pipeline's batches are (read only).
	Sink stored.Store
	// Bookmarks holds the materializer's bookmark items and tells which
	// batches are committed (the streams' and slots' items).
	Bookmarks replicate.Bookmarks
	Leaser    replicate.Leaser
	// Catalog holds the tables (Glue, REST or SQL).
	Catalog catalog.Catalog
	Log     *slog.Logger
	// AfterCommit, when set, runs after each Iceberg commit and before
	// the bookmark moves; an error ends the run there (tests inject the
	// crash between the two with it).
	AfterCommit func(Position) error
	// AfterStage, when set, runs after each copy batch of a replacement
	// is written into data files (n counts the run's batches), before the
	// run records them: ErrStopStaging ends the run's staging there as
	// its deadline would; another error ends the run with the files
	// written and not recorded (tests inject both with it).
	AfterStage func(n int) error
}

// Options say what to materialize and how much at once.
type Options struct {
	// Stream is the selected stream (columns, types, key, method), as
	// warehouse.StreamsFromCatalog makes it from the catalog.
	Stream *record.Stream
	// Table is the table's identifier, e.g. {"pg2s3", "shop_public_orders"}.
	Table table.Identifier
	// Owner names the run in the lease.
	Owner string
	// MaxRows bounds the changes one commit holds in memory (default
	// DefaultMaxRows); a commit takes whole data objects, so it may hold
	// one object's rows more.
	MaxRows int
	// Deadline, when set, is the moment after which no new commit starts.
	Deadline time.Time
	// CopyOnWrite applies a keyed stream's changes by rewriting the data
	// files that hold their keys (Overwrite with a filter on the keys)
	// instead of adding equality deletes: slower commits that grow with
	// the table, but a table of data files only, which every engine
	// reads (Athena documents position deletes, not equality deletes).
	CopyOnWrite bool
}

// DefaultMaxRows is the default number of changes per Iceberg commit.
const DefaultMaxRows = 100_000

// Result is what one run did to one table.
type Result struct {
	Stream string `json:"stream"`
	Table  string `json:"table"`
	// Commits are the Iceberg snapshots this run committed.
	Commits int `json:"commits"`
	// Changes are the rows of the batches applied; Upserts and Deletes
	// the keys written and removed (keyless: Upserts counts rows appended).
	Changes int64 `json:"changes"`
	Upserts int64 `json:"upserts"`
	Deletes int64 `json:"deletes"`
	// Replaced is the table version that replaced the table's contents
	// in this run, if one did.
	Replaced int64 `json:"replaced_by_version,omitempty"`
	// Staging is the newer table version whose replacement of the table
	// the run left staged in part (the table still holds the old rows);
	// StagedBatches the copy batches the run wrote into data files.
	Staging       int64 `json:"staging_version,omitempty"`
	StagedBatches int   `json:"staged_batches,omitempty"`
	// Recovered says the table was ahead of the bookmark (a run ended
	// between the Iceberg commit and the bookmark) and the bookmark was
	// moved to it.
	Recovered bool     `json:"recovered,omitempty"`
	Position  Position `json:"position"`
	// CaughtUp says every committed batch is applied; false when the
	// deadline ended the run first.
	CaughtUp bool `json:"caught_up"`
}

// Run materializes one stream up to its newest committed batch or the
// deadline.
func (m *Materializer) Run(ctx context.Context, opts Options) (res Result, err error) {
	s := opts.Stream
	res = Result{Stream: s.ID, Table: strings.Join(opts.Table, ".")}
	if opts.MaxRows <= 0 {
		opts.MaxRows = DefaultMaxRows
	}
	release, err := replicate.HoldLease(ctx, m.Leaser, "materialize#"+s.ID, opts.Owner, leaseTTL)
	if err != nil {
		return res, fmt.Errorf("materialize %s: %w", s.ID, err)
	}
	defer release()
	tbl, err := openTable(ctx, m.Catalog, opts.Table, s)
	if err != nil {
		return res, err
	}
	r := &run{m: m, opts: opts, s: s, tbl: tbl, res: &res, log: m.Log}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if err := r.reconcile(ctx); err != nil {
		return res, err
	}
	err = r.apply(ctx)
	res.Position = r.pos
	return res, err
}

const leaseTTL = 2 * time.Minute

type run struct {
	m    *Materializer
	opts Options
	s    *record.Stream
	tbl  *table.Table
	res  *Result
	log  *slog.Logger
	// pos is the table's position, hasPos false before its first commit;
	// rev the bookmark item's revision.
	pos    Position
	hasPos bool
	rev    int64
	// staging is the replacement staged by earlier runs, as the bookmark
	// item records it (nil: none); stagedRun counts the copy batches this
	// run staged.
	staging   *bookmark.Staging
	stagedRun int
}

func (r *run) bookmarkID() string { return layout.MaterializeBookmarkID(r.s.ID) }

// reconcile reads the table's position and the bookmark item: a table
// ahead of its bookmark is a run that ended between the Iceberg commit
// and the bookmark, so the bookmark moves to the table and nothing is
// applied twice; a bookmark ahead of its table means the table lost
// snapshots (rolled back, dropped): that stops the run.
func (r *run) reconcile(ctx context.Context) error {
	pos, ok, err := tablePosition(r.tbl)
	if err != nil {
		return err
	}
	bm, err := r.m.Bookmarks.Get(ctx, r.bookmarkID())
	if err != nil {
		return fmt.Errorf("read bookmark %s: %w", r.bookmarkID(), err)
	}
	r.pos, r.hasPos, r.rev, r.staging = pos, ok, bm.Rev, bm.State.Staging
	if stg := r.staging; stg != nil && ok && stg.Version <= pos.Version {
		// Committed by a run that ended before its bookmark moved: the
		// case below moves it.
		r.dropLists(ctx, stg)
		r.staging = nil
	}
	switch {
	case bm.Rev == 0 && !ok:
		return nil
	case !ok && bm.State.Version == 0:
		return nil // a first replacement staged, nothing committed
	case !ok:
		return fmt.Errorf("bookmark %s says table version %d is applied but table %v holds no materialized snapshot: it was dropped or rolled back; delete the bookmark to rebuild it from the sink", r.bookmarkID(), bm.State.Version, r.opts.Table)
	case bm.Rev > 0 && pos.Before(fromState(bm.State)):
		return fmt.Errorf("table %v is at %s, behind its bookmark %s (%+v): it was rolled back; delete the bookmark to rebuild it from the sink", r.opts.Table, pos.summary(), r.bookmarkID(), fromState(bm.State))
	case bm.Rev > 0 && sameState(bm.State, pos):
		if bm.State.Staging != nil && r.staging == nil {
			return r.saveBookmark(ctx) // forget the committed staging
		}
		return nil
	}
	r.log.Info("table ahead of its bookmark: moving the bookmark to it", "stream", r.s.ID, "position", pos.summary())
	r.res.Recovered = true
	return r.saveBookmark(ctx)
}

func (r *run) saveBookmark(ctx context.Context) error {
	st := r.pos.State(time.Now().UTC())
	st.Staging = r.staging
	rev, err := r.m.Bookmarks.Put(ctx, r.bookmarkID(), st, r.rev)
	if err != nil {
		return fmt.Errorf("move bookmark %s: %w", r.bookmarkID(), err)
	}
	r.rev = rev
	return nil
}

func (r *run) timeUp() bool {
	return !r.opts.Deadline.IsZero() && time.Now().After(r.opts.Deadline)
}

// apply replaces the table by the newest activated version when it is
// newer than the table's, then applies that version's later batches.
func (r *run) apply(ctx context.Context) error {
	versions, err := stored.ListVersions(ctx, r.m.Sink, r.s.ID)
	if err != nil {
		return err
	}
	streamBM, err := r.m.Bookmarks.Get(ctx, r.s.ID)
	if err != nil {
		return fmt.Errorf("read bookmark %s: %w", r.s.ID, err)
	}
	target, err := r.activeVersion(ctx, versions, streamBM.State)
	if err != nil || target == nil {
		r.res.CaughtUp = err == nil
		return err
	}
	if !r.hasPos || target.Number > r.pos.Version {
		if r.timeUp() {
			return nil
		}
		done, err := r.replace(ctx, target)
		if err != nil || !done {
			return err
		}
	}
	if target.Number != r.pos.Version {
		r.res.CaughtUp = true
		return nil
	}
	switch r.s.Method {
	case layout.LogBased:
		return r.applyLog(ctx, target.Number)
	case layout.Incremental:
		return r.applyIncremental(ctx, target, streamBM.State)
	}
	r.res.CaughtUp = true
	return nil
}

// activeVersion returns the newest version a loader reads: a FULL_TABLE
// or LOG_BASED version whose copy completed (and whose bookmark says
// so), an INCREMENTAL version with a committed batch.
func (r *run) activeVersion(ctx context.Context, versions []stored.Version, st bookmark.State) (*stored.Version, error) {
	for i := len(versions) - 1; i >= 0; i-- {
		v := &versions[i]
		if len(v.Manifests) == 0 || v.Number > st.Version {
			continue
		}
		if r.s.Method == layout.Incremental {
			first, err := r.manifest(ctx, v.Manifests[0])
			if err != nil {
				return nil, err
			}
			if committedCopy(st, first) {
				return v, nil
			}
			continue
		}
		last, err := r.manifest(ctx, v.Manifests[len(v.Manifests)-1])
		if err != nil {
			return nil, err
		}
		if last.VersionComplete && (st.Version > v.Number || st.CopyDone) {
			return v, nil
		}
	}
	return nil, nil
}

// committedCopy says the stream's bookmark moved past copy batch m.
func committedCopy(st bookmark.State, m *replicate.Manifest) bool {
	return st.Version > m.TableVersion || st.Version == m.TableVersion && st.Seq > m.Sequence
}

func (r *run) manifest(ctx context.Context, key string) (*replicate.Manifest, error) {
	return stored.ReadManifest(ctx, r.m.Sink, key)
}

// recordRows is the number of rows per Arrow record batch written.
const recordRows = 8192

func (r *run) readObject(ctx context.Context, key string) ([]map[string]any, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	body, err := r.m.Sink.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	return encode.ReadObject(key, body)
}

// commit commits tx (whose snapshot summary says next) and then moves
// the bookmark to next.
func (r *run) commit(ctx context.Context, tx *table.Transaction, next Position) error {
	tbl, err := tx.Commit(ctx)
	if err != nil {
		return fmt.Errorf("commit %v: %w", r.opts.Table, err)
	}
	r.tbl, r.pos, r.hasPos = tbl, next, true
	r.res.Commits++
	r.log.Debug("iceberg commit", "stream", r.s.ID, "position", next.summary())
	if r.m.AfterCommit != nil {
		if err := r.m.AfterCommit(next); err != nil {
			return err
		}
	}
	return r.saveBookmark(ctx)
}

// batchWriter builds Arrow record batches of the table's schema from
// rows in the JSON contract's form.
type batchWriter struct {
	b    *array.RecordBuilder
	sc   *iceberg.Schema
	cols map[string]int
	n    int
}

func newBatchWriter(sc *arrow.Schema, isc *iceberg.Schema) *batchWriter {
	w := &batchWriter{b: array.NewRecordBuilder(memory.DefaultAllocator, sc), sc: isc, cols: map[string]int{}}
	for i, f := range sc.Fields() {
		w.cols[f.Name] = i
	}
	return w
}

// add appends one row in the JSON contract's form; over holds values in
// the native form that take precedence (merged rows).
func (w *batchWriter) add(row map[string]any, over map[string]any) error {
	for _, f := range w.sc.Fields() {
		var v any
		if nv, ok := over[f.Name]; ok {
			v = nv
		} else if raw, ok := row[f.Name]; ok {
			var err error
			if v, err = native(f.Type, raw); err != nil {
				return fmt.Errorf("column %s: %w", f.Name, err)
			}
		}
		if err := appendNative(w.b.Field(w.cols[f.Name]), v); err != nil {
			return fmt.Errorf("column %s: %w", f.Name, err)
		}
	}
	w.n++
	return nil
}

// addRow adds one row to the batches records makes (see batchWriter.add).
type addRow func(row, over map[string]any) error

// errEnough is what addRow returns once the batches' reader wants no more.
var errEnough = errors.New("no more record batches wanted")

// records returns the Arrow record batches, of schema sc (isc in
// Iceberg's terms) and recordRows rows each, of the rows fill adds; an
// error of fill's ends them with it.
func records(sc *arrow.Schema, isc *iceberg.Schema, fill func(add addRow) error) func(yield func(arrow.RecordBatch, error) bool) {
	return func(yield func(arrow.RecordBatch, error) bool) {
		w := newBatchWriter(sc, isc)
		defer w.release()
		err := fill(func(row, over map[string]any) error {
			if err := w.add(row, over); err != nil {
				return err
			}
			if w.n >= recordRows && !yield(w.flush(), nil) {
				return errEnough
			}
			return nil
		})
		switch {
		case errors.Is(err, errEnough):
		case err != nil:
			yield(nil, err)
		case w.n > 0:
			yield(w.flush(), nil)
		}
	}
}

func (w *batchWriter) flush() arrow.RecordBatch {
	w.n = 0
	return w.b.NewRecordBatch()
}

func (w *batchWriter) release() { w.b.Release() }
