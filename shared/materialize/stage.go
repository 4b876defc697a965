package materialize

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/iceberg-go"
	iceio "github.com/apache/iceberg-go/io"
	"github.com/apache/iceberg-go/table"

	"github.com/pg2s3/pg2s3/shared/bookmark"
	"github.com/pg2s3/pg2s3/shared/layout"
	"github.com/pg2s3/pg2s3/shared/stored"
)

// ErrStopStaging, returned by Materializer.AfterStage, ends a run's
// staging there as its deadline would.
var ErrStopStaging = errors.New("stop staging")

// stageCheckpoint is how long a run writes copy batches into data files
// before it records them (bookmark.Staging), so that a run killed
// without warning loses at most that much work.
const stageCheckpoint = 2 * time.Minute

// stagedList is one file list of a staging: the data files written for
// the copy batches From to Next-1 of Version.
type stagedList struct {
	Version int64    `json:"table_version"`
	From    int64    `json:"from_seq"`
	Next    int64    `json:"next_seq"`
	Rows    int64    `json:"rows"`
	Files   []string `json:"files"`
}

// listPath is where file list n of the staging of version is: next to
// the table's data and metadata, in its location.
func (r *run) listPath(version int64, n int) string {
	return fmt.Sprintf("%s/pg2s3-staging/%d/%06d.json", strings.TrimSuffix(r.tbl.Location(), "/"), version, n)
}

// replace replaces the table's rows with the version's copy: every copy
// batch of a FULL_TABLE or LOG_BASED version (a complete copy holds each
// key once), or an INCREMENTAL version's first batch. Rows stream from
// the sink into data files, so memory stays bounded whatever the copy's
// size; the files are committed in one snapshot, which removes every data
// and delete file the table had, once every batch is written. Until then
// the table's readers see its old rows: a run that reaches its deadline
// first records the files it wrote (r.staging, in the bookmark) and the
// next runs go on from there. done says the replacement was committed.
func (r *run) replace(ctx context.Context, v *stored.Version) (done bool, err error) {
	keys := v.Manifests
	if r.s.Method == layout.Incremental {
		keys = keys[:1]
	}
	lastKey, ok := layout.ParseObject(keys[len(keys)-1])
	if !ok {
		return false, fmt.Errorf("not a copy manifest: %s", keys[len(keys)-1])
	}
	next := Position{Version: v.Number, CopySeq: lastKey.Seq + 1, CopyDone: r.s.Method != layout.Incremental}

	if stg := r.staging; stg != nil && (stg.Version != v.Number || stg.SchemaID != r.tbl.Schema().ID) {
		r.log.Info("abandoning a staged replacement", "stream", r.s.ID, "staged_version", stg.Version, "version", v.Number)
		if err := r.abandon(ctx); err != nil {
			return false, err
		}
	}
	var prior []string // files staged by earlier runs
	if r.staging != nil {
		if prior, err = r.readLists(ctx, r.staging); err != nil {
			r.log.Warn("staged replacement unreadable: starting it over", "stream", r.s.ID, "version", v.Number, "error", err)
			if err := r.abandon(ctx); err != nil {
				return false, err
			}
			prior = nil
		}
	}
	if r.staging == nil {
		r.staging = &bookmark.Staging{Version: v.Number, Seq: 0, SchemaID: r.tbl.Schema().ID}
	}
	stg := r.staging
	// A run that died between writing a file list and the bookmark left
	// the list after the last recorded one: its files are orphans.
	r.removeList(ctx, r.listPath(v.Number, stg.Lists), true)

	var todo []string
	for _, k := range keys {
		if o, ok := layout.ParseObject(k); ok && o.Seq >= stg.Seq {
			todo = append(todo, k)
		}
	}
	var staged []iceberg.DataFile // files staged by this run
	staging := r.staging.Lists > 0
	for len(todo) > 0 {
		part, err := r.stage(ctx, todo)
		if err != nil {
			return false, err
		}
		staged = append(staged, part.files...)
		todo = todo[part.manifests:]
		r.res.StagedBatches += part.manifests
		r.res.Changes += part.rows
		r.res.Upserts += part.rows
		if len(todo) == 0 && !part.stopped {
			break // commit now
		}
		// Record the files: a list object, then the bookmark naming it. A
		// run whose deadline came with the last batch leaves the commit
		// to the next run (no commit starts after the deadline).
		nextSeq := next.CopySeq
		if len(todo) > 0 {
			o, _ := layout.ParseObject(todo[0])
			nextSeq = o.Seq
		}
		list := stagedList{Version: v.Number, From: stg.Seq, Next: nextSeq, Rows: part.rows}
		for _, df := range part.files {
			list.Files = append(list.Files, df.FilePath())
		}
		if err := r.writeList(ctx, r.listPath(v.Number, stg.Lists), list); err != nil {
			return false, err
		}
		stg.Lists++
		stg.Files += len(list.Files)
		stg.Rows += part.rows
		stg.Seq = nextSeq
		if err := r.saveBookmark(ctx); err != nil {
			return false, err
		}
		staging = true
		if part.stopped {
			r.res.Staging = v.Number
			r.log.Info("replacement staged in part", "stream", r.s.ID, "version", v.Number, "next_seq", stg.Seq, "files", stg.Files)
			return false, nil
		}
	}
	add, err := r.dataFiles(ctx, prior)
	if err != nil {
		return false, err
	}
	add = append(add, staged...)
	committed := r.staging
	if err := r.commitReplace(ctx, v, next, add); err != nil {
		return false, err
	}
	if staging {
		r.dropLists(ctx, committed)
	}
	r.res.Replaced = v.Number
	return true, nil
}

