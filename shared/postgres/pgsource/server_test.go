package pgsource

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pg2s3/pg2s3/shared/config"
	"github.com/pg2s3/pg2s3/shared/testenv"
)

func TestParseLibraryList(t *testing.T) {
	for in, want := range map[string]string{
		"pgoutput, test_decoding":                "pgoutput|test_decoding",
		"pgoutput,test_decoding, wal2json":       "pgoutput|test_decoding|wal2json",
		`"pgoutput, test_decoding, wal2json"`:    "pgoutput, test_decoding, wal2json", // one element, as a mis-quoted ALTER SYSTEM leaves it
		`pgoutput, "$libdir/my ""odd"" decoder"`: `pgoutput|$libdir/my "odd" decoder`,
		"":                                       "",
	} {
		if got := strings.Join(parseLibraryList(in), "|"); got != want {
			t.Errorf("parseLibraryList(%q) = %q, want %q", in, got, want)
		}
	}
}

// The gates are decided from what DetectServer read: these are the
// servers this machine cannot start (older majors, minors before the
// allow-list, RDS).
func TestServerGates(t *testing.T) {
	cfg := func(plugin string) *config.Config {
		return &config.Config{Host: "db", Port: 5432, LogicalPlugin: plugin}
	}
	older := Server{Version: 150018} // 15.18: no output_plugin_libraries
	if !older.PluginAllowed("wal2json") || older.LogReady(cfg("wal2json")) != nil || older.LogReady(cfg("pgoutput")) != nil {
		t.Errorf("a server without an allow-list admits every plugin: %+v", older)
	}
	current := Server{Version: 150020, HasAllowList: true, AllowList: []string{"pgoutput", "test_decoding"}}
	err := current.LogReady(cfg("wal2json"))
	var fe *FixError
	if !errors.Is(err, ErrPluginNotAllowed) || !errors.As(err, &fe) ||
		!strings.Contains(fe.Fix, "ALTER SYSTEM SET output_plugin_libraries = 'pgoutput', 'test_decoding', 'wal2json'; SELECT pg_reload_conf();") ||
		!strings.Contains(fe.Fix, "logical_plugin pgoutput") || strings.Contains(err.Error(), "REPLICATION") {
		t.Errorf("wal2json on a default allow-list: %v", err)
	}
	if err := current.LogReady(cfg("pgoutput")); err != nil {
		t.Errorf("pgoutput on a default allow-list: %v", err)
	}
	byPath := Server{Version: 160010, HasAllowList: true, AllowList: []string{"pgoutput", "$libdir/wal2json.so"}}
	if !byPath.PluginAllowed("wal2json") {
		t.Error("a library named by path is allowed")
	}
	rds := Server{Version: 150020, RDS: true, HasAllowList: true, AllowList: []string{"pgoutput", "test_decoding"}}
	if fe := rds.PluginNotAllowed("wal2json"); !strings.Contains(fe.Fix, "DB parameter group") || strings.Contains(fe.Fix, "ALTER SYSTEM") || !strings.Contains(fe.Fix, "use pgoutput") {
		t.Errorf("RDS fix: %s", fe.Fix)
	}
	if fe := pluginNotAllowed("wal2json", nil, false); !strings.Contains(fe.Fix, "SHOW output_plugin_libraries") || !strings.Contains(fe.Fix, "'pgoutput', 'test_decoding', 'wal2json'") {
		t.Errorf("fix when the list could not be read: %s", fe.Fix)
	}

	pg13 := Server{Version: 130012}
	if err := pg13.LogReady(cfg("pgoutput")); !errors.Is(err, ErrServerUnsupported) || !strings.Contains(err.Error(), "wal2json") {
		t.Errorf("pgoutput on 13 lacks messages: %v", err)
	}
	if err := pg13.LogReady(cfg("wal2json")); err != nil {
		t.Errorf("wal2json on 13: %v", err)
	}
	pg96 := Server{Version: 90624}
	if err := pg96.LogReady(cfg("wal2json")); !errors.Is(err, ErrServerUnsupported) || !strings.Contains(err.Error(), "9.6.24") || !strings.Contains(err.Error(), "upgrade PostgreSQL to 10") {
		t.Errorf("9.6: %v", err)
	}
	standby15 := Server{Version: 150020, InRecovery: true}
	if err := standby15.LogReady(cfg("pgoutput")); !errors.Is(err, ErrStandby) || !strings.Contains(err.Error(), "db:5432 is a standby") {
		t.Errorf("a 15 standby as the primary: %v", err)
	}
	// 16 decodes on a standby, but a drain writes its fence there.
	if err := (Server{Version: 160004, InRecovery: true}).LogReady(cfg("pgoutput")); !errors.Is(err, ErrStandby) {
		t.Errorf("a 16 standby as the primary: %v", err)
	}
}

