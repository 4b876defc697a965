package fn

import (
	"context"
	"fmt"
	"strconv"

	"github.com/pg2s3/pg2s3/shared/app"
	"github.com/pg2s3/pg2s3/shared/awsstore"
)

// The hand-off of large tables from scheduled sync runs to the stack's
// parallel copy state machine (app.Handoff): the stack gives the sync
// function the state machine's ARN and the row estimate above which a
// stream's copy is handed to it. Without the ARN (the variable unset)
// scheduled runs copy every stream themselves.
const (
	ParallelCopyARNEnv = "PG2S3_PARALLEL_COPY_ARN"
	ParallelMinRowsEnv = "PG2S3_PARALLEL_MIN_ROWS"
	// SFNEndpointEnv is a Step Functions-compatible server's URL (tests).
	SFNEndpointEnv = "PG2S3_SFN_ENDPOINT"
)

// Handoff reads the hand-off's settings through getenv and opens its
// Step Functions client in env's region; nil when no state machine is
// configured.
func Handoff(ctx context.Context, getenv func(string) string, env Env) (*app.Handoff, error) {
	arn := getenv(ParallelCopyARNEnv)
	if arn == "" {
		return nil, nil
	}
	s := getenv(ParallelMinRowsEnv)
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 1 {
		return nil, fmt.Errorf("%s: %q is not a positive whole number of rows (the stack sets it from parallel_copy.min_rows, with %s)", ParallelMinRowsEnv, s, ParallelCopyARNEnv)
	}
	copies, err := awsstore.NewParallelCopies(ctx, arn, env.Region, getenv(SFNEndpointEnv))
	if err != nil {
		return nil, err
	}
	return &app.Handoff{Copies: copies, MinRows: n}, nil
}
