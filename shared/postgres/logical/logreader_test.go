package logical

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pg2s3/pg2s3/shared/config"
	"github.com/pg2s3/pg2s3/shared/postgres/connect"
	"github.com/pg2s3/pg2s3/shared/postgres/internal/pg"
	"github.com/pg2s3/pg2s3/shared/record"
)

// readUntil reads events until stop returns true, failing after 15 s.
func readUntil(t *testing.T, r *logReader, stop func(record.Event) bool) []record.Event {
	t.Helper()
	var out []record.Event
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		e, err := r.Next(ctx)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			continue
		}
		if err != nil {
			t.Fatalf("next after %d events: %v", len(out), err)
		}
		out = append(out, e)
		if stop(e) {
			return out
		}
	}
	t.Fatalf("no stop event after %d events", len(out))
	return nil
}

// untilHeartbeatCommit emits a heartbeat and returns a stop function that
// ends at the commit of its transaction.
func untilHeartbeatCommit(t *testing.T, cfg *config.Config, conn *connect.Conn) func(record.Event) bool {
	t.Helper()
	hb, err := New(conn, FromConfig(cfg)).Heartbeat(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	seen := false
	return func(e record.Event) bool {
		if e.Kind == record.EventMessage && e.Prefix == HeartbeatPrefix && e.LSN == hb {
			seen = true
		}
		return seen && e.Kind == record.EventCommit
	}
}

func slotConfirmed(t *testing.T, conn *connect.Conn, slot string) uint64 {
	t.Helper()
	info, err := getSlot(context.Background(), pg.PGX(conn), slot)
	if err != nil || !info.Exists {
		t.Fatalf("slot %s: %+v %v", slot, info, err)
	}
	return info.ConfirmedFlushLSN
}

func setupSlot(t *testing.T, cfg *config.Config, conn *connect.Conn, tables [][2]string) {
	t.Helper()
	ctx := context.Background()
	if cfg.LogicalPlugin == "pgoutput" {
		if err := ensurePublication(ctx, pg.PGX(conn), cfg.Publication, false, tables); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := ensureSlot(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dropSlot(context.Background(), cfg) })
}

func TestLogIdleNextReturnsOnDeadline(t *testing.T) {
	t.Parallel()
	for _, plugin := range []string{"pgoutput", "wal2json"} {
		t.Run(plugin, func(t *testing.T) {
			cfg, conn := logDB(t, plugin)
			mustExec(t, conn, "CREATE TABLE t (id int PRIMARY KEY)")
			setupSlot(t, cfg, conn, [][2]string{{"public", "t"}})
			fence, err := New(conn, FromConfig(cfg)).CurrentWALLSN(context.Background())
			if err != nil || fence == 0 {
				t.Fatalf("fence %d %v", fence, err)
			}
			start := time.Now()
			r := mustOpenLog(t, cfg, logOptions{})
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			e, err := r.Next(ctx)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("idle Next = %+v, %v; want deadline exceeded", e, err)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Fatalf("open + idle Next took %v", d)
			}
			t.Logf("open + idle Next: %v", time.Since(start))
			// The reader still works after a deadline.
			mustExec(t, conn, "INSERT INTO t VALUES (1)")
			ev := readUntil(t, r, func(e record.Event) bool { return e.Kind == record.EventCommit })
			if ev[len(ev)-1].EndLSN <= fence {
				t.Fatalf("commit end %s not past the fence %s", FormatLSN(ev[len(ev)-1].EndLSN), FormatLSN(fence))
			}
		})
	}
}

