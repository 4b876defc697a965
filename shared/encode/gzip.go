package encode

import (
	"io"

	"github.com/klauspost/pgzip"
)

// GzipLines is a gzip JSON Lines writer that counts what it wrote. It
// compresses in parallel blocks (pgzip) so compression keeps up with the
// reader on a multi-core Lambda.
type GzipLines struct {
	zw    *pgzip.Writer
	cw    countWriter
	Rows  int64
	Plain int64 // uncompressed bytes
}

// NewGzipLines writes compressed lines to w.
func NewGzipLines(w io.Writer) *GzipLines {
	g := &GzipLines{cw: countWriter{w: w}}
	g.zw, _ = pgzip.NewWriterLevel(&g.cw, pgzip.BestSpeed) // level is valid
	g.zw.SetConcurrency(1<<20, 4)
	return g
}

// WriteLine writes one encoded row (ending in a newline).
func (g *GzipLines) WriteLine(line []byte) error {
	g.Rows++
	g.Plain += int64(len(line))
	_, err := g.zw.Write(line)
	return err
}

// Compressed returns the compressed bytes written so far (flushed blocks).
func (g *GzipLines) Compressed() int64 { return g.cw.n }

// Close flushes and ends the gzip stream (not the underlying writer).
func (g *GzipLines) Close() error { return g.zw.Close() }

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
