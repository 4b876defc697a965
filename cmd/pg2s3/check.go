package main

import (
	"context"
	"fmt"
	"io"

	"github.com/pg2s3/pg2s3/cmd/internal/cli"
	"github.com/pg2s3/pg2s3/shared/catalog"
	"github.com/pg2s3/pg2s3/shared/layout"
	"github.com/pg2s3/pg2s3/shared/postgres/preflight"
)

func init() {
	prog.Register("check", "check the server and user are ready (one PASS/FAIL line each, with the fix)", runCheck)
}

func runCheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := prog.NewFlags("check", stderr)
	cfgPath := fs.String("config", "config.json", "config file (tap-postgres keys plus pg2s3's)")
	catPath := fs.String("catalog", "", "catalog whose selected streams' privileges to check (default: every table)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q: %w", fs.Arg(0), cli.ErrUsage)
	}
	cfg, err := cli.LoadConfig(*cfgPath)
	if err != nil {
		return err
	}
	var tables, logTables [][2]string
	if *catPath != "" {
		cat, err := catalog.Load(*catPath)
		if err != nil {
			return err
		}
		for _, s := range cat.SelectedStreams() {
			tables = append(tables, [2]string{s.SchemaName(), s.TableName})
		}
		sels, err := cat.Selections(cfg.DefaultReplicationMethod)
		if err != nil {
			return err
		}
		for _, s := range sels {
			if s.Method == layout.LogBased {
				logTables = append(logTables, [2]string{s.Schema, s.Table})
			}
		}
		if len(tables) == 0 {
			fmt.Fprintf(stderr, "no stream of %s is selected: checking every table\n", *catPath)
		}
	}
	failed := 0
	settings := preflight.FromConfig(cfg)
	results := append(preflight.Check(ctx, settings, tables, logTables), preflight.CheckSecondary(ctx, settings)...)
	for _, r := range results {
		if r.OK {
			fmt.Fprintf(stdout, "PASS %s\n", r.Detail)
			continue
		}
		failed++
		if r.Fix == "" {
			fmt.Fprintf(stdout, "FAIL %s\n", r.Detail)
			continue
		}
		fmt.Fprintf(stdout, "FAIL %s — fix: %s\n", r.Detail, r.Fix)
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d checks failed", failed, len(results))
	}
	return nil
}
