package connect

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pg2s3/pg2s3/shared/config"
	"github.com/pg2s3/pg2s3/shared/postgres/internal/pg"
	"github.com/pg2s3/pg2s3/shared/testenv"
)

// sslCluster is a private cluster with ssl=on whose pg_hba.conf accepts
// only hostssl connections (certuser by client certificate), listening on
// 127.0.0.1 and 127.0.0.2; its certificate names 127.0.0.1 and localhost.
type sslCluster struct {
	pg    *testenv.Postgres
	certs *testenv.TLSFiles
}

func startSSLCluster(t *testing.T) *sslCluster {
	t.Helper()
	if os.Getenv("PG2S3_TEST_DSN") != "" {
		t.Skip("needs a private cluster (PG2S3_TEST_DSN names an existing server)")
	}
	dir, err := os.MkdirTemp("", "pg2s3-ssl-")
	if err != nil {
		t.Fatal(err)
	}
	certs, err := testenv.GenerateTLS(filepath.Join(dir, "tls"), []string{"127.0.0.1", "localhost"}, "certuser")
	if err != nil {
		t.Fatal(err)
	}
	pg, err := testenv.StartPostgres(testenv.PostgresOptions{
		Dir:       dir,
		ExtraConf: append(certs.ServerConf(), "listen_addresses = '127.0.0.1,127.0.0.2'"),
		HBA: "local all all trust\n" +
			"hostssl all certuser 127.0.0.0/8 cert\n" +
			"hostssl all all 127.0.0.0/8 trust\n" +
			"hostssl replication all 127.0.0.0/8 trust\n",
	})
	if err != nil {
		os.RemoveAll(dir)
		t.Fatal(err)
	}
	t.Cleanup(pg.Stop)
	dsn := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=require", pg.Port)
	if err := testenv.Exec(context.Background(), dsn, "CREATE ROLE certuser LOGIN; CREATE ROLE repl LOGIN REPLICATION"); err != nil {
		t.Fatal(err)
	}
	return &sslCluster{pg: pg, certs: certs}
}

