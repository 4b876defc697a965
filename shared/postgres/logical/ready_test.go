package logical

import (
	"errors"
	"strings"
	"testing"

	"github.com/pg2s3/pg2s3/shared/config"
	"github.com/pg2s3/pg2s3/shared/postgres/connect"
)

// The gates are decided from what DetectServer read: these are the
// servers this machine cannot start (older majors, minors before the
// allow-list, a standby).
func TestLogReadyGates(t *testing.T) {
	settings := func(plugin string) Settings {
		return FromConfig(&config.Config{Host: "db", Port: 5432, LogicalPlugin: plugin})
	}
	older := connect.Server{Version: 150018} // 15.18: no output_plugin_libraries
	if logReady(older, settings("wal2json")) != nil || logReady(older, settings("pgoutput")) != nil {
		t.Errorf("a server without an allow-list admits every plugin: %+v", older)
	}
	current := connect.Server{Version: 150020, HasAllowList: true, AllowList: []string{"pgoutput", "test_decoding"}}
	err := logReady(current, settings("wal2json"))
	var fe *connect.FixError
	if !errors.Is(err, connect.ErrPluginNotAllowed) || !errors.As(err, &fe) ||
		!strings.Contains(fe.Fix, "ALTER SYSTEM SET output_plugin_libraries = 'pgoutput', 'test_decoding', 'wal2json'; SELECT pg_reload_conf();") ||
		!strings.Contains(fe.Fix, "logical_plugin pgoutput") || strings.Contains(err.Error(), "REPLICATION") {
		t.Errorf("wal2json on a default allow-list: %v", err)
	}
	if err := logReady(current, settings("pgoutput")); err != nil {
		t.Errorf("pgoutput on a default allow-list: %v", err)
	}

	pg13 := connect.Server{Version: 130012}
	if err := logReady(pg13, settings("pgoutput")); !errors.Is(err, connect.ErrServerUnsupported) || !strings.Contains(err.Error(), "wal2json") {
		t.Errorf("pgoutput on 13 lacks messages: %v", err)
	}
	if err := logReady(pg13, settings("wal2json")); err != nil {
		t.Errorf("wal2json on 13: %v", err)
	}
	pg96 := connect.Server{Version: 90624}
	if err := logReady(pg96, settings("wal2json")); !errors.Is(err, connect.ErrServerUnsupported) || !strings.Contains(err.Error(), "9.6.24") || !strings.Contains(err.Error(), "upgrade PostgreSQL to 10") {
		t.Errorf("9.6: %v", err)
	}
	standby15 := connect.Server{Version: 150020, InRecovery: true}
	if err := logReady(standby15, settings("pgoutput")); !errors.Is(err, ErrStandby) || !strings.Contains(err.Error(), "db:5432 is a standby") {
		t.Errorf("a 15 standby as the primary: %v", err)
	}
	// 16 decodes on a standby, but a drain writes its fence there.
	if err := logReady(connect.Server{Version: 160004, InRecovery: true}, settings("pgoutput")); !errors.Is(err, ErrStandby) {
		t.Errorf("a 16 standby as the primary: %v", err)
	}
}
