// Package pgsource checks a server for pg2s3 and reads the logical
// replication stream, over the connections package connect opens.
package pgsource

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/pg2s3/pg2s3/shared/config"
	"github.com/pg2s3/pg2s3/shared/postgres/connect"
	"github.com/pg2s3/pg2s3/shared/postgres/internal/pg"
	"github.com/pg2s3/pg2s3/shared/record"
)

// Session is what callers outside pgsource do over a query connection,
// so they never handle pgx types.
type Session struct {
	db   *connect.Conn
	conn *pgx.Conn
	cfg  *config.Config
}

// New works through conn, which the caller closes.
func New(conn *connect.Conn, cfg *config.Config) *Session {
	return &Session{db: conn, conn: pg.PGX(conn), cfg: cfg}
}

// LogReady returns nil when the server can serve the session's log-based
// replication (see logReady), or the problem and its fix.
func (s *Session) LogReady(ctx context.Context) error {
	srv, err := connect.DetectServer(ctx, s.db)
	if err != nil {
		return err
	}
	return logReady(srv, s.cfg)
}

// The log-based side of a session: with these it is the SlotSource a log
// run reads (see replicate.SlotSource), for the config's slot, plugin and
// publication.

// Publish keeps the pgoutput publication equal to tables (or FOR ALL
// TABLES with publish_all_tables); wal2json needs none. When the user may
// not change the publication, it returns the tables it does publish with
// the error naming the statement to run.
func (s *Session) Publish(ctx context.Context, tables [][2]string) ([][2]string, error) {
	if s.cfg.LogicalPlugin != "pgoutput" {
		return tables, nil
	}
	err := EnsurePublication(ctx, s.conn, s.cfg.Publication, s.cfg.PublishAll, tables)
	if err == nil || !errors.Is(err, ErrPublicationPrivilege) {
		return tables, err
	}
	have, herr := PublicationTables(ctx, s.conn, s.cfg.Publication)
	if herr != nil {
		return nil, err
	}
	return have, err
}

// EnsureSlot creates the config's slot when it is missing (see the
// package function) and returns its confirmed position.
func (s *Session) EnsureSlot(ctx context.Context) (uint64, bool, error) {
	info, created, err := ensureSlot(ctx, s.db, s.cfg)
	return info.ConfirmedFlushLSN, created, err
}

// OpenLog streams the config's slot from start, keeping only the tables'
// changes, over a replication connection of its own.
func (s *Session) OpenLog(ctx context.Context, start uint64, tables [][2]string) (record.Log, error) {
	keep := make(map[[2]string]bool, len(tables))
	for _, t := range tables {
		keep[t] = true
	}
	r, err := OpenLog(ctx, s.cfg, LogOptions{StartLSN: start, Tables: keep})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// RetainedBytes is how much WAL the config's slot holds back.
func (s *Session) RetainedBytes(ctx context.Context) (int64, error) {
	info, err := GetSlot(ctx, s.conn, s.cfg.SlotName)
	return info.RetainedBytes, err
}

// Slot reads the replication slot called name.
func (s *Session) Slot(ctx context.Context, name string) (SlotInfo, error) {
	return GetSlot(ctx, s.conn, name)
}

// CurrentWALLSN returns the server's current WAL position.
func (s *Session) CurrentWALLSN(ctx context.Context) (uint64, error) {
	return CurrentWALLSN(ctx, s.conn)
}

// Heartbeat emits a transactional logical message and returns its LSN.
func (s *Session) Heartbeat(ctx context.Context) (uint64, error) { return Heartbeat(ctx, s.conn) }

// EnsurePublication makes the publication hold exactly tables (or all).
func (s *Session) EnsurePublication(ctx context.Context, name string, all bool, tables [][2]string) error {
	return EnsurePublication(ctx, s.conn, name, all, tables)
}

// PublicationTables lists the tables a publication publishes (none when
// it does not exist).
func (s *Session) PublicationTables(ctx context.Context, name string) ([][2]string, error) {
	return PublicationTables(ctx, s.conn, name)
}

// CheckLogStream returns nil when the log can carry s's changes exactly,
// or the problem and its fix: a table without a primary key needs REPLICA
// IDENTITY FULL, or its updates and deletes could not be told apart; a
// partitioned table needs pgoutput with publish_via_partition_root
// (PostgreSQL 13+), since wal2json names each change by its partition and
// decodes with no history of which partitions belonged to the table when.
func (s *Session) CheckLogStream(ctx context.Context, st *record.Stream) error {
	name := pgx.Identifier{st.Schema, st.Table}.Sanitize()
	if len(st.KeyColumns) == 0 {
		var ident string
		err := s.conn.QueryRow(ctx, `SELECT CASE c.relreplident WHEN 'd' THEN 'default' WHEN 'f' THEN 'full' WHEN 'i' THEN 'index' ELSE 'nothing' END
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2`, st.Schema, st.Table).Scan(&ident)
		if err != nil {
			return fmt.Errorf("read replica identity of %s: %w", name, err)
		}
		if ident != "full" {
			return fmt.Errorf("stream %s: a table without a primary key can be LOG_BASED only with REPLICA IDENTITY FULL (it has %s): run ALTER TABLE %s REPLICA IDENTITY FULL, or add a primary key, or replicate it FULL_TABLE",
				st.ID, ident, name)
		}
	}
	partitioned, err := isPartitioned(ctx, s.conn, st.Schema, st.Table)
	if err != nil || !partitioned {
		return err
	}
	if s.cfg.LogicalPlugin != "pgoutput" {
		return fmt.Errorf("stream %s: %s is a partitioned table, and wal2json names each change by its partition with no history of which partitions belonged to the table when, so pg2s3 cannot follow it exactly: set logical_plugin pgoutput (PostgreSQL 13+ publishes a partitioned table's changes under its own name; a new slot: pg2s3 reset --slot --confirm), or replicate it FULL_TABLE or INCREMENTAL",
			st.ID, name)
	}
	viaRoot, err := hasPubViaRoot(ctx, s.conn)
	if err != nil {
		return err
	}
	if !viaRoot {
		return fmt.Errorf("stream %s: %s is a partitioned table, and this server's publications cannot publish its changes under its own name (publish_via_partition_root, PostgreSQL 13+): upgrade PostgreSQL, or replicate it FULL_TABLE or INCREMENTAL", st.ID, name)
	}
	return nil
}
