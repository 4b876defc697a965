package logical

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pg2s3/pg2s3/shared/postgres/connect"
	"github.com/pg2s3/pg2s3/shared/postgres/internal/pg"
)

// ErrStandby: log-based replication was pointed at a standby.
var ErrStandby = errors.New("server is a standby")

// logReady returns nil when srv can serve the log-based replication of
// s: a supported version, the plugin allowed, and a primary.
// PostgreSQL 16 can decode on a standby, but a drain also writes to the
// server (its fence is a logical message, pgoutput's publication is kept
// in step), which a standby refuses; so pg2s3 reads the log on the primary.
func logReady(srv connect.Server, s Settings) error {
	if err := srv.Supports(s.Plugin); err != nil {
		return err
	}
	if !srv.PluginAllowed(s.Plugin) {
		return srv.PluginNotAllowed(s.Plugin)
	}
	if srv.InRecovery {
		return &connect.FixError{Problem: fmt.Sprintf("%s:%d is a standby (in recovery), and pg2s3 reads the log on the primary: a drain writes its end marker there and, before PostgreSQL 16, a standby cannot decode at all", s.Conn.Host, s.Conn.Port),
			Fix: "set host to the primary for log-based streams; full-table and incremental streams may read from a replica with use_secondary and secondary_host", Err: ErrStandby}
	}
	return nil
}

// explainPluginRefusal re-reads the server after it refused plugin, so the
// fix names its actual list; when that fails the explanation assumes the
// default list.
func explainPluginRefusal(ctx context.Context, cs connect.Settings, plugin string) *connect.FixError {
	conn, err := connect.Open(ctx, cs)
	if err != nil {
		return connect.Server{}.PluginNotAllowed(plugin)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	srv, err := connect.DetectServer(ctx, conn)
	if err != nil || !srv.HasAllowList {
		return connect.Server{}.PluginNotAllowed(plugin)
	}
	return srv.PluginNotAllowed(plugin)
}

// TryPlugin returns nil when the server can decode with plugin, which it
// tests by creating a temporary slot with it, over a connection of its own
// made with s, and dropping it: an output plugin is a shared library that
// no catalog lists, so trying it is the only sound test. Creating a slot
// waits for running transactions, so it gives up after 10 s. It needs
// wal_level = logical, a free slot and the REPLICATION privilege. A
// refusal by the server's allow-list is explained (wrapping
// connect.ErrPluginNotAllowed).
func TryPlugin(ctx context.Context, s connect.Settings, plugin string) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	db, err := connect.Open(ctx, s)
	if err != nil {
		return err
	}
	defer db.Close(context.WithoutCancel(ctx))
	conn := pg.PGX(db)
	if _, err := conn.Exec(ctx, "SET statement_timeout = '10s'"); err != nil {
		return err
	}
	slot := fmt.Sprintf("pg2s3_check_%d_%d", os.Getpid(), time.Now().UnixNano()%1e6)
	if _, err := conn.Exec(ctx, "SELECT pg_create_logical_replication_slot($1, $2, true)", slot, plugin); err != nil {
		if pg.IsPluginRefusal(err) {
			return explainPluginRefusal(ctx, s, plugin)
		}
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) {
			return errors.New(pgErr.Message)
		}
		return err
	}
	// A temporary slot also goes when the session ends; drop it now anyway.
	_, err = conn.Exec(ctx, "SELECT pg_drop_replication_slot($1)", slot)
	return err
}
