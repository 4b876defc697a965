package tables

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/pg2s3/pg2s3/shared/catalog"
)

// relation is one pg_class row that becomes a stream.
type relation struct {
	OID      uint32
	Schema   string
	Name     string
	Kind     byte
	RowCount int64
	PKAttnum []int16 // primary key attnums in key order
	Readable bool    // SELECT on the table and USAGE on its schema
}

// relationsSQL lists tables, views, materialized views and partitioned
// tables (not partitions) outside the system schemas. A partitioned table's
// row count is the sum of its partitions' estimates (its own is -1 or 0).
const relationsSQL = `
SELECT c.oid, n.nspname, c.relname, c.relkind::text,
  (CASE WHEN c.relkind = 'p' THEN
     COALESCE((SELECT sum(GREATEST(p.reltuples, 0)) FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhrelid
               WHERE i.inhparent = c.oid), 0)
   ELSE GREATEST(c.reltuples, 0) END)::bigint,
  COALESCE((SELECT x.indkey::int2[] FROM pg_index x WHERE x.indrelid = c.oid AND x.indisprimary), '{}'::int2[]),
  has_schema_privilege(n.oid, 'USAGE') AND has_table_privilege(c.oid, 'SELECT')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'v', 'm', 'p') AND NOT c.relispartition
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\_toast%' AND n.nspname NOT LIKE 'pg\_temp\_%'
  AND ($1::text[] IS NULL OR n.nspname = ANY($1::text[]))
  AND ($2::text IS NULL OR c.relname = $2::text)
ORDER BY n.nspname COLLATE "C", c.relname COLLATE "C"`

// columnsSQL reads the columns of the given relations with each type
// resolved through domains (on the column and on an array's element) and
// arrays: the base type's name, schema, typtype and the typmod that applies
// (the column's, else the innermost domain's that declares one).
const columnsSQL = `
WITH RECURSIVE cols AS (
  SELECT a.attrelid, a.attnum, a.attname, a.attndims, a.atttypid, a.atttypmod
  FROM pg_attribute a
  WHERE a.attrelid = ANY($1::oid[]) AND a.attnum > 0 AND NOT a.attisdropped
), res AS (
  SELECT DISTINCT atttypid AS start_oid, atttypmod AS start_mod, atttypid AS oid, atttypmod AS mod, false AS arr, 0 AS depth
  FROM cols
  UNION ALL
  SELECT r.start_oid, r.start_mod,
    CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.typelem END,
    CASE WHEN t.typtype = 'd' AND r.mod = -1 THEN t.typtypmod ELSE r.mod END,
    r.arr OR t.typtype <> 'd', r.depth + 1
  FROM res r JOIN pg_type t ON t.oid = r.oid
  WHERE r.depth < 32
    AND (t.typtype = 'd' OR (NOT r.arr AND t.typcategory = 'A' AND t.typelem <> 0 AND t.typlen = -1))
), fin AS (
  SELECT DISTINCT ON (start_oid, start_mod) start_oid, start_mod, oid, mod, arr
  FROM res ORDER BY start_oid, start_mod, depth DESC
)
SELECT c.attrelid, c.attnum, c.attname, format_type(c.atttypid, NULL), format_type(c.atttypid, c.atttypmod),
  c.attndims, f.arr, b.typname, bn.nspname, b.typtype::text, f.mod
FROM cols c
JOIN fin f ON f.start_oid = c.atttypid AND f.start_mod = c.atttypmod
JOIN pg_type b ON b.oid = f.oid
JOIN pg_namespace bn ON bn.oid = b.typnamespace
ORDER BY c.attrelid, c.attnum`

// Discover reads the catalog of the database: one stream per table, view,
// materialized view and partitioned table in every non-system schema (or
// only the settings' Schemas), ordered by schema and table. Like
// tap-postgres it lists only what the user may read (USAGE on the schema,
// SELECT on the table); it fails when that leaves nothing, since then the
// user lacks privileges. Row counts are pg_class.reltuples estimates,
// never count(*). It needs PostgreSQL 10 or later.
func (src *Source) Discover(ctx context.Context) (*catalog.Catalog, error) {
	rels, err := readRelations(ctx, src.conn, src.settings.Schemas, nil)
	if err != nil {
		return nil, err
	}
	readable := rels[:0:0]
	for _, r := range rels {
		if r.Readable {
			readable = append(readable, r)
		}
	}
	if len(readable) == 0 {
		return nil, noTablesError(ctx, src.conn, src.settings.Database, src.settings.Schemas, len(rels))
	}
	tables, err := readTables(ctx, src.conn, src.settings.Database, readable)
	if err != nil {
		return nil, err
	}
	cat := &catalog.Catalog{Streams: make([]*catalog.Stream, 0, len(tables))}
	for _, t := range tables {
		cat.Streams = append(cat.Streams, catalog.NewStream(t))
	}
	return cat, nil
}

