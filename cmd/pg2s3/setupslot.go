package main

import (
	"context"
	"fmt"
	"io"

	"github.com/pg2s3/pg2s3/cmd/internal/cli"
	"github.com/pg2s3/pg2s3/shared/app"
	"github.com/pg2s3/pg2s3/shared/postgres/logical"
)

func init() {
	prog.Register("setup-slot", "create the replication slot (and the pgoutput publication) for the LOG_BASED streams", runSetupSlot)
}

func runSetupSlot(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := prog.NewFlags("setup-slot", stderr)
	cfgPath := fs.String("config", "config.json", "config file (JSON)")
	catPath := fs.String("catalog", "catalog.json", "catalog file with selections")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, cat, err := cli.LoadConfigAndCatalog(*cfgPath, *catPath)
	if err != nil {
		return err
	}
	a, err := app.Open(ctx, cfg, nil)
	if err != nil {
		return err
	}
	info, created, err := a.SetupSlot(ctx, cat)
	if err != nil {
		return err
	}
	verb := "exists"
	if created {
		verb = "created"
	}
	fmt.Fprintf(stdout, "slot %s %s: plugin %s, confirmed_flush_lsn %s", info.Name, verb, info.Plugin, logical.FormatLSN(info.ConfirmedFlushLSN))
	if cfg.LogicalPlugin == "pgoutput" {
		fmt.Fprintf(stdout, ", publication %s", cfg.Publication)
	}
	fmt.Fprintln(stdout)
	return nil
}
