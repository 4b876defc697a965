package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/pg2s3/pg2s3/shared/testenv"
)

// icebergBuild is the pg2s3-iceberg the tests build once, when the first
// of them needs it.
var icebergBuild struct {
	once sync.Once
	dir  string
	err  error
}

// icebergBin builds pg2s3-iceberg from ../pg2s3-iceberg and points
// $PG2S3_ICEBERG_BIN at it, so that pg2s3 materialize and the demo run in
// this test process reach it as they reach the one beside bin/pg2s3.
func icebergBin(t *testing.T) string {
	t.Helper()
	b := &icebergBuild
	b.once.Do(func() {
		if b.dir, b.err = os.MkdirTemp("", "pg2s3-iceberg-"); b.err != nil {
			return
		}
		bin := filepath.Join(b.dir, icebergBinary)
		out, err := exec.Command("go", "build", "-o", bin, "../pg2s3-iceberg").CombinedOutput()
		if err != nil {
			b.err = &buildError{err, out}
			return
		}
		b.err = os.Setenv(icebergBinEnv, bin)
	})
	if b.err != nil {
		t.Fatalf("build pg2s3-iceberg: %v", b.err)
	}
	return os.Getenv(icebergBinEnv)
}

type buildError struct {
	err error
	out []byte
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + string(e.out) }

func removeIcebergBin() {
	if icebergBuild.dir != "" {
		os.RemoveAll(icebergBuild.dir)
	}
}

// TestIcebergStaysOutOfTheCLI: pg2s3 links neither Iceberg nor Arrow
// (iceberg-go's init alone allocates 32 MB on every start); pg2s3-iceberg
// holds them.
func TestIcebergStaysOutOfTheCLI(t *testing.T) {
	for _, pkg := range []string{".", "../pg2s3-iceberg"} {
		heavy, err := testenv.Linked(pkg, "github.com/apache/arrow", "github.com/apache/iceberg-go")
		if err != nil {
			t.Fatal(err)
		}
		if pkg == "." && len(heavy) > 0 {
			t.Errorf("pg2s3 links %d Arrow/Iceberg packages, e.g. %s: move what needs them to cmd/pg2s3-iceberg", len(heavy), heavy[0])
		}
		if pkg != "." && len(heavy) == 0 {
			t.Errorf("pg2s3-iceberg links no Iceberg: the check looks at the wrong names")
		}
	}
}

// TestFindIceberg: $PG2S3_ICEBERG_BIN first, then the one beside the
// executable, then PATH; without one, an error that says what is missing
// and how to build it.
func TestFindIceberg(t *testing.T) {
	exeDir, pathDir, empty := t.TempDir(), t.TempDir(), t.TempDir()
	exe := filepath.Join(exeDir, "pg2s3")
	fake := func(dir string) string {
		p := filepath.Join(dir, icebergBinary)
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Setenv(icebergBinEnv, "")
	t.Setenv("PATH", empty)
	_, err := findIceberg(exe)
	if err == nil {
		t.Fatal("found a pg2s3-iceberg where there is none")
	}
	for _, want := range []string{icebergBinary, filepath.Join(exeDir, icebergBinary), "PATH", "make build", "./bin", icebergBinEnv} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not say %q: %v", want, err)
		}
	}
	if _, err := findIceberg(""); err == nil || !strings.Contains(err.Error(), "not on PATH") {
		t.Errorf("without an executable's path: %v", err)
	}
	onPath := fake(pathDir)
	t.Setenv("PATH", empty+string(os.PathListSeparator)+pathDir)
	if got, err := findIceberg(exe); err != nil || got != onPath {
		t.Errorf("on PATH: %q, %v; want %s", got, err, onPath)
	}
	beside := fake(exeDir)
	if got, err := findIceberg(exe); err != nil || got != beside {
		t.Errorf("beside pg2s3 and on PATH: %q, %v; want the one beside, %s", got, err, beside)
	}
	t.Setenv(icebergBinEnv, onPath)
	if got, err := findIceberg(exe); err != nil || got != onPath {
		t.Errorf("with %s: %q, %v; want %s", icebergBinEnv, got, err, onPath)
	}
	t.Setenv(icebergBinEnv, filepath.Join(empty, "nope"))
	if _, err := findIceberg(exe); err == nil || !strings.Contains(err.Error(), icebergBinEnv) {
		t.Errorf("with %s naming nothing: %v", icebergBinEnv, err)
	}
	if err := os.Chmod(beside, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv(icebergBinEnv, "")
	if got, err := findIceberg(exe); err != nil || got != onPath {
		t.Errorf("beside but not executable: %q, %v; want the one on PATH, %s", got, err, onPath)
	}
}

