package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/pg2s3/pg2s3/cmd/internal/cli"
	"github.com/pg2s3/pg2s3/shared/catalog"
	"github.com/pg2s3/pg2s3/shared/postgres/connect"
	"github.com/pg2s3/pg2s3/shared/postgres/tables"
)

func init() {
	prog.Register("discover", "print the Singer catalog of the database (tap-postgres shape)", runDiscover)
}

func runDiscover(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	flags := prog.NewFlags("discover", stderr)
	cfgPath := flags.String("config", "config.json", "config file (tap-postgres keys plus pg2s3's)")
	out := flags.String("out", "", "write the catalog to this file instead of stdout; an existing catalog there keeps its selections")
	replace := flags.Bool("replace", false, "with --out: overwrite an existing catalog instead of keeping its selections")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if flags.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q: %w", flags.Arg(0), cli.ErrUsage)
	}
	cfg, err := cli.LoadConfig(*cfgPath)
	if err != nil {
		return err
	}
	conn, err := connect.Open(ctx, connect.FromConfig(cfg))
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	cat, err := tables.New(conn, tables.FromConfig(cfg)).Discover(ctx)
	if err != nil {
		return err
	}
	var cur *catalog.Catalog
	if *out != "" && !*replace {
		if cur, err = catalog.Load(*out); errors.Is(err, fs.ErrNotExist) {
			cur = nil
		} else if err != nil {
			return fmt.Errorf("%w (fix or move it, or add --replace to overwrite it)", err)
		}
	}
	var changes catalog.Changes
	if cur != nil {
		cat, changes = catalog.Merge(cur, cat)
	}
	b, err := cat.Marshal()
	if err != nil {
		return err
	}
	if *out == "" {
		_, err = stdout.Write(b)
		return err
	}
	if err := writeFileAtomic(*out, b); err != nil {
		return err
	}
	if cur != nil {
		fmt.Fprintf(stderr, "updated %s (%d streams), selections kept: %s\n", *out, len(cat.Streams), changes)
		return nil
	}
	fmt.Fprintf(stderr, "wrote %d streams to %s: set \"selected\": true (and replication-method) on the streams to replicate\n", len(cat.Streams), *out)
	return nil
}

// writeFileAtomic writes b to path through a temporary file and a rename,
// so a reader never sees half a catalog.
func writeFileAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".catalog-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