// TestDetectServer reads the features of the real server.
func TestDetectServer(t *testing.T) {
	_, conn := discoverDB(t, "detect", "")
	srv, err := DetectServer(context.Background(), conn)
	if err != nil {
		t.Fatal(err)
	}
	if srv.Version < 150000 || srv.InRecovery || srv.RDS {
		t.Errorf("PostgreSQL 15 primary: %+v", srv)
	}
	if srv.HasAllowList && !srv.PluginAllowed("wal2json") {
		t.Errorf("testenv admits wal2json: %+v", srv)
	}
}

// TestExistingSlotRefusedByAllowList: a wal2json slot made before the
// upgrade cannot be read after it. Setting up and reading fail with the
// allow-list's fix, never a REPLICATION one; dropping it still works.
func TestExistingSlotRefusedByAllowList(t *testing.T) {
	ctx := context.Background()
	pg, err := testenv.StartPostgres(testenv.PostgresOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Stop()
	_, dsn, err := pg.NewDatabase(ctx, "refused")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.FromURL(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.LogicalPlugin, cfg.SlotName = "wal2json", "refused_slot"
	conn, err := Connect(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if srv, err := DetectServer(ctx, conn); err != nil || !srv.HasAllowList {
		t.Skipf("no output_plugin_libraries on this server (%v)", err)
	}
	if _, _, err := EnsureSlot(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	for _, sql := range []string{"ALTER SYSTEM SET output_plugin_libraries = 'pgoutput', 'test_decoding'", "SELECT pg_reload_conf()"} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		c, err := Connect(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		srv, err := DetectServer(ctx, c)
		c.Close(ctx)
		if err == nil && !srv.PluginAllowed("wal2json") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the reload never took effect")
		}
	}
	want := "'pgoutput', 'test_decoding', 'wal2json'"
	if _, _, err := EnsureSlot(ctx, cfg); !errors.Is(err, ErrPluginNotAllowed) || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "REPLICATION") {
		t.Errorf("EnsureSlot: %v", err)
	}
	// The server's own refusal at START_REPLICATION, read as such.
	_, err = OpenLog(ctx, cfg, LogOptions{})
	if !errors.Is(err, ErrPluginNotAllowed) || !strings.Contains(err.Error(), "(pgoutput, test_decoding) does not list wal2json") ||
		!strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "REPLICATION") {
		t.Errorf("OpenLog: %v", err)
	}
	if err := DropSlot(ctx, cfg, cfg.SlotName); err != nil {
		t.Errorf("DropSlot of a refused slot: %v", err)
	}
}

// check's allow-list line: none on a server without the parameter, PASS
// or FAIL (with the fix) on one that has it.
func TestCheckAllowListLine(t *testing.T) {
	lines := func(srv Server, plugin string) []CheckResult {
		var out []CheckResult
		c := &checker{cfg: &config.Config{LogicalPlugin: plugin}, srv: srv,
			add: func(name string, ok bool, detail, fix string) {
				out = append(out, CheckResult{Name: name, OK: ok, Detail: detail, Fix: fix})
			}}
		c.allowList()
		return out
	}
	if got := lines(Server{Version: 150018}, "wal2json"); len(got) != 0 {
		t.Errorf("a server without output_plugin_libraries: %+v", got)
	}
	list := Server{Version: 150020, HasAllowList: true, AllowList: []string{"pgoutput", "test_decoding"}}
	if got := lines(list, "pgoutput"); len(got) != 1 || !got[0].OK || got[0].Detail != "output_plugin_libraries (pgoutput, test_decoding) allows pgoutput" {
		t.Errorf("pgoutput allowed: %+v", got)
	}
	if got := lines(list, "wal2json"); len(got) != 1 || got[0].OK || !strings.Contains(got[0].Fix, "ALTER SYSTEM SET output_plugin_libraries") || !strings.Contains(got[0].Fix, "logical_plugin pgoutput") {
		t.Errorf("wal2json refused: %+v", got)
	}
}
