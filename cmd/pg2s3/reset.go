package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/pg2s3/pg2s3/cmd/internal/cli"
	"github.com/pg2s3/pg2s3/shared/app"
	"github.com/pg2s3/pg2s3/shared/catalog"
	"github.com/pg2s3/pg2s3/shared/replicate"
)

func init() {
	prog.Register("reset", "reset one stream (re-copy in a new table version) or the replication slot", runReset)
}

func runReset(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := prog.NewFlags("reset", stderr)
	cfgPath := fs.String("config", "config.json", "config file (JSON)")
	catPath := fs.String("catalog", "catalog.json", "catalog file (to list known streams)")
	stream := fs.String("stream", "", "tap_stream_id of the stream to reset")
	slot := fs.Bool("slot", false, "drop and recreate the replication slot and re-copy every log-based stream")
	confirm := fs.Bool("confirm", false, "confirm a slot reset")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if (*stream == "") == !*slot {
		return fmt.Errorf("give either --stream <tap_stream_id> or --slot --confirm: %w", cli.ErrUsage)
	}
	cfg, err := cli.LoadConfig(*cfgPath)
	if err != nil {
		return err
	}
	a, err := app.Open(ctx, cfg, nil)
	if err != nil {
		return err
	}
	if *slot {
		if !*confirm {
			return fmt.Errorf("a slot reset drops slot %s and re-copies every log-based stream: add --confirm: %w", cfg.SlotName, cli.ErrUsage)
		}
		return a.ResetSlot(ctx, stdout)
	}
	known := knownStreams(*catPath)
	st, err := replicate.Reset(ctx, a.Stores.Bookmarks, *stream, known, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "reset %s: the next run copies it again as table version %d\n", *stream, st.Version)
	return nil
}

// knownStreams lists the catalog's stream ids, if the catalog is there.
func knownStreams(path string) []string {
	cat, err := catalog.Load(path)
	if err != nil {
		return nil // without a catalog, the bookmarks name the known streams
	}
	var ids []string
	for _, s := range cat.Streams {
		ids = append(ids, s.TapStreamID)
	}
	return ids
}
