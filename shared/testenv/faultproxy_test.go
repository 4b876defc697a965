package testenv

import (
	"bytes"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"
)

// echoServer answers every connection by sending back what it reads.
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

// roundTrip sends msg through addr and reads it back, within timeout.
func roundTrip(addr string, msg []byte, timeout time.Duration) ([]byte, time.Duration, error) {
	start := time.Now()
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, 0, err
	}
	defer c.Close()
	c.SetDeadline(start.Add(timeout))
	errc := make(chan error, 1)
	go func() { _, err := c.Write(msg); errc <- err }()
	got := make([]byte, len(msg))
	_, err = io.ReadFull(c, got)
	if werr := <-errc; err == nil {
		err = werr
	}
	return got, time.Since(start), err
}

// TestFaultProxy: each fault does what it says to a real TCP exchange,
// and a clean connection after it is forwarded faithfully.
func TestFaultProxy(t *testing.T) {
	p, err := StartFaultProxy(echoServer(t), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	msg := bytes.Repeat([]byte("pg2s3 "), 50_000) // 300 kB

	if got, _, err := roundTrip(p.Addr, msg, 5*time.Second); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("clean round trip: %v", err)
	}

	p.Next(Faults{Latency: 100 * time.Millisecond, Jitter: 20 * time.Millisecond})
	if _, took, err := roundTrip(p.Addr, []byte("hello"), 5*time.Second); err != nil || took < 200*time.Millisecond {
		t.Errorf("latency: took %s (want at least two legs of 100 ms): %v", took, err)
	}

	p.Next(Faults{BytesPerSec: 1 << 20})
	if _, took, err := roundTrip(p.Addr, msg, 10*time.Second); err != nil || took < 250*time.Millisecond {
		t.Errorf("bandwidth: 300 kB each way at 1 MiB/s took %s: %v", took, err)
	}

	p.Next(Faults{ResetAfter: 1000})
	_, _, err = roundTrip(p.Addr, msg, 5*time.Second)
	if err == nil || !(errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)) {
		t.Errorf("reset after 1000 bytes: %v", err)
	}

	p.Next(Faults{BlackHole: true})
	if _, _, err := roundTrip(p.Addr, []byte("anyone?"), 300*time.Millisecond); err == nil || !isTimeout(err) {
		t.Errorf("black hole: %v, want a timeout", err)
	}

	p.Next(Faults{PauseAfter: 100, Pause: 400 * time.Millisecond})
	if _, took, err := roundTrip(p.Addr, msg, 5*time.Second); err != nil || took < 400*time.Millisecond {
		t.Errorf("pause: took %s: %v", took, err)
	}

	// Garbage from the server after 1000 bytes, then a cut: the client
	// reads the first 1000 bytes faithfully, then random bytes, then
	// nothing more.
	p.Next(Faults{GarbleAfter: 1000, GarbleBytes: 32})
	got, _, err := roundTrip(p.Addr, msg, 5*time.Second)
	if err == nil || !bytes.Equal(got[:1000], msg[:1000]) || bytes.Equal(got[1000:1032], msg[1000:1032]) {
		t.Errorf("garble after 1000 bytes: %v; bytes 1000-1032 %q", err, got[1000:1032])
	}

	// A partition: every open connection is cut at once.
	c, err := net.Dial("tcp", p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("x"))
	io.ReadFull(c, make([]byte, 1))
	p.CutAll()
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Errorf("after CutAll the connection still reads: %v", err)
	}

	// Silence: an open connection hears nothing more, and nothing is cut.
	c2, err := net.Dial("tcp", p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	c2.Write([]byte("y")) // through the proxy before it goes quiet
	if _, err := io.ReadFull(c2, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	p.Silence(true)
	c2.Write([]byte("x"))
	c2.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, err := c2.Read(make([]byte, 1)); !isTimeout(err) {
		t.Errorf("a silenced connection: %v, want a timeout", err)
	}
	p.Silence(false)
	c2.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.ReadFull(c2, make([]byte, 1)); err != nil {
		t.Errorf("the connection after the silence: %v", err)
	}

	// Forget: the open connection goes quiet for good (nothing is cut),
	// a new one is served.
	p.Forget()
	c2.Write([]byte("z"))
	c2.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, err := c2.Read(make([]byte, 1)); !isTimeout(err) {
		t.Errorf("a forgotten connection: %v, want a timeout", err)
	}

	if got, _, err := roundTrip(p.Addr, msg, 5*time.Second); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("clean round trip after the faults: %v", err)
	}
	if p.Resets.Load() != 1 || p.BlackHoles.Load() != 1 || p.Pauses.Load() != 1 || p.Garbles.Load() != 1 || p.Accepted.Load() != 10 {
		t.Errorf("counters: accepted %d, resets %d, black holes %d, pauses %d, garbles %d", p.Accepted.Load(), p.Resets.Load(), p.BlackHoles.Load(), p.Pauses.Load(), p.Garbles.Load())
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