func TestLogAckMovesConfirmedFlushNeverBeyond(t *testing.T) {
	t.Parallel()
	cfg, conn := logDB(t, "pgoutput")
	mustExec(t, conn, "CREATE TABLE t (id int PRIMARY KEY)")
	setupSlot(t, cfg, conn, [][2]string{{"public", "t"}})
	ctx := context.Background()
	initial := slotConfirmed(t, conn, cfg.SlotName)
	r := mustOpenLog(t, cfg, logOptions{StatusInterval: 200 * time.Millisecond})
	if r.Acked() != initial {
		t.Fatalf("acked %s, want the slot's %s", FormatLSN(r.Acked()), FormatLSN(initial))
	}
	mustExec(t, conn, "INSERT INTO t VALUES (1)")
	first := readUntil(t, r, func(e record.Event) bool { return e.Kind == record.EventCommit })
	mustExec(t, conn, "INSERT INTO t VALUES (2)")
	second := readUntil(t, r, func(e record.Event) bool { return e.Kind == record.EventCommit })
	// Read and keepalives alone (several status intervals) confirm nothing.
	time.Sleep(700 * time.Millisecond)
	if got := slotConfirmed(t, conn, cfg.SlotName); got != initial {
		t.Fatalf("confirmed_flush moved to %s without an Ack (initial %s)", FormatLSN(got), FormatLSN(initial))
	}
	end1 := first[len(first)-1].EndLSN
	if err := r.Ack(ctx, end1); err != nil {
		t.Fatal(err)
	}
	waitConfirmed(t, conn, cfg.SlotName, end1)
	// An older Ack does not move it back; idle time does not move it on.
	if err := r.Ack(ctx, initial); err != nil {
		t.Fatal(err)
	}
	time.Sleep(700 * time.Millisecond)
	if got := slotConfirmed(t, conn, cfg.SlotName); got != end1 {
		t.Fatalf("confirmed_flush %s, want %s (second commit ends at %s)", FormatLSN(got), FormatLSN(end1), FormatLSN(second[len(second)-1].EndLSN))
	}
	if r.ServerWALEnd() < end1 {
		t.Fatalf("server WAL end %s before %s", FormatLSN(r.ServerWALEnd()), FormatLSN(end1))
	}
	// A position past anything the server sent (damaged bytes) is refused,
	// and the slot stays.
	if err := r.Ack(ctx, r.ServerWALEnd()+1<<40); err == nil || !strings.Contains(err.Error(), "refusing to acknowledge") {
		t.Fatalf("ack past the server's WAL end: %v", err)
	}
	if got := slotConfirmed(t, conn, cfg.SlotName); got != end1 {
		t.Fatalf("confirmed_flush %s after a refused ack, want %s", FormatLSN(got), FormatLSN(end1))
	}
	// A new reader resumes after the acknowledged transaction.
	r.Close(ctx)
	r2 := mustOpenLog(t, cfg, logOptions{})
	ev := readUntil(t, r2, func(e record.Event) bool { return e.Kind == record.EventChange })
	if got := string(ev[len(ev)-1].Change.Values[0].Text); got != "2" {
		t.Fatalf("resumed at row %s, want 2", got)
	}
	// A start before the confirmed position is refused.
	r2.Close(ctx)
	if _, err := openLog(ctx, FromConfig(cfg), logOptions{StartLSN: initial}); !errors.Is(err, ErrSlotPassed) {
		t.Fatalf("open before confirmed: %v, want ErrSlotPassed", err)
	}
}

func waitConfirmed(t *testing.T, conn *connect.Conn, slot string, want uint64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := slotConfirmed(t, conn, slot)
		if got == want {
			return
		}
		if got > want || time.Now().After(deadline) {
			t.Fatalf("confirmed_flush %s, want %s", FormatLSN(got), FormatLSN(want))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestLogKeepaliveWhileCallerBusy(t *testing.T) {
	t.Parallel()
	cfg, conn := logDB(t, "pgoutput")
	mustExec(t, conn, "CREATE TABLE t (id int PRIMARY KEY)")
	setupSlot(t, cfg, conn, nil)
	mustOpenLog(t, cfg, logOptions{StatusInterval: 200 * time.Millisecond})
	replyTime := func() *time.Time {
		var ts *time.Time
		err := pg.PGX(conn).QueryRow(context.Background(), `SELECT reply_time FROM pg_stat_replication
WHERE pid = (SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1)`, cfg.SlotName).Scan(&ts)
		if err != nil {
			t.Fatal(err)
		}
		return ts
	}
	deadline := time.Now().Add(5 * time.Second)
	var first *time.Time
	for time.Now().Before(deadline) { // the caller never calls Next
		ts := replyTime()
		if first == nil {
			first = ts
		} else if ts != nil && ts.After(*first) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no status update while the caller is busy: reply_time stayed %v", first)
}

func TestLogTerminatedWalsender(t *testing.T) {
	t.Parallel()
	for _, plugin := range []string{"pgoutput", "wal2json"} {
		t.Run(plugin, func(t *testing.T) {
			cfg, conn := logDB(t, plugin)
			mustExec(t, conn, "CREATE TABLE t (id int PRIMARY KEY)")
			setupSlot(t, cfg, conn, [][2]string{{"public", "t"}})
			r := mustOpenLog(t, cfg, logOptions{})
			mustExec(t, conn, "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1", cfg.SlotName)
			start := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err := r.Next(ctx)
			if !errors.Is(err, ErrLogLost) {
				t.Fatalf("Next after terminate: %v, want ErrLogLost", err)
			}
			t.Logf("error after %v: %v", time.Since(start), err)
			if _, err := r.Next(ctx); !errors.Is(err, ErrLogLost) {
				t.Fatalf("second Next: %v", err)
			}
			if err := r.Ack(ctx, 1); !errors.Is(err, ErrLogLost) {
				t.Fatalf("Ack after loss: %v", err)
			}
		})
	}
}

func TestLogMissingPublication(t *testing.T) {
	t.Parallel()
	cfg, conn := logDB(t, "pgoutput")
	if _, _, err := ensureSlot(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dropSlot(context.Background(), cfg) })
	r := mustOpenLog(t, cfg, logOptions{})
	mustExec(t, conn, "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1)")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := r.Next(ctx)
	if !errors.Is(err, ErrLogLost) || !strings.Contains(err.Error(), "create the publication before the slot") {
		t.Fatalf("missing publication: %v", err)
	}
}
