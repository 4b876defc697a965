package pgsource

import (
	"context"
	"errors"
	"fmt"

	"github.com/pg2s3/pg2s3/shared/config"
	"github.com/pg2s3/pg2s3/shared/postgres/connect"
)

// ErrStandby: log-based replication was pointed at a standby.
var ErrStandby = errors.New("server is a standby")

// logReady returns nil when s can serve cfg's log-based
// replication: a supported version, the plugin allowed, and a primary.
// PostgreSQL 16 can decode on a standby, but a drain also writes to the
// server (its fence is a logical message, pgoutput's publication is kept
// in step), which a standby refuses; so pg2s3 reads the log on the primary.
func logReady(s connect.Server, cfg *config.Config) error {
	if err := s.Supports(cfg.LogicalPlugin); err != nil {
		return err
	}
	if !s.PluginAllowed(cfg.LogicalPlugin) {
		return s.PluginNotAllowed(cfg.LogicalPlugin)
	}
	if s.InRecovery {
		return &connect.FixError{Problem: fmt.Sprintf("%s:%d is a standby (in recovery), and pg2s3 reads the log on the primary: a drain writes its end marker there and, before PostgreSQL 16, a standby cannot decode at all", cfg.Host, cfg.Port),
			Fix: "set host to the primary for log-based streams; full-table and incremental streams may read from a replica with use_secondary and secondary_host", Err: ErrStandby}
	}
	return nil
}

// explainPluginRefusal re-reads the server after it refused plugin, so the
// fix names its actual list; when that fails the explanation assumes the
// default list.
func explainPluginRefusal(ctx context.Context, cfg *config.Config, plugin string) *connect.FixError {
	conn, err := connect.Open(ctx, connect.FromConfig(cfg))
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
