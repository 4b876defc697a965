package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// ErrNotPrivate is returned for what only a cluster started by testenv can
// do (PG2S3_TEST_DSN names a server the harness does not own).
var ErrNotPrivate = errors.New("needs a private cluster started by testenv (PG2S3_TEST_DSN names an existing server)")

// StartStandby starts a streaming replica of p: a base backup taken with
// pg_basebackup -R (which writes standby.signal and primary_conninfo),
// served as a hot standby on a free loopback port. It returns once the
// replica accepts connections in recovery. Stop stops it and removes its
// files; stopping p does not.
func (p *Postgres) StartStandby() (*Postgres, error) {
	if !p.owned {
		return nil, ErrNotPrivate
	}
	dir, err := os.MkdirTemp("", "pg2s3-standby-")
	if err != nil {
		return nil, err
	}
	s := &Postgres{Host: p.Host, User: p.User, BinDir: p.BinDir, DataDir: filepath.Join(dir, "data"), owned: true, runAs: p.runAs}
	if err := s.clone(p, dir); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := s.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := s.waitInRecovery(context.Background(), time.Minute); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// clone fills s.DataDir with a base backup of primary and gives s a port
// and socket directory of its own.
func (s *Postgres) clone(primary *Postgres, dir string) error {
	if err := s.chown(dir); err != nil {
		return err
	}
	out, err := s.run(s.Bin("pg_basebackup"), "-h", primary.Host, "-p", fmt.Sprint(primary.Port), "-U", primary.User,
		"-D", s.DataDir, "-R", "-X", "stream", "--checkpoint=fast", "--no-sync")
	if err != nil {
		return fmt.Errorf("pg_basebackup: %v: %s", err, tail(string(out), 2000))
	}
	port, err := FreePort()
	if err != nil {
		return err
	}
	s.Port = port
	// The copied postgresql.conf names the primary's port and socket
	// directory; later lines win.
	conf := fmt.Sprintf("port = %d\nunix_socket_directories = '%s'\n", port, dir)
	return appendFile(filepath.Join(s.DataDir, "postgresql.conf"), conf)
}

// waitInRecovery waits until s accepts connections and reports that it
// is in recovery.
func (s *Postgres) waitInRecovery(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		var recovery bool
		err := QueryValue(ctx, s.DSN(""), "SELECT pg_is_in_recovery()", &recovery)
		switch {
		case err == nil && recovery:
			return nil
		case err == nil:
			return fmt.Errorf("standby on port %d is not in recovery (no standby.signal?)", s.Port)
		case time.Now().After(deadline):
			return fmt.Errorf("standby on port %d did not accept connections within %v: %w", s.Port, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// WaitReplayed waits until standby has replayed the WAL p had inserted
// when called: then a read on the standby sees every transaction p had
// committed. With synchronous_commit off, p may hold that WAL in its
// buffers for seconds (the WAL writer flushes only behind asynchronous
// commits), and a standby receives only flushed WAL: a transaction that
// commits synchronously flushes it.
func (p *Postgres) WaitReplayed(ctx context.Context, standby *Postgres, timeout time.Duration) error {
	var target string
	if err := QueryValue(ctx, p.DSN(""), "SELECT pg_current_wal_insert_lsn()::text", &target); err != nil {
		return fmt.Errorf("read the primary's WAL position: %w", err)
	}
	if err := Exec(ctx, p.DSN(""), "SELECT set_config('synchronous_commit', 'on', true), txid_current()"); err != nil {
		return fmt.Errorf("flush the primary's WAL: %w", err)
	}
	// target is the server's own text for an LSN: safe to inline.
	caughtUp := "SELECT coalesce(pg_last_wal_replay_lsn() >= '" + target + "'::pg_lsn, false)"
	for deadline := time.Now().Add(timeout); ; time.Sleep(50 * time.Millisecond) {
		var done bool
		if err := QueryValue(ctx, standby.DSN(""), caughtUp, &done); err != nil {
			return fmt.Errorf("read the standby's replay position: %w", err)
		}
		if done {
			return nil
		}
		if time.Now().After(deadline) {
			var replayed string
			QueryValue(ctx, standby.DSN(""), "SELECT coalesce(pg_last_wal_replay_lsn()::text, 'nothing')", &replayed)
			return fmt.Errorf("standby replayed up to %s, not %s, within %v", replayed, target, timeout)
		}
	}
}
