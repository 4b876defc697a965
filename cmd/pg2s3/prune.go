package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/pg2s3/pg2s3/cmd/internal/cli"
	"github.com/pg2s3/pg2s3/shared/app"
)

func init() {
	prog.Register("prune", "delete table versions no reader needs (older than each stream's newest activated version)", runPrune)
}

func runPrune(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := prog.NewFlags("prune", stderr)
	cfgPath := fs.String("config", "config.json", "config file (JSON)")
	keep := fs.Int("keep", 1, "activated versions to keep per stream (the newest ones)")
	dryRun := fs.Bool("dry-run", false, "only say what would be deleted")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q: %w", fs.Arg(0), cli.ErrUsage)
	}
	if *keep < 1 {
		return fmt.Errorf("--keep must be at least 1: %w", cli.ErrUsage)
	}
	cfg, err := cli.LoadConfig(*cfgPath)
	if err != nil {
		return err
	}
	a, err := app.Open(ctx, cfg, nil)
	if err != nil {
		return err
	}
	pruned, err := a.Prune(ctx, *keep, *dryRun)
	verb := "deleted"
	if *dryRun {
		verb = "would delete"
	}
	objects := 0
	for _, p := range pruned {
		objects += p.Objects
		fmt.Fprintf(stdout, "%s: keeping %s; %s %s (%d objects)\n", p.Stream, versionList(p.Kept), verb, versionList(p.Versions), p.Objects)
	}
	if err != nil {
		return err
	}
	if len(pruned) == 0 {
		fmt.Fprintf(stdout, "nothing to prune in %s: no stream has more than %d activated versions\n", a.Stores.Where, *keep)
		return nil
	}
	fmt.Fprintf(stdout, "%s %d objects of %d streams in %s\n", verb, objects, len(pruned), a.Stores.Where)
	return nil
}

func versionList(vs []int64) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = fmt.Sprintf("v%d", v)
	}
	return strings.Join(parts, ", ")
}
