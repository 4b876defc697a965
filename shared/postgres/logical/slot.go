package logical

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pg2s3/pg2s3/shared/postgres/connect"
	"github.com/pg2s3/pg2s3/shared/postgres/internal/pg"
)

// Errors about replication slots that callers branch on. The returned
// errors wrap them with the details and the fix.
var (
	ErrWALLevel             = errors.New("wal_level is not logical")
	ErrNoFreeSlot           = errors.New("no free replication slot")
	ErrSlotPlugin           = errors.New("replication slot uses another plugin")
	ErrSlotActive           = errors.New("replication slot is active elsewhere")
	ErrSlotNotFound         = errors.New("replication slot does not exist")
	ErrReplicationPrivilege = errors.New("user lacks the REPLICATION privilege")
	ErrSlotElsewhere        = errors.New("replication slot belongs to another database")
	ErrSlotWALRemoved       = errors.New("replication slot lost its WAL")
	errSlotNameInvalid      = errors.New("invalid slot name")
	slotNameRE              = regexp.MustCompile(`^[a-z0-9_]{1,63}$`)
	plainIdentRE            = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)
)

const (
	walLevelFix               = "run ALTER SYSTEM SET wal_level = logical and restart the server (RDS/Aurora: set rds.logical_replication = 1 in the parameter group and reboot)"
	replicationPrivilegeFixFm = "run ALTER ROLE %s REPLICATION as a superuser (RDS/Aurora: GRANT rds_replication TO %s)"
)

// SlotInfo describes a replication slot as pg_replication_slots shows it.
type SlotInfo struct {
	Name              string
	Plugin            string
	Active            bool
	ActivePID         int32
	Database          string
	Logical           bool
	ConfirmedFlushLSN uint64
	RestartLSN        uint64
	// RetainedBytes is how much WAL the slot holds back: the server's
	// current WAL position minus restart_lsn (0 on a standby).
	RetainedBytes int64
	// WALStatus is reserved, extended, unreserved or lost.
	WALStatus string
	Exists    bool
}

// getSlot reads the slot called name. A missing slot is not an error: the
// result has Exists false.
func getSlot(ctx context.Context, conn *pgx.Conn, name string) (SlotInfo, error) {
	info := SlotInfo{Name: name}
	var confirmed, restart string
	var retained *int64
	// wal_status (PostgreSQL 13+) is read through to_jsonb, so an older
	// server gives '' instead of an error.
	err := conn.QueryRow(ctx, `
SELECT coalesce(plugin, ''), slot_type = 'logical', coalesce(database, ''), active,
       coalesce(active_pid, 0), coalesce(confirmed_flush_lsn::text, ''),
       coalesce(restart_lsn::text, ''), coalesce(to_jsonb(s) ->> 'wal_status', ''),
       CASE WHEN pg_is_in_recovery() OR restart_lsn IS NULL THEN NULL
            ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint END
FROM pg_replication_slots s WHERE slot_name = $1`, name).Scan(
		&info.Plugin, &info.Logical, &info.Database, &info.Active, &info.ActivePID,
		&confirmed, &restart, &info.WALStatus, &retained)
	if errors.Is(err, pgx.ErrNoRows) {
		return info, nil
	}
	if err != nil {
		return info, fmt.Errorf("read slot %s: %w", name, err)
	}
	info.Exists = true
	if retained != nil {
		info.RetainedBytes = *retained
	}
	if info.ConfirmedFlushLSN, err = pg.ParseLSN(confirmed); err != nil {
		return info, fmt.Errorf("read slot %s: %w", name, err)
	}
	if info.RestartLSN, err = pg.ParseLSN(restart); err != nil {
		return info, fmt.Errorf("read slot %s: %w", name, err)
	}
	return info, nil
}

