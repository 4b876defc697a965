package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"time"

	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"
	"github.com/jackc/pgx/v5"

	"github.com/pg2s3/pg2s3/shared/layout"
	"github.com/pg2s3/pg2s3/shared/materialize"
	"github.com/pg2s3/pg2s3/shared/materialize/sqlcat"
	"github.com/pg2s3/pg2s3/shared/record"
	"github.com/pg2s3/pg2s3/shared/replicate"
	"github.com/pg2s3/pg2s3/shared/stored"
	"github.com/pg2s3/pg2s3/shared/testenv"
	"github.com/pg2s3/pg2s3/shared/warehouse"
)

// ReadCost is what a reader of a stream's current table must read: rows
// and bytes as stored, and the files they are in.
type ReadCost struct {
	Rows, Bytes, Files int64
	// DeleteRows, DeleteBytes and DeleteFiles are the Iceberg delete
	// files' part of the totals above (zero for the _current view).
	DeleteRows, DeleteBytes, DeleteFiles int64
}

// CurrentViewCost counts what the _current view of stream reads for
// table version: every row of the version's copy batches and of its log
// objects (the changes a loader merges), from the committed manifests.
// The view's table also spans older versions' objects, which Athena
// lists but the version filter drops; they are not counted.
func CurrentViewCost(ctx context.Context, st stored.Store, stream string, version int64) (ReadCost, error) {
	var c ReadCost
	add := func(o replicate.ManifestObject) {
		c.Rows += o.Rows
		c.Bytes += o.Bytes
		c.Files++
	}
	versions, err := stored.ListVersions(ctx, st, stream)
	if err != nil {
		return c, err
	}
	for _, v := range versions {
		if v.Number != version {
			continue
		}
		for _, key := range v.Manifests {
			m, err := readManifest(ctx, st, key)
			if err != nil {
				return c, err
			}
			for _, o := range m.Objects {
				add(o)
			}
		}
	}
	keys, err := st.List(ctx, layout.SlotManifestPrefix)
	if err != nil {
		return c, err
	}
	for _, key := range keys {
		if _, _, ok := layout.ParseSlotManifestKey(key); !ok {
			continue
		}
		m, err := readManifest(ctx, st, key)
		if err != nil {
			return c, err
		}
		for _, o := range m.Objects {
			if o.Stream == stream && o.TableVersion == version {
				add(o)
			}
		}
	}
	return c, nil
}

func readManifest(ctx context.Context, st stored.Store, key string) (*replicate.Manifest, error) {
	body, err := st.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	var m replicate.Manifest
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	return &m, nil
}

// IcebergScanCost counts what a full scan of the tasks iceberg-go plans
// reads: each data file's records and size, and each delete file
// (positional, equality, deletion vector) once however many data files
// it applies to.
func IcebergScanCost(tasks []table.FileScanTask) ReadCost {
	var c ReadCost
	seen := map[string]bool{}
	for _, t := range tasks {
		c.Rows += t.File.Count()
		c.Bytes += t.File.FileSizeBytes()
		c.Files++
		for _, group := range [][]iceberg.DataFile{t.DeleteFiles, t.EqualityDeleteFiles, t.DeletionVectorFiles} {
			for _, d := range group {
				if seen[d.FilePath()] {
					continue
				}
				seen[d.FilePath()] = true
				c.Rows += d.Count()
				c.Bytes += d.FileSizeBytes()
				c.Files++
				c.DeleteRows += d.Count()
				c.DeleteBytes += d.FileSizeBytes()
				c.DeleteFiles++
			}
		}
	}
	return c
}

