package logical

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pg2s3/pg2s3/shared/postgres/internal/pg"
)

// ErrPublicationPrivilege means the user may not create or change the
// publication pgoutput reads.
var ErrPublicationPrivilege = errors.New("not allowed to manage the publication")

// ensurePublication makes the publication called name publish exactly
// tables (schema, table pairs), or every table when all is set. It creates
// the publication when missing, changes its table list when the selection
// changed, and switches between FOR ALL TABLES and a list in one transaction
// (so a decoder never sees the publication missing).
//
// Create the publication before the slot: pgoutput looks publications up
// as of each change's position in the WAL.
//
// Where the server has publish_via_partition_root (13+; read from the
// catalog), the publication sets it: a partitioned table's changes then
// come under its own name whichever partition holds the row, partitions
// attached later included, as the decoder's table filter and the copy of
// the parent expect.
func ensurePublication(ctx context.Context, conn *pgx.Conn, name string, all bool, tables [][2]string) error {
	want := pg.UniqueTables(tables)
	viaRootCol, err := pg.HasPubViaRoot(ctx, conn)
	if err != nil {
		return err
	}
	var pubAll, viaRoot bool
	q := "SELECT puballtables, false FROM pg_publication WHERE pubname = $1"
	if viaRootCol {
		q = "SELECT puballtables, pubviaroot FROM pg_publication WHERE pubname = $1"
	}
	err = conn.QueryRow(ctx, q, name).Scan(&pubAll, &viaRoot)
	exists := err == nil
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("read publication %s: %w", name, err)
	}
	switch {
	case !exists:
		return execPublication(ctx, conn, name, all, pg.CreatePublicationSQL(name, all, want, viaRootCol))
	case pubAll != all:
		return recreatePublication(ctx, conn, name, all, want, viaRootCol)
	}
	if viaRootCol && !viaRoot {
		if err := setViaRoot(ctx, conn, name, all, want); err != nil {
			return err
		}
	}
	if all {
		return nil
	}
	have, err := publicationTables(ctx, conn, name)
	if err != nil {
		return err
	}
	if slices.Equal(have, want) {
		return nil
	}
	pub := pgx.Identifier{name}.Sanitize()
	sql := "ALTER PUBLICATION " + pub + " SET TABLE " + pg.TableList(want)
	if len(want) == 0 {
		sql = "ALTER PUBLICATION " + pub + " DROP TABLE " + pg.TableList(have)
	}
	if _, err := conn.Exec(ctx, sql); err != nil {
		missing := missingTables(have, want)
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "42501" && len(missing) == 0 {
			return nil // only deselected tables stay published: harmless, the drain skips them
		}
		if len(missing) > 0 {
			sql = pg.AddTablesSQL(name, missing) // what the user must ask for
		}
		return explainPublicationError(err, name, all, sql)
	}
	return nil
}

// missingTables returns the tables of want that have lacks.
func missingTables(have, want [][2]string) [][2]string {
	in := map[[2]string]bool{}
	for _, t := range have {
		in[t] = true
	}
	var out [][2]string
	for _, t := range want {
		if !in[t] {
			out = append(out, t)
		}
	}
	return out
}

// publicationTables lists the tables a publication publishes, sorted.
func publicationTables(ctx context.Context, conn *pgx.Conn, name string) ([][2]string, error) {
	rows, err := conn.Query(ctx, "SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = $1", name)
	if err != nil {
		return nil, fmt.Errorf("list publication %s: %w", name, err)
	}
	var out [][2]string
	for rows.Next() {
		var t [2]string
		if err := rows.Scan(&t[0], &t[1]); err != nil {
			return nil, fmt.Errorf("list publication %s: %w", name, err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list publication %s: %w", name, err)
	}
	return pg.UniqueTables(out), nil
}

func recreatePublication(ctx context.Context, conn *pgx.Conn, name string, all bool, want [][2]string, viaRoot bool) error {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("change publication %s: %w", name, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	drop := "DROP PUBLICATION " + pgx.Identifier{name}.Sanitize()
	create := pg.CreatePublicationSQL(name, all, want, viaRoot)
	both := drop + "; " + create
	if _, err := tx.Exec(ctx, drop); err != nil {
		return explainPublicationError(err, name, all, both)
	}
	if _, err := tx.Exec(ctx, create); err != nil {
		return explainPublicationError(err, name, all, both)
	}
	if err := tx.Commit(ctx); err != nil {
		return explainPublicationError(err, name, all, both)
	}
	return nil
}

// setViaRoot turns publish_via_partition_root on for an existing
// publication. A user who may not change it gets the statement to ask for
// only when a wanted table is partitioned: for plain tables it changes
// nothing.
func setViaRoot(ctx context.Context, conn *pgx.Conn, name string, all bool, want [][2]string) error {
	sql := "ALTER PUBLICATION " + pgx.Identifier{name}.Sanitize() + " SET (publish_via_partition_root = true)"
	_, err := conn.Exec(ctx, sql)
	var pgErr *pgconn.PgError
	if err == nil || !errors.As(err, &pgErr) || pgErr.Code != "42501" {
		if err != nil {
			return explainPublicationError(err, name, all, sql)
		}
		return nil
	}
	partitioned, perr := anyPartitioned(ctx, conn, want)
	if perr != nil || partitioned {
		return explainPublicationError(err, name, all, sql)
	}
	return nil
}

// anyPartitioned says whether one of tables is a partitioned table.
func anyPartitioned(ctx context.Context, conn *pgx.Conn, tables [][2]string) (bool, error) {
	for _, t := range tables {
		p, err := isPartitioned(ctx, conn, t[0], t[1])
		if err != nil || p {
			return p, err
		}
	}
	return false, nil
}

// isPartitioned says whether schema.table is a partitioned table (its
// rows live in partitions).
func isPartitioned(ctx context.Context, conn *pgx.Conn, schema, table string) (bool, error) {
	var p bool
	err := conn.QueryRow(ctx, `SELECT coalesce(bool_or(c.relkind = 'p'), false) FROM pg_class c
		JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2`, schema, table).Scan(&p)
	if err != nil {
		return false, fmt.Errorf("read the kind of %s: %w", pgx.Identifier{schema, table}.Sanitize(), err)
	}
	return p, nil
}

func execPublication(ctx context.Context, conn *pgx.Conn, name string, all bool, sql string) error {
	if _, err := conn.Exec(ctx, sql); err != nil {
		return explainPublicationError(err, name, all, sql)
	}
	return nil
}

func explainPublicationError(err error, name string, all bool, sql string) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42501" {
		who := "the publication's owner (who must also own the tables it adds) or a superuser"
		switch {
		case all:
			who = "a superuser (RDS: rds_superuser)"
		case strings.HasPrefix(sql, "CREATE"):
			who = "a user who owns the tables, or a superuser,"
		}
		return fmt.Errorf("publication %s: %w (%s): ask %s to run `%s;` (publish_all_tables with a FOR ALL TABLES publication created once avoids this for new tables), or use logical_plugin wal2json",
			name, ErrPublicationPrivilege, pgErr.Message, who, sql)
	}
	return fmt.Errorf("publication %s: %w", name, err)
}
