package preflight

import (
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/pg2s3/pg2s3/shared/postgres/internal/pg"
	"github.com/pg2s3/pg2s3/shared/postgres/logical"
)

// logTables checks what a drain needs of the selected LOG_BASED tables:
// each is a table the log can identify rows of, and (pgoutput) the
// publication publishes them or the user may make it do so.
func (c *checker) logTables(tables [][2]string) {
	for _, t := range tables {
		name := pgx.Identifier{t[0], t[1]}.Sanitize()
		var kind, ident string
		var hasKey bool
		err := c.conn.QueryRow(c.ctx, `
SELECT c.relkind::text, c.relreplident::text,
       EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relname = $2`, t[0], t[1]).Scan(&kind, &ident, &hasKey)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			continue // the select check already says it is missing
		case err != nil:
			c.failed("log_based "+name, "read "+name, err)
		case kind == "v" || kind == "m":
			c.add("log_based "+name, false, name+" is a view: views are not in the log", "replicate it FULL_TABLE or INCREMENTAL")
		case !hasKey && ident != "f":
			c.add("log_based "+name, false, name+" has no primary key and REPLICA IDENTITY is not FULL: the log cannot say which row an update or delete changed",
				fmt.Sprintf("ALTER TABLE %s REPLICA IDENTITY FULL (or add a primary key, or replicate it FULL_TABLE)", name))
		case kind == "p" && c.settings.Log.Plugin != "pgoutput":
			c.add("log_based "+name, false, name+" is a partitioned table: wal2json names each change by its partition, so pg2s3 cannot follow it exactly",
				"set logical_plugin pgoutput (PostgreSQL 13+; a new slot: pg2s3 reset --slot --confirm), or replicate it FULL_TABLE or INCREMENTAL")
		default:
			c.add("log_based "+name, true, name+" can be followed in the log", "")
		}
	}
	if c.settings.Log.Plugin == "pgoutput" && len(tables) > 0 {
		c.publication(tables)
	}
}

// publication checks that the pgoutput publication covers tables, or that
// the first drain can make it do so.
func (c *checker) publication(tables [][2]string) {
	name := c.settings.Log.Publication
	var exists, all, ownsPub bool
	err := c.conn.QueryRow(c.ctx, `
SELECT count(*) > 0, coalesce(bool_or(puballtables), false), coalesce(bool_or(pg_has_role(current_user, pubowner, 'USAGE')), false)
FROM pg_publication WHERE pubname = $1`, name).Scan(&exists, &all, &ownsPub)
	if err != nil {
		c.failed("publication", "read publication "+name, err)
		return
	}
	if exists && all {
		c.add("publication", true, fmt.Sprintf("publication %s publishes all tables", name), "")
		return
	}
	have := map[[2]string]bool{}
	if exists {
		published, err := logical.New(c.db, c.settings.Log).PublishedTables(c.ctx)
		if err != nil {
			c.failed("publication", "read publication "+name, err)
			return
		}
		for _, t := range published {
			have[t] = true
		}
	}
	var missing [][2]string
	ownsAll := true
	for _, t := range tables {
		if have[t] {
			continue
		}
		missing = append(missing, t)
		var owns bool
		err := c.conn.QueryRow(c.ctx, `SELECT coalesce(pg_has_role(current_user, c.relowner, 'USAGE'), false)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2`, t[0], t[1]).Scan(&owns)
		ownsAll = ownsAll && err == nil && owns
	}
	switch {
	case len(missing) == 0:
		c.add("publication", true, fmt.Sprintf("publication %s publishes the %d log-based tables", name, len(tables)), "")
	case c.super || ownsAll && (!exists || ownsPub):
		verb := "creates"
		if exists {
			verb = "adds " + pg.TableList(missing) + " to"
		}
		c.add("publication", true, fmt.Sprintf("the first drain %s publication %s", verb, name), "")
	default:
		viaRoot, _ := pg.HasPubViaRoot(c.ctx, c.conn)
		sql := pg.CreatePublicationSQL(name, false, pg.UniqueTables(tables), viaRoot)
		what := "does not exist"
		if exists {
			sql = pg.AddTablesSQL(name, missing)
			what = "lacks " + pg.TableList(missing)
		}
		who := "as a user who owns the tables, or a superuser,"
		if exists {
			who = "as the publication's owner (who must also own the tables) or a superuser,"
		}
		c.add("publication", false, fmt.Sprintf("publication %s %s, and user %s may not change it (it must own the tables and the publication)", name, what, c.settings.Log.Conn.User),
			fmt.Sprintf("%s in database %s: %s; (or a FOR ALL TABLES publication with publish_all_tables, or logical_plugin wal2json)", who, c.settings.Log.Conn.DBName, strings.TrimSpace(sql)))
	}
}