// NewIcebergSetup creates an empty mixed table and one primed log-based
// pipeline over it (pgoutput) that cuts slot batches at batchRows: the
// materializer commits about once per slot batch, as it would run after
// each drain of a deployed pipeline.
func (e *Env) NewIcebergSetup(ctx context.Context, name string, batchRows int64) (*WALSetup, *Pipeline, error) {
	w := &WALSetup{Table: name, Publication: name + "_pub", Pipelines: map[string]*Pipeline{}, RefSlots: map[string]string{}}
	if err := testenv.Exec(ctx, e.DSN, fmt.Sprintf("CREATE TABLE %s (%s)", pgx.Identifier{name}.Sanitize(), mixedColumns)); err != nil {
		return nil, nil, err
	}
	p, err := e.NewPipeline(ctx, name+"_ice", map[string]any{"slot_name": name + "_ice", "logical_plugin": Pgoutput.Plugin,
		"publication": w.Publication, "batch_rows": batchRows}, Selection{name: "LOG_BASED"})
	if err != nil {
		return nil, nil, err
	}
	if _, err := Drain(ctx, p); err != nil {
		return nil, nil, fmt.Errorf("prime %s: %w", p.Name, err)
	}
	w.Pipelines[p.Name] = p
	return w, p, nil
}

// Materialized is one materializer run over a pipeline's stream.
type Materialized struct {
	Throughput
	Result materialize.Result
	// Scan is what a full scan of the table reads; Live the rows it
	// returns (deletes applied).
	Scan ReadCost
	Live int64
}

// Materialize applies p's stored batches of table to an Iceberg table
// (SQL catalog in a new database of the bench cluster, files under the
// pipeline's directory) in one run of commits of at most maxRows changes
// (whole data objects), timed, then plans and runs a full scan of the
// result.
func (e *Env) Materialize(ctx context.Context, p *Pipeline, tableName string, maxRows int) (Materialized, error) {
	var out Materialized
	_, catDSN, err := e.PG.NewDatabase(ctx, "icecat_"+p.Name)
	if err != nil {
		return out, err
	}
	ice, err := sqlcat.Open(ctx, catDSN, "bench", filepath.Join(p.Dir, "warehouse"), nil)
	if err != nil {
		return out, err
	}
	defer ice.Close()
	streams, err := warehouse.StreamsFromCatalog(p.Cat, p.App.Cfg.DefaultReplicationMethod)
	if err != nil {
		return out, err
	}
	var s *record.Stream
	for i := range streams {
		if streams[i].ID == p.StreamID(tableName) {
			s = &streams[i]
		}
	}
	if s == nil {
		return out, fmt.Errorf("pipeline %s does not select %s", p.Name, tableName)
	}
	m := &materialize.Materializer{Sink: p.App.Stores.Sink, Bookmarks: p.App.Stores.Bookmarks, Leaser: p.App.Stores.Leaser, Catalog: ice}
	ident := table.Identifier{"bench", warehouse.TableName(s.ID)}
	cpu := processCPU()
	t0 := time.Now()
	out.Result, err = m.Run(ctx, materialize.Options{Stream: s, Table: ident, Owner: "bench", MaxRows: maxRows})
	out.Dur = time.Since(t0)
	out.CPU = processCPU() - cpu
	if err != nil {
		return out, err
	}
	if !out.Result.CaughtUp {
		return out, fmt.Errorf("materialize %s: not caught up: %+v", s.ID, out.Result)
	}
	out.Rows = out.Result.Changes
	tbl, err := ice.LoadTable(ctx, ident)
	if err != nil {
		return out, err
	}
	scan := tbl.Scan()
	defer scan.Close()
	tasks, err := scan.PlanFiles(ctx)
	if err != nil {
		return out, fmt.Errorf("plan a scan of %v: %w", ident, err)
	}
	out.Scan = IcebergScanCost(tasks)
	_, recs, err := scan.ReadTasks(ctx, tasks)
	if err != nil {
		return out, err
	}
	for rec, err := range recs {
		if err != nil {
			return out, fmt.Errorf("scan %v: %w", ident, err)
		}
		out.Live += rec.NumRows()
		rec.Release()
	}
	return out, nil
}
