package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/pg2s3/pg2s3/cmd/internal/cli"
	"github.com/pg2s3/pg2s3/shared/config"
	"github.com/pg2s3/pg2s3/shared/warehouse"
)

func init() {
	prog.Register("ddl", "print SQL that makes the replicated objects queryable in place (--athena)", runDDL)
}

// runDDL prints Athena DDL for the catalog's selected streams. It reads
// only the config and the catalog (no database connection): the types come
// from the catalog, as discover wrote it.
//
// A local sink has no S3 location Athena could read, so the command
// refuses it unless --location names where the directory was copied:
// DDL with a placeholder would create tables that read nothing.
func runDDL(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := prog.NewFlags("ddl", stderr)
	athena := fs.Bool("athena", false, "Athena (Glue) DDL: the database, a table per stream, the version markers' table and a <table>_current view per stream")
	cfgPath := fs.String("config", "config.json", "config file (JSON): the sink, its format and the pipeline name")
	catPath := fs.String("catalog", "catalog.json", "catalog file with selections (from pg2s3 discover)")
	database := fs.String("database", "pg2s3", "Athena database for the tables (lower-case letters, digits, underscores)")
	location := fs.String("location", "", "s3://bucket/prefix/ holding the objects (default: the config's s3 sink; required with a local sink)")
	replace := fs.Bool("replace", false, "drop each table before creating it (Athena keeps the objects), so catalog changes take effect")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q: %w", fs.Arg(0), cli.ErrUsage)
	}
	if !*athena {
		return fmt.Errorf("say which SQL to print: --athena (Amazon Athena / AWS Glue): %w", cli.ErrUsage)
	}
	cfg, cat, err := cli.LoadConfigAndCatalog(*cfgPath, *catPath)
	if err != nil {
		return err
	}
	loc, err := athenaLocation(cfg, *location)
	if err != nil {
		return err
	}
	streams, err := warehouse.StreamsFromCatalog(cat, cfg.DefaultReplicationMethod)
	if err != nil {
		return fmt.Errorf("catalog %s: %w", *catPath, err)
	}
	if len(streams) == 0 {
		return fmt.Errorf("catalog %s selects no stream: set \"selected\": true in a stream's table metadata", *catPath)
	}
	sch, err := warehouse.AthenaSchema(streams, warehouse.AthenaOptions{
		Database: *database, Location: loc, Format: cfg.Sink.Format, Pipeline: cfg.Pipeline})
	if err != nil {
		return err
	}
	writeDDL(stdout, cfg, sch, loc, *replace)
	return nil
}

// athenaLocation is where Athena finds the objects: --location, else the
// config's s3 sink.
func athenaLocation(cfg *config.Config, flagValue string) (string, error) {
	if flagValue != "" {
		if !strings.HasPrefix(flagValue, "s3://") || len(strings.TrimPrefix(flagValue, "s3://")) == 0 {
			return "", fmt.Errorf("--location %q is not an S3 location: give s3://bucket/prefix/: %w", flagValue, cli.ErrUsage)
		}
		return strings.TrimSuffix(flagValue, "/") + "/", nil
	}
	if cfg.Sink.Type != "s3" {
		return "", errors.New("the config's sink is a local directory (" + cfg.Sink.Path + "), which Athena cannot read: " +
			"use an s3 sink, or copy the directory to S3 (aws s3 sync) and give --location s3://bucket/prefix/")
	}
	loc := "s3://" + cfg.Sink.Bucket + "/"
	if p := strings.Trim(cfg.Sink.Prefix, "/"); p != "" {
		loc += p + "/"
	}
	return loc, nil
}

func writeDDL(w io.Writer, cfg *config.Config, sch *warehouse.Schema, loc string, replace bool) {
	fmt.Fprintf(w, "-- pg2s3: Athena DDL for pipeline %s (%s objects at %s)\n", cfg.Pipeline, cfg.Sink.Format, loc)
	fmt.Fprintln(w, "-- Athena runs one statement per query: run them in order (database, tables, then views).")
	fmt.Fprintf(w, "-- %s.<table>_current views give each table's current rows: the newest active table version\n", sch.Database)
	fmt.Fprintln(w, "-- (markers in "+sch.Versions.Name+"), per key the newest row, deleted keys left out.")
	if !replace {
		fmt.Fprintln(w, "-- Tables are created if absent; after a catalog change, run again with --replace.")
	}
	if cfg.Sink.Type == "s3" && cfg.Sink.Endpoint != "" {
		fmt.Fprintf(w, "-- warning: the sink's endpoint is %s; Athena reads only Amazon S3.\n", cfg.Sink.Endpoint)
	}
	for _, warn := range sch.Warnings {
		fmt.Fprintf(w, "-- warning: %s\n", warn)
	}
	for _, st := range sch.Statements(replace) {
		fmt.Fprintf(w, "\n%s;\n", st)
	}
}
