package connect_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pg2s3/pg2s3/shared/config"
	"github.com/pg2s3/pg2s3/shared/postgres/connect"
	"github.com/pg2s3/pg2s3/shared/postgres/internal/pg"
	"github.com/pg2s3/pg2s3/shared/postgres/internal/pgtest"
	"github.com/pg2s3/pg2s3/shared/testenv"
	"golang.org/x/crypto/ssh"
)

// bastion is a test SSH server that accepts an Ed25519 key, an RSA key
// with a passphrase and a password for user pg2s3.
type bastion struct {
	sshd                 *testenv.SSHD
	edPEM, rsaPEM, rsaPP string
}

func startBastion(t *testing.T) *bastion {
	t.Helper()
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	b := &bastion{rsaPP: "correct horse battery"}
	edBlock, err := ssh.MarshalPrivateKey(ed, "")
	if err != nil {
		t.Fatal(err)
	}
	rsaBlock, err := ssh.MarshalPrivateKeyWithPassphrase(rk, "", []byte(b.rsaPP))
	if err != nil {
		t.Fatal(err)
	}
	b.edPEM, b.rsaPEM = string(pem.EncodeToMemory(edBlock)), string(pem.EncodeToMemory(rsaBlock))
	edPub, _ := ssh.NewPublicKey(ed.Public())
	rsaPub, _ := ssh.NewPublicKey(&rk.PublicKey)
	b.sshd, err = testenv.StartSSHD(testenv.SSHDOptions{AuthorizedKeys: []ssh.PublicKey{edPub, rsaPub}, Password: "bastion password"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.sshd.Close)
	return b
}

func (b *bastion) tunnel() *config.SSHTunnel {
	return &config.SSHTunnel{Host: b.sshd.Host, Port: b.sshd.Port, User: "pg2s3", HostKey: b.sshd.KnownHostsLine()}
}

func (b *bastion) settle(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for b.sshd.OpenChannels() != 0 || b.sshd.Clients() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("tunnel left open: %d channels, %d SSH connections", b.sshd.OpenChannels(), b.sshd.Clients())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestConnectThroughTunnel(t *testing.T) {
	b := startBastion(t)
	for _, tc := range []struct {
		name string
		set  func(*config.SSHTunnel)
		host string
	}{
		{"ed25519 key", func(s *config.SSHTunnel) { s.PrivateKey = b.edPEM }, ""},
		{"rsa key with passphrase", func(s *config.SSHTunnel) { s.PrivateKey, s.Passphrase = b.rsaPEM, b.rsaPP }, ""},
		{"password, host resolved by the bastion", func(s *config.SSHTunnel) { s.Password = "bastion password" }, "localhost"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cfg := pgtest.NewDB(t, testPG, "tunnel", "")
			cfg.SSHTunnel = b.tunnel()
			tc.set(cfg.SSHTunnel)
			if tc.host != "" {
				cfg.Host = tc.host
			}
			before := b.sshd.Channels()
			conn, err := connect.Open(ctx, connect.FromConfig(cfg))
			if err != nil {
				t.Fatal(err)
			}
			var db string
			if err := pg.PGX(conn).QueryRow(ctx, "SELECT current_database()").Scan(&db); err != nil || db != cfg.DBName {
				t.Fatalf("query through tunnel: %q, %v", db, err)
			}
			rc, err := connect.OpenReplication(ctx, connect.FromConfig(cfg))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := pg.PgConn(rc).Exec(ctx, "IDENTIFY_SYSTEM").ReadAll(); err != nil {
				t.Fatalf("IDENTIFY_SYSTEM through tunnel: %v", err)
			}
			if n := b.sshd.Channels() - before; n != 2 {
				t.Errorf("%d connections went through the bastion, want 2 (query and replication)", n)
			}
			rc.Close(ctx)
			conn.Close(ctx)
			b.settle(t)
		})
	}
}

func TestCancelThroughTunnel(t *testing.T) {
	b := startBastion(t)
	cfg := pgtest.NewDB(t, testPG, "tunnel", "")
	cfg.SSHTunnel = b.tunnel()
	cfg.SSHTunnel.PrivateKey = b.edPEM
	conn, err := connect.Open(context.Background(), connect.FromConfig(cfg))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = pg.PGX(conn).Exec(ctx, "SELECT pg_sleep(20)")
	if err == nil {
		t.Fatal("pg_sleep was not cancelled")
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("cancel took %s", d)
	}
	conn.Close(context.Background())
	b.settle(t)
}

func TestTunnelConnectErrors(t *testing.T) {
	b := startBastion(t)
	impostor, err := testenv.StartSSHD(testenv.SSHDOptions{Password: "bastion password"})
	if err != nil {
		t.Fatal(err)
	}
	defer impostor.Close()
	closed, _ := testenv.FreePort()
	cfg := pgtest.NewDB(t, testPG, "tunnel", "")
	for _, tc := range []struct {
		name string
		set  func(*config.Config)
		want []string
	}{
		{"unknown host key", func(c *config.Config) { c.SSHTunnel.Port, c.SSHTunnel.Password = impostor.Port, "bastion password" },
			[]string{"through ssh tunnel", "ssh_tunnel.host_key pins", ssh.FingerprintSHA256(impostor.HostKey), ssh.FingerprintSHA256(b.sshd.HostKey)}},
		{"wrong passphrase", func(c *config.Config) { c.SSHTunnel.PrivateKey, c.SSHTunnel.Passphrase = b.rsaPEM, "not the phrase" },
			[]string{"passphrase does not decrypt"}},
		{"wrong password", func(c *config.Config) { c.SSHTunnel.Password = "not the password" }, []string{"refused the key or password"}},
		{"unreachable bastion", func(c *config.Config) { c.SSHTunnel.Port, c.SSHTunnel.Password = closed, "bastion password" },
			[]string{"open ssh tunnel", "connection refused"}},
		{"database unreachable from the bastion", func(c *config.Config) { c.SSHTunnel.Password, c.Port = "bastion password", closed },
			[]string{"the bastion could not reach the database"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := *cfg
			c.SSHTunnel = b.tunnel()
			tc.set(&c)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			conn, err := connect.Open(ctx, connect.FromConfig(&c))
			if err == nil {
				conn.Close(ctx)
				t.Fatal("connected")
			}
			t.Log(err)
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q", w)
				}
			}
			for _, sec := range []string{b.edPEM, b.rsaPEM, b.rsaPP, "bastion password", "not the phrase", "not the password"} {
				if strings.Contains(err.Error(), sec) {
					t.Errorf("error shows secret %.20q", sec)
				}
			}
			b.settle(t)
		})
	}
}

// TestDetectServer reads the features of the real server.
func TestDetectServer(t *testing.T) {
	srv, err := connect.DetectServer(context.Background(), pgtest.Open(t, pgtest.NewDB(t, testPG, "detect", "")))
	if err != nil {
		t.Fatal(err)
	}
	if srv.Version < 150000 || srv.InRecovery || srv.RDS {
		t.Errorf("PostgreSQL 15 primary: %+v", srv)
	}
	if srv.HasAllowList && !srv.PluginAllowed("wal2json") {
		t.Errorf("testenv admits wal2json: %+v", srv)
	}
}

// testPG is the package's private cluster, started once by TestMain, for
// the tests that connect to a server they do not start themselves.
var testPG *testenv.Postgres

func TestMain(m *testing.M) {
	os.Exit(testenv.RunWithPostgres(m, &testPG, testenv.PostgresOptions{}))
}
