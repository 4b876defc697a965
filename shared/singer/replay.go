// Package singer speaks tap-postgres' Singer formats, so a pipeline can
// move between tap-postgres and pg2s3 in either direction: Replay writes
// what pg2s3 stored in a sink as the Singer message stream tap-postgres
// would have written (SCHEMA, RECORD, ACTIVATE_VERSION, STATE; one JSON
// object a line), for any Singer target to load, and ImportState and
// ExportState carry bookmarks in and out as tap-postgres' STATE document.
//
// A replay reads only the sink: manifests name every object it reads, so
// a half-written batch is never replayed. Per stream, in the order asked, from the stream's current table version
// (the newest whose copy completed, or the newest INCREMENTAL version; with
// AllVersions from the oldest stored version), each version:
//
//   - SCHEMA before the first RECORD, and again whenever it changes: the
//     manifest's JSON Schema and key_properties; bookmark_properties is []
//     for copies, [replication_key] for INCREMENTAL and ["lsn"] for log
//     changes, whose schema also has _sdc_deleted_at (and _sdc_lsn, a
//     string, with debug_lsn), as tap-postgres sends them.
//   - ACTIVATE_VERSION before the first RECORD of an INCREMENTAL version,
//     and of a FULL_TABLE or LOG_BASED copy when it is the oldest version
//     stored (no earlier version was replicated); and after the last RECORD
//     of a copy whose manifest says version_complete.
//   - one RECORD per row: the columns only (tap-postgres' records hold no
//     _sdc_ field), with "version" the table version and "time_extracted"
//     the row's _sdc_extracted_at. Log changes also carry _sdc_deleted_at
//     (null, or the commit time of a delete).
//   - a STATE after each batch, tap-postgres-shaped, cumulative over the
//     streams replayed so far; a last STATE with currently_syncing null
//     ends each stream.
//
// A LOG_BASED version replays its copy batches first, then its log
// changes in log order: copy rows show the table when they were read, and
// every later change follows in the log, so applying the messages in
// order ends at the table's state.
package singer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/pg2s3/pg2s3/shared/bookmark"
	"github.com/pg2s3/pg2s3/shared/encode"
	"github.com/pg2s3/pg2s3/shared/layout"
	"github.com/pg2s3/pg2s3/shared/replicate"
	"github.com/pg2s3/pg2s3/shared/stored"
)

// Store is the part of a sink a replay reads; replicate.Sink has it.
type Store = stored.Store

// Options say what to replay and how to name it.
type Options struct {
	// Streams are the tap_stream_ids to replay, in this order.
	Streams []string
	// AllVersions replays every stored table version, oldest first,
	// instead of starting at the stream's current one.
	AllVersions bool
	// SchemaInStreamName names streams <schema>-<table> instead of
	// <table> (tap-postgres' include_schemas_in_destination_stream_name).
	SchemaInStreamName bool
	// DebugLSN adds _sdc_lsn (a string) to log changes (tap-postgres'
	// debug_lsn).
	DebugLSN bool
	// Where names the sink in errors, for people.
	Where string
	// KnownStreams, when set, names more streams for the error about a
	// stream without data (the bookmark store's).
	KnownStreams func(context.Context) []string
	// Note receives remarks for people (skipped versions, truncations).
	Note func(string)
}

// StreamSummary is what a replay wrote for one stream.
type StreamSummary struct {
	Stream   string
	Versions int
	Batches  int
	Records  int64
}

// Summary is what a replay wrote.
type Summary struct {
	Counts
	Streams []StreamSummary
}

// Replay writes the Singer messages of opts.Streams, read from st, to w.
// It checks every stream has data before it writes anything.
func Replay(ctx context.Context, st Store, w io.Writer, opts Options) (Summary, error) {
	r := &replayer{st: st, opts: opts, w: newWriter(w), sent: map[string]*schemaMsg{},
		state: State{Bookmarks: map[string]Bookmark{}}}
	plans, err := r.plan(ctx)
	if err != nil {
		return Summary{}, err
	}
	var sum Summary
	for i, id := range opts.Streams {
		ss, err := r.stream(ctx, id, plans[i])
		sum.Streams = append(sum.Streams, ss)
		if err != nil {
			r.w.out.Flush() // what was written ends on a whole message
			sum.Counts = r.w.n
			return sum, fmt.Errorf("replay %s: %w", id, err)
		}
	}
	sum.Counts = r.w.n
	if err := r.w.out.Flush(); err != nil {
		return sum, fmt.Errorf("write messages: %w", err)
	}
	return sum, nil
}

type replayer struct {
	st    Store
	opts  Options
	w     *writer
	state State
	// sent is the last SCHEMA written per stream name.
	sent map[string]*schemaMsg
	logs *stored.LogIndex // read at the first LOG_BASED version
	// logFrom is the earliest log position the current stream's replay
	// covers: a LOG_BASED version's start, or its first log change.
	logFrom uint64
}

