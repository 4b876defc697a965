package pgsource

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/pg2s3/pg2s3/shared/config"
	"github.com/pg2s3/pg2s3/shared/postgres/connect"
	"github.com/pg2s3/pg2s3/shared/postgres/internal/pg"
)

// Errors of the log reader that callers branch on.
var (
	// ErrLogLost: the replication stream failed (connection dropped,
	// walsender terminated, server error). Nothing past the last Ack is
	// confirmed; the next run resumes from there.
	ErrLogLost = errors.New("replication stream lost")
	// ErrSlotPassed: the slot already confirmed a position past the
	// requested start, so the changes in between are gone.
	ErrSlotPassed = errors.New("slot confirmed past the start position")
)

// DefaultStatusInterval is how often a reader reports its position to the
// server, well under the default wal_sender_timeout of 60 s.
const DefaultStatusInterval = 10 * time.Second

// activeSlotWait is how long OpenLog waits for another connection to let go
// of the slot (a previous run's walsender may linger a moment).
const activeSlotWait = 5 * time.Second

// LogOptions choose what a LogReader reads.
type LogOptions struct {
	// Slot, Plugin and Publication default to the config's.
	Slot, Plugin, Publication string
	// StartLSN is where to start: 0 for the slot's confirmed position,
	// otherwise the last position acknowledged (an EndLSN); it may not be
	// older than the slot's confirmed_flush_lsn.
	StartLSN uint64
	// Tables keeps only these (schema, table) pairs; nil keeps all.
	Tables map[[2]string]bool
	// StatusInterval overrides DefaultStatusInterval (tests).
	StatusInterval time.Duration
}

type logDecoder interface {
	decode(ctx context.Context, walStart uint64, data []byte) error
}

// LogReader reads a logical replication slot and decodes it into Events.
// Next and Ack are meant for one goroutine; a background goroutine keeps
// the connection alive (status updates) while the caller is busy elsewhere.
type LogReader struct {
	cfg      *config.Config
	opt      LogOptions
	conn     *pgconn.PgConn
	query    *pgx.Conn // catalog lookups for wal2json, opened when needed
	a        *assembler
	dec      logDecoder
	interval time.Duration

	mu         sync.Mutex // serialises use of conn
	acked      uint64
	lastStatus time.Time
	err        error // sticky: the stream is unusable
	walEnd     atomic.Uint64
	stop       chan struct{}
	done       chan struct{}
	closeOnce  sync.Once
	closeErr   error
}

