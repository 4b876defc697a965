package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pg2s3/pg2s3/shared/catalog"
	"github.com/pg2s3/pg2s3/shared/config"
	"github.com/pg2s3/pg2s3/shared/testenv"
	"golang.org/x/crypto/ssh"
)

// sshBastion starts the test SSH server accepting a new Ed25519 key, a new
// RSA key under passphrase and password for user pg2s3; it returns the
// server and the two private keys in PEM.
func sshBastion(t *testing.T, passphrase, password string) (*testenv.SSHD, string, string) {
	t.Helper()
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	edBlock, _ := ssh.MarshalPrivateKey(ed, "")
	rsaBlock, err := ssh.MarshalPrivateKeyWithPassphrase(rk, "", []byte(passphrase))
	if err != nil {
		t.Fatal(err)
	}
	edPub, _ := ssh.NewPublicKey(ed.Public())
	rsaPub, _ := ssh.NewPublicKey(&rk.PublicKey)
	s, err := testenv.StartSSHD(testenv.SSHDOptions{AuthorizedKeys: []ssh.PublicKey{edPub, rsaPub}, Password: password})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, string(pem.EncodeToMemory(edBlock)), string(pem.EncodeToMemory(rsaBlock))
}

func tunnelClosed(t *testing.T, s *testenv.SSHD, after string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for s.Clients() != 0 || s.OpenChannels() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %d SSH connections and %d channels still open", after, s.Clients(), s.OpenChannels())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSyncThroughTunnel: discover, setup-slot, a table sync and two WAL
// drains, every connection through the bastion, none left open after.
func TestSyncThroughTunnel(t *testing.T) {
	sshd, edKey, _ := sshBastion(t, "unused", "")
	db, configFor := cliDB(t, "tunnel_flow", `
CREATE TABLE items (id int PRIMARY KEY, name text);
CREATE TABLE events (id bigint PRIMARY KEY, kind text);
INSERT INTO items SELECT g, 'i' || g FROM generate_series(1, 40) g;
INSERT INTO events SELECT g, 'e' FROM generate_series(1, 10) g;`)
	dir := t.TempDir()
	// "localhost": the bastion, not pg2s3, resolves the database's name.
	cfg := configFor(map[string]any{"host": "localhost",
		"ssh_tunnel": map[string]any{"host": sshd.Host, "port": sshd.Port, "user": "pg2s3", "private_key": edKey, "host_key": sshd.KnownHostsLine()},
		"sink":       map[string]any{"type": "local", "path": filepath.Join(dir, "out")},
		"bookmarks":  map[string]any{"type": "file", "path": filepath.Join(dir, "bm.json")}})
	code, out, errOut := run("discover", "--config", cfg)
	if code != 0 {
		t.Fatalf("discover: %s", errOut)
	}
	tunnelClosed(t, sshd, "discover")
	cat, err := catalog.Parse([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range cat.Streams {
		s.SetTableMetadata("selected", true)
		if s.TableName == "events" {
			s.SetTableMetadata("replication-method", "LOG_BASED")
		}
	}
	b, _ := cat.Marshal()
	catPath := filepath.Join(dir, "catalog.json")
	os.WriteFile(catPath, b, 0o644)
	if code, out, errOut := run("setup-slot", "--config", cfg, "--catalog", catPath); code != 0 {
		t.Fatalf("setup-slot: %s %s", out, errOut)
	}
	before := sshd.Channels()
	if code, out, errOut := run("sync", "--config", cfg, "--catalog", catPath); code != 0 || !strings.Contains(out, db+"-public-items") {
		t.Fatalf("sync: %d %s %s", code, out, errOut)
	}
	tunnelClosed(t, sshd, "the first sync")
	if err := testenv.Exec(t.Context(), testPG.DSN(db), "INSERT INTO events SELECT g, 'late' FROM generate_series(11, 15) g"); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = run("sync", "--config", cfg, "--catalog", catPath, "--only", "wal")
	if code != 0 || !strings.Contains(out, db+"-public-events") {
		t.Fatalf("wal drain: %d %s %s", code, out, errOut)
	}
	tunnelClosed(t, sshd, "the WAL drain")
	if sshd.Channels()-before < 3 {
		t.Errorf("only %d connections went through the bastion during the runs", sshd.Channels()-before)
	}
	found := false
	filepath.Walk(filepath.Join(dir, "out"), func(p string, _ os.FileInfo, _ error) error {
		found = found || strings.Contains(p, "events")
		return nil
	})
	if !found {
		t.Error("no events objects were written by the drain through the tunnel")
	}
}

// TestSecretsNeverPrinted runs failing commands and greps everything they
// print for the password, keys, passphrases and the connection string.
func TestSecretsNeverPrinted(t *testing.T) {
	const (
		dbPassword  = "Db-S3cret-'quoted' pw"
		passphrase  = "ph-S3cret passphrase"
		sshPassword = "ssh-S3cret password"
	)
	sshd, edKey, rsaKey := sshBastion(t, passphrase, sshPassword)
	impostor, err := testenv.StartSSHD(testenv.SSHDOptions{Password: sshPassword})
	if err != nil {
		t.Fatal(err)
	}
	defer impostor.Close()
	_, configFor := cliDB(t, "secrets", "CREATE TABLE t (id int PRIMARY KEY);")
	dir := t.TempDir()
	good := configFor(map[string]any{"sink": map[string]any{"type": "local", "path": filepath.Join(dir, "out")},
		"bookmarks": map[string]any{"type": "file", "path": filepath.Join(dir, "bm.json")}})
	code, catJSON, errOut := run("discover", "--config", good)
	if code != 0 {
		t.Fatalf("discover: %s", errOut)
	}
	catPath := filepath.Join(dir, "catalog.json")
	os.WriteFile(catPath, []byte(strings.Replace(catJSON, `"selected-by-default": true`, `"selected": true, "selected-by-default": true`, 1)), 0o644)
	closed, _ := testenv.FreePort()
	tun := func(kv map[string]any) map[string]any {
		m := map[string]any{"host": sshd.Host, "port": sshd.Port, "user": "pg2s3", "host_key": sshd.KnownHostsLine()}
		for k, v := range kv {
			m[k] = v
		}
		return m
	}
	cases := map[string]map[string]any{
		"wrong password":            {"user": "pw_user", "password": dbPassword},
		"unreachable host":          {"port": closed, "password": dbPassword},
		"bad tunnel passphrase":     {"password": dbPassword, "ssh_tunnel": tun(map[string]any{"private_key": rsaKey, "passphrase": passphrase + "x"})},
		"wrong tunnel password":     {"password": dbPassword, "ssh_tunnel": tun(map[string]any{"password": sshPassword + "x"})},
		"unknown host key":          {"password": dbPassword, "ssh_tunnel": tun(map[string]any{"port": impostor.Port, "private_key": edKey})},
		"tunnel to nowhere":         {"user": "pw_user", "password": dbPassword, "port": closed, "ssh_tunnel": tun(map[string]any{"password": sshPassword})},
		"tunnel, wrong db password": {"user": "pw_user", "password": dbPassword, "ssh_tunnel": tun(map[string]any{"private_key": rsaKey, "passphrase": passphrase})},
	}
	for name, kv := range cases {
		t.Run(name, func(t *testing.T) {
			kv["sink"] = map[string]any{"type": "local", "path": filepath.Join(dir, "out")}
			kv["bookmarks"] = map[string]any{"type": "file", "path": filepath.Join(dir, "bm.json")}
			path := configFor(kv)
			c, err := config.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			secrets := append(c.Secrets(), c.ConnString(), "password=", passphrase, sshPassword, dbPassword)
			for _, k := range []string{edKey, rsaKey} {
				lines := strings.Split(strings.TrimSpace(k), "\n")
				secrets = append(secrets, lines[len(lines)/2]) // any line of the key body
			}
			var all strings.Builder
			fmt.Fprintf(&all, "%v\n%+v\n%#v\n%v\n", *c, c, c, c.SSHTunnel)
			for _, args := range [][]string{
				{"discover", "--config", path},
				{"check", "--config", path},
				{"sync", "--config", path, "--catalog", catPath, "--json"},
				{"sync", "--config", path, "--catalog", catPath},
			} {
				code, out, errOut := run(args...)
				if code == 0 {
					t.Errorf("%s succeeded", args[0])
				}
				all.WriteString(out + errOut)
			}
			text := all.String()
			if !strings.Contains(text, "connect to") && !strings.Contains(text, "FAIL") {
				t.Errorf("no connection failure was reported:\n%s", text)
			}
			for _, sec := range secrets {
				if sec != "" && strings.Contains(text, sec) {
					t.Errorf("output holds a secret (%.12q...):\n%s", sec, text)
				}
			}
			tunnelClosed(t, sshd, name)
		})
	}
}
