// Command pg2s3 is the local CLI: the same engine the Lambda functions run,
// with embedded defaults (a directory sink and a bookmark file).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"sort"
	"strings"
	"syscall"

	"github.com/pg2s3/pg2s3/shared/config"
	"github.com/pg2s3/pg2s3/shared/postgres/connect"
)

// command is one subcommand; each lives in a file named after it and
// registers itself in init.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

var commands = map[string]command{}

func register(name, summary string, run func(ctx context.Context, args []string, stdout, stderr io.Writer) error) {
	commands[name] = command{summary: summary, run: run}
}

// errUsage marks an error whose message is the whole story (exit status 2).
var errUsage = errors.New("usage")

func main() {
	if os.Getenv("GOGC") == "" {
		// Collect at half the live heap rather than all of it: a long copy
		// otherwise reached a higher peak the longer it ran (bench case 5:
		// 48 MB at 500k rows, 72 MB at 2M), as garbage cycles met the
		// largest live sets; at 50 the peak stays near the smallest run's.
		debug.SetGCPercent(50)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(runMain(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func runMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "pg2s3: unknown command %q\n", args[0])
		usage(stderr)
		return 2
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo})))
	if os.Getenv("GOMEMLIMIT") == "" {
		// Batches stream, so the live heap is small; a soft limit makes the
		// collector keep the process near it instead of growing with the
		// table (override with GOMEMLIMIT).
		debug.SetMemoryLimit(96 << 20)
	}
	if err := cmd.run(ctx, args[1:], stdout, stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		if errors.Is(err, errUsage) {
			fmt.Fprintf(stderr, "pg2s3 %s: %s\n", args[0], strings.TrimSuffix(err.Error(), ": "+errUsage.Error()))
			return 2
		}
		fmt.Fprintf(stderr, "pg2s3 %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: pg2s3 <command> [flags]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-14s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun `pg2s3 <command> -h` for a command's flags.")
}

// newFlags returns a flag set that reports errors instead of exiting.
func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("pg2s3 "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// loadConfig reads the config file at path with what the environment adds
// to it: where sslrootcert "rds" finds the RDS CA bundle.
func loadConfig(path string) (*config.Config, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	cfg.RDSBundleFile = os.Getenv(connect.RDSBundleEnv)
	return cfg, nil
}
