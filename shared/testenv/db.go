package testenv

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
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

// RowsByID runs query on dsn and returns its rows as PostgreSQL's JSON
// encodes them (numbers as json.Number), keyed by the text of column "id":
// what a test compares replicated rows with.
func RowsByID(ctx context.Context, dsn, query string) (map[string]map[string]any, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	var doc string
	if err := conn.QueryRow(ctx, "SELECT coalesce(json_agg(x), '[]')::text FROM ("+query+") x").Scan(&doc); err != nil {
		return nil, fmt.Errorf("read %s: %w", query, err)
	}
	dec := json.NewDecoder(strings.NewReader(doc))
	dec.UseNumber()
	var rows []map[string]any
	if err := dec.Decode(&rows); err != nil {
		return nil, err
	}
	out := map[string]map[string]any{}
	for _, r := range rows {
		out[fmt.Sprint(r["id"])] = r
	}
	return out, nil
}

// QueryValue scans the single value of a one-row query on dsn into dest.
func QueryValue(ctx context.Context, dsn, sql string, dest any) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	return conn.QueryRow(ctx, sql).Scan(dest)
}