// ensureSlot creates the slot with the settings' plugin when it is
// missing and checks an existing one: it must be a logical slot of this
// database, use the configured plugin, still have its WAL and not be in
// use by another connection. The server must first be able to serve the
// settings (logReady).
func (src *Source) ensureSlot(ctx context.Context) (SlotInfo, bool, error) {
	s, conn := src.settings, src.conn
	name := s.Slot
	if err := validSlotName(name); err != nil {
		return SlotInfo{}, false, err
	}
	srv, err := connect.DetectServer(ctx, src.db)
	if err != nil {
		return SlotInfo{}, false, err
	}
	if err := logReady(srv, s); err != nil {
		return SlotInfo{}, false, fmt.Errorf("slot %s: %w", name, err)
	}
	info, err := getSlot(ctx, conn, name)
	if err != nil {
		return info, false, err
	}
	// The walsender of the run before may still be ending (under load, a
	// moment after its client left): wait a little for it, as OpenLog does.
	for wait := time.Now().Add(activeSlotWait); info.Exists && info.Active && time.Now().Before(wait); {
		select {
		case <-ctx.Done():
			return info, false, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if info, err = getSlot(ctx, conn, name); err != nil {
			return info, false, err
		}
	}
	if info.Exists {
		return info, false, checkSlot(info, s)
	}
	var level string
	if err := conn.QueryRow(ctx, "SHOW wal_level").Scan(&level); err != nil {
		return info, false, fmt.Errorf("read wal_level: %w", err)
	}
	if level != "logical" {
		return info, false, fmt.Errorf("create slot %s: %w (it is %s): %s", name, ErrWALLevel, level, walLevelFix)
	}
	_, err = conn.Exec(ctx, "SELECT pg_create_logical_replication_slot($1, $2)", name, s.Plugin)
	created := err == nil
	if err != nil {
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "42710" { // 42710: created meanwhile
			return info, false, explainSlotError(err, name, s)
		}
	}
	if info, err = getSlot(ctx, conn, name); err != nil {
		return info, false, err
	}
	if !info.Exists {
		return info, false, fmt.Errorf("create slot %s: %w: it vanished right after creation", name, ErrSlotNotFound)
	}
	if created {
		return info, true, nil
	}
	return info, false, checkSlot(info, s)
}

// DropSlot drops the slot; a missing slot is not an error.
func (src *Source) DropSlot(ctx context.Context) error {
	conn, name := src.conn, src.settings.Slot
	info, err := getSlot(ctx, conn, name)
	// A walsender that just ended (a run that stopped or was refused) may
	// hold the slot a moment longer: wait a little, as OpenLog does.
	for deadline := time.Now().Add(activeSlotWait); err == nil && info.Active && time.Now().Before(deadline); {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		info, err = getSlot(ctx, conn, name)
	}
	if err != nil || !info.Exists {
		return err
	}
	if info.Active {
		return fmt.Errorf("drop slot %s: %w (pid %d): stop that consumer first or end it with SELECT pg_terminate_backend(%d)", name, ErrSlotActive, info.ActivePID, info.ActivePID)
	}
	if _, err := conn.Exec(ctx, "SELECT pg_drop_replication_slot($1)", name); err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "42704" { // dropped meanwhile
			return nil
		}
		return explainSlotError(err, name, src.settings)
	}
	return nil
}

// checkSlot says why an existing slot cannot serve s, or nil.
func checkSlot(info SlotInfo, s Settings) error {
	name := info.Name
	switch {
	case !info.Logical:
		return fmt.Errorf("slot %s: %w: it is a physical slot: choose another slot_name", name, ErrSlotPlugin)
	case info.Database != s.Conn.DBName:
		return fmt.Errorf("slot %s: %w %q, not %q: choose another slot_name", name, ErrSlotElsewhere, info.Database, s.Conn.DBName)
	case info.Plugin != s.Plugin:
		return fmt.Errorf("slot %s: %w: it decodes with %s but logical_plugin is %s: set logical_plugin to %s, choose another slot_name, or recreate it with `pg2s3 reset --slot`",
			name, ErrSlotPlugin, info.Plugin, s.Plugin, info.Plugin)
	case info.WALStatus == "lost":
		return fmt.Errorf("slot %s: %w (wal_status lost, max_slot_wal_keep_size exceeded): changes are gone; recreate it and re-copy with `pg2s3 reset --slot`", name, ErrSlotWALRemoved)
	case info.Active:
		return fmt.Errorf("slot %s: %w (pid %d): one slot serves one consumer; stop the other one or choose another slot_name", name, ErrSlotActive, info.ActivePID)
	}
	return nil
}

// explainSlotError maps a server error about slots to a sentinel and a fix.
func explainSlotError(err error, name string, s Settings) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return fmt.Errorf("slot %s: %w", name, err)
	}
	user := s.Conn.User
	if !plainIdentRE.MatchString(user) {
		user = pgx.Identifier{user}.Sanitize()
	}
	switch {
	case pgErr.Code == "55000" && strings.Contains(pgErr.Message, "wal_level"):
		return fmt.Errorf("slot %s: %w: %s", name, ErrWALLevel, walLevelFix)
	case pgErr.Code == "53400":
		return fmt.Errorf("slot %s: %w (%s): raise max_replication_slots and restart, or drop an unused slot (SELECT slot_name, active FROM pg_replication_slots)", name, ErrNoFreeSlot, pgErr.Message)
	case pg.IsPluginRefusal(pgErr):
		return fmt.Errorf("slot %s: %w", name, connect.Server{}.PluginNotAllowed(s.Plugin))
	case pgErr.Code == "42501":
		return fmt.Errorf("slot %s: %w (%s): "+replicationPrivilegeFixFm, name, ErrReplicationPrivilege, pgErr.Message, user, user)
	case pgErr.Code == "55006":
		return fmt.Errorf("slot %s: %w (%s): one slot serves one consumer; stop the other one or choose another slot_name", name, ErrSlotActive, pgErr.Message)
	case pgErr.Code == "42704":
		return fmt.Errorf("slot %s: %w: create it with `pg2s3 setup-slot`", name, ErrSlotNotFound)
	case pgErr.Code == "58P01" || strings.Contains(pgErr.Message, "could not access file"):
		return fmt.Errorf("slot %s: output plugin %s is not installed on the server (%s): use logical_plugin pgoutput or install it", name, s.Plugin, pgErr.Message)
	}
	return fmt.Errorf("slot %s: %w", name, err)
}

func validSlotName(name string) error {
	if !slotNameRE.MatchString(name) {
		return fmt.Errorf("slot %q: %w: use 1 to 63 lower-case letters, digits and underscores", name, errSlotNameInvalid)
	}
	return nil
}
