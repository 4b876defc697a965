package tables

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/pg2s3/pg2s3/shared/layout"
	"github.com/pg2s3/pg2s3/shared/record"
)

// Sample sizes for a range plan without usable statistics: about this
// many keys per range, within these bounds.
const (
	sampleKeysPerRange = 100
	minSampleKeys      = 1_000
	maxSampleKeys      = 200_000
)

// SplitKeys returns keys of s, in key order, strictly after after (nil:
// the start) and before upto (nil: the end), that cut that part of the key
// space into ranges of about rowsPerRange rows (at most
// layout.MaxRanges), and how it found them. The rows are the planner's
// estimate, or for a table never analysed a guess from its size on disk.
// It reads the server's statistics when they can: the histogram bounds of
// a single-column key (equal-frequency buckets, so a skewed distribution
// still cuts evenly). Otherwise (a composite key, a table never analysed,
// more ranges than buckets) it reads a TABLESAMPLE of the keys, sized from
// the rows, and sorts only that sample. It never counts or sorts the
// table.
func (src *Source) SplitKeys(ctx context.Context, s *record.Stream, rowsPerRange int64, after, upto []string) ([][]string, string, error) {
	if len(s.KeyColumns) == 0 || rowsPerRange <= 0 {
		return nil, "one range", nil
	}
	rows, how := s.RowEstimate, "TABLESAMPLE"
	if rows <= 0 {
		// Never analysed: reltuples says nothing. Guess the rows from the
		// table's size, and say so.
		var bytes int64
		err := src.conn.QueryRow(ctx, `WITH RECURSIVE t AS (SELECT $1::regclass::oid AS oid UNION ALL SELECT i.inhrelid FROM pg_inherits i JOIN t ON i.inhparent = t.oid)
SELECT coalesce(sum(pg_relation_size(oid)), 0)::bigint FROM t`, pgx.Identifier{s.Schema, s.Table}.Sanitize()).Scan(&bytes)
		if err != nil {
			return nil, "", explainScanError(s, err)
		}
		rows = max(bytes/64, 1) // a row takes at least a few dozen bytes on disk
		how = "TABLESAMPLE (no statistics: the table was never analysed; rows guessed from its size)"
	}
	n := int(min((rows+rowsPerRange-1)/rowsPerRange, layout.MaxRanges))
	if n <= 1 {
		return nil, fmt.Sprintf("one range (about %d rows)", rows), nil
	}
	if len(s.KeyColumns) == 1 && s.RowEstimate > 0 {
		keys, err := src.histogramKeys(ctx, s, after, upto)
		if err != nil {
			return nil, "", err
		}
		if len(keys) >= n-1 {
			return pick(keys, n), fmt.Sprintf("pg_stats histogram of %s (%d bounds)", s.KeyColumns[0], len(keys)), nil
		}
	}
	want := min(max(int64(n)*sampleKeysPerRange, minSampleKeys), maxSampleKeys)
	pct := min(100, max(0.0001, float64(want)*100/float64(rows)))
	keys, err := src.sampleKeys(ctx, s, pct, after, upto)
	if err != nil {
		return nil, "", err
	}
	return pick(keys, n), fmt.Sprintf("%s %s%% (%d keys)", how, strconv.FormatFloat(pct, 'g', 3, 64), len(keys)), nil
}

// histogramKeys returns the histogram bounds of s's single key column
// within (after, upto), in order and distinct.
func (src *Source) histogramKeys(ctx context.Context, s *record.Stream, after, upto []string) ([][]string, error) {
	col := s.KeyColumns[0]
	i := s.ColumnIndex(col)
	if i < 0 {
		return nil, fmt.Errorf("split %s: key column %q is not selected", s.ID, col)
	}
	typ := s.Columns[i].SQLType
	sql := `WITH b AS (SELECT DISTINCT v::` + typ + ` AS v FROM unnest((
  SELECT histogram_bounds::text::text[] FROM pg_stats WHERE schemaname = $1 AND tablename = $2 AND attname = $3
  ORDER BY inherited DESC LIMIT 1)) v)
SELECT v FROM b WHERE ($4::text IS NULL OR v > $4::text::` + typ + `) AND ($5::text IS NULL OR v < $5::text::` + typ + `) ORDER BY v`
	var lo, hi *string
	if len(after) == 1 {
		lo = &after[0]
	}
	if len(upto) == 1 {
		hi = &upto[0]
	}
	return src.keys(ctx, s, sql, []any{s.Schema, s.Table, col, lo, hi})
}

// sampleKeys returns the keys of a pct% TABLESAMPLE of s within
// (after, upto), sorted in key order.
func (src *Source) sampleKeys(ctx context.Context, s *record.Stream, pct float64, after, upto []string) ([][]string, error) {
	cols := make([]string, len(s.KeyColumns))
	for i, k := range s.KeyColumns {
		cols[i] = ident(k)
	}
	list := strings.Join(cols, ", ")
	args := []any{pct}
	var conds []string
	for _, bound := range []struct {
		vals []string
		op   string
	}{{after, ">"}, {upto, "<"}} {
		if len(bound.vals) != len(cols) {
			continue
		}
		var ps []string
		for _, v := range bound.vals {
			args = append(args, v)
			ps = append(ps, "$"+strconv.Itoa(len(args)))
		}
		conds = append(conds, "("+list+") "+bound.op+" ("+strings.Join(ps, ", ")+")")
	}
	sql := "SELECT " + list + " FROM " + pgx.Identifier{s.Schema, s.Table}.Sanitize() + " TABLESAMPLE SYSTEM ($1)"
	if len(conds) > 0 {
		sql += " WHERE " + strings.Join(conds, " AND ")
	}
	return src.keys(ctx, s, "SELECT * FROM ("+sql+") s ORDER BY "+list, args)
}

// keys runs a query of key columns and returns its rows in text form.
func (src *Source) keys(ctx context.Context, s *record.Stream, sql string, args []any) ([][]string, error) {
	rows, err := src.conn.Query(ctx, sql, append([]any{textResults}, args...)...)
	if err != nil {
		return nil, explainScanError(s, err)
	}
	defer rows.Close()
	var out [][]string
	for rows.Next() {
		var key []string
		for _, v := range rows.RawValues() {
			key = append(key, string(v))
		}
		out = append(out, key)
	}
	if err := rows.Err(); err != nil {
		return nil, explainScanError(s, err)
	}
	return out, nil
}

// pick returns up to n-1 keys that cut sorted into n parts of about equal
// size, without repeats.
func pick(sorted [][]string, n int) [][]string {
	var out [][]string
	if len(sorted) == 0 {
		return nil
	}
	for j := 1; j < n; j++ {
		k := sorted[j*len(sorted)/n]
		if len(out) == 0 || strings.Join(out[len(out)-1], "\x00") != strings.Join(k, "\x00") {
			out = append(out, k)
		}
	}
	return out
}
