// Package tunnel opens SSH tunnels through a bastion host, so pg2s3 reaches
// a PostgreSQL server on a private network. A Tunnel is one SSH connection;
// its DialContext opens a "direct-tcpip" channel to the database and has the
// signature of pgconn's DialFunc. Nothing here logs, and no error holds a
// password, a private key or a passphrase.
package tunnel

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pg2s3/pg2s3/shared/config"
	"golang.org/x/crypto/ssh"
)

// KeepAliveInterval is how often an open tunnel asks the bastion for a
// reply; a bastion that does not answer within the same interval is taken
// as gone and the tunnel is closed.
const KeepAliveInterval = 30 * time.Second

// handshakeTimeout bounds the TCP connect and SSH handshake when ctx has no
// deadline of its own.
const handshakeTimeout = 30 * time.Second

// Sentinel errors callers branch on.
var (
	// ErrHostKey: the bastion's host key is not the pinned one.
	ErrHostKey = errors.New("ssh host key not trusted")
	// ErrAuth: the bastion refused every offered credential.
	ErrAuth = errors.New("ssh authentication failed")
	// ErrKey: the configured private key cannot be read or decrypted.
	ErrKey = errors.New("ssh private key unusable")
	// ErrClosed: the tunnel was closed.
	ErrClosed = errors.New("ssh tunnel closed")
)

// Tunnel is an open SSH connection to a bastion host.
type Tunnel struct {
	client *ssh.Client
	addr   string // bastion host:port, for messages
	done   chan struct{}
	once   sync.Once
	wg     sync.WaitGroup
	err    error
}

// Addr returns the bastion's host:port.
func (t *Tunnel) Addr() string { return t.addr }

// Open connects and authenticates to the bastion cfg names, verifying its
// host key, and starts keep-alives every KeepAliveInterval.
func Open(ctx context.Context, cfg *config.SSHTunnel) (*Tunnel, error) {
	return open(ctx, cfg, KeepAliveInterval)
}

func open(ctx context.Context, cfg *config.SSHTunnel, keepAlive time.Duration) (*Tunnel, error) {
	if cfg == nil {
		return nil, errors.New("open ssh tunnel: no ssh_tunnel configured")
	}
	port := cfg.Port
	if port == 0 {
		port = 22
	}
	addr := net.JoinHostPort(cfg.Host, strconv.Itoa(port))
	auth, err := authMethods(cfg)
	if err != nil {
		return nil, fmt.Errorf("open ssh tunnel to %s: %w", addr, err)
	}
	hostKey, algos, err := hostKeyCallback(cfg, addr)
	if err != nil {
		return nil, fmt.Errorf("open ssh tunnel to %s: %w", addr, err)
	}
	sc := &ssh.ClientConfig{
		User:              cfg.User,
		Auth:              auth,
		HostKeyCallback:   hostKey,
		HostKeyAlgorithms: algos,
		ClientVersion:     "SSH-2.0-pg2s3",
		Timeout:           handshakeTimeout,
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, handshakeTimeout)
		defer cancel()
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("open ssh tunnel to %s: %w", addr, err)
	}
	// The handshake has no context: a deadline on the socket bounds it, and
	// cancelling ctx interrupts it.
	if dl, ok := ctx.Deadline(); ok {
		nc.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
	conn, chans, reqs, err := ssh.NewClientConn(nc, addr, sc)
	interrupted := !stop()
	if err != nil {
		nc.Close()
		var ne net.Error
		if interrupted || ctx.Err() != nil || errors.As(err, &ne) && ne.Timeout() {
			if ctx.Err() != nil {
				err = ctx.Err()
			} else { // the socket's deadline, which is ctx's, came first
				err = fmt.Errorf("%w: %v", context.DeadlineExceeded, err)
			}
			return nil, fmt.Errorf("open ssh tunnel to %s: the bastion accepted the connection but did not complete the SSH handshake in time (%w): check that an SSH server answers on that port from where pg2s3 runs", addr, err)
		}
		return nil, fmt.Errorf("open ssh tunnel to %s as %s: %w", addr, cfg.User, classify(err))
	}
	nc.SetDeadline(time.Time{})
	t := &Tunnel{client: ssh.NewClient(conn, chans, reqs), addr: addr, done: make(chan struct{})}
	t.wg.Add(2)
	go t.keepAlive(keepAlive)
	go func() {
		defer t.wg.Done()
		t.client.Wait()
		t.shut(ErrClosed)
	}()
	return t, nil
}