// OpenLog starts streaming opt.Slot from opt.StartLSN over a replication
// connection. The slot must exist (EnsureSlot) and use opt.Plugin.
func OpenLog(ctx context.Context, cfg *config.Config, opt LogOptions) (*LogReader, error) {
	if opt.Slot == "" {
		opt.Slot = cfg.SlotName
	}
	if opt.Plugin == "" {
		opt.Plugin = cfg.LogicalPlugin
	}
	if opt.Publication == "" {
		opt.Publication = cfg.Publication
	}
	if opt.StatusInterval <= 0 {
		opt.StatusInterval = DefaultStatusInterval
	}
	if err := validSlotName(opt.Slot); err != nil {
		return nil, err
	}
	r := &LogReader{cfg: cfg, opt: opt, a: newAssembler(opt.Tables), interval: opt.StatusInterval,
		stop: make(chan struct{}), done: make(chan struct{})}
	var args []string
	switch opt.Plugin {
	case "pgoutput":
		if opt.Publication == "" {
			return nil, errors.New("open log: pgoutput needs a publication name")
		}
		r.dec = newPgoutputDecoder(r.a)
		args = pgoutputArgs(opt.Publication)
	case "wal2json":
		r.dec = newWal2jsonDecoder(r.a, r.lookupColumns)
		args = wal2jsonArgs(opt.Tables)
	default:
		return nil, fmt.Errorf("open log: plugin %q is not pgoutput or wal2json", opt.Plugin)
	}
	repl, err := connect.OpenReplication(ctx, connect.FromConfig(cfg))
	if err != nil {
		return nil, err
	}
	conn := pg.PgConn(repl)
	r.conn = conn
	confirmed, err := r.waitForSlot(ctx)
	if err == nil && opt.StartLSN != 0 && opt.StartLSN < confirmed {
		err = fmt.Errorf("open slot %s: %w: it confirmed %s but the start is %s; changes in between are gone: re-copy with `pg2s3 reset`",
			opt.Slot, ErrSlotPassed, FormatLSN(confirmed), FormatLSN(opt.StartLSN))
	}
	if err == nil {
		err = pglogrepl.StartReplication(ctx, conn, opt.Slot, pglogrepl.LSN(opt.StartLSN),
			pglogrepl.StartReplicationOptions{Mode: pglogrepl.LogicalReplication, PluginArgs: args})
		switch {
		case pg.IsPluginRefusal(err):
			err = fmt.Errorf("start replication: slot %s: %w", opt.Slot, explainPluginRefusal(ctx, cfg, opt.Plugin))
		case err != nil:
			err = fmt.Errorf("start replication: %w", explainSlotError(err, opt.Slot, cfgWithPlugin(cfg, opt.Plugin)))
		}
	}
	if err != nil {
		conn.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	r.acked = confirmed
	if err := r.sendStatus(); err != nil {
		conn.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	go r.keepalive()
	return r, nil
}

// waitForSlot checks the slot over the replication connection and waits a
// little for another consumer to release it. It returns confirmed_flush_lsn.
func (r *LogReader) waitForSlot(ctx context.Context) (uint64, error) {
	deadline := time.Now().Add(activeSlotWait)
	sql := "SELECT coalesce(plugin, ''), coalesce(database, ''), active::text, coalesce(active_pid, 0)::text, " +
		"coalesce(confirmed_flush_lsn::text, ''), coalesce(to_jsonb(s) ->> 'wal_status', '') FROM pg_replication_slots s " + // wal_status: 13+
		"WHERE slot_type = 'logical' AND slot_name = " + pg.QuoteLiteral(r.opt.Slot) // validated name: replication connections take no parameters
	for {
		res, err := r.conn.Exec(ctx, sql).ReadAll()
		if err != nil {
			return 0, fmt.Errorf("read slot %s: %w", r.opt.Slot, err)
		}
		if len(res) != 1 || len(res[0].Rows) == 0 {
			return 0, fmt.Errorf("open slot %s: %w: create it with `pg2s3 setup-slot`", r.opt.Slot, ErrSlotNotFound)
		}
		row := res[0].Rows[0]
		info := SlotInfo{Name: r.opt.Slot, Exists: true, Logical: true, Plugin: string(row[0]), Database: string(row[1]),
			Active: string(row[2]) == "true", WALStatus: string(row[5])}
		fmt.Sscan(string(row[3]), &info.ActivePID)
		if info.Active && time.Now().Before(deadline) {
			select {
			case <-ctx.Done():
				return 0, ctx.Err()
			case <-time.After(200 * time.Millisecond):
			}
			continue
		}
		if err := checkSlot(info, cfgWithPlugin(r.cfg, r.opt.Plugin)); err != nil {
			return 0, err
		}
		return pg.ParseLSN(string(row[4]))
	}
}

func cfgWithPlugin(cfg *config.Config, plugin string) *config.Config {
	c := *cfg
	c.LogicalPlugin = plugin
	return &c
}

// Next returns the next event. It blocks until one arrives or ctx is done,
// and then returns ctx's error: a short deadline tells "nothing more to
// read". Meanwhile it answers the server's keepalives and reports the last
// acknowledged position. Any other error is final and wraps ErrLogLost.
func (r *LogReader) Next(ctx context.Context) (Event, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		if len(r.a.out) > 0 {
			e := r.a.out[0]
			r.a.out[0] = Event{}
			r.a.out = r.a.out[1:]
			return e, nil
		}
		if r.err != nil {
			return Event{}, r.err
		}
		if err := ctx.Err(); err != nil {
			return Event{}, err
		}
		if time.Since(r.lastStatus) >= r.interval {
			if err := r.sendStatus(); err != nil {
				return Event{}, err
			}
		}
		rctx, cancel := context.WithDeadline(ctx, r.lastStatus.Add(r.interval))
		msg, err := r.conn.ReceiveMessage(rctx)
		cancel()
		if err != nil {
			if pgconn.Timeout(err) || errors.Is(err, context.Canceled) {
				continue // ctx done (checked above) or a status update is due
			}
			return Event{}, r.fail(err)
		}
		if err := r.handle(ctx, msg); err != nil {
			return Event{}, r.fail(err)
		}
	}
}

func (r *LogReader) handle(ctx context.Context, msg pgproto3.BackendMessage) error {
	switch m := msg.(type) {
	case *pgproto3.CopyData:
		if len(m.Data) == 0 {
			return nil
		}
		switch m.Data[0] {
		case pglogrepl.PrimaryKeepaliveMessageByteID:
			k, err := pglogrepl.ParsePrimaryKeepaliveMessage(m.Data[1:])
			if err != nil {
				return fmt.Errorf("parse keepalive: %w", err)
			}
			r.noteWALEnd(uint64(k.ServerWALEnd))
			if k.ReplyRequested {
				return r.sendStatus()
			}
		case pglogrepl.XLogDataByteID:
			x, err := pglogrepl.ParseXLogData(m.Data[1:])
			if err != nil {
				return fmt.Errorf("parse XLogData: %w", err)
			}
			r.noteWALEnd(uint64(x.ServerWALEnd))
			return r.dec.decode(ctx, uint64(x.WALStart), x.WALData)
		}
	case *pgproto3.ErrorResponse:
		return pgconn.ErrorResponseToPgError(m)
	case *pgproto3.CopyDone:
		return errors.New("the server ended the stream")
	case *pgproto3.NoticeResponse, *pgproto3.ParameterStatus:
	default:
		return fmt.Errorf("unexpected message %T", msg)
	}
	return nil
}

// fail records a final error; callers hold r.mu.
func (r *LogReader) fail(err error) error {
	hint := ""
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && strings.Contains(pgErr.Message, "publication") && strings.Contains(pgErr.Message, "does not exist") {
		hint = ": create the publication before the slot (`pg2s3 setup-slot` does both), or recreate the slot with `pg2s3 reset --slot`"
	}
	r.err = fmt.Errorf("read slot %s: %w: %w%s", r.opt.Slot, ErrLogLost, err, hint)
	return r.err
}

func (r *LogReader) noteWALEnd(lsn uint64) {
	for {
		old := r.walEnd.Load()
		if lsn <= old || r.walEnd.CompareAndSwap(old, lsn) {
			return
		}
	}
}

// sendStatus reports the acknowledged position; callers hold r.mu.
func (r *LogReader) sendStatus() error {
	if r.err != nil {
		return r.err
	}
	pos := pglogrepl.LSN(r.acked)
	err := pglogrepl.SendStandbyStatusUpdate(context.Background(), r.conn, pglogrepl.StandbyStatusUpdate{
		WALWritePosition: pos, WALFlushPosition: pos, WALApplyPosition: pos})
	if err != nil {
		return r.fail(fmt.Errorf("send status update: %w", err))
	}
	r.lastStatus = time.Now()
	return nil
}

// Ack confirms that everything up to flushLSN is durable, so the server may
// release that WAL. Call it only after the data and the bookmark are
// committed. The reported position never moves back and never exceeds what
// was acknowledged.
func (r *LogReader) Ack(ctx context.Context, flushLSN uint64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if flushLSN > r.acked {
		r.acked = flushLSN
	}
	return r.sendStatus()
}

// Acked returns the position last acknowledged (at first the slot's
// confirmed_flush_lsn).
func (r *LogReader) Acked() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.acked
}

