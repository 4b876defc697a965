package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"github.com/pg2s3/pg2s3/cmd/internal/cli"
)

// The commands that link Apache Iceberg live in a second binary, so that
// iceberg-go's start-up cost (32 MB allocated by its init) is paid by
// them alone.
const (
	icebergBinary = "pg2s3-iceberg"
	// icebergBinEnv, when set, is the path of pg2s3-iceberg, in place of
	// the one beside pg2s3 or on PATH (the tests point it at theirs).
	icebergBinEnv = "PG2S3_ICEBERG_BIN"
)

func init() {
	prog.Register("materialize", "apply the stored batches of selected streams to Apache Iceberg tables (SQL catalog on PostgreSQL; runs pg2s3-iceberg)",
		func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
			return runIceberg(ctx, prog.Name, append([]string{"materialize"}, args...), stdout, stderr)
		})
}

// findIceberg returns the path of pg2s3-iceberg: $PG2S3_ICEBERG_BIN, or
// the one beside the executable exe, or the one on PATH.
func findIceberg(exe string) (string, error) {
	if bin := os.Getenv(icebergBinEnv); bin != "" {
		if _, err := exec.LookPath(bin); err != nil {
			return "", fmt.Errorf("%s=%s: %w", icebergBinEnv, bin, err)
		}
		return bin, nil
	}
	beside := ""
	if exe != "" {
		beside = filepath.Join(filepath.Dir(exe), icebergBinary)
		if _, err := exec.LookPath(beside); err == nil {
			return beside, nil
		}
	}
	if bin, err := exec.LookPath(icebergBinary); err == nil {
		return bin, nil
	}
	where := "not on PATH"
	if beside != "" {
		where = fmt.Sprintf("neither at %s (beside %s) nor on PATH", beside, filepath.Base(exe))
	}
	return "", fmt.Errorf("this needs %s, the binary with pg2s3's Apache Iceberg commands, and it is %s: "+
		"build it with `make build`, which puts it beside pg2s3 in ./bin (or set %s to its path)", icebergBinary, where, icebergBinEnv)
}

// runIceberg runs pg2s3-iceberg with args on the process's stdin, stdout
// and stderr and environment; as is its argv[0], the name it calls itself
// in messages and help. A status other than 0 comes back as a
// cli.ExitStatus: pg2s3-iceberg has already said what went wrong. When
// ctx ends, pg2s3-iceberg gets a SIGTERM, to end as it would on its own.
func runIceberg(ctx context.Context, as string, args []string, stdout, stderr io.Writer) error {
	exe, err := os.Executable()
	if err != nil {
		exe = ""
	}
	bin, err := findIceberg(exe)
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Args[0] = as
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, stdout, stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	err = cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		if code := exit.ExitCode(); code > 0 {
			return cli.ExitStatus(code)
		}
		return fmt.Errorf("%s: %v", bin, exit) // ended by a signal
	}
	return err
}
