// Command task is the long-running form of the engine, run as an ECS
// Fargate task (infra/task.go) without a deadline: the wal function
// starts it on the slot when a transaction is too large to read within
// one invocation, the sync function on a table without a key (or a view)
// whose copy cannot finish within one. It reads the same PG2S3_*
// environment as the functions, plus the work (PG2S3_TASK_SLOT or
// PG2S3_TASK_STREAM, and PG2S3_TASK_OWNER, the lease it takes over),
// holds the work's lease while it runs, and exits 0 when the work is
// done, 1 with the error otherwise.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	_ "golang.org/x/crypto/x509roots/fallback" // CA certificates in a FROM scratch image

	"github.com/pg2s3/pg2s3/functions/internal/fn"
)

func main() {
	// ECS stops a task with SIGTERM: the run commits nothing half-way
	// (each batch commits whole) and releases its lease.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := fn.RunTask(ctx, os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "pg2s3 task:", err)
		os.Exit(1)
	}
}
