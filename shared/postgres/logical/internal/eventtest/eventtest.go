// Package eventtest prints decoded log events for the tests that compare
// them (decoder against decoder, scanner against encoding/json).
package eventtest

import (
	"fmt"
	"strings"

	"github.com/pg2s3/pg2s3/shared/postgres/internal/pg"
	"github.com/pg2s3/pg2s3/shared/record"
)

// Change prints a change in one line: its operation, table and values
// (long ones by their length).
func Change(c record.Change) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", c.Op, c.Table)
	for i, col := range c.Columns {
		v := c.Values[i]
		s := string(v.Text)
		switch {
		case v.Null:
			s = "NULL"
		case v.Unchanged:
			s = "UNCHANGED"
		case len(s) > 1000:
			s = fmt.Sprintf("<%d>", len(s))
		}
		fmt.Fprintf(&b, " %s=%s", col, s)
	}
	return b.String()
}

// Event prints every field of an event in one line.
func Event(e record.Event) string {
	return fmt.Sprintf("%s xid=%d commit=%s end=%s time=%d lsn=%s rel=%s.%s%v msg=%s/%q/%v change={%s lsn=%s commit=%s seq=%d time=%d}",
		e.Kind, e.XID, pg.FormatLSN(e.CommitLSN), pg.FormatLSN(e.EndLSN), e.CommitTimeMicros, pg.FormatLSN(e.LSN), e.Schema, e.Table, e.Columns,
		e.Prefix, e.Content, e.Transactional, Change(e.Change), pg.FormatLSN(e.Change.LSN), pg.FormatLSN(e.Change.CommitLSN), e.Change.Seq, e.Change.CommitTimeMicros)
}
