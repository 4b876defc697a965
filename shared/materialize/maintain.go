package materialize

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/table"
	"github.com/apache/iceberg-go/table/compaction"

	"github.com/pg2s3/pg2s3/shared/replicate"
)

// MaintainOptions say what one maintenance run of a table does.
type MaintainOptions struct {
	// Stream is the stream's tap_stream_id (the lease is the
	// materializer's: maintenance and Run never overlap on a table).
	Stream string
	Table  table.Identifier
	Owner  string
	// SnapshotAge and KeepSnapshots: snapshots older than SnapshotAge
	// beyond the newest KeepSnapshots are expired, and the files only
	// they referenced deleted (defaults DefaultSnapshotAge, 1).
	SnapshotAge   time.Duration
	KeepSnapshots int
	// MaxCompactBytes bounds the data a run rewrites (default
	// DefaultMaxCompactBytes): the groups of iceberg-go's bin-pack plan
	// are taken in order while they fit, the rest wait for the next run.
	MaxCompactBytes int64
	// Deadline, when set, is the moment after which no new step starts.
	Deadline time.Time
}

// Defaults of MaintainOptions.
const (
	DefaultSnapshotAge     = 24 * time.Hour
	DefaultMaxCompactBytes = 1 << 30
)

// MaintainResult is what a maintenance run did to one table.
type MaintainResult struct {
	Stream string `json:"stream"`
	Table  string `json:"table"`
	// DataFiles and DeleteFiles are the live files before and after.
	DataFilesBefore   int `json:"data_files_before"`
	DataFilesAfter    int `json:"data_files_after"`
	DeleteFilesBefore int `json:"delete_files_before"`
	DeleteFilesAfter  int `json:"delete_files_after"`
	// Rewritten is the number of data files compaction replaced;
	// Skipped says groups were left for the next run (MaxCompactBytes
	// or the deadline).
	Rewritten int   `json:"rewritten_data_files"`
	BytesIn   int64 `json:"bytes_in"`
	BytesOut  int64 `json:"bytes_out"`
	Skipped   bool  `json:"skipped_groups,omitempty"`
	// Snapshots before and after expiry.
	SnapshotsBefore int `json:"snapshots_before"`
	SnapshotsAfter  int `json:"snapshots_after"`
}

// Maintain compacts a materialized table's small data files (iceberg-go's
// bin-pack plan; a file with five or more delete files is always
// rewritten, and equality deletes no data file needs any more are dropped
// in the same snapshot) and then expires its old snapshots. The
// compaction snapshot carries the table's position, so the materializer
// goes on from where it was; the table's rows are unchanged. A table the
// materializer has not created yet is left alone.
func (m *Materializer) Maintain(ctx context.Context, opts MaintainOptions) (res MaintainResult, err error) {
	res = MaintainResult{Stream: opts.Stream, Table: strings.Join(opts.Table, ".")}
	if opts.SnapshotAge <= 0 {
		opts.SnapshotAge = DefaultSnapshotAge
	}
	if opts.KeepSnapshots <= 0 {
		opts.KeepSnapshots = 1
	}
	if opts.MaxCompactBytes <= 0 {
		opts.MaxCompactBytes = DefaultMaxCompactBytes
	}
	release, err := replicate.HoldLease(ctx, m.Leaser, "materialize#"+opts.Stream, opts.Owner, leaseTTL)
	if err != nil {
		return res, fmt.Errorf("maintain %s: %w", opts.Stream, err)
	}
	defer release()
	tbl, err := m.Catalog.LoadTable(ctx, opts.Table)
	if errors.Is(err, catalog.ErrNoSuchTable) {
		return res, nil
	}
	if err != nil {
		return res, fmt.Errorf("load %v: %w", opts.Table, err)
	}
	if tbl.CurrentSnapshot() == nil {
		return res, nil
	}
	pos, ok, err := tablePosition(tbl)
	if err != nil {
		return res, err
	}
	if !ok {
		return res, nil
	}
	res.SnapshotsBefore = len(tbl.Metadata().Snapshots())
	if res.DataFilesBefore, res.DeleteFilesBefore, err = LiveFiles(ctx, tbl); err != nil {
		return res, err
	}
	timeUp := func() bool { return !opts.Deadline.IsZero() && time.Now().After(opts.Deadline) }
	if !timeUp() {
		if tbl, err = compact(ctx, tbl, pos, opts.MaxCompactBytes, &res); err != nil {
			return res, fmt.Errorf("compact %v: %w", opts.Table, err)
		}
	} else {
		res.Skipped = true
	}
	if !timeUp() {
		tx := tbl.NewTransaction()
		if err := tx.ExpireSnapshots(table.WithOlderThan(opts.SnapshotAge), table.WithRetainLast(opts.KeepSnapshots)); err != nil {
			return res, fmt.Errorf("expire snapshots of %v: %w", opts.Table, err)
		}
		if tbl, err = tx.Commit(ctx); err != nil {
			return res, fmt.Errorf("expire snapshots of %v: %w", opts.Table, err)
		}
	}
	res.SnapshotsAfter = len(tbl.Metadata().Snapshots())
	res.DataFilesAfter, res.DeleteFilesAfter, err = LiveFiles(ctx, tbl)
	return res, err
}

