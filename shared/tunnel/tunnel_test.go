package tunnel

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pg2s3/pg2s3/shared/config"
	"github.com/pg2s3/pg2s3/shared/testenv"
	"golang.org/x/crypto/ssh"
)

// userKey is a generated client key: its public half for the server and
// its private half as the PEM a user puts in ssh_tunnel.private_key.
type userKey struct {
	pub ssh.PublicKey
	pem string
}

func newKey(t *testing.T, kind, passphrase string) userKey {
	t.Helper()
	var priv any
	switch kind {
	case "ed25519":
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		priv = k
	case "rsa":
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		priv = k
	case "ecdsa":
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		priv = k
	}
	var block *pem.Block
	var err error
	if passphrase != "" {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(priv, "test", []byte(passphrase))
	} else {
		block, err = ssh.MarshalPrivateKey(priv, "test")
	}
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return userKey{pub: signer.PublicKey(), pem: string(pem.EncodeToMemory(block))}
}

// echoServer answers every connection with what it reads.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	return ln.Addr().String()
}

func startSSHD(t *testing.T, opt testenv.SSHDOptions) *testenv.SSHD {
	t.Helper()
	s, err := testenv.StartSSHD(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func tunnelConfig(s *testenv.SSHD) *config.SSHTunnel {
	return &config.SSHTunnel{Host: s.Host, Port: s.Port, User: "pg2s3", HostKey: s.KnownHostsLine()}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func roundTrip(t *testing.T, tun *Tunnel, addr string) {
	t.Helper()
	c, err := tun.DialContext(context.Background(), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.RemoteAddr().String() != addr {
		t.Errorf("RemoteAddr = %s, want the dialled target %s", c.RemoteAddr(), addr)
	}
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo through tunnel: %q, %v", buf, err)
	}
}

func TestAuthMethods(t *testing.T) {
	echo := echoServer(t)
	ed, rsaKey, ec := newKey(t, "ed25519", ""), newKey(t, "rsa", "rsa secret phrase"), newKey(t, "ecdsa", "")
	keyFile := filepath.Join(t.TempDir(), "id_ed25519")
	if err := os.WriteFile(keyFile, []byte(ed.pem), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		set  func(*config.SSHTunnel)
	}{
		{"ed25519 inline", func(c *config.SSHTunnel) { c.PrivateKey = ed.pem }},
		{"ed25519 file", func(c *config.SSHTunnel) { c.PrivateKey = keyFile }},
		{"rsa with passphrase", func(c *config.SSHTunnel) { c.PrivateKey, c.Passphrase = rsaKey.pem, "rsa secret phrase" }},
		{"ecdsa", func(c *config.SSHTunnel) { c.PrivateKey = ec.pem }},
		{"password", func(c *config.SSHTunnel) { c.Password = "bastion pw" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startSSHD(t, testenv.SSHDOptions{AuthorizedKeys: []ssh.PublicKey{ed.pub, rsaKey.pub, ec.pub}, Password: "bastion pw"})
			cfg := tunnelConfig(s)
			tc.set(cfg)
			tun, err := Open(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			roundTrip(t, tun, echo)
			roundTrip(t, tun, echo)
			tun.Close()
			eventually(t, "the server has no open channel or client", func() bool { return s.OpenChannels() == 0 && s.Clients() == 0 })
			if s.Channels() != 2 {
				t.Errorf("server forwarded %d channels, want 2", s.Channels())
			}
		})
	}
}

func TestRefusals(t *testing.T) {
	key := newKey(t, "ed25519", "right phrase")
	other := newKey(t, "ed25519", "")
	s := startSSHD(t, testenv.SSHDOptions{AuthorizedKeys: []ssh.PublicKey{key.pub}, Password: "right pw"})
	impostor := startSSHD(t, testenv.SSHDOptions{AuthorizedKeys: []ssh.PublicKey{key.pub}})
	for _, tc := range []struct {
		name    string
		set     func(*config.SSHTunnel)
		is      error
		says    []string
		secrets []string
	}{
		{"unknown host key", func(c *config.SSHTunnel) {
			c.PrivateKey, c.Passphrase = key.pem, "right phrase"
			c.Port = impostor.Port // a server whose key is not the pinned one
		}, ErrHostKey, []string{ssh.FingerprintSHA256(impostor.HostKey), ssh.FingerprintSHA256(s.HostKey)}, nil},
		{"no pinned key", func(c *config.SSHTunnel) { c.PrivateKey, c.Passphrase, c.HostKey = key.pem, "right phrase", "" },
			ErrHostKey, []string{"insecure_ignore_host_key"}, nil},
		{"wrong passphrase", func(c *config.SSHTunnel) { c.PrivateKey, c.Passphrase = key.pem, "wrong phrase" },
			ErrKey, []string{"passphrase does not decrypt"}, []string{"wrong phrase"}},
		{"missing passphrase", func(c *config.SSHTunnel) { c.PrivateKey = key.pem }, ErrKey, []string{"set ssh_tunnel.passphrase"}, nil},
		{"not a key", func(c *config.SSHTunnel) {
			c.PrivateKey = "-----BEGIN OPENSSH PRIVATE KEY-----\nbm90IGEga2V5\n-----END OPENSSH PRIVATE KEY-----\n"
		},
			ErrKey, []string{"not a PEM or OpenSSH private key"}, []string{"bm90IGEga2V5"}},
		{"unauthorized key", func(c *config.SSHTunnel) { c.PrivateKey = other.pem }, ErrAuth, []string{"authorized_keys"}, nil},
		{"wrong password", func(c *config.SSHTunnel) { c.Password = "wrong pw" }, ErrAuth, []string{"refused"}, []string{"wrong pw"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tunnelConfig(s)
			tc.set(cfg)
			tun, err := Open(context.Background(), cfg)
			if err == nil {
				tun.Close()
				t.Fatal("tunnel opened")
			}
			if !errors.Is(err, tc.is) {
				t.Errorf("error %v is not %v", err, tc.is)
			}
			for _, want := range tc.says {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			for _, sec := range append(tc.secrets, key.pem, other.pem) {
				if strings.Contains(err.Error(), sec) {
					t.Errorf("error shows a secret: %q", err)
				}
			}
		})
	}
	t.Run("insecure_ignore_host_key", func(t *testing.T) {
		cfg := tunnelConfig(impostor)
		cfg.HostKey, cfg.InsecureIgnoreHostKey = "", true
		cfg.PrivateKey, cfg.Passphrase = key.pem, "right phrase"
		tun, err := Open(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		tun.Close()
	})
	t.Run("unreachable bastion", func(t *testing.T) {
		port, _ := testenv.FreePort()
		cfg := tunnelConfig(s)
		cfg.Port, cfg.Password = port, "right pw"
		_, err := Open(context.Background(), cfg)
		if err == nil || !strings.Contains(err.Error(), "connection refused") {
			t.Fatalf("got %v, want connection refused", err)
		}
	})
	t.Run("target refused by the bastion", func(t *testing.T) {
		cfg := tunnelConfig(s)
		cfg.Password = "right pw"
		tun, err := Open(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer tun.Close()
		if _, err := tun.DialContext(context.Background(), "tcp", "192.0.2.1:5432"); err == nil || !strings.Contains(err.Error(), "through ssh tunnel") {
			t.Fatalf("got %v, want the bastion's refusal", err)
		}
	})
}

func TestParseHostKeys(t *testing.T) {
	k := newKey(t, "ed25519", "")
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k.pub)))
	for _, in := range []string{line, "bastion.example.com " + line, "[10.0.0.1]:2222 " + line, "# pinned\n" + KnownHostsLine("b", 22, k.pub) + "\n"} {
		keys, err := ParseHostKeys(in)
		if err != nil || len(keys) != 1 || ssh.FingerprintSHA256(keys[0]) != ssh.FingerprintSHA256(k.pub) {
			t.Errorf("ParseHostKeys(%q) = %v, %v", in, keys, err)
		}
	}
	if _, err := ParseHostKeys("bastion ssh-ed25519 not-base64"); err == nil {
		t.Error("a malformed line was accepted")
	}
}

func TestKeepAliveAndClose(t *testing.T) {
	key := newKey(t, "ed25519", "")
	s := startSSHD(t, testenv.SSHDOptions{AuthorizedKeys: []ssh.PublicKey{key.pub}})
	cfg := tunnelConfig(s)
	cfg.PrivateKey = key.pem
	tun, err := open(context.Background(), cfg, 20*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the server answered keep-alives", func() bool { return s.KeepAlives() >= 3 })
	s.Close() // the bastion goes away: the tunnel notices and closes
	select {
	case <-tun.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the tunnel did not notice the bastion closing")
	}
	if !errors.Is(tun.Err(), ErrClosed) {
		t.Errorf("Err() = %v, want ErrClosed", tun.Err())
	}
	if _, err := tun.DialContext(context.Background(), "tcp", "127.0.0.1:1"); !errors.Is(err, ErrClosed) {
		t.Errorf("dial on a closed tunnel: %v", err)
	}
	tun.Close()
	tun.Close() // idempotent
}

func TestDialerOwnsItsTunnel(t *testing.T) {
	echo := echoServer(t)
	key := newKey(t, "ed25519", "")
	s := startSSHD(t, testenv.SSHDOptions{AuthorizedKeys: []ssh.PublicKey{key.pub}})
	cfg := tunnelConfig(s)
	cfg.PrivateKey = key.pem
	dial := Dialer(cfg)
	c1, err := dial(context.Background(), "tcp", echo)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := dial(context.Background(), "tcp", echo)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "two clients", func() bool { return s.Clients() == 2 && s.OpenChannels() == 2 })
	c1.Close()
	eventually(t, "one client left", func() bool { return s.Clients() == 1 && s.OpenChannels() == 1 })
	c2.Close()
	eventually(t, "no client left", func() bool { return s.Clients() == 0 && s.OpenChannels() == 0 })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := dial(ctx, "tcp", echo); err == nil {
		t.Error("dial with a cancelled context succeeded")
	}
}

// TestDeadlines: a read deadline times out without breaking the
// connection, as pgconn's ReceiveMessage with a context deadline needs.
func TestDeadlines(t *testing.T) {
	echo := echoServer(t)
	key := newKey(t, "ed25519", "")
	s := startSSHD(t, testenv.SSHDOptions{AuthorizedKeys: []ssh.PublicKey{key.pub}})
	cfg := tunnelConfig(s)
	cfg.PrivateKey = key.pem
	c, err := Dialer(cfg)(context.Background(), "tcp", echo)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 4)
	for i := 0; i < 3; i++ {
		c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		_, err := c.Read(buf)
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("read with nothing to read: %v, want a timeout", err)
		}
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("%v is not a net.Error timeout", err)
		}
	}
	c.SetDeadline(time.Time{})
	c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("pong")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "pong" {
		t.Fatalf("read after timeouts: %q, %v", buf, err)
	}
	c.SetReadDeadline(time.Now().Add(-time.Second))
	if _, err := c.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past the deadline: %v", err)
	}
}

