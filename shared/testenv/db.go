package testenv

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
)

var dbSeq atomic.Int64

// NewDatabase creates a fresh database with a unique name and returns its
// name and superuser DSN. Tests use one database each, so they never see
// each other's tables or slots' data.
func (p *Postgres) NewDatabase(ctx context.Context, prefix string) (string, string, error) {
	name := fmt.Sprintf("%s_%d", prefix, dbSeq.Add(1))
	conn, err := pgx.Connect(ctx, p.DSN(""))
	if err != nil {
		return "", "", fmt.Errorf("connect to test server: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", "", fmt.Errorf("create database %s: %w", name, err)
	}
	return name, p.DSN(name), nil
}

// Exec runs SQL statements (simple protocol, several allowed) on dsn.
func Exec(ctx context.Context, dsn string, sql string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql, pgx.QueryExecModeSimpleProtocol)
	return err
}
