// Package logical reads a pipeline's log-based replication from
// PostgreSQL: its slot, the publication pgoutput reads, the heartbeats
// that fence a drain, and the slot's stream of changes, decoded from
// pgoutput or wal2json into record Events. A Source does it all for the
// configured slot over a query connection opened by package connect (the
// stream comes over a replication connection of its own); it is the
// replicate.SlotSource a drain reads.
package logical

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

// Settings say which slot a Source reads, with which plugin and
// publication.
type Settings struct {
	// Conn opens the replication connection the log comes over (and the
	// wal2json decoder's catalog lookups); errors name its Host, Port,
	// User and DBName.
	Conn        connect.Settings
	Slot        string // slot_name
	Plugin      string // logical_plugin: pgoutput or wal2json
	Publication string // the publication pgoutput reads
	PublishAll  bool   // publish_all_tables: a FOR ALL TABLES publication
}

// FromConfig takes the settings of c: its connection, slot_name,
// logical_plugin, publication and publish_all_tables.
func FromConfig(c *config.Config) Settings {
	return Settings{Conn: connect.FromConfig(c), Slot: c.SlotName, Plugin: c.LogicalPlugin, Publication: c.Publication, PublishAll: c.PublishAll}
}

// Source is the configured slot, its publication and its log, over a
// query connection it may share with other packages of shared/postgres:
// it does not close it. It is what a log run reads (replicate.SlotSource).
type Source struct {
	db       *connect.Conn
	conn     *pgx.Conn
	settings Settings
}

// New works through conn.
func New(conn *connect.Conn, s Settings) *Source {
	return &Source{db: conn, conn: pg.PGX(conn), settings: s}
}

// LogReady returns nil when the server can serve the settings' log-based
// replication (see logReady), or the problem and its fix.
func (src *Source) LogReady(ctx context.Context) error {
	srv, err := connect.DetectServer(ctx, src.db)
	if err != nil {
		return err
	}
	return logReady(srv, src.settings)
}

// Publish keeps the pgoutput publication equal to tables (or FOR ALL
// TABLES with publish_all_tables); wal2json needs none. When the user may
// not change the publication, it returns the tables it does publish with
// the error naming the statement to run.
func (src *Source) Publish(ctx context.Context, tables [][2]string) ([][2]string, error) {
	s := src.settings
	if s.Plugin != "pgoutput" {
		return tables, nil
	}
	err := ensurePublication(ctx, src.conn, s.Publication, s.PublishAll, tables)
	if err == nil || !errors.Is(err, ErrPublicationPrivilege) {
		return tables, err
	}
	have, herr := publicationTables(ctx, src.conn, s.Publication)
	if herr != nil {
		return nil, err
	}
	return have, err
}

// PublishedTables lists the tables the publication publishes, sorted
// (none when it does not exist).
func (src *Source) PublishedTables(ctx context.Context) ([][2]string, error) {
	return publicationTables(ctx, src.conn, src.settings.Publication)
}

// EnsureSlot creates the slot when it is missing and checks an existing
// one (see ensureSlot); it returns the slot's confirmed position.
func (src *Source) EnsureSlot(ctx context.Context) (uint64, bool, error) {
	info, created, err := src.ensureSlot(ctx)
	return info.ConfirmedFlushLSN, created, err
}

// OpenLog streams the slot from start, keeping only the tables' changes,
// over a replication connection of its own.
func (src *Source) OpenLog(ctx context.Context, start uint64, tables [][2]string) (record.Log, error) {
	keep := make(map[[2]string]bool, len(tables))
	for _, t := range tables {
		keep[t] = true
	}
	r, err := openLog(ctx, src.settings, logOptions{StartLSN: start, Tables: keep})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// Slot reads the slot as pg_replication_slots shows it. A missing slot is
// not an error: the result has Exists false.
func (src *Source) Slot(ctx context.Context) (SlotInfo, error) {
	return getSlot(ctx, src.conn, src.settings.Slot)
}

// RetainedBytes is how much WAL the slot holds back.
func (src *Source) RetainedBytes(ctx context.Context) (int64, error) {
	info, err := src.Slot(ctx)
	return info.RetainedBytes, err
}

// CurrentWALLSN returns pg_current_wal_lsn(): a run's fence.
func (src *Source) CurrentWALLSN(ctx context.Context) (uint64, error) {
	var s string
	if err := src.conn.QueryRow(ctx, "SELECT pg_current_wal_lsn()::text").Scan(&s); err != nil {
		return 0, fmt.Errorf("read current WAL position: %w", err)
	}
	return pg.ParseLSN(s)
}

// FormatLSN prints an LSN the way PostgreSQL does (0/16B3748).
func FormatLSN(lsn uint64) string { return pg.FormatLSN(lsn) }

// CheckLogStream returns nil when the log can carry s's changes exactly,
// or the problem and its fix: a table without a primary key needs REPLICA
// IDENTITY FULL, or its updates and deletes could not be told apart; a
// partitioned table needs pgoutput with publish_via_partition_root
// (PostgreSQL 13+), since wal2json names each change by its partition and
// decodes with no history of which partitions belonged to the table when.
func (src *Source) CheckLogStream(ctx context.Context, st *record.Stream) error {
	name := pgx.Identifier{st.Schema, st.Table}.Sanitize()
	if len(st.KeyColumns) == 0 {
		var ident string
		err := src.conn.QueryRow(ctx, `SELECT CASE c.relreplident WHEN 'd' THEN 'default' WHEN 'f' THEN 'full' WHEN 'i' THEN 'index' ELSE 'nothing' END
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2`, st.Schema, st.Table).Scan(&ident)
		if err != nil {
			return fmt.Errorf("read replica identity of %s: %w", name, err)
		}
		if ident != "full" {
			return fmt.Errorf("stream %s: a table without a primary key can be LOG_BASED only with REPLICA IDENTITY FULL (it has %s): run ALTER TABLE %s REPLICA IDENTITY FULL, or add a primary key, or replicate it FULL_TABLE",
				st.ID, ident, name)
		}
	}
	partitioned, err := isPartitioned(ctx, src.conn, st.Schema, st.Table)
	if err != nil || !partitioned {
		return err
	}
	if src.settings.Plugin != "pgoutput" {
		return fmt.Errorf("stream %s: %s is a partitioned table, and wal2json names each change by its partition with no history of which partitions belonged to the table when, so pg2s3 cannot follow it exactly: set logical_plugin pgoutput (PostgreSQL 13+ publishes a partitioned table's changes under its own name; a new slot: pg2s3 reset --slot --confirm), or replicate it FULL_TABLE or INCREMENTAL",
			st.ID, name)
	}
	viaRoot, err := pg.HasPubViaRoot(ctx, src.conn)
	if err != nil {
		return err
	}
	if !viaRoot {
		return fmt.Errorf("stream %s: %s is a partitioned table, and this server's publications cannot publish its changes under its own name (publish_via_partition_root, PostgreSQL 13+): upgrade PostgreSQL, or replicate it FULL_TABLE or INCREMENTAL", st.ID, name)
	}
	return nil
}