// TestSilentBastion: a bastion that accepts connections and never answers
// (or stops answering an open tunnel) ends each call by its context's
// deadline or the keep-alive, never later: a Lambda run behind a
// black-holed bastion ends before its limit.
func TestSilentBastion(t *testing.T) {
	key := newKey(t, "ed25519", "")
	s := startSSHD(t, testenv.SSHDOptions{AuthorizedKeys: []ssh.PublicKey{key.pub}})
	px, err := testenv.StartFaultProxy(net.JoinHostPort(s.Host, strconv.Itoa(s.Port)), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer px.Close()
	cfg := tunnelConfig(s)
	cfg.Port, cfg.PrivateKey = px.Port(), key.pem
	cfg.HostKey = KnownHostsLine(s.Host, px.Port(), s.HostKey)

	// Silent from the start: the handshake ends at the context's deadline.
	px.Silence(true)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	start := time.Now()
	_, err = open(ctx, cfg, time.Second)
	cancel()
	if took := time.Since(start); !errors.Is(err, context.DeadlineExceeded) || took > 2*time.Second {
		t.Fatalf("open through a silent bastion: %v after %s, want the context's deadline at 300 ms", err, took)
	}
	px.Silence(false)

	// Silent once open: a dial through it ends at its context's deadline,
	// and the keep-alive closes the tunnel.
	tun, err := open(context.Background(), cfg, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer tun.Close()
	px.Silence(true)
	ctx, cancel = context.WithTimeout(context.Background(), 100*time.Millisecond)
	start = time.Now()
	_, err = tun.DialContext(ctx, "tcp", echoServer(t))
	cancel()
	if took := time.Since(start); err == nil || took > time.Second {
		t.Fatalf("dial through a bastion gone silent: %v after %s, want the context's deadline at 100 ms", err, took)
	}
	select {
	case <-tun.Done():
		if !strings.Contains(tun.Err().Error(), "did not answer a keep-alive") {
			t.Errorf("tunnel closed with %v", tun.Err())
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the keep-alive did not notice the bastion going silent")
	}
}
