package testenv

import (
	"errors"
	"io"
	"math/rand"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Faults is what a FaultProxy does to a connection, in both directions.
// The zero value forwards faithfully.
type Faults struct {
	// Latency is added before each chunk is forwarded, plus up to Jitter
	// more (seeded).
	Latency, Jitter time.Duration
	// BytesPerSec limits each direction's throughput (0: none).
	BytesPerSec int64
	// ResetAfter resets the connection (TCP RST to the client) once this
	// many bytes have passed through it in either direction (0: never).
	ResetAfter int64
	// BlackHole accepts the connection and then never forwards or answers
	// anything: the half-open case a client must time out of.
	BlackHole bool
	// PauseAfter stalls the connection for Pause once this many bytes have
	// passed through it (0: never); then it goes on.
	PauseAfter int64
	Pause      time.Duration
	// GarbleAfter replaces what the server sends, once this many bytes
	// have come from it, with seeded random bytes (GarbleBytes of them,
	// 64 if zero) and then resets the connection: a corrupt frame
	// followed by a cut one, as a client may read from a broken
	// middlebox (0: never).
	GarbleAfter, GarbleBytes int64
}

// FaultProxy is a TCP proxy on a free loopback port in front of a server
// (PostgreSQL, its replication connections, S3, DynamoDB), putting each
// connection through the Faults in force when it was accepted: latency and
// jitter, a bandwidth limit, a reset after N bytes, a black hole, a pause.
// Its randomness is seeded, so a run can be replayed.
type FaultProxy struct {
	Addr   string // host:port to dial instead of the server's
	target string
	ln     net.Listener

	mu    sync.Mutex
	rnd   *rand.Rand
	all   Faults   // for every new connection
	next  []Faults // for the next new connections, one each, before all
	conns map[net.Conn]bool
	wg    sync.WaitGroup

	// Counters: connections accepted, reset by ResetAfter, black-holed,
	// paused, garbled; bytes forwarded.
	Accepted, Resets, BlackHoles, Pauses, Garbles, Bytes atomic.Int64

	silent atomic.Bool   // Silence: nothing is forwarded
	forgot atomic.Int64  // Forget: connections numbered below this forward nothing more
	closed chan struct{} // closed by Close
}

// Silence makes the server go quiet without closing anything (on), or
// speak again (off): open connections forward nothing more in either
// direction, and new ones are accepted and black-holed, as when a host
// or a NAT on the way drops every packet.
func (p *FaultProxy) Silence(on bool) { p.silent.Store(on) }

// Forget makes every open connection go quiet for good, in both
// directions, while new ones are served as before: what a NAT or load
// balancer does to the flows it dropped while a Lambda function was
// frozen between invocations (its sockets still open, their peer gone).
func (p *FaultProxy) Forget() { p.forgot.Store(p.Accepted.Load() + 1) }

// StartFaultProxy listens on a free loopback port and forwards each
// connection to target (host:port).
func StartFaultProxy(target string, seed int64) (*FaultProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &FaultProxy{Addr: ln.Addr().String(), target: target, ln: ln, rnd: rand.New(rand.NewSource(seed)), conns: map[net.Conn]bool{}, closed: make(chan struct{})}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Port is the proxy's port.
func (p *FaultProxy) Port() int { return p.ln.Addr().(*net.TCPAddr).Port }

// Set makes f apply to every connection accepted from now on.
func (p *FaultProxy) Set(f Faults) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.all = f
}

// Next makes f apply to the next connection accepted only (queued after
// earlier Next calls); later ones get what Set gave.
func (p *FaultProxy) Next(f Faults) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.next = append(p.next, f)
}

// CutAll resets every open connection now (a network partition, a NAT
// that forgot them); new connections are accepted as before.
func (p *FaultProxy) CutAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		reset(c)
	}
}

// Close stops accepting, cuts every connection and waits for them.
func (p *FaultProxy) Close() {
	close(p.closed)
	p.ln.Close()
	p.CutAll()
	p.wg.Wait()
}

func (p *FaultProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		num := p.Accepted.Add(1)
		p.mu.Lock()
		f := p.all
		if len(p.next) > 0 {
			f, p.next = p.next[0], p.next[1:]
		}
		seed := p.rnd.Int63()
		p.conns[c] = true
		p.mu.Unlock()
		p.wg.Add(1)
		go p.serve(c, f, seed, num)
	}
}

