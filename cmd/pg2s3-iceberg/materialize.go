package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/apache/iceberg-go/catalog"

	"github.com/pg2s3/pg2s3/cmd/internal/cli"
	"github.com/pg2s3/pg2s3/shared/app"
	"github.com/pg2s3/pg2s3/shared/materialize"
	"github.com/pg2s3/pg2s3/shared/record"
	"github.com/pg2s3/pg2s3/shared/warehouse"
)

func init() {
	prog.Register("materialize", "apply the stored batches of selected streams to Apache Iceberg tables (SQL catalog on PostgreSQL)", runMaterialize)
}

// materializeHelp is a format: %[1]s is the program's name.
const materializeHelp = `usage: %[1]s materialize --config config.json --catalog catalog.json --warehouse DIR|s3://bucket/prefix --catalog-dsn postgres://... [--stream id ...]

Keeps one Apache Iceberg table per selected stream equal to the stream's
current table, from the committed batches in the sink (no connection to
the replicated database): the newest change per key wins, deletes remove
the key, a column a change did not carry keeps its value, a newer table
version (reset, FULL_TABLE copy, TRUNCATE) replaces the table's contents
in one snapshot; keyless streams append. Each run applies what is new
since the table's last snapshot and can run as often as you like.

The tables are in iceberg-go's SQL catalog, kept in the PostgreSQL
database at --catalog-dsn (two tables it creates), named
<namespace>.<table> (namespace: --namespace, default the pipeline;
table: the stream's Athena name), their files under --warehouse.
For an S3 warehouse (or the S3-compatible test server) give the io
settings as --io key=value: s3.endpoint, s3.region, s3.access-key-id,
s3.secret-access-key.

flags:
`

func runMaterialize(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := prog.NewFlags("materialize", stderr)
	cfgPath := fs.String("config", "config.json", "config file (JSON)")
	catPath := fs.String("catalog", "catalog.json", "catalog file with selections (from pg2s3 discover)")
	iceFlags := addCatalogFlags(fs)
	namespace := fs.String("namespace", "", "Iceberg namespace of the tables (default: the config's pipeline)")
	maxRows := fs.Int("max-rows", materialize.DefaultMaxRows, "changes per Iceberg commit (bounds memory)")
	maxDur := fs.Duration("max-duration", 0, "start no new commit after this much time (0: no limit)")
	cow := fs.Bool("copy-on-write", false, "rewrite the data files holding changed keys instead of writing equality deletes (slower commits; tables every engine reads, Athena included)")
	var streams cli.StreamList
	fs.Var(&streams, "stream", "tap_stream_id to materialize (repeatable; default every selected stream)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), materializeHelp, prog.Name)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := iceFlags.check(); err != nil {
		return err
	}
	cfg, cat, err := cli.LoadConfigAndCatalog(*cfgPath, *catPath)
	if err != nil {
		return err
	}
	selected, err := warehouse.StreamsFromCatalog(cat, cfg.DefaultReplicationMethod)
	if err != nil {
		return fmt.Errorf("catalog %s: %w", *catPath, err)
	}
	for _, id := range streams {
		if !slices.ContainsFunc(selected, func(s record.Stream) bool { return s.ID == id }) {
			return fmt.Errorf("stream %s is not selected in %s", id, *catPath)
		}
	}
	st, err := app.OpenStores(ctx, cfg)
	if err != nil {
		return err
	}
	ns := *namespace
	if ns == "" {
		ns = warehouse.AthenaName(cfg.Pipeline)
	}
	ice, err := iceFlags.open(ctx)
	if err != nil {
		return err
	}
	defer ice.Close()
	m := &materialize.Materializer{Sink: st.Sink, Bookmarks: st.Bookmarks, Leaser: st.Leaser, Catalog: ice,
		Log: slog.New(slog.NewTextHandler(stderr, nil))}
	var deadline time.Time
	if *maxDur > 0 {
		deadline = time.Now().Add(*maxDur)
	}
	owner := fmt.Sprintf("cli-%d-%d", os.Getpid(), time.Now().UnixNano())
	enc := json.NewEncoder(stdout)
	var failed []string
	for i := range selected {
		s := &selected[i]
		if len(streams) > 0 && !slices.Contains(streams, s.ID) {
			continue
		}
		res, err := m.Run(ctx, materialize.Options{Stream: s, Table: catalog.ToIdentifier(ns, warehouse.TableName(s.ID)),
			Owner: owner, MaxRows: *maxRows, Deadline: deadline, CopyOnWrite: *cow})
		enc.Encode(res)
		if err != nil {
			fmt.Fprintf(stderr, "%s materialize: %s: %v\n", prog.Name, s.ID, err)
			failed = append(failed, s.ID)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d streams failed: %s", len(failed), strings.Join(failed, ", "))
	}
	return nil
}
