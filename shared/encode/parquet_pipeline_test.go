package encode

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pg2s3/pg2s3/shared/record"
)

var pipeStream = &record.Stream{ID: "db-public-p", Table: "p", Columns: []record.Column{
	{Name: "id", SQLType: "bigint", Kind: record.KindInteger},
	{Name: "s", SQLType: "text", Kind: record.KindString},
}}

// guardWriter fails writes after limit bytes, and writes after closed is
// set are a test failure.
type guardWriter struct {
	t      *testing.T
	n      int64
	limit  int64
	closed atomic.Bool
}

func (g *guardWriter) Write(p []byte) (int, error) {
	if g.closed.Load() {
		g.t.Error("a write after Abort returned")
	}
	if g.limit > 0 && g.n+int64(len(p)) > g.limit {
		return 0, errors.New("disk full")
	}
	g.n += int64(len(p))
	return len(p), nil
}

func pipeRow(i int) [][]byte {
	return [][]byte{[]byte(fmt.Sprint(i)), []byte(strings.Repeat(fmt.Sprintf("%x", i*7919), 20))}
}

var pipeMeta = Meta{ExtractedAt: "2024-01-01T00:00:00.000000Z", BatchedAt: "2024-01-01T00:00:00.000000Z", TableVersion: 1}

// TestParquetAbortStopsTheWriter: rows are written on a goroutine of the
// writer's own; Abort ends it, and nothing writes to the output after
// Abort returns (the object writer is aborted next).
func TestParquetAbortStopsTheWriter(t *testing.T) {
	before := runtime.NumGoroutine()
	out := &guardWriter{t: t}
	w, err := NewParquetLines(out, pipeStream)
	if err != nil {
		t.Fatal(err)
	}
	w.RowGroupBytes = 64 << 10
	for i := range 50000 {
		if err := w.WriteRow(pipeRow(i), &pipeMeta); err != nil {
			t.Fatal(err)
		}
	}
	w.Abort()
	out.closed.Store(true)
	if err := w.WriteRow(pipeRow(0), &pipeMeta); err == nil {
		t.Error("a row after Abort: no error")
	}
	time.Sleep(50 * time.Millisecond)
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines after Abort, %d before", n, before)
	}
}

// TestParquetWriteErrorSurfaces: an error of the output, met by the
// writer's goroutine, is returned by a later row or by Close, and Close
// still ends the goroutine.
func TestParquetWriteErrorSurfaces(t *testing.T) {
	before := runtime.NumGoroutine()
	w, err := NewParquetLines(&guardWriter{t: t, limit: 100 << 10}, pipeStream)
	if err != nil {
		t.Fatal(err)
	}
	w.RowGroupBytes = 16 << 10
	for i := 0; err == nil && i < 100000; i++ {
		err = w.WriteRow(pipeRow(i), &pipeMeta)
	}
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("error %v, want the output's", err)
	}
	time.Sleep(50 * time.Millisecond)
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines after Close, %d before", n, before)
	}
}

// TestGzipAbortStopsTheWriter: pgzip writes compressed blocks from its own
// goroutines; once Abort returns nothing more reaches the object.
func TestGzipAbortStopsTheWriter(t *testing.T) {
	out := &guardWriter{t: t}
	g := NewGzipLines(out)
	line := []byte(strings.Repeat("0123456789abcdef", 64) + "\n")
	for range 8000 { // several 1 MiB blocks in flight
		if err := g.WriteLine(line); err != nil {
			t.Fatal(err)
		}
	}
	g.Abort()
	out.closed.Store(true)
	time.Sleep(50 * time.Millisecond) // a block still compressing would write now
	g.Abort()                         // twice is harmless
}
