package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/pg2s3/pg2s3/cmd/internal/cli"
	"github.com/pg2s3/pg2s3/shared/app"
	"github.com/pg2s3/pg2s3/shared/singer"
)

func init() {
	prog.Register("state", "export or import bookmarks as a tap-postgres STATE document", runState)
}

func runState(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "export" && args[0] != "import") {
		return fmt.Errorf("usage: pg2s3 state export --config config.json | pg2s3 state import --config config.json state.json: %w", cli.ErrUsage)
	}
	verb := args[0]
	fs := prog.NewFlags("state "+verb, stderr)
	cfgPath := fs.String("config", "config.json", "config file (JSON)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	cfg, err := cli.LoadConfig(*cfgPath)
	if err != nil {
		return err
	}
	a, err := app.Open(ctx, cfg, nil)
	if err != nil {
		return err
	}
	if verb == "export" {
		st, err := singer.ExportState(ctx, a.Stores.Bookmarks)
		if err != nil {
			return err
		}
		b, _ := json.MarshalIndent(st, "", "  ")
		fmt.Fprintln(stdout, string(b))
		return nil
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("state import needs the STATE file: pg2s3 state import --config config.json state.json: %w", cli.ErrUsage)
	}
	doc, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		return fmt.Errorf("read state: %w", err)
	}
	ids, err := singer.ImportState(ctx, a.Stores.Bookmarks, doc, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "imported bookmarks of %d streams\n", len(ids))
	return nil
}