// compact rewrites the groups of the bin-pack plan that fit in maxBytes
// in one snapshot whose summary keeps the table's position.
func compact(ctx context.Context, tbl *table.Table, pos Position, maxBytes int64, res *MaintainResult) (*table.Table, error) {
	plan, err := compaction.Analyze(ctx, tbl, compaction.DefaultConfig())
	if err != nil {
		return nil, err
	}
	var groups []table.CompactionTaskGroup
	rewritten := map[string]struct{}{}
	var total int64
	for _, g := range plan.Groups {
		if total+g.TotalSizeBytes > maxBytes && len(groups) > 0 {
			res.Skipped = true
			continue
		}
		total += g.TotalSizeBytes
		groups = append(groups, table.CompactionTaskGroup{PartitionKey: g.PartitionKey, Tasks: g.Tasks, TotalSizeBytes: g.TotalSizeBytes})
		for _, t := range g.Tasks {
			rewritten[t.File.FilePath()] = struct{}{}
		}
	}
	if len(groups) == 0 {
		return tbl, nil
	}
	fs, err := tbl.FS(ctx)
	if err != nil {
		return nil, err
	}
	dead, err := compaction.CollectDeadEqualityDeletesWithSpecs(ctx, fs, tbl.Metadata(), tbl.CurrentSnapshot(), rewritten)
	if err != nil {
		return nil, fmt.Errorf("collect dead equality deletes: %w", err)
	}
	tx := tbl.NewTransaction()
	out, err := tx.RewriteDataFiles(ctx, groups, table.RewriteDataFilesOptions{
		SnapshotProps:            iceberg.Properties{propPosition: pos.summary()},
		ExtraDeleteFilesToRemove: dead,
		// One group's files are read two at a time, whatever the cores.
		GroupOptions: []table.CompactionGroupOption{table.WithCompactionScanConcurrency(2)},
	})
	if err != nil {
		return nil, err
	}
	next, err := tx.Commit(ctx)
	if err != nil {
		return nil, err
	}
	res.Rewritten, res.BytesIn, res.BytesOut = out.RemovedDataFiles, out.BytesBefore, out.BytesAfter
	return next, nil
}

// LiveFiles counts the data and delete files a scan of the current
// snapshot reads.
func LiveFiles(ctx context.Context, tbl *table.Table) (data, deletes int, err error) {
	tasks, err := tbl.Scan().PlanFiles(ctx)
	if err != nil {
		return 0, 0, err
	}
	del := map[string]struct{}{}
	for _, t := range tasks {
		for _, d := range t.DeleteFiles {
			del[d.FilePath()] = struct{}{}
		}
		for _, d := range t.EqualityDeleteFiles {
			del[d.FilePath()] = struct{}{}
		}
		for _, d := range t.DeletionVectorFiles {
			del[d.FilePath()] = struct{}{}
		}
	}
	return len(tasks), len(del), nil
}
