// Package cli is what the two command-line binaries share, pg2s3 and
// pg2s3-iceberg (which holds everything that links Apache Iceberg):
// their commands and how they run (exit statuses, usage errors, the
// collector's settings), flag sets that report errors instead of exiting,
// and reading the config and catalog files with what the environment adds.
package cli

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

	"github.com/pg2s3/pg2s3/shared/catalog"
	"github.com/pg2s3/pg2s3/shared/config"
	"github.com/pg2s3/pg2s3/shared/postgres/connect"
)

// RunFunc runs one command with its arguments (after the command's name).
type RunFunc func(ctx context.Context, args []string, stdout, stderr io.Writer) error

type command struct {
	summary string
	run     RunFunc
}

// Program is one binary's commands; each lives in a file named after it
// and registers itself in init.
type Program struct {
	// Name is what usage and messages call the program ("pg2s3").
	Name     string
	commands map[string]command
}

// New returns a program called name with no commands yet.
func New(name string) *Program {
	return &Program{Name: name, commands: map[string]command{}}
}

// Register adds a command.
func (p *Program) Register(name, summary string, run RunFunc) {
	p.commands[name] = command{summary: summary, run: run}
}

// Command returns the command called name (nil if there is none), for a
// command that runs others (pg2s3 demo).
func (p *Program) Command(name string) RunFunc { return p.commands[name].run }

// ErrUsage marks an error whose message is the whole story (exit status 2).
var ErrUsage = errors.New("usage")

// ExitStatus is the error of a command that already said what went wrong
// and exits with this status (pg2s3 materialize passing on
// pg2s3-iceberg's): the program prints nothing more.
type ExitStatus int

func (s ExitStatus) Error() string { return fmt.Sprintf("exit status %d", int(s)) }

// Main runs the program on the process's arguments, with SIGINT and
// SIGTERM cancelling its context, and exits with its status.
func (p *Program) Main() {
	if os.Getenv("GOGC") == "" {
		// Collect at a quarter of the live heap rather than all of it: a
		// long copy otherwise reached a higher peak the longer it ran, as
		// garbage cycles met the largest live sets (bench case 5: 48 MB at
		// 500k rows, 72 MB at 2M with the default; at 50, 46–63 MB and
		// 67–70 MB; at 25, 46–49 MB and 55–57 MB, the same rows/s). The
		// live heap is mostly compression blocks, which hold no pointers,
		// so the extra cycles cost little.
		debug.SetGCPercent(25)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := p.Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Run runs the command args name and returns the exit status: 0, 1 when
// the command failed, 2 for a usage error (or no command), or the
// ExitStatus the command returned.
func (p *Program) Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		p.usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, ok := p.commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "%s: unknown command %q\n", p.Name, args[0])
		p.usage(stderr)
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
		var status ExitStatus
		switch {
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.As(err, &status):
			return int(status)
		case errors.Is(err, ErrUsage):
			fmt.Fprintf(stderr, "%s %s: %s\n", p.Name, args[0], strings.TrimSuffix(err.Error(), ": "+ErrUsage.Error()))
			return 2
		}
		fmt.Fprintf(stderr, "%s %s: %v\n", p.Name, args[0], err)
		return 1
	}
	return 0
}

func (p *Program) usage(w io.Writer) {
	fmt.Fprintf(w, "usage: %s <command> [flags]\n\ncommands:\n", p.Name)
	names := make([]string, 0, len(p.commands))
	for n := range p.commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-14s %s\n", n, p.commands[n].summary)
	}
	fmt.Fprintf(w, "\nRun `%s <command> -h` for a command's flags.\n", p.Name)
}

// NewFlags returns a flag set for the command name that reports errors
// instead of exiting.
func (p *Program) NewFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(p.Name+" "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// StreamList is a repeatable string flag (--stream).
type StreamList []string

func (s *StreamList) String() string     { return strings.Join(*s, ",") }
func (s *StreamList) Set(v string) error { *s = append(*s, v); return nil }

// LoadConfig reads the config file at path with what the environment adds
// to it: where sslrootcert "rds" finds the RDS CA bundle.
func LoadConfig(path string) (*config.Config, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	cfg.RDSBundleFile = os.Getenv(connect.RDSBundleEnv)
	return cfg, nil
}

// LoadConfigAndCatalog reads the config file and the catalog file, saying
// how to make a catalog when there is none.
func LoadConfigAndCatalog(cfgPath, catPath string) (*config.Config, *catalog.Catalog, error) {
	cfg, err := LoadConfig(cfgPath)
	if err != nil {
		return nil, nil, err
	}
	cat, err := catalog.Load(catPath)
	if err != nil {
		return nil, nil, fmt.Errorf("%w (create one with: pg2s3 discover --config %s > %s, then select streams)", err, cfgPath, catPath)
	}
	return cfg, cat, nil
}