func (r *replayer) note(format string, args ...any) {
	if r.opts.Note != nil {
		r.opts.Note(fmt.Sprintf(format, args...))
	}
}

// plan lists every stream's versions and fails, naming the streams that
// exist, when one has no copy batch.
func (r *replayer) plan(ctx context.Context) ([][]stored.Version, error) {
	if len(r.opts.Streams) == 0 {
		return nil, errors.New("no stream to replay")
	}
	plans := make([][]stored.Version, len(r.opts.Streams))
	var missing []string
	pending := map[string]bool{} // log objects but no copy batch yet
	for i, id := range r.opts.Streams {
		vs, err := stored.ListVersions(ctx, r.st, id)
		if err != nil {
			return nil, err
		}
		plans[i] = vs
		if !hasCopy(vs) {
			missing = append(missing, id)
			pending[id] = len(vs) > 0
		}
	}
	if len(missing) == 0 {
		return plans, nil
	}
	var extra []string
	if r.opts.KnownStreams != nil {
		extra = r.opts.KnownStreams(ctx)
	}
	known := KnownStreams(ctx, r.st, extra)
	isKnown := map[string]bool{}
	for _, k := range known {
		isKnown[k] = true
	}
	var errs []error
	for _, id := range missing {
		switch {
		case pending[id] || isKnown[id]:
			errs = append(errs, fmt.Errorf("stream %s has no committed copy batch in %s yet: run pg2s3 sync and try again (a LOG_BASED stream's copy follows its first drain)", id, r.opts.Where))
		case len(known) == 0:
			errs = append(errs, fmt.Errorf("unknown stream %q: %s holds no replicated stream yet: run pg2s3 sync first", id, r.opts.Where))
		default:
			errs = append(errs, fmt.Errorf("unknown stream %q in %s; streams of this pipeline: %s (give tap_stream_ids, as in the catalog)", id, r.opts.Where, strings.Join(known, ", ")))
		}
	}
	return nil, errors.Join(errs...)
}

func hasCopy(vs []stored.Version) bool {
	for _, v := range vs {
		if len(v.Manifests) > 0 {
			return true
		}
	}
	return false
}

// stream replays one stream's versions from its current one (or all).
func (r *replayer) stream(ctx context.Context, id string, versions []stored.Version) (StreamSummary, error) {
	sum := StreamSummary{Stream: id}
	oldest := -1
	for i, v := range versions {
		if len(v.Manifests) > 0 && oldest < 0 {
			oldest = i
		}
	}
	from := oldest
	if !r.opts.AllVersions {
		cur, err := r.current(ctx, versions)
		if err != nil {
			return sum, err
		}
		from = max(cur, oldest)
	}
	r.logFrom = 0
	for i := from; i < len(versions); i++ {
		v := versions[i]
		if len(v.Manifests) == 0 {
			r.note("%s: table version %d has log changes but no copy batch yet; left out until its copy begins", id, v.Number)
			continue
		}
		records, batches, err := r.version(ctx, id, v, i == oldest)
		sum.Versions++
		sum.Batches += batches
		sum.Records += records
		if err != nil {
			return sum, err
		}
	}
	r.noteTruncations(id)
	r.state.CurrentlySyncing = nil
	return sum, r.w.state(&r.state)
}

// noteTruncations tells of truncates the replayed log changes span:
// Singer has no message for them. A truncate before the replayed log and
// copies is in the copied rows already.
func (r *replayer) noteTruncations(id string) {
	if r.logs == nil || r.logFrom == 0 {
		return
	}
	var in []string
	for _, tr := range r.logs.Truncated[id] {
		if tr.Committed >= r.logFrom {
			in = append(in, tr.Manifest)
		}
	}
	if len(in) > 0 {
		r.note("%s was truncated in slot batches %s; Singer has no truncate message, so a target keeps the rows from before a truncate unless a newer complete table version replaces them (pg2s3 reset --stream %s)",
			id, strings.Join(in, ", "), id)
	}
}

// logReplayed lowers logFrom, the earliest log position whose effects the
// stream's replay includes, to lsn.
func (r *replayer) logReplayed(lsn uint64) {
	if lsn != 0 && (r.logFrom == 0 || lsn < r.logFrom) {
		r.logFrom = lsn
	}
}

// current returns the index of the stream's current version: the newest
// whose copy completed, or the newest INCREMENTAL one; 0 when none is.
func (r *replayer) current(ctx context.Context, versions []stored.Version) (int, error) {
	for i := len(versions) - 1; i >= 0; i-- {
		ms := versions[i].Manifests
		if len(ms) == 0 {
			continue
		}
		m, err := r.manifest(ctx, ms[len(ms)-1])
		if err != nil {
			return 0, err
		}
		if m.VersionComplete || m.Method == layout.Incremental {
			return i, nil
		}
	}
	return 0, nil
}

// manifest reads a copy batch's manifest, numbers kept exact.
func (r *replayer) manifest(ctx context.Context, key string) (*replicate.Manifest, error) {
	return stored.ReadManifest(ctx, r.st, key)
}