func noTablesError(ctx context.Context, conn *pgx.Conn, dbname string, filterSchemas []string, unreadable int) error {
	where := "any schema"
	if len(filterSchemas) > 0 {
		where = "schemas " + strings.Join(filterSchemas, ", ")
	}
	var user string
	_ = conn.QueryRow(ctx, "SELECT current_user").Scan(&user)
	if unreadable > 0 {
		return fmt.Errorf("discover %s: user %q may read none of the %d tables in %s: GRANT USAGE ON SCHEMA <schema> TO %s; GRANT SELECT ON ALL TABLES IN SCHEMA <schema> TO %s",
			dbname, user, unreadable, where, pgx.Identifier{user}.Sanitize(), pgx.Identifier{user}.Sanitize())
	}
	return fmt.Errorf("discover %s: no tables, views or materialized views in %s: check dbname and filter_schemas", dbname, where)
}

// Unreadable counts the tables, views and materialized views Discover
// would list if the user could read them all, and names those it may not
// read (no SELECT on them, or no USAGE on their schema).
func (src *Source) Unreadable(ctx context.Context) (all int, unreadable [][2]string, err error) {
	rels, err := readRelations(ctx, src.conn, src.settings.Schemas, nil)
	if err != nil {
		return 0, nil, err
	}
	for _, r := range rels {
		if !r.Readable {
			unreadable = append(unreadable, [2]string{r.Schema, r.Name})
		}
	}
	return len(rels), unreadable, nil
}

// readRelations runs relationsSQL; name limits it to one relation name.
func readRelations(ctx context.Context, conn *pgx.Conn, schemas []string, name *string) ([]relation, error) {
	var schemaArg any
	if len(schemas) > 0 {
		schemaArg = schemas
	}
	rows, err := conn.Query(ctx, relationsSQL, schemaArg, name)
	if err != nil {
		return nil, fmt.Errorf("list relations: %w", err)
	}
	var rels []relation
	for rows.Next() {
		var r relation
		var kind string
		if err := rows.Scan(&r.OID, &r.Schema, &r.Name, &kind, &r.RowCount, &r.PKAttnum, &r.Readable); err != nil {
			rows.Close()
			return nil, fmt.Errorf("list relations: %w", err)
		}
		r.Kind = kind[0]
		rels = append(rels, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list relations: %w", err)
	}
	// Byte order regardless of the server's collation.
	sort.SliceStable(rels, func(i, j int) bool {
		if rels[i].Schema != rels[j].Schema {
			return rels[i].Schema < rels[j].Schema
		}
		return rels[i].Name < rels[j].Name
	})
	return rels, nil
}

// readTables reads the columns of rels in one query and builds their
// catalog.Table descriptions, in the order of rels.
func readTables(ctx context.Context, conn *pgx.Conn, dbname string, rels []relation) ([]catalog.Table, error) {
	oids := make([]uint32, len(rels))
	byOID := make(map[uint32]int, len(rels))
	tables := make([]catalog.Table, len(rels))
	pk := make([]map[int16]int, len(rels)) // attnum -> key position
	for i, r := range rels {
		oids[i] = r.OID
		byOID[r.OID] = i
		tables[i] = catalog.Table{Database: dbname, Schema: r.Schema, Name: r.Name, Kind: r.Kind, RowCount: r.RowCount,
			KeyColumns: make([]string, len(r.PKAttnum))}
		pk[i] = map[int16]int{}
		for pos, n := range r.PKAttnum {
			pk[i][n] = pos
		}
	}
	rows, err := conn.Query(ctx, columnsSQL, oids)
	if err != nil {
		return nil, fmt.Errorf("read columns: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			relid        uint32
			attnum       int16
			c            catalog.ColumnInfo
			ndims        int32
			isArray      bool
			typtype      string
			typmod       int32
			typeWithMods string
		)
		if err := rows.Scan(&relid, &attnum, &c.Name, &c.Type, &typeWithMods, &ndims, &isArray, &c.Base, &c.BaseSchema, &typtype, &typmod); err != nil {
			return nil, fmt.Errorf("read columns: %w", err)
		}
		i, ok := byOID[relid]
		if !ok {
			continue
		}
		c.SQLType, c.BaseTypType, c.Typmod = typeWithMods, typtype[0], typmod
		if isArray {
			c.Dims = max(int(ndims), 1)
		}
		if pos, ok := pk[i][attnum]; ok {
			c.PrimaryKey = true
			tables[i].KeyColumns[pos] = c.Name
		}
		tables[i].Columns = append(tables[i].Columns, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read columns: %w", err)
	}
	return tables, nil
}
