// Package tables reads a database's tables for pg2s3: discovery into a
// Singer catalog, resolving a catalog's selections against the live
// tables, and reading ordered pages of rows in text form. A Source does
// all three over one query connection opened by package connect.
package tables

import (
	"github.com/jackc/pgx/v5"
	"github.com/pg2s3/pg2s3/shared/config"
	"github.com/pg2s3/pg2s3/shared/postgres/connect"
	"github.com/pg2s3/pg2s3/shared/postgres/internal/pg"
)

// Settings say which tables a Source discovers.
type Settings struct {
	// Database is the name the catalog's streams carry (dbname).
	Database string
	// Schemas limits discovery to these schemas (filter_schemas); empty
	// means every schema but the system ones.
	Schemas []string
}

// FromConfig takes the settings of c: its dbname and filter_schemas.
func FromConfig(c *config.Config) Settings {
	return Settings{Database: c.DBName, Schemas: c.FilterSchemas}
}

// Source reads a database's tables over one query connection, which it
// may share with other packages of shared/postgres: it does not close it.
type Source struct {
	conn     *pgx.Conn
	settings Settings
}

// New reads through conn.
func New(conn *connect.Conn, s Settings) *Source {
	return &Source{conn: pg.PGX(conn), settings: s}
}
