package logical

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/pg2s3/pg2s3/shared/postgres/internal/pg"
)

func TestEnsurePublication(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, conn := logDB(t, "pgoutput")
	mustExec(t, conn, `CREATE SCHEMA "My Schema"; CREATE TABLE "My Schema"."Order Items" (id int PRIMARY KEY); CREATE TABLE a (id int PRIMARY KEY); CREATE TABLE "a""b" (id int PRIMARY KEY)`)
	const pub = "Pub One"
	check := func(want [][2]string, all bool) {
		t.Helper()
		var pubAll bool
		if err := pg.PGX(conn).QueryRow(ctx, "SELECT puballtables FROM pg_publication WHERE pubname = $1", pub).Scan(&pubAll); err != nil || pubAll != all {
			t.Fatalf("puballtables %v %v, want %v", pubAll, err, all)
		}
		if all {
			return
		}
		got, err := publicationTables(ctx, pg.PGX(conn), pub)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("tables %v %v, want %v", got, err, want)
		}
	}
	steps := []struct {
		all    bool
		tables [][2]string
	}{
		{false, [][2]string{{"My Schema", "Order Items"}, {"public", "a"}}},
		{false, [][2]string{{"public", "a"}, {"public", `a"b`}, {"public", "a"}}},
		{false, nil},
		{false, [][2]string{{"public", `a"b`}}},
		{true, nil},
		{false, [][2]string{{"public", "a"}}},
	}
	for _, s := range steps {
		if err := ensurePublication(ctx, pg.PGX(conn), pub, s.all, s.tables); err != nil {
			t.Fatalf("%+v: %v", s, err)
		}
		check(pg.UniqueTables(s.tables), s.all)
		if err := ensurePublication(ctx, pg.PGX(conn), pub, s.all, s.tables); err != nil { // unchanged: no-op
			t.Fatal(err)
		}
	}

	role := "nopub_" + pg.PGX(conn).Config().Database
	mustExec(t, conn, "CREATE ROLE "+role+" LOGIN")
	t.Cleanup(func() { pg.PGX(conn).Exec(context.Background(), "DROP OWNED BY "+role+"; DROP ROLE "+role) })
	mustExec(t, conn, "GRANT CREATE ON DATABASE "+pg.PGX(conn).Config().Database+" TO "+role)
	mustExec(t, conn, "SET ROLE "+role)
	defer mustExec(t, conn, "RESET ROLE")
	err := ensurePublication(ctx, pg.PGX(conn), "theirs", false, [][2]string{{"public", "a"}})
	if !errors.Is(err, ErrPublicationPrivilege) {
		t.Fatalf("not owner: %v", err)
	}
	t.Log(err)
	if err := ensurePublication(ctx, pg.PGX(conn), "theirs_all", true, nil); !errors.Is(err, ErrPublicationPrivilege) {
		t.Fatalf("not superuser: %v", err)
	}
}