// classify maps handshake failures to the package's sentinel errors.
func classify(err error) error {
	var hk *hostKeyError
	switch {
	case errors.As(err, &hk):
		return err
	case err != nil && containsAny(err.Error(), "unable to authenticate", "no supported methods remain"):
		return fmt.Errorf("%w: the bastion refused the key or password for this user: check ssh_tunnel.user and the key in the bastion's authorized_keys", ErrAuth)
	}
	return err
}

// DialContext opens a connection to addr (host:port, resolved by the
// bastion) through the tunnel. The returned conn reports addr as its remote
// address, so a PostgreSQL cancel request dials the same target again.
func (t *Tunnel) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	select {
	case <-t.done:
		return nil, fmt.Errorf("dial %s through ssh tunnel %s: %w", addr, t.addr, t.closedErr())
	default:
	}
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return nil, fmt.Errorf("dial %s through ssh tunnel %s: network %q is not tcp", addr, t.addr, network)
	}
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		c, err := t.client.Dial("tcp", addr)
		ch <- result{c, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			return nil, fmt.Errorf("dial %s through ssh tunnel %s: %w", addr, t.addr, r.err)
		}
		return newConn(r.c, target(addr)), nil
	case <-ctx.Done():
		go func() {
			if r := <-ch; r.c != nil {
				r.c.Close()
			}
		}()
		return nil, fmt.Errorf("dial %s through ssh tunnel %s: %w", addr, t.addr, ctx.Err())
	}
}

// Close closes the SSH connection and every connection dialled through it,
// and stops the keep-alives. It is safe to call more than once.
func (t *Tunnel) Close() error {
	t.shut(ErrClosed)
	t.wg.Wait()
	return nil
}

// Done is closed when the tunnel is closed, by Close or because the bastion
// went away.
func (t *Tunnel) Done() <-chan struct{} { return t.done }

// Err says why the tunnel closed (nil while it is open).
func (t *Tunnel) Err() error {
	select {
	case <-t.done:
		return t.closedErr()
	default:
		return nil
	}
}

func (t *Tunnel) closedErr() error { return t.err }

func (t *Tunnel) shut(why error) {
	t.once.Do(func() {
		t.err = why
		close(t.done)
		t.client.Close()
	})
}

func (t *Tunnel) keepAlive(every time.Duration) {
	defer t.wg.Done()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-t.done:
			return
		case <-tick.C:
		}
		reply := make(chan error, 1)
		go func() {
			_, _, err := t.client.SendRequest("keepalive@openssh.com", true, nil)
			reply <- err
		}()
		select {
		case <-t.done:
			return
		case err := <-reply:
			if err != nil {
				t.shut(fmt.Errorf("%w: keep-alive failed: %v", ErrClosed, err))
				return
			}
		case <-time.After(every):
			t.shut(fmt.Errorf("%w: the bastion did not answer a keep-alive within %s", ErrClosed, every))
			return
		}
	}
}

// Dialer returns a pgconn DialFunc that opens a tunnel of its own for each
// connection and closes it when that connection is closed. Each PostgreSQL
// connection (query, replication, cancel request) so owns its SSH
// connection: none outlives the run that opened it.
func Dialer(cfg *config.SSHTunnel) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		t, err := Open(ctx, cfg)
		if err != nil {
			return nil, err
		}
		c, err := t.DialContext(ctx, network, addr)
		if err != nil {
			t.Close()
			return nil, err
		}
		c.(*conn).owner = t
		return c, nil
	}
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
