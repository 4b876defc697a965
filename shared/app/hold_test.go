package app_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/pg2s3/pg2s3/shared/app"
	"github.com/pg2s3/pg2s3/shared/testenv"
)

// TestUnreadableLogStreamHoldsTheSlot: a selected column of a LOG_BASED
// stream is dropped, so the stream cannot be resolved until the catalog
// changes. Meanwhile the slot must not pass its changes (the drain fails
// every log stream loudly and acknowledges nothing); once the column is
// deselected, the changes made in between arrive, for that stream and
// for the others.
func TestUnreadableLogStreamHoldsTheSlot(t *testing.T) {
	for _, plugin := range []string{"pgoutput", "wal2json"} {
		t.Run(plugin, func(t *testing.T) {
			ctx := context.Background()
			dsn, _ := newDB(t, acctSchema+"CREATE TABLE other (id bigint PRIMARY KEY, v text); INSERT INTO other VALUES (1, 'a');")
			p := newPipeline(t, dsn, map[string]any{"logical_plugin": plugin}, map[string]string{"acct": "LOG_BASED", "other": "LOG_BASED"})
			drain(t, p, app.RunOptions{})
			slot := p.app.Cfg.SlotName

			if err := execSQL(dsn, `ALTER TABLE acct DROP COLUMN note;
INSERT INTO acct VALUES (9001, 1.25); UPDATE acct SET balance = 7 WHERE id = 1;
INSERT INTO other VALUES (2, 'b')`); err != nil {
				t.Fatal(err)
			}
			confirmed := slotConfirmed(t, dsn, slot)
			run, err := p.app.Drain(ctx, p.cat, app.RunOptions{})
			if err != nil {
				t.Fatal(err)
			}
			held := 0
			for _, s := range run.Streams {
				if strings.Contains(s.Error, "the slot holds") {
					held++
				}
			}
			if held == 0 || !run.Failed() || run.Rows() != 0 {
				t.Fatalf("drain with an unreadable log stream: %+v", run.Streams)
			}
			if got := slotConfirmed(t, dsn, slot); got != confirmed {
				t.Fatalf("the slot moved from %s to %s past changes of an unreadable stream", confirmed, got)
			}

			// The user deselects the dropped column: everything waiting arrives.
			p.cat.Stream(streamID(p, "acct")).SetColumnMetadata("note", "selected", false)
			drain(t, p, app.RunOptions{})
			acct := merge(p.rows(streamID(p, "acct")))
			want := tableState(t, dsn, "SELECT id, balance FROM acct WHERE id IN (1, 9001)")
			for _, id := range []string{"1", "9001"} {
				if acct[id] == nil || fmt.Sprint(acct[id]["balance"]) != fmt.Sprint(want[id]["balance"]) {
					t.Fatalf("acct %s after the hold: replicated %v, table %v", id, acct[id], want[id])
				}
			}
			sameRows(t, merge(p.rows(streamID(p, "other"))), tableState(t, dsn, "SELECT id, v FROM other"))
		})
	}
}

// slotConfirmed reads the slot's confirmed_flush_lsn.
func slotConfirmed(t *testing.T, dsn, slot string) string {
	t.Helper()
	var lsn string
	if err := testenv.QueryValue(context.Background(), dsn, "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = '"+slot+"'", &lsn); err != nil {
		t.Fatal(err)
	}
	return lsn
}
