package pg

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
)

// The statements a publication is made and extended with: run by a drain,
// or shown to a person who may run them.

// CreatePublicationSQL creates publication name for tables (or FOR ALL
// TABLES), with publish_via_partition_root when viaRoot.
func CreatePublicationSQL(name string, all bool, tables [][2]string, viaRoot bool) string {
	sql := "CREATE PUBLICATION " + pgx.Identifier{name}.Sanitize()
	switch {
	case all:
		sql += " FOR ALL TABLES"
	case len(tables) > 0:
		sql += " FOR TABLE " + TableList(tables)
	}
	if viaRoot {
		sql += " WITH (publish_via_partition_root = true)"
	}
	return sql
}

// AddTablesSQL adds tables to publication name.
func AddTablesSQL(name string, tables [][2]string) string {
	return "ALTER PUBLICATION " + pgx.Identifier{name}.Sanitize() + " ADD TABLE " + TableList(tables)
}

// HasPubViaRoot says whether publications take publish_via_partition_root
// on this server (its catalog has the column).
func HasPubViaRoot(ctx context.Context, conn *pgx.Conn) (bool, error) {
	var ok bool
	err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_attribute
		WHERE attrelid = 'pg_catalog.pg_publication'::regclass AND attname = 'pubviaroot' AND NOT attisdropped)`).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("read pg_publication's columns: %w", err)
	}
	return ok, nil
}

// TableList names (schema, table) pairs as SQL does, comma-separated.
func TableList(ts [][2]string) string {
	parts := make([]string, len(ts))
	for i, t := range ts {
		parts[i] = pgx.Identifier{t[0], t[1]}.Sanitize()
	}
	return strings.Join(parts, ", ")
}

// UniqueTables returns ts sorted, each pair once.
func UniqueTables(ts [][2]string) [][2]string {
	out := append([][2]string(nil), ts...)
	sort.Slice(out, func(i, j int) bool {
		if out[i][0] != out[j][0] {
			return out[i][0] < out[j][0]
		}
		return out[i][1] < out[j][1]
	})
	n := 0
	for i, t := range out {
		if i == 0 || t != out[n-1] {
			out[n] = t
			n++
		}
	}
	return out[:n]
}