// ServerWALEnd returns the highest server WAL position seen in keepalives
// and data messages.
func (r *LogReader) ServerWALEnd() uint64 { return r.walEnd.Load() }

// keepalive sends status updates while the caller is not inside Next.
func (r *LogReader) keepalive() {
	defer close(r.done)
	t := time.NewTicker(r.interval / 4)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			if r.mu.TryLock() {
				if r.err == nil && time.Since(r.lastStatus) >= r.interval {
					r.sendStatus()
				}
				r.mu.Unlock()
			}
		}
	}
}

// Close reports the acknowledged position one last time and closes the
// connections. Closing twice is harmless.
func (r *LogReader) Close(ctx context.Context) error {
	r.closeOnce.Do(func() { r.closeErr = r.close(ctx) })
	return r.closeErr
}

func (r *LogReader) close(ctx context.Context) error {
	close(r.stop)
	<-r.done
	r.mu.Lock()
	defer r.mu.Unlock()
	var err error
	if r.err == nil {
		err = r.sendStatus()
		r.err = errors.New("log reader closed")
	}
	if cerr := r.conn.Close(ctx); err == nil && cerr != nil && !strings.Contains(cerr.Error(), "closed") {
		err = fmt.Errorf("close replication connection: %w", cerr)
	}
	if r.query != nil {
		r.query.Close(ctx)
	}
	return err
}

// lookupColumns reads a table's columns for the wal2json decoder.
func (r *LogReader) lookupColumns(ctx context.Context, schema, table string) (w2jTable, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	t := w2jTable{generated: map[string]bool{}}
	if r.query == nil || r.query.IsClosed() {
		db, err := connect.Open(ctx, connect.FromConfig(r.cfg))
		if err != nil {
			return t, err
		}
		r.query = pg.PGX(db)
	}
	rows, err := r.query.Query(ctx, `
SELECT a.attname, a.attgenerated <> ''
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum`, schema, table)
	if err != nil {
		return t, err
	}
	for rows.Next() {
		var name string
		var gen bool
		if err := rows.Scan(&name, &gen); err != nil {
			return t, err
		}
		if gen {
			t.generated[name] = true
		} else {
			t.columns = append(t.columns, name)
		}
	}
	return t, rows.Err()
}
