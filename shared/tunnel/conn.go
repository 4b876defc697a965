package tunnel

import (
	"net"
	"os"
	"sync"
	"time"
)

// conn is one forwarded connection through the tunnel. An SSH channel has
// no deadlines, but pgconn relies on them: a context deadline on
// ReceiveMessage (the WAL reader's status interval) sets a read deadline,
// expects a timeout error, and goes on reading on the same connection. So
// reads go through a pump and wait on a resettable deadline; a write that
// outlives its deadline breaks the connection (pgconn closes it anyway).
type conn struct {
	ch    net.Conn
	raddr net.Addr
	owner *Tunnel // closed with the conn when set (Dialer)

	chunks  chan []byte
	pending []byte
	readErr error
	rd, wd  *deadline
	closed  chan struct{}
	once    sync.Once
}

const chunkSize = 32 << 10

func newConn(ch net.Conn, raddr net.Addr) *conn {
	c := &conn{ch: ch, raddr: raddr, chunks: make(chan []byte), rd: newDeadline(), wd: newDeadline(), closed: make(chan struct{})}
	go c.pump()
	return c
}

func (c *conn) pump() {
	defer close(c.chunks)
	for {
		b := make([]byte, chunkSize)
		n, err := c.ch.Read(b)
		if n > 0 {
			select {
			case c.chunks <- b[:n]:
			case <-c.closed:
				return
			}
		}
		if err != nil {
			c.readErr = err // published by close(c.chunks)
			return
		}
	}
}

func (c *conn) Read(p []byte) (int, error) {
	if len(c.pending) == 0 {
		select {
		case <-c.rd.wait():
			return 0, os.ErrDeadlineExceeded
		default:
		}
		select {
		case b, ok := <-c.chunks:
			if !ok {
				return 0, c.readErr
			}
			c.pending = b
		case <-c.rd.wait():
			return 0, os.ErrDeadlineExceeded
		case <-c.closed:
			return 0, net.ErrClosed
		}
	}
	n := copy(p, c.pending)
	c.pending = c.pending[n:]
	return n, nil
}

func (c *conn) Write(p []byte) (int, error) {
	expired := c.wd.wait()
	select {
	case <-expired:
		return 0, os.ErrDeadlineExceeded
	default:
	}
	if !c.wd.set() {
		return c.ch.Write(p)
	}
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := c.ch.Write(p)
		done <- result{n, err}
	}()
	select {
	case r := <-done:
		return r.n, r.err
	case <-expired:
		c.ch.Close() // a half-written message cannot be taken back
		return 0, os.ErrDeadlineExceeded
	}
}

func (c *conn) Close() error {
	var err error
	c.once.Do(func() {
		close(c.closed)
		err = c.ch.Close()
		if c.owner != nil {
			c.owner.Close()
		}
	})
	return err
}

func (c *conn) LocalAddr() net.Addr  { return c.ch.LocalAddr() }
func (c *conn) RemoteAddr() net.Addr { return c.raddr }

func (c *conn) SetDeadline(t time.Time) error {
	c.rd.reset(t)
	c.wd.reset(t)
	return nil
}

func (c *conn) SetReadDeadline(t time.Time) error  { c.rd.reset(t); return nil }
func (c *conn) SetWriteDeadline(t time.Time) error { c.wd.reset(t); return nil }

// deadline is a resettable point in time whose wait channel is closed when
// it passes (after net.Pipe's).
type deadline struct {
	mu     sync.Mutex
	timer  *time.Timer
	at     time.Time
	expire chan struct{}
}

func newDeadline() *deadline { return &deadline{expire: make(chan struct{})} }

func (d *deadline) reset(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil && !d.timer.Stop() {
		<-d.expire // the timer fired: wait until it has closed the channel
	}
	d.timer = nil
	d.at = t
	select {
	case <-d.expire:
		d.expire = make(chan struct{})
	default:
	}
	if t.IsZero() {
		return
	}
	if wait := time.Until(t); wait > 0 {
		ch := d.expire
		d.timer = time.AfterFunc(wait, func() { close(ch) })
	} else {
		close(d.expire)
	}
}

func (d *deadline) wait() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.expire
}

func (d *deadline) set() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return !d.at.IsZero()
}

// target is the host:port a conn was dialled to, as the bastion resolves it.
type target string

func (a target) Network() string { return "tcp" }
func (a target) String() string  { return string(a) }