// footerReaders is the number of staged files whose footers are read at
// once.
const footerReaders = 8

// dataFiles describes the data files at paths, staged by earlier runs,
// for the commit: their record counts, sizes and column statistics, read
// from their Parquet footers.
func (r *run) dataFiles(ctx context.Context, paths []string) ([]iceberg.DataFile, error) {
	if len(paths) == 0 {
		return nil, nil
	}
	fs, err := r.tbl.FS(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]iceberg.DataFile, len(paths))
	errs := make([]error, len(paths))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(footerReaders, len(paths)) {
		wg.Go(func() {
			for i := range next {
				out[i], errs[i] = table.FileToDataFile(ctx, fs, paths[i], r.tbl.Schema(), r.tbl.Spec(), 0, r.tbl.Properties())
			}
		})
	}
	for i := range paths {
		next <- i
	}
	close(next)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("staged file %s: %w", paths[i], err)
		}
	}
	return out, nil
}

// stagedPart is what one stage call wrote.
type stagedPart struct {
	files     []iceberg.DataFile
	manifests int
	rows      int64
	// stopped says the deadline (or AfterStage) ended the run's staging.
	stopped bool
}

// stage writes the rows of copy batches keys, in order, into data files,
// at least one batch and then until the deadline or stageCheckpoint.
func (r *run) stage(ctx context.Context, keys []string) (stagedPart, error) {
	var part stagedPart
	sc, err := table.SchemaToArrowSchema(r.tbl.Schema(), nil, true, false)
	if err != nil {
		return part, err
	}
	began := time.Now()
	var crash error
	recs := records(sc, r.tbl.Schema(), func(add addRow) error {
		for _, key := range keys {
			m, err := r.manifest(ctx, key)
			if err != nil {
				return err
			}
			for _, o := range m.Objects {
				objRows, err := r.readObject(ctx, o.Key)
				if err != nil {
					return err
				}
				for _, row := range objRows {
					if err := add(row, nil); err != nil {
						return fmt.Errorf("%s: %w", o.Key, err)
					}
					part.rows++
				}
			}
			part.manifests++
			r.stagedRun++
			if r.m.AfterStage != nil {
				switch err := r.m.AfterStage(r.stagedRun); {
				case errors.Is(err, ErrStopStaging):
					part.stopped = true
					return nil
				case err != nil:
					crash = err
					return nil
				}
			}
			if r.timeUp() {
				part.stopped = true
				return nil
			}
			if time.Since(began) > stageCheckpoint {
				return nil
			}
		}
		return nil
	})
	for df, err := range table.WriteRecords(ctx, r.tbl, sc, recs) {
		if err != nil {
			return part, fmt.Errorf("write the copy of %v: %w", r.opts.Table, err)
		}
		part.files = append(part.files, df)
	}
	if crash != nil {
		// The files are written and recorded nowhere: a later run stages
		// their batches again, and they stay orphans.
		return part, crash
	}
	return part, nil
}

// commitReplace commits one snapshot that removes every data and delete
// file of the table and adds files, with next in its summary, then moves
// the bookmark (the staging done).
func (r *run) commitReplace(ctx context.Context, v *stored.Version, next Position, add []iceberg.DataFile) error {
	props := iceberg.Properties{propPosition: next.summary()}
	data, deletes, err := r.currentFiles(ctx)
	if err != nil {
		return err
	}
	tx := r.tbl.NewTransaction()
	switch {
	case len(add) == 0 && len(data) == 0 && len(deletes) == 0:
		// Nothing to add or remove: an empty overwrite still records the
		// position in a snapshot.
		sc, err := table.SchemaToArrowSchema(r.tbl.Schema(), nil, true, false)
		if err != nil {
			return err
		}
		rdr := array.ReaderFromIter(sc, records(sc, r.tbl.Schema(), func(addRow) error { return nil }))
		defer rdr.Release()
		err = tx.Overwrite(ctx, rdr, props)
		if err != nil {
			return fmt.Errorf("replace %v with table version %d: %w", r.opts.Table, v.Number, err)
		}
	case r.tbl.CurrentSnapshot() == nil:
		if err := tx.AddDataFiles(ctx, add, props); err != nil {
			return fmt.Errorf("replace %v with table version %d: %w", r.opts.Table, v.Number, err)
		}
	default:
		if err := tx.ReplaceFiles(ctx, data, add, deletes, props); err != nil {
			return fmt.Errorf("replace %v with table version %d: %w", r.opts.Table, v.Number, err)
		}
	}
	r.staging = nil
	return r.commit(ctx, tx, next)
}