// cfg parses a config for the cluster's postgres database; kv overrides.
func (s *sslCluster) cfg(t *testing.T, kv map[string]any) *config.Config {
	t.Helper()
	m := map[string]any{"host": "127.0.0.1", "port": s.pg.Port, "user": "postgres", "dbname": "postgres"}
	for k, v := range kv {
		m[k] = v
	}
	b, _ := json.Marshal(m)
	c, err := config.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// connectedWithSSL connects and reports whether pg_stat_ssl says the
// session is encrypted.
func connectedWithSSL(c *config.Config) (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := Open(ctx, FromConfig(c))
	if err != nil {
		return false, err
	}
	defer conn.Close(ctx)
	var ssl bool
	err = pg.PGX(conn).QueryRow(ctx, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").Scan(&ssl)
	return ssl, err
}

func TestSSLModes(t *testing.T) {
	s := startSSLCluster(t)
	otherCA, err := testenv.GenerateTLS(t.TempDir(), []string{"127.0.0.1"}, "nobody")
	if err != nil {
		t.Fatal(err)
	}
	ok := []struct {
		name string
		kv   map[string]any
	}{
		{"verify-full with a CA file", map[string]any{"sslmode": "verify-full", "sslrootcert": s.certs.CAFile}},
		{"verify-full with an inline CA and a DNS name", map[string]any{"sslmode": "verify-full", "sslrootcert": string(s.certs.CAPEM), "host": "localhost"}},
		{"verify-ca ignores the name", map[string]any{"sslmode": "verify-ca", "sslrootcert": s.certs.CAFile, "host": "127.0.0.2"}},
		{"require", map[string]any{"sslmode": "require"}},
		{"prefer", map[string]any{"sslmode": "prefer"}},
		{"allow falls back to SSL", map[string]any{"sslmode": "allow"}},
		{"tap-postgres ssl true", map[string]any{"ssl": "true"}},
		{"client certificate files", map[string]any{"sslmode": "verify-full", "sslrootcert": s.certs.CAFile, "user": "certuser",
			"sslcert": s.certs.ClientCertFile, "sslkey": s.certs.ClientKey}},
		{"client certificate inline", map[string]any{"sslmode": "verify-full", "sslrootcert": s.certs.CAFile, "user": "certuser",
			"sslcert": string(s.certs.ClientCertPEM), "sslkey": string(s.certs.ClientKeyPEM)}},
	}
	for _, tc := range ok {
		t.Run(tc.name, func(t *testing.T) {
			ssl, err := connectedWithSSL(s.cfg(t, tc.kv))
			if err != nil {
				t.Fatal(err)
			}
			if !ssl {
				t.Error("pg_stat_ssl says the session is not encrypted")
			}
		})
	}
	t.Run("rds bundle from PG2S3_RDS_CA", func(t *testing.T) {
		// The test CA stands in for the RDS bundle: what is tested is
		// where "rds" finds its file.
		c := s.cfg(t, map[string]any{"sslmode": "verify-full", "sslrootcert": "rds"})
		c.RDSBundleFile = s.certs.CAFile
		if _, err := connectedWithSSL(c); err != nil {
			t.Fatal(err)
		}
	})

	fail := []struct {
		name string
		kv   map[string]any
		want string
	}{
		{"verify-full with a wrong CA", map[string]any{"sslmode": "verify-full", "sslrootcert": otherCA.CAFile},
			"not signed by a CA in sslrootcert (" + otherCA.CAFile + ")"},
		{"verify-full with the system store", map[string]any{"sslmode": "verify-full"}, "not signed by a CA in sslrootcert (unset"},
		{"require with a root certificate verifies it", map[string]any{"sslmode": "require", "sslrootcert": otherCA.CAFile}, "not signed by a CA"},
		{"verify-full with a wrong host name", map[string]any{"sslmode": "verify-full", "sslrootcert": s.certs.CAFile, "host": "127.0.0.2"},
			`does not name host "127.0.0.2" (it names localhost, 127.0.0.1)`},
		{"disable on a hostssl-only server", map[string]any{"sslmode": "disable"}, "admits a connection without SSL"},
		{"cert auth without a certificate", map[string]any{"sslmode": "verify-full", "sslrootcert": s.certs.CAFile, "user": "certuser"}, "requires a valid client certificate"},
		{"client certificate of another CA", map[string]any{"sslmode": "require", "user": "certuser",
			"sslcert": otherCA.ClientCertFile, "sslkey": otherCA.ClientKey}, "connect to 127.0.0.1"},
		{"missing root file", map[string]any{"sslmode": "verify-full", "sslrootcert": "/nonexistent/root.crt"}, "sslrootcert: read /nonexistent/root.crt"},
		{"rds bundle missing", map[string]any{"sslmode": "verify-full", "sslrootcert": "rds"}, "truststore.pki.rds.amazonaws.com"},
	}
	for _, tc := range fail {
		t.Run(tc.name, func(t *testing.T) {
			c := s.cfg(t, tc.kv)
			if tc.kv["sslrootcert"] == "rds" {
				c.RDSBundleFile = "/nonexistent/rds.pem"
				if _, err := rdsBundle(c.RDSBundleFile); err == nil {
					t.Skip("an RDS bundle is installed on this machine")
				}
			}
			_, err := connectedWithSSL(c)
			if err == nil {
				t.Fatal("connected")
			}
			t.Log(err)
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q\ndoes not say %q", err, tc.want)
			}
			if sk, ok := tc.kv["sslkey"].(string); ok && strings.Contains(err.Error(), sk) && strings.HasPrefix(sk, "-----") {
				t.Error("the error shows the client key")
			}
		})
	}
}

func TestSSLReplicationConnection(t *testing.T) {
	s := startSSLCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := s.cfg(t, map[string]any{"sslmode": "verify-full", "sslrootcert": s.certs.CAFile, "user": "repl"})
	rc, err := OpenReplication(ctx, FromConfig(c))
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close(ctx)
	q, err := Open(ctx, FromConfig(s.cfg(t, map[string]any{"sslmode": "require"})))
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close(ctx)
	var ssl bool
	var kind string
	err = pg.PGX(q).QueryRow(ctx, `SELECT s.ssl, a.backend_type FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE pid = $1`, pg.PgConn(rc).PID()).Scan(&ssl, &kind)
	if err != nil {
		t.Fatal(err)
	}
	if !ssl || kind != "walsender" {
		t.Errorf("replication connection: ssl=%v backend_type=%s, want an encrypted walsender", ssl, kind)
	}
	_, err = OpenReplication(ctx, FromConfig(s.cfg(t, map[string]any{"sslmode": "disable", "user": "repl"})))
	if err == nil || !strings.Contains(err.Error(), "admits a connection without SSL") {
		t.Errorf("replication with sslmode disable: %v", err)
	}
}

func TestSSLConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		doc, want string
	}{
		{`{"sslcert": "/c.crt"}`, "sslcert and sslkey: set both"},
		{`{"sslrootcert": "system", "sslmode": "require"}`, `"system" needs sslmode verify-full`},
		{`{"sslmode": "verify-everything"}`, "sslmode"},
	} {
		m := map[string]any{"host": "h", "user": "u", "dbname": "d"}
		json.Unmarshal([]byte(tc.doc), &m)
		b, _ := json.Marshal(m)
		_, err := config.Parse(b)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.doc, err, tc.want)
		}
	}
}