// TestMaterializeWithoutIceberg: pg2s3 materialize without pg2s3-iceberg
// fails (exit status 1) saying what is missing and what to do.
func TestMaterializeWithoutIceberg(t *testing.T) {
	t.Setenv(icebergBinEnv, "")
	t.Setenv("PATH", t.TempDir())
	code, out, errOut := run("materialize", "--config", "config.json", "--warehouse", "lake", "--catalog-dsn", "postgres://localhost/x")
	if code != 1 || out != "" {
		t.Fatalf("exit %d, stdout %q; want 1 and nothing", code, out)
	}
	want := "pg2s3 materialize: this needs pg2s3-iceberg, the binary with pg2s3's Apache Iceberg commands"
	if !strings.HasPrefix(errOut, want) || !strings.Contains(errOut, "build it with `make build`, which puts it beside pg2s3 in ./bin") {
		t.Errorf("stderr %q", errOut)
	}
}

// TestMaterializeRunsIceberg: pg2s3 materialize is pg2s3-iceberg
// materialize: its help, its usage error and exit status 2, and the
// environment it reads ($PG2S3_ICEBERG_CATALOG_DSN), each passed through
// as if pg2s3 had run the command itself.
func TestMaterializeRunsIceberg(t *testing.T) {
	icebergBin(t)
	code, out, errOut := run("materialize", "-h")
	if code != 0 || !strings.HasPrefix(out+errOut, "usage: pg2s3 materialize --config config.json") || !strings.Contains(errOut, "-copy-on-write") {
		t.Errorf("help: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = run("materialize", "--config", "config.json")
	if code != 2 || out != "" || errOut != "pg2s3 materialize: give --warehouse and --catalog-dsn\n" {
		t.Errorf("usage error: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	missing := filepath.Join(t.TempDir(), "config.json")
	t.Setenv("PG2S3_ICEBERG_CATALOG_DSN", "postgres://localhost/x")
	code, _, errOut = run("materialize", "--config", missing, "--warehouse", t.TempDir())
	if code != 1 || !strings.HasPrefix(errOut, "pg2s3 materialize: ") || !strings.Contains(errOut, missing) {
		t.Errorf("with the catalog's DSN from the environment, a missing config: exit %d, stderr %q", code, errOut)
	}
}

// TestRunIcebergCancel: when pg2s3's context ends (SIGINT, SIGTERM),
// pg2s3-iceberg gets a SIGTERM and ends as it would on its own.
func TestRunIcebergCancel(t *testing.T) {
	bin := filepath.Join(t.TempDir(), icebergBinary)
	if err := os.WriteFile(bin, []byte("#!/bin/sh\ntrap 'echo terminated; exit 3' TERM\necho started\nwhile :; do sleep 0.05; done\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv(icebergBinEnv, bin)
	ctx, cancel := context.WithCancel(context.Background())
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- runIceberg(ctx, "pg2s3", []string{"materialize"}, w, &bytes.Buffer{}); w.Close() }()
	buf := make([]byte, 8)
	if n, err := r.Read(buf); err != nil || string(buf[:n]) != "started\n" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	cancel()
	if err := <-done; err == nil || err.Error() != "exit status 3" {
		t.Errorf("runIceberg after cancel: %v; want the script's exit status 3", err)
	}
	rest := new(bytes.Buffer)
	rest.ReadFrom(r)
	if rest.String() != "terminated\n" {
		t.Errorf("after started: %q", rest.String())
	}
}
