package testenv

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"

	"golang.org/x/crypto/ssh"
)

// SSHDOptions configure a test SSH server.
type SSHDOptions struct {
	// User is the only login accepted ("pg2s3" when empty).
	User string
	// AuthorizedKeys are the public keys accepted for User.
	AuthorizedKeys []ssh.PublicKey
	// Password, when set, is accepted for User.
	Password string
	// HostKey is the server's key; a new Ed25519 key when nil.
	HostKey ssh.Signer
}

// SSHD is a real SSH server, written with golang.org/x/crypto/ssh, for
// tests of the bastion tunnel: it authenticates one user by public key or
// password, answers keep-alives and forwards "direct-tcpip" channels to
// loopback addresses only. It runs no shell and touches no system file.
type SSHD struct {
	Host    string
	Port    int
	HostKey ssh.PublicKey

	ln       net.Listener
	cfg      *ssh.ServerConfig
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    map[*ssh.ServerConn]bool
	closed   bool
	open     atomic.Int64 // open direct-tcpip channels
	channels atomic.Int64 // direct-tcpip channels ever opened
	clients  atomic.Int64 // open SSH connections
	pings    atomic.Int64 // keep-alive requests answered
}

// StartSSHD starts a server on a free port of 127.0.0.1.
func StartSSHD(opt SSHDOptions) (*SSHD, error) {
	if opt.User == "" {
		opt.User = "pg2s3"
	}
	if opt.HostKey == nil {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		if opt.HostKey, err = ssh.NewSignerFromKey(priv); err != nil {
			return nil, err
		}
	}
	cfg := &ssh.ServerConfig{ServerVersion: "SSH-2.0-pg2s3-testenv"}
	cfg.AddHostKey(opt.HostKey)
	authorized := append([]ssh.PublicKey(nil), opt.AuthorizedKeys...)
	cfg.PublicKeyCallback = func(md ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
		if md.User() == opt.User {
			for _, k := range authorized {
				if bytes.Equal(k.Marshal(), key.Marshal()) {
					return nil, nil
				}
			}
		}
		return nil, errors.New("public key not authorized")
	}
	if opt.Password != "" {
		cfg.PasswordCallback = func(md ssh.ConnMetadata, pw []byte) (*ssh.Permissions, error) {
			if md.User() == opt.User && string(pw) == opt.Password {
				return nil, nil
			}
			return nil, errors.New("wrong password")
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &SSHD{Host: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port, HostKey: opt.HostKey.PublicKey(),
		ln: ln, cfg: cfg, conns: map[*ssh.ServerConn]bool{}}
	s.wg.Add(1)
	go s.serve()
	return s, nil
}

// KnownHostsLine is the server's host key as a known_hosts line.
func (s *SSHD) KnownHostsLine() string {
	return fmt.Sprintf("[%s]:%d %s", s.Host, s.Port, bytes.TrimSpace(ssh.MarshalAuthorizedKey(s.HostKey)))
}

// OpenChannels is the number of forwarded connections now open.
func (s *SSHD) OpenChannels() int { return int(s.open.Load()) }

// Channels is the number of forwarded connections ever opened.
func (s *SSHD) Channels() int { return int(s.channels.Load()) }

// Clients is the number of SSH connections now open.
func (s *SSHD) Clients() int { return int(s.clients.Load()) }

// KeepAlives is the number of keep-alive requests answered.
func (s *SSHD) KeepAlives() int { return int(s.pings.Load()) }

// Close stops the server and drops every connection.
func (s *SSHD) Close() {
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.ln.Close()
	s.wg.Wait()
}

func (s *SSHD) serve() {
	defer s.wg.Done()
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.handle(nc)
		}()
	}
}

func (s *SSHD) handle(nc net.Conn) {
	sc, chans, reqs, err := ssh.NewServerConn(nc, s.cfg)
	if err != nil {
		nc.Close()
		return
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		sc.Close()
		return
	}
	s.conns[sc] = true
	s.mu.Unlock()
	s.clients.Add(1)
	defer func() {
		s.mu.Lock()
		delete(s.conns, sc)
		s.mu.Unlock()
		s.clients.Add(-1)
	}()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for r := range reqs {
			ok := r.Type == "keepalive@openssh.com"
			if ok {
				s.pings.Add(1)
			}
			if r.WantReply {
				r.Reply(ok, nil)
			}
		}
	}()
	var chWG sync.WaitGroup
	for nch := range chans {
		if nch.ChannelType() != "direct-tcpip" {
			nch.Reject(ssh.UnknownChannelType, "only direct-tcpip is served")
			continue
		}
		chWG.Add(1)
		go func() {
			defer chWG.Done()
			s.forward(nch)
		}()
	}
	sc.Close()
	chWG.Wait()
}

// forward serves one direct-tcpip channel (RFC 4254 section 7.2).
func (s *SSHD) forward(nch ssh.NewChannel) {
	var req struct {
		Host       string
		Port       uint32
		OriginHost string
		OriginPort uint32
	}
	if err := ssh.Unmarshal(nch.ExtraData(), &req); err != nil {
		nch.Reject(ssh.ConnectionFailed, "malformed direct-tcpip request")
		return
	}
	if !loopback(req.Host) {
		nch.Reject(ssh.Prohibited, "the test server forwards to loopback addresses only")
		return
	}
	target, err := net.Dial("tcp", net.JoinHostPort(req.Host, strconv.Itoa(int(req.Port))))
	if err != nil {
		nch.Reject(ssh.ConnectionFailed, err.Error())
		return
	}
	ch, reqs, err := nch.Accept()
	if err != nil {
		target.Close()
		return
	}
	s.channels.Add(1)
	s.open.Add(1)
	defer s.open.Add(-1)
	go ssh.DiscardRequests(reqs)
	done := make(chan struct{}, 2)
	go func() {
		io.Copy(target, ch)
		if tc, ok := target.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
		done <- struct{}{}
	}()
	go func() {
		io.Copy(ch, target)
		ch.CloseWrite()
		done <- struct{}{}
	}()
	<-done
	ch.Close()
	target.Close()
	<-done
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
