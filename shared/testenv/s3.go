package testenv

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// Dummy credentials and region for the local S3- and DynamoDB-compatible
// servers. They open nothing anywhere else.
const (
	DummyAccessKeyID     = "AKIAPG2S3LOCALTEST"
	DummySecretAccessKey = "pg2s3-local-test-secret"
	DummyRegion          = "us-east-1"
)

// S3Server is an S3-compatible server (gofakes3) embedded in the process,
// on a fixed loopback port. Its objects live in memory and survive Stop and
// Start, so a test can simulate an outage and a recovery on the same
// endpoint.
type S3Server struct {
	addr    string
	backend *s3mem.Backend
	handler http.Handler

	// ignoreIfNoneMatch strips If-None-Match from requests, to play a server
	// that does not support conditional writes.
	ignoreIfNoneMatch atomic.Bool
	requests, parts   atomic.Int64

	mu  sync.Mutex
	srv *http.Server
}

// StartS3 starts an S3-compatible server on a free 127.0.0.1 port.
func StartS3() (*S3Server, error) {
	backend := s3mem.New()
	s := &S3Server{
		backend: backend,
		handler: gofakes3.New(backend, gofakes3.WithIntegrityCheck(true)).Server(),
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("start s3 server: %w", err)
	}
	s.addr = ln.Addr().String()
	s.serve(ln)
	return s, nil
}

// Endpoint is the server's URL, for path-style addressing.
func (s *S3Server) Endpoint() string { return "http://" + s.addr }

// CreateBucket creates a bucket (no error when it exists).
func (s *S3Server) CreateBucket(name string) error {
	err := s.backend.CreateBucket(name)
	if err != nil && !gofakes3.IsAlreadyExists(err) {
		return fmt.Errorf("create bucket %s: %w", name, err)
	}
	return nil
}

// IgnoreIfNoneMatch makes the server drop the If-None-Match header of
// every request while on, as S3-compatible servers without conditional
// writes do.
func (s *S3Server) IgnoreIfNoneMatch(on bool) { s.ignoreIfNoneMatch.Store(on) }

// Stop closes the listener and every open connection; the data is kept.
func (s *S3Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		s.srv.Close()
		s.srv = nil
	}
}

// Start serves again on the same port after Stop.
func (s *S3Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return nil
	}
	var ln net.Listener
	var err error
	for deadline := time.Now().Add(5 * time.Second); ; {
		if ln, err = net.Listen("tcp", s.addr); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("restart s3 server on %s: %w", s.addr, err)
	}
	s.serveLocked(ln)
	return nil
}

// Close stops the server for good.
func (s *S3Server) Close() { s.Stop() }

func (s *S3Server) serve(ln net.Listener) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.serveLocked(ln)
}

func (s *S3Server) serveLocked(ln net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(s.serveHTTP), ReadHeaderTimeout: 10 * time.Second}
	s.srv = srv
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			ln.Close()
		}
	}()
}

// S3Stats counts the requests a server received.
type S3Stats struct {
	Requests    int64
	PartUploads int64 // UploadPart requests (PUT ?partNumber&uploadId)
}

// Stats returns the request counts so far.
func (s *S3Server) Stats() S3Stats {
	return S3Stats{Requests: s.requests.Load(), PartUploads: s.parts.Load()}
}

func (s *S3Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	if q := r.URL.Query(); r.Method == http.MethodPut && q.Has("partNumber") && q.Has("uploadId") {
		s.parts.Add(1)
	}
	if s.ignoreIfNoneMatch.Load() {
		r.Header.Del("If-None-Match")
	}
	s.handler.ServeHTTP(w, r)
}