// version replays one table version: its copy batches, then (LOG_BASED)
// its log changes.
func (r *replayer) version(ctx context.Context, id string, v stored.Version, oldest bool) (records int64, batches int, err error) {
	var last *replicate.Manifest
	var method layout.Method
	for i, key := range v.Manifests {
		m, err := r.manifest(ctx, key)
		if err != nil {
			return records, batches, err
		}
		method = m.Method
		name := r.streamName(m)
		if err := r.schema(copySchema(name, m)); err != nil {
			return records, batches, err
		}
		if i == 0 && (m.Method == layout.Incremental || oldest) {
			if err := r.w.activate(name, m.TableVersion); err != nil {
				return records, batches, err
			}
		}
		for _, o := range m.Objects {
			n, err := r.objectRecords(ctx, name, o.Key, m.TableVersion, m.ExtractedAt, false)
			records += n
			if err != nil {
				return records, batches, err
			}
		}
		if m.VersionComplete && m.Method != layout.Incremental {
			if err := r.w.activate(name, m.TableVersion); err != nil {
				return records, batches, err
			}
		}
		r.state.CurrentlySyncing = &id
		if err := r.bookmark(id, m.BookmarkAfter, 0); err != nil {
			return records, batches, err
		}
		batches++
		last = m
	}
	if method != layout.LogBased {
		return records, batches, nil
	}
	n, b, err := r.log(ctx, id, v.Number, last)
	return records + n, batches + b, err
}

// log replays a LOG_BASED version's changes in log order, a STATE after
// each slot batch; copy is the version's last copy manifest (its schema
// and bookmark).
func (r *replayer) log(ctx context.Context, id string, version int64, copy *replicate.Manifest) (records int64, batches int, err error) {
	if r.logs == nil {
		want := map[string]bool{}
		for _, s := range r.opts.Streams {
			want[s] = true
		}
		if r.logs, err = stored.LoadLogIndex(ctx, r.st, want, nil); err != nil {
			return 0, 0, err
		}
	}
	r.logReplayed(copy.BookmarkAfter.StartLSN)
	objs := r.logs.Objects[id][version]
	if len(objs) == 0 {
		return 0, 0, nil
	}
	r.logReplayed(objs[0].LSNFirst)
	name := r.streamName(copy)
	if err := r.schema(r.logSchema(name, copy)); err != nil {
		return 0, 0, err
	}
	r.state.CurrentlySyncing = nil // tap-postgres drains the log outside any stream's turn
	for _, o := range objs {
		n, err := r.objectRecords(ctx, name, o.Key, version, "", true)
		records += n
		if err != nil {
			return records, batches, err
		}
		if err := r.bookmark(id, copy.BookmarkAfter, o.Committed); err != nil {
			return records, batches, err
		}
		batches++
	}
	return records, batches, nil
}

// bookmark sets id's bookmark from a pg2s3 bookmark and writes STATE.
func (r *replayer) bookmark(id string, st bookmark.State, committed uint64) error {
	r.state.Bookmarks[id] = tapBookmark(st, committed)
	return r.w.state(&r.state)
}

// streamName is the Singer stream name tap-postgres gives a table.
func (r *replayer) streamName(m *replicate.Manifest) string {
	table := m.Table
	if table == "" {
		table = m.Stream
	}
	if r.opts.SchemaInStreamName {
		return m.Schema + "-" + table
	}
	return table
}

// metaFields are the _sdc_ fields pg2s3 adds to every row.
var metaFields = []string{"_sdc_extracted_at", "_sdc_batched_at", "_sdc_deleted_at", "_sdc_table_version", "_sdc_lsn", "_sdc_sequence"}

// objectRecords writes one RECORD per row of a data object (read whole:
// objects are bounded by the batch size). Log changes keep
// _sdc_deleted_at (and _sdc_lsn as a string with DebugLSN).
func (r *replayer) objectRecords(ctx context.Context, name, key string, version int64, extractedAt string, isLog bool) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	body, err := r.st.Get(ctx, key)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", key, err)
	}
	rows, err := encode.ReadObject(key, body)
	if err != nil {
		return 0, err
	}
	var n int64
	for i, row := range rows {
		extracted, _ := row["_sdc_extracted_at"].(string)
		if extracted == "" {
			extracted = extractedAt
		}
		deleted, lsn := row["_sdc_deleted_at"], row["_sdc_lsn"]
		for _, f := range metaFields {
			delete(row, f)
		}
		if isLog {
			row["_sdc_deleted_at"] = deleted
			if r.opts.DebugLSN && lsn != nil {
				row["_sdc_lsn"] = fmt.Sprint(lsn)
			}
		}
		if err := r.cover(name, row); err != nil {
			return n, err
		}
		if err := r.w.record(name, row, version, extracted); err != nil {
			return n, fmt.Errorf("write record %d of %s: %w", i+1, key, err)
		}
		rows[i] = nil // done with it
		n++
	}
	return n, nil
}
