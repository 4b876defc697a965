// Command pg2s3-iceberg holds the commands that link Apache Iceberg
// (iceberg-go and Arrow), so that pg2s3 itself does not: materialize,
// which pg2s3 materialize runs, and show, with which pg2s3 demo reads a
// table back. make build puts it beside pg2s3 in ./bin.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/pg2s3/pg2s3/cmd/internal/cli"
	"github.com/pg2s3/pg2s3/shared/materialize/sqlcat"
)

// prog is named as it was invoked: pg2s3-iceberg, or pg2s3 when pg2s3
// materialize runs it, so that its messages and help name the command the
// user typed.
var prog = cli.New(filepath.Base(os.Args[0]))

func main() { prog.Main() }

// catalogFlags are the flags that name the SQL catalog and its warehouse.
type catalogFlags struct {
	warehouse, dsn *string
	io             cli.StreamList
	props          map[string]string
}

func addCatalogFlags(fs *flag.FlagSet) *catalogFlags {
	c := &catalogFlags{
		warehouse: fs.String("warehouse", "", "where the tables' files go: a directory or s3://bucket/prefix"),
		dsn:       fs.String("catalog-dsn", os.Getenv("PG2S3_ICEBERG_CATALOG_DSN"), "PostgreSQL URL of the Iceberg SQL catalog's database (default $PG2S3_ICEBERG_CATALOG_DSN)"),
	}
	fs.Var(&c.io, "io", "an Iceberg io or catalog property key=value (repeatable)")
	return c
}

// check reports a missing or malformed flag as a usage error.
func (c *catalogFlags) check() error {
	if *c.warehouse == "" || *c.dsn == "" {
		return fmt.Errorf("give --warehouse and --catalog-dsn: %w", cli.ErrUsage)
	}
	c.props = map[string]string{}
	for _, kv := range c.io {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return fmt.Errorf("--io %q: want key=value: %w", kv, cli.ErrUsage)
		}
		c.props[k] = v
	}
	return nil
}

// open opens the catalog the checked flags name.
func (c *catalogFlags) open(ctx context.Context) (*sqlcat.Catalog, error) {
	return sqlcat.Open(ctx, *c.dsn, "pg2s3", *c.warehouse, c.props)
}
