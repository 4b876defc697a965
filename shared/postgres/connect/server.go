package connect

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/pg2s3/pg2s3/shared/postgres/internal/pg"
)

// ErrPluginNotAllowed: the server's output_plugin_libraries (PostgreSQL
// 15.19+, 16.10+, ... since CVE-2026-6471) does not list the output plugin,
// so it refuses to create or decode a slot with it, existing slots too.
var ErrPluginNotAllowed = errors.New("output plugin not allowed by output_plugin_libraries")

// ErrServerUnsupported: the server lacks a feature pg2s3 needs.
var ErrServerUnsupported = errors.New("server not supported")

// Server is what pg2s3 must know about a server before using it: its
// version, whether it is a standby, and its output-plugin allow-list.
// What a catalog shows is read from the catalog, so a patched or
// backported server is judged by what it has: the allow-list by its
// setting (wal_status, likewise, by its column). pgoutput's options
// appear in no catalog, so those go by version.
type Server struct {
	Version    int  // server_version_num
	InRecovery bool // a standby
	// RDS: an Amazon RDS or Aurora server (it has rds.* settings), where
	// server parameters live in a parameter group.
	RDS bool
	// HasAllowList: the server has output_plugin_libraries; AllowList is
	// its value, one library an element.
	HasAllowList bool
	AllowList    []string
}

// DetectServer reads what Server describes in one query.
func DetectServer(ctx context.Context, conn *Conn) (Server, error) {
	var s Server
	var allow *string
	err := pg.PGX(conn).QueryRow(ctx, `
SELECT current_setting('server_version_num')::int, pg_is_in_recovery(),
  EXISTS (SELECT 1 FROM pg_settings WHERE name LIKE 'rds.%'),
  (SELECT setting FROM pg_settings WHERE name = 'output_plugin_libraries')`).Scan(
		&s.Version, &s.InRecovery, &s.RDS, &allow)
	if err != nil {
		return s, fmt.Errorf("read the server's version and settings: %w", err)
	}
	if allow != nil {
		s.HasAllowList, s.AllowList = true, parseLibraryList(*allow)
	}
	return s, nil
}

// parseLibraryList splits a list setting as the server prints it:
// comma-separated, an element double-quoted when it holds a comma, a
// space or a quote (doubled inside).
func parseLibraryList(v string) []string {
	var out []string
	var cur strings.Builder
	quoted, inQuotes := false, false
	flush := func() {
		e := cur.String()
		if !quoted {
			e = strings.TrimSpace(e)
		}
		if e != "" {
			out = append(out, e)
		}
		cur.Reset()
		quoted = false
	}
	for i := 0; i < len(v); i++ {
		switch ch := v[i]; {
		case inQuotes && ch == '"' && i+1 < len(v) && v[i+1] == '"':
			cur.WriteByte('"')
			i++
		case ch == '"':
			if !inQuotes && strings.TrimSpace(cur.String()) == "" {
				cur.Reset() // spaces before an opening quote
			}
			inQuotes, quoted = !inQuotes, true
		case ch == ',' && !inQuotes:
			flush()
		case !inQuotes && quoted && ch == ' ':
			// spaces after a closing quote
		default:
			cur.WriteByte(ch)
		}
	}
	flush()
	return out
}

// HumanVersion prints server_version_num the way people say it (15.20).
func (s Server) HumanVersion() string {
	v := s.Version
	if v < 100000 {
		return fmt.Sprintf("%d.%d.%d", v/10000, v/100%100, v%100)
	}
	return fmt.Sprintf("%d.%d", v/10000, v%10000)
}

// PgoutputMessages says whether pgoutput takes the messages option (14+),
// which pg2s3's drains need to see their fence.
func (s Server) PgoutputMessages() bool { return s.Version >= 140000 }

// PluginAllowed says whether the allow-list admits plugin (always, on a
// server without one). An element may name the library by path.
func (s Server) PluginAllowed(plugin string) bool {
	if !s.HasAllowList {
		return true
	}
	for _, lib := range s.AllowList {
		if lib == plugin || strings.TrimSuffix(path.Base(lib), ".so") == plugin {
			return true
		}
	}
	return false
}

// Supports returns nil when pg2s3 can replicate from this server with
// plugin, or an error naming what is missing and the fix. It does not
// look at the allow-list (see PluginAllowed): that is a setting, not a
// missing feature.
func (s Server) Supports(plugin string) error {
	switch {
	case s.Version < 100000:
		return &FixError{Problem: fmt.Sprintf("PostgreSQL %s is older than 10, which pg2s3 needs (temporary slots, pg_current_wal_lsn, publications)", s.HumanVersion()),
			Fix: "upgrade PostgreSQL to 10 or later (14 or later for pgoutput)", Err: ErrServerUnsupported}
	case plugin == "pgoutput" && !s.PgoutputMessages():
		return &FixError{Problem: fmt.Sprintf("pgoutput on PostgreSQL %s has no messages option, which pg2s3's drains need to see their end", s.HumanVersion()),
			Fix: "set logical_plugin to wal2json (RDS and Aurora ship it), or upgrade PostgreSQL to 14 or later", Err: ErrServerUnsupported}
	}
	return nil
}

// PluginNotAllowed explains a server that refuses plugin because of its
// allow-list, with the fix for this server and the alternative. A Server
// not read (the zero value) gets the fix for the list servers ship.
func (s Server) PluginNotAllowed(plugin string) *FixError {
	return pluginNotAllowed(plugin, s.AllowList, s.RDS)
}

// defaultAllowList is output_plugin_libraries as the server ships it.
var defaultAllowList = []string{"pgoutput", "test_decoding"}

// pluginNotAllowed builds the explanation from what is known: the current
// list (nil when it could not be read) and whether the server is RDS.
func pluginNotAllowed(plugin string, current []string, rds bool) *FixError {
	problem := fmt.Sprintf("the server's output_plugin_libraries does not list %s, so it refuses to create or read slots that decode with it", plugin)
	keep := ""
	if current != nil {
		problem = fmt.Sprintf("the server's output_plugin_libraries (%s) does not list %s, so it refuses to create or read slots that decode with it", strings.Join(current, ", "), plugin)
	} else {
		current, keep = defaultAllowList, " (and any other library SHOW output_plugin_libraries lists)"
	}
	quoted := make([]string, 0, len(current)+1)
	for _, l := range append(append([]string(nil), current...), plugin) {
		quoted = append(quoted, pg.QuoteLiteral(l))
	}
	var fix string
	if rds {
		fix = fmt.Sprintf("add %s to output_plugin_libraries in the DB parameter group (it applies without a reboot); where the parameter group has no output_plugin_libraries, use pgoutput", plugin)
	} else {
		// A list setting takes one literal per library: a single quoted
		// string would be one library called "pgoutput, test_decoding, ...".
		fix = fmt.Sprintf("as a superuser run ALTER SYSTEM SET output_plugin_libraries = %s%s; SELECT pg_reload_conf(); (RDS/Aurora: the DB parameter group)", strings.Join(quoted, ", "), keep)
	}
	if plugin == "wal2json" {
		fix += "; or switch to logical_plugin pgoutput: pg2s3 then keeps a publication of the selected tables and writes the same output (except that NaN and ±Infinity numerics are kept instead of null), on a new slot: pg2s3 reset --slot --confirm, which copies the log-based streams again"
	}
	return &FixError{Problem: problem, Fix: fix, Err: ErrPluginNotAllowed}
}
