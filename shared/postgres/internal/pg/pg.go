// Package pg holds what the packages under shared/postgres share and
// nothing outside them may reach: the pgx connections behind connect's
// handles, how to tell the server's refusal of an output plugin, and the
// text of WAL positions and SQL literals they all write.
package pg

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Conn is an open query connection (connect.Conn outside this folder,
// where it can only be closed).
type Conn struct{ c *pgx.Conn }

// NewConn wraps c.
func NewConn(c *pgx.Conn) *Conn { return &Conn{c: c} }

// PGX returns the pgx connection of c.
func PGX(c *Conn) *pgx.Conn { return c.c }

// Close closes the connection.
func (c *Conn) Close(ctx context.Context) { c.c.Close(ctx) }

// ReplicationConn is an open logical replication connection
// (connect.ReplicationConn outside this folder).
type ReplicationConn struct{ c *pgconn.PgConn }

// NewReplicationConn wraps c.
func NewReplicationConn(c *pgconn.PgConn) *ReplicationConn { return &ReplicationConn{c: c} }

// PgConn returns the pgconn connection of c.
func PgConn(c *ReplicationConn) *pgconn.PgConn { return c.c }

// Close closes the connection.
func (c *ReplicationConn) Close(ctx context.Context) error { return c.c.Close(ctx) }

// IsPluginRefusal tells the server's output-plugin allow-list refusing a
// plugin from other 42501 errors (a missing REPLICATION privilege): only
// its message and hint say so.
func IsPluginRefusal(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "42501" && (strings.Contains(pgErr.Message, "may not be used as an output plugin") ||
		strings.Contains(pgErr.Hint, "output_plugin_libraries") || strings.Contains(pgErr.Detail, "output_plugin_libraries"))
}

// QuoteLiteral quotes s as an SQL string literal, for what takes no
// parameters (replication commands, statements shown to people).
func QuoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// ParseLSN parses a WAL position as PostgreSQL prints it (16/B374D848);
// "" is 0.
func ParseLSN(s string) (uint64, error) {
	if s == "" {
		return 0, nil
	}
	lsn, err := pglogrepl.ParseLSN(s)
	if err != nil {
		return 0, fmt.Errorf("parse LSN %q: %w", s, err)
	}
	return uint64(lsn), nil
}

// FormatLSN prints a WAL position the way PostgreSQL does (0/16B3748).
func FormatLSN(lsn uint64) string { return pglogrepl.LSN(lsn).String() }
