// Command materialize is the Lambda function that keeps one Apache
// Iceberg table per selected stream in the pipeline's Glue database equal
// to the stream's current table (shared/materialize), its files under
// s3://<bucket>/<prefix>/_iceberg: {} or {"streams": [...]} applies the
// committed batches each table lacks, every stream bounded by the run's
// deadline; {"maintain": true} compacts the tables' small files and
// expires their old snapshots. It alone of the functions links Arrow and
// Iceberg.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"time"

	"github.com/apache/iceberg-go/catalog"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/pg2s3/pg2s3/functions/internal/fn"
	"github.com/pg2s3/pg2s3/shared/app"
	pgcat "github.com/pg2s3/pg2s3/shared/catalog"
	"github.com/pg2s3/pg2s3/shared/materialize"
	"github.com/pg2s3/pg2s3/shared/materialize/gluecat"
	"github.com/pg2s3/pg2s3/shared/record"
	"github.com/pg2s3/pg2s3/shared/warehouse"
)

// settings are the materialize function's own environment variables.
type settings struct {
	// database is PG2S3_GLUE_DATABASE, the Glue database of the tables
	// (default: the pipeline's Athena name).
	database string
	// warehouse is PG2S3_ICEBERG_WAREHOUSE (default
	// s3://<bucket>/<prefix>/_iceberg).
	warehouse string
	// glueEndpoint is PG2S3_GLUE_ENDPOINT, for a Glue-compatible server.
	glueEndpoint string
	// maxRows is PG2S3_MATERIALIZE_MAX_ROWS, changes per Iceberg commit.
	maxRows int
	// copyOnWrite is PG2S3_ICEBERG_COPY_ON_WRITE=true: rewrite data files
	// instead of writing equality deletes (materialize.Options).
	copyOnWrite bool
}

func readSettings(getenv func(string) string, env fn.Env) (settings, error) {
	s := settings{database: getenv("PG2S3_GLUE_DATABASE"), warehouse: getenv("PG2S3_ICEBERG_WAREHOUSE"),
		glueEndpoint: getenv("PG2S3_GLUE_ENDPOINT"), maxRows: materialize.DefaultMaxRows}
	if s.database == "" {
		s.database = warehouse.AthenaName(env.Pipeline)
	}
	if s.warehouse == "" {
		s.warehouse = gluecat.Warehouse(env.Bucket, env.Prefix)
	}
	switch v := getenv("PG2S3_ICEBERG_COPY_ON_WRITE"); v {
	case "", "false":
	case "true":
		s.copyOnWrite = true
	default:
		return s, fmt.Errorf("PG2S3_ICEBERG_COPY_ON_WRITE: %q is neither true nor false", v)
	}
	if v := getenv("PG2S3_MATERIALIZE_MAX_ROWS"); v != "" {
		if _, err := fmt.Sscan(v, &s.maxRows); err != nil || s.maxRows <= 0 {
			return s, fmt.Errorf("PG2S3_MATERIALIZE_MAX_ROWS: %q is not a positive number", v)
		}
	}
	return s, nil
}

func main() {
	fn.Serve(os.Getenv, false, func(ctx context.Context, a *app.App, cat *pgcat.Catalog, ev fn.MaterializeEvent, env fn.Env, log *slog.Logger) (fn.Result, error) {
		set, err := readSettings(os.Getenv, env)
		if err != nil {
			return fn.Result{}, err
		}
		return run(ctx, a, cat, ev, env, set, log)
	})
}

func run(ctx context.Context, a *app.App, cat *pgcat.Catalog, ev fn.MaterializeEvent, env fn.Env, set settings, log *slog.Logger) (fn.Result, error) {
	selected, err := warehouse.StreamsFromCatalog(cat, a.Cfg.DefaultReplicationMethod)
	if err != nil {
		return fn.Result{}, fmt.Errorf("catalog: %w", err)
	}
	for _, id := range ev.Streams {
		if !slices.ContainsFunc(selected, func(s record.Stream) bool { return s.ID == id }) {
			return fn.Result{}, fmt.Errorf("stream %s is not selected", id)
		}
	}
	ice, err := gluecat.Open(ctx, gluecat.Settings{Warehouse: set.warehouse, Region: env.Region, GlueEndpoint: set.glueEndpoint, S3Endpoint: env.S3Endpoint})
	if err != nil {
		return fn.Result{}, err
	}
	if c, ok := ice.(catalog.Closer); ok {
		defer c.Close()
	}
	m := &materialize.Materializer{Sink: a.Stores.Sink, Bookmarks: a.Stores.Bookmarks, Leaser: a.Stores.Leaser, Catalog: ice, Log: log}
	deadline := env.Deadline(ctx)
	owner := fmt.Sprintf("materialize-%d", time.Now().UnixNano())
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		owner = "materialize-" + lc.AwsRequestID
	}
	res := fn.Result{}
	var tables []any
	var failed, notStarted []string
	for i := range selected {
		s := &selected[i]
		if len(ev.Streams) > 0 && !slices.Contains(ev.Streams, s.ID) {
			continue
		}
		sum := fn.StreamSummary{Stream: s.ID}
		ident := catalog.ToIdentifier(set.database, warehouse.TableName(s.ID))
		switch {
		case !deadline.IsZero() && time.Now().After(deadline):
			// Not an error: the next run starts with it.
			notStarted = append(notStarted, s.ID)
			res.StopReason = "deadline"
			continue
		case ev.Maintain:
			mr, err := m.Maintain(ctx, materialize.MaintainOptions{Stream: s.ID, Table: ident, Owner: owner,
				SnapshotAge: time.Duration(ev.SnapshotAgeSeconds) * time.Second, KeepSnapshots: ev.KeepSnapshots, Deadline: deadline})
			tables = append(tables, mr)
			if err != nil {
				sum.Error = err.Error()
			}
			log.Info("maintained", "stream", s.ID, "table", mr.Table, "rewritten", mr.Rewritten, "data_files", mr.DataFilesAfter,
				"delete_files", mr.DeleteFilesAfter, "snapshots", mr.SnapshotsAfter)
		default:
			mr, err := m.Run(ctx, materialize.Options{Stream: s, Table: ident, Owner: owner, MaxRows: set.maxRows, Deadline: deadline, CopyOnWrite: set.copyOnWrite})
			tables = append(tables, mr)
			sum.Rows = mr.Changes
			res.Rows += mr.Changes
			if err != nil {
				sum.Error = err.Error()
			} else if !mr.CaughtUp {
				res.StopReason = "deadline"
			}
			log.Info("materialized", "stream", s.ID, "table", mr.Table, "commits", mr.Commits, "changes", mr.Changes, "caught_up", mr.CaughtUp)
		}
		if sum.Error != "" {
			failed = append(failed, s.ID)
		}
		res.Streams = append(res.Streams, sum)
	}
	res.Tables = tables
	if len(notStarted) > 0 {
		res.Message = fmt.Sprintf("the deadline came before %d streams: %v", len(notStarted), notStarted)
	}
	if len(failed) > 0 {
		b, _ := json.Marshal(res)
		return res, fmt.Errorf("%d of %d streams failed (%v): %s", len(failed), len(res.Streams), failed, b)
	}
	return res, nil
}
