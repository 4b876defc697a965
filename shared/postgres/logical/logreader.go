package logical

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
	"github.com/pg2s3/pg2s3/shared/deadline"
	"github.com/pg2s3/pg2s3/shared/postgres/connect"
	"github.com/pg2s3/pg2s3/shared/postgres/internal/pg"
	"github.com/pg2s3/pg2s3/shared/postgres/logical/internal/decode"
	"github.com/pg2s3/pg2s3/shared/record"
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

// statusInterval is how often a reader reports its position to the
// server, well under the default wal_sender_timeout of 60 s.
const statusInterval = 10 * time.Second

// activeSlotWait is how long OpenLog waits for another connection to let go
// of the slot (a previous run's walsender may linger a moment).
const activeSlotWait = 5 * time.Second

// logOptions choose where a logReader starts and what it keeps.
type logOptions struct {
	// StartLSN is where to start: 0 for the slot's confirmed position,
	// otherwise the last position acknowledged (an EndLSN); it may not be
	// older than the slot's confirmed_flush_lsn.
	StartLSN uint64
	// Tables keeps only these (schema, table) pairs; nil keeps all.
	Tables map[[2]string]bool
	// StatusInterval overrides statusInterval (tests).
	StatusInterval time.Duration
}

// logReader reads a logical replication slot and decodes it into Events
// (a record.Log). Next and Ack are meant for one goroutine; a background
// goroutine keeps the connection alive (status updates) while the caller
// is busy elsewhere.
type logReader struct {
	settings Settings
	conn     *pgconn.PgConn
	query    *pgx.Conn // catalog lookups for wal2json, opened when needed
	a        *decode.Assembler
	dec      decode.Decoder
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

// openLog starts streaming the settings' slot from opt.StartLSN over a
// replication connection. The slot must exist (ensureSlot) and use the
// settings' plugin.
func openLog(ctx context.Context, s Settings, opt logOptions) (*logReader, error) {
	if opt.StatusInterval <= 0 {
		opt.StatusInterval = statusInterval
	}
	if err := validSlotName(s.Slot); err != nil {
		return nil, err
	}
	r := &logReader{settings: s, a: decode.NewAssembler(opt.Tables), interval: opt.StatusInterval,
		stop: make(chan struct{}), done: make(chan struct{})}
	var args []string
	switch s.Plugin {
	case "pgoutput":
		if s.Publication == "" {
			return nil, errors.New("open log: pgoutput needs a publication name")
		}
		r.dec = decode.NewPgoutput(r.a)
		args = decode.PgoutputArgs(s.Publication)
	case "wal2json":
		r.dec = decode.NewWal2json(r.a, r.lookupColumns)
		args = decode.Wal2jsonArgs(opt.Tables)
	default:
		return nil, fmt.Errorf("open log: plugin %q is not pgoutput or wal2json", s.Plugin)
	}
	repl, err := connect.OpenReplication(ctx, s.Conn)
	if err != nil {
		return nil, err
	}
	conn := pg.PgConn(repl)
	r.conn = conn
	confirmed, err := r.waitForSlot(ctx)
	if err == nil && opt.StartLSN != 0 && opt.StartLSN < confirmed {
		err = fmt.Errorf("open slot %s: %w: it confirmed %s but the start is %s; changes in between are gone: re-copy with `pg2s3 reset`",
			s.Slot, ErrSlotPassed, FormatLSN(confirmed), FormatLSN(opt.StartLSN))
	}
	if err == nil {
		err = pglogrepl.StartReplication(ctx, conn, s.Slot, pglogrepl.LSN(opt.StartLSN),
			pglogrepl.StartReplicationOptions{Mode: pglogrepl.LogicalReplication, PluginArgs: args})
		switch {
		case pg.IsPluginRefusal(err):
			err = fmt.Errorf("start replication: slot %s: %w", s.Slot, explainPluginRefusal(ctx, s.Conn, s.Plugin))
		case err != nil:
			err = fmt.Errorf("start replication: %w", explainSlotError(err, s.Slot, s))
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
func (r *logReader) waitForSlot(ctx context.Context) (uint64, error) {
	deadline := time.Now().Add(activeSlotWait)
	sql := "SELECT coalesce(plugin, ''), coalesce(database, ''), active::text, coalesce(active_pid, 0)::text, " +
		"coalesce(confirmed_flush_lsn::text, ''), coalesce(to_jsonb(s) ->> 'wal_status', '') FROM pg_replication_slots s " + // wal_status: 13+
		"WHERE slot_type = 'logical' AND slot_name = " + pg.QuoteLiteral(r.settings.Slot) // validated name: replication connections take no parameters
	for {
		res, err := r.conn.Exec(ctx, sql).ReadAll()
		if err != nil {
			return 0, fmt.Errorf("read slot %s: %w", r.settings.Slot, err)
		}
		if len(res) != 1 || len(res[0].Rows) == 0 {
			return 0, fmt.Errorf("open slot %s: %w: create it with `pg2s3 setup-slot`", r.settings.Slot, ErrSlotNotFound)
		}
		row := res[0].Rows[0]
		info := SlotInfo{Name: r.settings.Slot, Exists: true, Logical: true, Plugin: string(row[0]), Database: string(row[1]),
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
		if err := checkSlot(info, r.settings); err != nil {
			return 0, err
		}
		return pg.ParseLSN(string(row[4]))
	}
}

// Next returns the next event. It blocks until one arrives or ctx is done,
// and then returns ctx's error: a short deadline tells "nothing more to
// read". Meanwhile it answers the server's keepalives and reports the last
// acknowledged position. Any other error is final and wraps ErrLogLost.
func (r *logReader) Next(ctx context.Context) (record.Event, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		if e, ok := r.a.Pop(); ok {
			return e, nil
		}
		if r.err != nil {
			return record.Event{}, r.err
		}
		if err := ctx.Err(); err != nil {
			return record.Event{}, err
		}
		if time.Since(r.lastStatus) >= r.interval {
			if err := r.sendStatus(); err != nil {
				return record.Event{}, err
			}
		}
		rctx, cancel := context.WithDeadline(ctx, r.lastStatus.Add(r.interval))
		msg, err := r.conn.ReceiveMessage(rctx)
		cancel()
		if err != nil {
			if pgconn.Timeout(err) || errors.Is(err, context.Canceled) {
				continue // ctx done (checked above) or a status update is due
			}
			return record.Event{}, r.fail(err)
		}
		if err := r.handle(ctx, msg); err != nil {
			return record.Event{}, r.fail(err)
		}
	}
}

func (r *logReader) handle(ctx context.Context, msg pgproto3.BackendMessage) error {
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
			before, _ := r.a.Commits()
			if err := r.dec.Decode(ctx, uint64(x.WALStart), x.WALData); err != nil {
				return err
			}
			// The server sends a commit at its end position: a commit whose
			// end is not the message's was damaged on the way (its position
			// would move the bookmark and the slot).
			if n, end := r.a.Commits(); n != before && end != uint64(x.WALStart) {
				return fmt.Errorf("commit ending at %s came in a message sent at %s: the stream is damaged", pg.FormatLSN(end), pg.FormatLSN(uint64(x.WALStart)))
			}
			return nil
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
func (r *logReader) fail(err error) error {
	hint := ""
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && strings.Contains(pgErr.Message, "publication") && strings.Contains(pgErr.Message, "does not exist") {
		hint = ": create the publication before the slot (`pg2s3 setup-slot` does both), or recreate the slot with `pg2s3 reset --slot`"
	}
	r.err = fmt.Errorf("%w: %w%s", ErrLogLost, err, hint) // whoever reads or acknowledges names the slot
	return r.err
}

func (r *logReader) noteWALEnd(lsn uint64) {
	for {
		old := r.walEnd.Load()
		if lsn <= old || r.walEnd.CompareAndSwap(old, lsn) {
			return
		}
	}
}

// sendStatus reports the acknowledged position; callers hold r.mu.
func (r *logReader) sendStatus() error {
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
func (r *logReader) Ack(ctx context.Context, flushLSN uint64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if end := r.walEnd.Load(); end != 0 && flushLSN > end {
		// Past anything the server sent: a position from damaged bytes.
		return fmt.Errorf("refusing to acknowledge %s on slot %s: the server's WAL ends at %s", pg.FormatLSN(flushLSN), r.settings.Slot, pg.FormatLSN(end))
	}
	if flushLSN > r.acked {
		r.acked = flushLSN
	}
	return r.sendStatus()
}

// Acked returns the position last acknowledged (at first the slot's
// confirmed_flush_lsn).
func (r *logReader) Acked() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.acked
}

// ServerWALEnd returns the highest server WAL position seen in keepalives
// and data messages.
func (r *logReader) ServerWALEnd() uint64 { return r.walEnd.Load() }

// keepalive sends status updates while the caller is not inside Next.
func (r *logReader) keepalive() {
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
func (r *logReader) Close(ctx context.Context) error {
	r.closeOnce.Do(func() { r.closeErr = r.close(ctx) })
	return r.closeErr
}

func (r *logReader) close(ctx context.Context) error {
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

// lookupColumns reads a table's columns for the wal2json decoder (see
// decode.Lookup).
func (r *logReader) lookupColumns(ctx context.Context, schema, table string) (columns []string, generated map[string]bool, err error) {
	ctx, cancel := deadline.Cleanup(ctx, 30*time.Second)
	defer cancel()
	if r.query == nil || r.query.IsClosed() {
		db, err := connect.Open(ctx, r.settings.Conn)
		if err != nil {
			return nil, nil, err
		}
		r.query = pg.PGX(db)
	}
	rows, err := r.query.Query(ctx, `
SELECT a.attname, a.attgenerated <> ''
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum`, schema, table)
	if err != nil {
		return nil, nil, err
	}
	generated = map[string]bool{}
	for rows.Next() {
		var name string
		var gen bool
		if err := rows.Scan(&name, &gen); err != nil {
			return nil, nil, err
		}
		if gen {
			generated[name] = true
		} else {
			columns = append(columns, name)
		}
	}
	return columns, generated, rows.Err()
}
