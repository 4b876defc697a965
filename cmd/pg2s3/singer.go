package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/pg2s3/pg2s3/cmd/internal/cli"
	"github.com/pg2s3/pg2s3/shared/app"
	"github.com/pg2s3/pg2s3/shared/config"
	"github.com/pg2s3/pg2s3/shared/singer"
)

func init() {
	prog.Register("singer", "replay stored batches as a Singer message stream on stdout (pipe it into a Singer target)", runSinger)
}

const singerHelp = `usage: pg2s3 singer --config config.json --stream <tap_stream_id> [--stream ...] [--all-versions] | target-<name> ...

Reads what pg2s3 wrote to the sink (no database connection) and writes
Singer messages on stdout, one JSON object a line, shaped like
tap-postgres' output. Streams are replayed one after the other, in the
order given. For each stream:

  versions   from its current table version: the newest whose copy
             completed (FULL_TABLE, LOG_BASED) or the newest INCREMENTAL
             version, then any newer version still being copied. A
             FULL_TABLE stream has a version per completed copy, so this
             loads the table once; --all-versions replays every stored
             version, oldest first.
  SCHEMA     before the first RECORD and whenever it changes; stream name
             = table name (<schema>-<table> with the config's
             include_schemas_in_destination_stream_name);
             bookmark_properties [] for copies, [replication_key] for
             INCREMENTAL, ["lsn"] for log changes.
  ACTIVATE_VERSION
             before an INCREMENTAL version's first RECORD; before a copy's
             first RECORD when it is the oldest stored version; after the
             last RECORD of a completed FULL_TABLE or LOG_BASED copy.
  RECORD     the selected columns, "version" (the table version) and
             "time_extracted". Log changes also carry _sdc_deleted_at
             (set on deletes) and, with the config's debug_lsn, _sdc_lsn.
             LOG_BASED: copy batches first, then the log changes of the
             same version in log order.
  STATE      after each batch: {"currently_syncing", "bookmarks"} in
             tap-postgres' form, for every stream replayed so far.

A summary goes to stderr.

flags:
`

func runSinger(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := prog.NewFlags("singer", stderr)
	cfgPath := fs.String("config", "config.json", "config file (JSON)")
	allVersions := fs.Bool("all-versions", false, "replay every stored table version, oldest first (default: from the current one)")
	var streams cli.StreamList
	fs.Var(&streams, "stream", "tap_stream_id to replay (repeatable, in this order)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), singerHelp)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (streams go in --stream): %w", fs.Arg(0), cli.ErrUsage)
	}
	cfg, err := cli.LoadConfig(*cfgPath)
	if err != nil {
		return err
	}
	st, err := app.OpenStores(ctx, cfg)
	if err != nil {
		return err
	}
	fromBookmarks := func(ctx context.Context) []string {
		all, err := st.Bookmarks.All(ctx)
		if err != nil {
			return nil
		}
		ids := make([]string, 0, len(all))
		for id := range all {
			ids = append(ids, id)
		}
		return ids
	}
	where := sinkWhere(cfg)
	if len(streams) == 0 {
		known := singer.KnownStreams(ctx, st.Sink, fromBookmarks(ctx))
		if len(known) == 0 {
			return fmt.Errorf("give --stream <tap_stream_id>; %s holds no replicated stream yet: run pg2s3 sync first: %w", where, cli.ErrUsage)
		}
		return fmt.Errorf("give --stream <tap_stream_id> (repeatable); streams of this pipeline: %s: %w", strings.Join(known, ", "), cli.ErrUsage)
	}
	sum, err := singer.Replay(ctx, st.Sink, stdout, singer.Options{
		Streams: streams, AllVersions: *allVersions,
		SchemaInStreamName: cfg.IncludeSchemasInStreamName, DebugLSN: cfg.DebugLSN,
		Where: where, KnownStreams: fromBookmarks,
		Note: func(s string) { fmt.Fprintln(stderr, "pg2s3 singer: note:", s) },
	})
	for _, s := range sum.Streams {
		fmt.Fprintf(stderr, "pg2s3 singer: %s: %d table versions, %d batches, %d records\n", s.Stream, s.Versions, s.Batches, s.Records)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "pg2s3 singer: wrote %d SCHEMA, %d RECORD, %d ACTIVATE_VERSION, %d STATE messages\n",
		sum.Schemas, sum.Records, sum.Activations, sum.States)
	return nil
}

// sinkWhere names the sink for people.
func sinkWhere(cfg *config.Config) string {
	if cfg.Sink.Type == "local" {
		return cfg.Sink.Path
	}
	return fmt.Sprintf("s3://%s/%s", cfg.Sink.Bucket, cfg.Sink.Prefix)
}
