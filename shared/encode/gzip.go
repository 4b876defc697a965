package encode

import (
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/pgzip"
	"github.com/pg2s3/pg2s3/shared/layout"
	"github.com/pg2s3/pg2s3/shared/record"
)

// LineWriter writes a batch's encoded rows (JSON lines from RowEncoder) in
// one output format. Close ends the format (the gzip trailer, the Parquet
// footer), not the underlying writer.
type LineWriter interface {
	// WriteLine writes one encoded row (ending in a newline). The line may
	// be reused by the caller once WriteLine returns.
	WriteLine(line []byte) error
	Close() error
	// PlainBytes returns the JSON bytes written so far (the batch budget
	// counts these, whatever the format).
	PlainBytes() int64
}

// NewLineWriter returns the writer of format ("" is jsonl) for stream s's
// rows, writing to w.
func NewLineWriter(format layout.Format, w io.Writer, s *record.Stream) (LineWriter, error) {
	switch format {
	case layout.JSONL, "":
		return NewGzipLines(w), nil
	case layout.Parquet:
		return NewParquetLines(w, s)
	}
	return nil, fmt.Errorf("output format %q is unknown: use %s or %s", format, layout.JSONL, layout.Parquet)
}

// ContentType returns the data object content type of format.
func ContentType(format layout.Format) string {
	if format == layout.Parquet {
		return "application/vnd.apache.parquet"
	}
	return "application/x-ndjson"
}

// GzipLines is a gzip JSON Lines writer that counts what it wrote. It
// compresses in parallel blocks (pgzip) so compression keeps up with the
// reader on a multi-core Lambda.
type GzipLines struct {
	zw    *pgzip.Writer
	cw    countWriter
	Rows  int64
	Plain int64 // uncompressed bytes
}

// gzipWriters keeps the compressors of closed objects for the next ones.
// A pgzip writer allocates its 1 MiB blocks and flate state from pools of
// its own: made anew per object, a copy of many batches leaves ~14 MB of
// garbage per object, and the peak RSS grew with the table (the GC lets
// the heap reach twice what it keeps). Reused, it stays flat.
var gzipWriters sync.Pool

// NewGzipLines writes compressed lines to w.
func NewGzipLines(w io.Writer) *GzipLines {
	g := &GzipLines{cw: countWriter{w: w}}
	if zw, ok := gzipWriters.Get().(*pgzip.Writer); ok {
		zw.Reset(&g.cw)
		g.zw = zw
	} else {
		g.zw, _ = pgzip.NewWriterLevel(&g.cw, pgzip.BestSpeed) // level is valid
	}
	g.zw.SetConcurrency(1<<20, 4) // keeps the pooled blocks: their size is the same
	return g
}

// WriteLine writes one encoded row (ending in a newline).
func (g *GzipLines) WriteLine(line []byte) error {
	g.Rows++
	g.Plain += int64(len(line))
	_, err := g.zw.Write(line)
	return err
}

// PlainBytes returns the uncompressed bytes written so far.
func (g *GzipLines) PlainBytes() int64 { return g.Plain }

// Compressed returns the compressed bytes written so far (flushed blocks).
func (g *GzipLines) Compressed() int64 { return g.cw.n }

// Close flushes and ends the gzip stream (not the underlying writer). The
// compressor goes back to the pool for the next object; one whose stream
// failed is dropped.
func (g *GzipLines) Close() error {
	if g.zw == nil {
		return nil
	}
	err := g.zw.Close()
	if err == nil {
		gzipWriters.Put(g.zw)
	}
	g.zw = nil
	return err
}

// Abort ends the stream of an object about to be dropped: pgzip writes
// compressed blocks from goroutines of its own, so it is closed first
// (its last blocks go to the object, which is dropped anyway) and nothing
// writes to the object once Abort returns.
func (g *GzipLines) Abort() {
	if g.zw == nil {
		return
	}
	if g.zw.Close() == nil {
		gzipWriters.Put(g.zw)
	}
	g.zw = nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
