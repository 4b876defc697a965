// Command reset is the Lambda function for manual resets: one stream
// ({"stream": "<tap_stream_id>"}) or the slot ({"slot": true, "confirm": true}).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/pg2s3/pg2s3/functions/internal/fn"
	"github.com/pg2s3/pg2s3/shared/replicate"
)

func main() {
	env, envErr := fn.ReadEnv(os.Getenv)
	lambda.Start(func(ctx context.Context, payload json.RawMessage) (fn.Result, error) {
		if envErr != nil {
			return fn.Result{}, envErr
		}
		var ev fn.ResetEvent
		if err := fn.Decode(payload, &ev); err != nil {
			return fn.Result{}, err
		}
		if err := ev.Validate(); err != nil {
			return fn.Result{}, err
		}
		log := fn.Logger(ctx, env.Pipeline)
		a, cat, err := fn.Open(ctx, env, log)
		if err != nil {
			return fn.Result{}, err
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