// currentFiles returns the live data files and delete files of the
// table's current snapshot (delete files that no longer apply to any
// data file included).
func (r *run) currentFiles(ctx context.Context) (data, deletes []iceberg.DataFile, err error) {
	snap := r.tbl.CurrentSnapshot()
	if snap == nil {
		return nil, nil, nil
	}
	fs, err := r.tbl.FS(ctx)
	if err != nil {
		return nil, nil, err
	}
	manifests, err := snap.Manifests(fs)
	if err != nil {
		return nil, nil, fmt.Errorf("manifests of %v: %w", r.opts.Table, err)
	}
	for _, m := range manifests {
		entries, err := m.FetchEntries(fs, true)
		if err != nil {
			return nil, nil, fmt.Errorf("manifest %s of %v: %w", m.FilePath(), r.opts.Table, err)
		}
		for _, e := range entries {
			if df := e.DataFile(); df.ContentType() == iceberg.EntryContentData {
				data = append(data, df)
			} else {
				deletes = append(deletes, df)
			}
		}
	}
	return data, deletes, nil
}

// abandon forgets the run's staging, whose files no snapshot references:
// it deletes them and their lists (what it cannot delete stays an orphan)
// and records that no replacement is staged.
func (r *run) abandon(ctx context.Context) error {
	stg := r.staging
	for n := range stg.Lists + 1 {
		r.removeList(ctx, r.listPath(stg.Version, n), true)
	}
	r.staging = nil
	return r.saveBookmark(ctx)
}

// dropLists deletes the file lists of a staging that was committed (its
// files are the table's now).
func (r *run) dropLists(ctx context.Context, stg *bookmark.Staging) {
	for n := range stg.Lists + 1 {
		r.removeList(ctx, r.listPath(stg.Version, n), false)
	}
}

// readLists returns the files the staging's lists name.
func (r *run) readLists(ctx context.Context, stg *bookmark.Staging) ([]string, error) {
	var out []string
	for n := range stg.Lists {
		l, err := r.readList(ctx, r.listPath(stg.Version, n))
		if err != nil {
			return nil, err
		}
		out = append(out, l.Files...)
	}
	if len(out) != stg.Files {
		return nil, fmt.Errorf("the staged lists of version %d name %d files, the bookmark says %d", stg.Version, len(out), stg.Files)
	}
	return out, nil
}

func (r *run) readList(ctx context.Context, path string) (stagedList, error) {
	var l stagedList
	fs, err := r.tbl.FS(ctx)
	if err != nil {
		return l, err
	}
	f, err := fs.Open(path)
	if err != nil {
		return l, err
	}
	defer f.Close()
	body, err := io.ReadAll(f)
	if err != nil {
		return l, fmt.Errorf("read %s: %w", path, err)
	}
	if err := json.Unmarshal(body, &l); err != nil {
		return l, fmt.Errorf("%s: %w", path, err)
	}
	return l, nil
}

func (r *run) writeList(ctx context.Context, path string, l stagedList) error {
	fs, err := r.tbl.FS(ctx)
	if err != nil {
		return err
	}
	wfs, ok := fs.(iceio.WriteFileIO)
	if !ok {
		return fmt.Errorf("the file IO of %v cannot write", r.opts.Table)
	}
	body, err := json.Marshal(l)
	if err != nil {
		return err
	}
	if err := wfs.WriteFile(path, body); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// removeList deletes the file list at path if it exists, and first the
// files it names when withFiles (files no snapshot references). Best
// effort: what it cannot delete is left as an orphan, and logged.
func (r *run) removeList(ctx context.Context, path string, withFiles bool) {
	l, err := r.readList(ctx, path)
	if err != nil {
		return // none (or unreadable: left as it is)
	}
	fs, err := r.tbl.FS(ctx)
	if err != nil {
		return
	}
	if withFiles {
		for _, f := range l.Files {
			if err := fs.Remove(f); err != nil {
				r.log.Warn("staged file left as an orphan", "stream", r.s.ID, "file", f, "error", err)
			}
		}
	}
	if err := fs.Remove(path); err != nil {
		r.log.Warn("staged file list left as an orphan", "stream", r.s.ID, "file", path, "error", err)
	}
}
