// Package pgtest gives the tests of the packages under shared/postgres a
// database of their own on their test server, and connections to it.
package pgtest

import (
	"context"
	"testing"

	"github.com/pg2s3/pg2s3/shared/config"
	"github.com/pg2s3/pg2s3/shared/postgres/connect"
	"github.com/pg2s3/pg2s3/shared/testenv"
)

// NewDB creates a database on server, named after prefix, runs setup in
// it (when not empty) and returns its config.
func NewDB(t testing.TB, server *testenv.Postgres, prefix, setup string) *config.Config {
	t.Helper()
	if server == nil {
		t.Fatal("TestMain did not start the test PostgreSQL server")
	}
	ctx := context.Background()
	_, dsn, err := server.NewDatabase(ctx, prefix)
	if err != nil {
		t.Fatal(err)
	}
	if setup != "" {
		if err := testenv.Exec(ctx, dsn, setup); err != nil {
			t.Fatalf("setup: %v", err)
		}
	}
	cfg, err := config.FromURL(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// Open opens a query connection with cfg's settings, closed when the test
// ends.
func Open(t testing.TB, cfg *config.Config) *connect.Conn {
	t.Helper()
	conn, err := connect.Open(context.Background(), connect.FromConfig(cfg))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}
