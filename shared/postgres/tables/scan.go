package tables

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/pg2s3/pg2s3/shared/layout"
	"github.com/pg2s3/pg2s3/shared/record"
)

// Pages are read in text form (the server's output functions, under
// canonical session settings), so values reach the encoder without
// decoding.

// fetchSize is the rows per FETCH of a cursor scan. FETCH results are
// buffered by the server before they are sent, so small fetches are
// fastest: measured on 1M mixed rows, 1000 rows per FETCH ran as fast as a
// plain query, 10000 took twice as long.
const fetchSize = 1000

var textResults = pgx.QueryResultFormats{pgx.TextFormatCode}

// Scan runs one ordered read. A page with a limit over a key is one
// statement (an index range scan), streamed: the server sends while the
// caller encodes. Without a limit the read goes through a cursor in a
// read-only repeatable read transaction, fetched in chunks: memory stays
// bounded whatever the table size. The callback can stop either early
// (record.ErrStopPage).
func (src *Source) Scan(ctx context.Context, q record.PageQuery, fn func(row [][]byte) error) error {
	sql, args, err := pageSQL(q)
	if err != nil {
		return err
	}
	if q.Limit > 0 && len(q.Stream.KeyColumns) > 0 {
		return src.direct(ctx, q.Stream, sql, args, fn)
	}
	return src.cursor(ctx, q.Stream, sql, args, fn)
}

func (src *Source) direct(ctx context.Context, s *record.Stream, sql string, args []any, fn func([][]byte) error) error {
	rows, err := src.conn.Query(ctx, sql, append([]any{textResults}, args...)...)
	if err != nil {
		return explainScanError(s, err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows.RawValues()); err != nil {
			if errors.Is(err, record.ErrStopPage) {
				rows.Close()
				return rows.Err()
			}
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return explainScanError(s, err)
	}
	return nil
}

func (src *Source) cursor(ctx context.Context, s *record.Stream, sql string, args []any, fn func([][]byte) error) error {
	tx, err := src.conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return fmt.Errorf("scan %s: begin: %w", s.ID, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	// A cursor is planned for a fast start (an index scan in key order, no
	// sort of the whole table before the first row).
	if _, err := tx.Exec(ctx, "DECLARE pg2s3_scan NO SCROLL CURSOR FOR "+sql, args...); err != nil {
		return explainScanError(s, err)
	}
	fetch := "FETCH FORWARD " + strconv.Itoa(fetchSize) + " FROM pg2s3_scan"
	for {
		rows, err := tx.Query(ctx, fetch, textResults)
		if err != nil {
			return explainScanError(s, err)
		}
		n := 0
		for rows.Next() {
			n++
			if err := fn(rows.RawValues()); err != nil {
				rows.Close()
				if errors.Is(err, record.ErrStopPage) {
					return nil
				}
				return err
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return explainScanError(s, err)
		}
		if n == 0 {
			return nil
		}
	}
}

// MaxKey returns the largest primary key of s in text form (nil: empty).
func (src *Source) MaxKey(ctx context.Context, s *record.Stream) ([]string, error) {
	if len(s.KeyColumns) == 0 {
		return nil, nil
	}
	var cols, desc []string
	for _, k := range s.KeyColumns {
		cols = append(cols, ident(k))
		desc = append(desc, ident(k)+" DESC")
	}
	sql := "SELECT " + strings.Join(cols, ", ") + " FROM " + pgx.Identifier{s.Schema, s.Table}.Sanitize() +
		" ORDER BY " + strings.Join(desc, ", ") + " LIMIT 1"
	rows, err := src.conn.Query(ctx, sql, textResults)
	if err != nil {
		return nil, explainScanError(s, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		for _, v := range rows.RawValues() {
			out = append(out, string(v))
		}
	}
	if err := rows.Err(); err != nil {
		return nil, explainScanError(s, err)
	}
	return out, nil
}

// pageSQL builds the page query from quoted identifiers and bound
// parameters (text values that the server casts to the columns' types).
func pageSQL(q record.PageQuery) (string, []any, error) {
	s := q.Stream
	if len(s.Columns) == 0 {
		return "", nil, fmt.Errorf("stream %s selects no columns", s.ID)
	}
	var b strings.Builder
	b.WriteString("SELECT ")
	for i, c := range s.Columns {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(ident(c.Name))
	}
	b.WriteString(" FROM ")
	b.WriteString(pgx.Identifier{s.Schema, s.Table}.Sanitize())
	var args []any
	param := func(v string) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	keys := s.KeyColumns
	var order []string
	switch s.Method {
	case layout.Incremental:
		rk := ident(s.ReplicationKey)
		order = append([]string{s.ReplicationKey}, keys...)
		b.WriteString(" WHERE " + rk + " IS NOT NULL")
		switch {
		case q.From == nil:
		case len(keys) > 0 && len(q.After) == len(keys):
			lhs, rhs := []string{rk}, []string{param(*q.From)}
			for i, k := range keys {
				lhs = append(lhs, ident(k))
				rhs = append(rhs, param(q.After[i]))
			}
			b.WriteString(" AND (" + strings.Join(lhs, ", ") + ") > (" + strings.Join(rhs, ", ") + ")")
		default:
			b.WriteString(" AND " + rk + " >= " + param(*q.From))
		}
	default:
		order = keys
		var conds []string
		for _, bound := range []struct {
			vals []string
			op   string
		}{{q.After, ">"}, {q.Upto, "<="}} {
			if len(bound.vals) == 0 {
				continue
			}
			if len(bound.vals) != len(keys) {
				return "", nil, fmt.Errorf("stream %s: bookmark holds %d key values but the primary key has %d columns (%s): the primary key changed; reset the stream", s.ID, len(bound.vals), len(keys), strings.Join(keys, ", "))
			}
			var lhs, rhs []string
			for i, k := range keys {
				lhs = append(lhs, ident(k))
				rhs = append(rhs, param(bound.vals[i]))
			}
			conds = append(conds, "("+strings.Join(lhs, ", ")+") "+bound.op+" ("+strings.Join(rhs, ", ")+")")
		}
		if len(conds) > 0 {
			b.WriteString(" WHERE " + strings.Join(conds, " AND "))
		}
	}
	if len(order) > 0 {
		b.WriteString(" ORDER BY ")
		for i, k := range order {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(ident(k))
		}
	}
	if q.Limit > 0 && len(keys) > 0 {
		b.WriteString(" LIMIT " + strconv.Itoa(q.Limit))
	}
	return b.String(), args, nil
}

func ident(name string) string { return pgx.Identifier{name}.Sanitize() }

func explainScanError(s *record.Stream, err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "SQLSTATE 42P01"):
		return fmt.Errorf("read %s: table %s.%s no longer exists: run discover again and update the catalog", s.ID, s.Schema, s.Table)
	case strings.Contains(msg, "SQLSTATE 42501"):
		return fmt.Errorf("read %s: permission denied: GRANT SELECT ON %s TO the replication user", s.ID, pgx.Identifier{s.Schema, s.Table}.Sanitize())
	case strings.Contains(msg, "SQLSTATE 42703"):
		return fmt.Errorf("read %s: a selected column no longer exists (%v): run discover again", s.ID, err)
	case strings.Contains(msg, "SQLSTATE 22P02"), strings.Contains(msg, "SQLSTATE 22007"), strings.Contains(msg, "SQLSTATE 22008"):
		return fmt.Errorf("read %s: the bookmark's key value does not fit the column's type (%v): the key's type changed; reset the stream", s.ID, err)
	}
	return fmt.Errorf("read %s: %w", s.ID, err)
}
