package preflight

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pg2s3/pg2s3/shared/postgres/connect"
	"github.com/pg2s3/pg2s3/shared/postgres/internal/pg"
	"github.com/pg2s3/pg2s3/shared/postgres/logical"
)

// plugins tests the logical decoding plugins by creating a temporary slot
// with each and dropping it: an output plugin is a shared library that no
// catalog lists, so trying it is the only sound test. Creating a slot waits
// for running transactions, so the test gives up after 10 s. It needs
// wal_level = logical, a free slot and the REPLICATION privilege; without
// them it reports that it could not test.
func (c *checker) plugins() {
	want := []string{c.settings.Log.Plugin}
	if c.settings.Log.Plugin != "wal2json" {
		want = append(want, "wal2json")
	}
	for _, plugin := range want {
		needed := plugin == c.settings.Log.Plugin
		name := "plugin " + plugin
		optional := ""
		if !needed {
			optional = fmt.Sprintf(" (not needed: logical_plugin = %s)", c.settings.Log.Plugin)
		}
		if !c.mayRepl || c.serverVersion < 100000 {
			c.add(name, !needed, fmt.Sprintf("could not test output plugin %s (needs PostgreSQL 10+ and a user with REPLICATION)%s", plugin, optional),
				"give the user REPLICATION (see above), then rerun pg2s3 check")
			continue
		}
		if !c.srv.PluginAllowed(plugin) {
			c.add(name, !needed, fmt.Sprintf("output plugin %s is not allowed by output_plugin_libraries, so it was not tried%s", plugin, optional),
				"allow it as the output_plugin_libraries line says")
			continue
		}
		err := logical.TryPlugin(c.ctx, c.settings.Log.Conn, plugin)
		var refused *connect.FixError
		switch {
		case errors.As(err, &refused) && errors.Is(err, connect.ErrPluginNotAllowed):
			c.add(name, !needed, fmt.Sprintf("output plugin %s: %s%s", plugin, refused.Problem, optional), refused.Fix)
		case err == nil:
			c.add(name, true, fmt.Sprintf("output plugin %s works (a temporary slot was created and dropped)", plugin), "")
		case strings.Contains(err.Error(), "could not access file"):
			fix := "install it: apt-get install postgresql-<version>-wal2json (RDS/Aurora ship it)"
			detail := fmt.Sprintf("output plugin %s is not installed", plugin)
			detail += optional
			c.add(name, !needed, detail, fix)
		default:
			c.add(name, !needed, fmt.Sprintf("could not test output plugin %s: %v%s", plugin, err, optional),
				"fix the checks above (wal_level, free slots, REPLICATION) and rerun; a long-running transaction also delays slot creation")
		}
	}
}

func (c *checker) replicationConnection() {
	ctx, cancel := context.WithTimeout(c.ctx, 15*time.Second)
	defer cancel()
	repl, err := connect.OpenReplication(ctx, c.settings.Log.Conn)
	if err != nil {
		problem, fix := splitFix(err)
		c.add("replication_connection", false, "replication connection refused: "+problem, fix)
		return
	}
	defer repl.Close(context.WithoutCancel(ctx))
	res, err := pg.PgConn(repl).Exec(ctx, "IDENTIFY_SYSTEM").ReadAll()
	if err != nil || len(res) == 0 || len(res[0].Rows) == 0 {
		if err == nil {
			err = errors.New("no result")
		}
		c.add("replication_connection", false, "IDENTIFY_SYSTEM on a replication connection failed: "+err.Error(),
			"grant the user REPLICATION (RDS: rds_replication) and check max_wal_senders")
		return
	}
	row := res[0].Rows[0]
	detail := "replication connection allowed"
	if len(row) >= 2 {
		detail += fmt.Sprintf(" (system %s, timeline %s)", row[0], row[1])
	}
	c.add("replication_connection", true, detail, "")
}
