package preflight

import (
	"context"
	"fmt"
	"time"

	"github.com/pg2s3/pg2s3/shared/postgres/connect"
	"github.com/pg2s3/pg2s3/shared/postgres/internal/pg"
)

// standbySettings reports the settings of a standby that decide whether
// replay cancels a long read: without hot_standby_feedback, vacuum on the
// primary removes rows the read still sees, and replay waits for it only
// as long as the max_standby_*_delay settings allow.
func (c *checker) standbySettings() {
	if v, err := c.setting("hot_standby_feedback"); err != nil {
		c.failed("hot_standby_feedback", "read hot_standby_feedback", err)
	} else {
		c.add("hot_standby_feedback", v == "on", "hot_standby_feedback = "+v,
			"ALTER SYSTEM SET hot_standby_feedback = on; SELECT pg_reload_conf(); (so long copies are not cancelled)")
	}
	for _, name := range []string{"max_standby_streaming_delay", "max_standby_archive_delay"} {
		ms, err := c.intSetting(name)
		if err != nil {
			c.failed(name, "read "+name, err)
			continue
		}
		d := time.Duration(ms) * time.Millisecond
		shown := d.String()
		if ms < 0 {
			shown = "-1 (wait forever)"
		}
		c.add(name, ms < 0 || d >= standbyDelayFloor, fmt.Sprintf("%s = %s (8-12 h recommended during the first copy)", name, shown),
			fmt.Sprintf("ALTER SYSTEM SET %s = '12h'; SELECT pg_reload_conf(); (RDS: the parameter group)", name))
	}
}

// CheckSecondary checks the replica that use_secondary reads full-table
// and incremental streams from (none without one): that it accepts the
// pipeline's connection settings and, when it is a standby,
// that replay will not cancel a long copy. Names and details of the
// results start with "secondary".
func CheckSecondary(ctx context.Context, s Settings) []Result {
	sec := s.Secondary
	if sec == nil {
		return nil
	}
	var out []Result
	add := func(name string, ok bool, detail, fix string) {
		out = append(out, Result{Name: "secondary " + name, OK: ok, Detail: "secondary: " + sec.Redact(detail), Fix: sec.Redact(fix)})
	}
	db := open(ctx, *sec, add)
	if db == nil {
		return out
	}
	defer db.Close(context.WithoutCancel(ctx))

	c := &checker{ctx: ctx, db: db, conn: pg.PGX(db), add: add}
	srv, err := connect.DetectServer(ctx, db)
	switch {
	case err != nil:
		c.failed("standby", "detect the server", err)
	case !srv.InRecovery:
		c.add("standby", true, "server is not in recovery (a primary, or a logical replica): replay cannot cancel reads there", "")
	default:
		c.add("standby", true, "server is a standby (in recovery): full-table and incremental streams read here", "")
		c.standbySettings()
	}
	return out
}
