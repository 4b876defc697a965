// Command reset is the Lambda function for manual resets: one stream
// ({"stream": "<tap_stream_id>"}) or the slot ({"slot": true, "confirm": true});
// it also prunes old table versions ({"prune": true, "keep": 1}, scheduled
// by the stack's prune setting).
package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/pg2s3/pg2s3/functions/internal/fn"
	"github.com/pg2s3/pg2s3/shared/app"
	"github.com/pg2s3/pg2s3/shared/catalog"
	"github.com/pg2s3/pg2s3/shared/replicate"
)

func main() {
	fn.Serve(os.Getenv, false, func(ctx context.Context, a *app.App, cat *catalog.Catalog, ev fn.ResetEvent, env fn.Env, log *slog.Logger) (fn.Result, error) {
		if ev.Prune {
			pruned, err := a.Prune(ctx, max(ev.Keep, 1), false)
			objects, names := 0, []string{}
			for _, p := range pruned {
				objects += p.Objects
				names = append(names, p.Stream)
				log.Info("pruned", "stream", p.Stream, "versions", len(p.Versions), "objects", p.Objects)
			}
			if err != nil {
				return fn.Result{}, err
			}
			return fn.Result{Message: fmt.Sprintf("pruned %d objects of %d streams (%s)", objects, len(pruned), strings.Join(names, ", "))}, nil
		}
		if ev.Slot {
			var out bytes.Buffer
			if err := a.ResetSlot(ctx, &out); err != nil {
				return fn.Result{}, err
			}
			log.Info("slot reset", "slot", a.Cfg.SlotName)
			return fn.Result{Message: out.String()}, nil
		}
		var known []string
		for _, s := range cat.Streams {
			known = append(known, s.TapStreamID)
		}
		st, err := replicate.Reset(ctx, a.Stores.Bookmarks, ev.Stream, known, time.Now())
		if err != nil {
			return fn.Result{}, err
		}
		log.Info("stream reset", "stream", ev.Stream, "version", st.Version)
		return fn.Result{Message: fmt.Sprintf("reset %s: the next run copies it again as table version %d", ev.Stream, st.Version)}, nil
	})
}