// serve forwards one connection through its faults.
func (p *FaultProxy) serve(client net.Conn, f Faults, seed, num int64) {
	defer p.wg.Done()
	defer func() {
		p.mu.Lock()
		delete(p.conns, client)
		p.mu.Unlock()
		client.Close()
	}()
	if f.BlackHole || p.silent.Load() {
		p.BlackHoles.Add(1)
		io.Copy(io.Discard, client) // until the client gives up, or Close
		return
	}
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		reset(client)
		return
	}
	defer server.Close()
	st := &connState{f: f, rnd: rand.New(rand.NewSource(seed)), p: p, num: num}
	done := make(chan struct{}, 2)
	go func() { st.pipe(server, client, false); done <- struct{}{} }()
	go func() { st.pipe(client, server, true); done <- struct{}{} }()
	<-done
	if st.wasReset.Load() {
		reset(client)
	}
	client.Close()
	server.Close()
	<-done
}

// connState is one connection's faults and how far it got.
type connState struct {
	f        Faults
	p        *FaultProxy
	num      int64 // the connection's number, from 1 in the order accepted
	mu       sync.Mutex
	rnd      *rand.Rand
	passed   int64
	fromSrv  int64 // bytes that came from the server
	paused   bool
	wasReset atomic.Bool
}

// pipe copies src to dst in chunks, applying the faults before each;
// fromServer says src is the server.
func (st *connState) pipe(dst, src net.Conn, fromServer bool) {
	buf := make([]byte, 16<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			chunk := buf[:n]
			wait, cut := st.before(len(chunk))
			if fromServer {
				if g := st.garble(chunk); g != nil {
					time.Sleep(wait)
					dst.Write(g)
					st.p.Garbles.Add(1)
					st.wasReset.Store(true)
					return
				}
			}
			if cut >= 0 {
				chunk = chunk[:cut]
			}
			time.Sleep(wait)
			for st.p.silent.Load() || st.num < st.p.forgot.Load() { // hold the bytes: the peer hears nothing
				select {
				case <-st.p.closed:
					return
				case <-time.After(20 * time.Millisecond):
				}
			}
			if len(chunk) > 0 {
				if _, werr := dst.Write(chunk); werr != nil {
					return
				}
				st.p.Bytes.Add(int64(len(chunk)))
			}
			if cut >= 0 {
				if st.wasReset.CompareAndSwap(false, true) { // once, whichever direction got there
					st.p.Resets.Add(1)
				}
				return
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				if tc, ok := dst.(*net.TCPConn); ok {
					tc.CloseWrite()
				}
			}
			return
		}
	}
}

// before accounts n bytes about to pass and returns how long to wait
// first, and where to cut the chunk for a reset (-1: no reset).
func (st *connState) before(n int) (time.Duration, int) {
	st.mu.Lock()
	defer st.mu.Unlock()
	f := st.f
	wait := f.Latency
	if f.Jitter > 0 {
		wait += time.Duration(st.rnd.Int63n(int64(f.Jitter)))
	}
	if f.BytesPerSec > 0 {
		wait += time.Duration(int64(n) * int64(time.Second) / f.BytesPerSec)
	}
	cut := -1
	if f.ResetAfter > 0 && st.passed+int64(n) >= f.ResetAfter {
		cut = int(max(f.ResetAfter-st.passed, 0))
	}
	if f.PauseAfter > 0 && !st.paused && st.passed+int64(n) >= f.PauseAfter {
		st.paused = true
		st.p.Pauses.Add(1)
		wait += f.Pause
	}
	st.passed += int64(n)
	return wait, cut
}

// garble accounts a chunk from the server and, once GarbleAfter bytes
// came from it, returns what to send instead: the chunk up to that point
// and then random bytes (nil: forward the chunk as it is).
func (st *connState) garble(chunk []byte) []byte {
	st.mu.Lock()
	defer st.mu.Unlock()
	f := st.f
	before := st.fromSrv
	st.fromSrv += int64(len(chunk))
	if f.GarbleAfter <= 0 || st.fromSrv < f.GarbleAfter {
		return nil
	}
	keep := max(f.GarbleAfter-before, 0)
	n := f.GarbleBytes
	if n <= 0 {
		n = 64
	}
	out := append([]byte{}, chunk[:keep]...)
	for i := int64(0); i < n; i++ {
		out = append(out, byte(st.rnd.Intn(256)))
	}
	return out
}

// reset closes c with a TCP RST rather than a FIN.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}
