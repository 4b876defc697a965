package testenv

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// DynaliteHint is the command that installs the DynamoDB-compatible server.
const DynaliteHint = "run `make setup` (it installs dynalite under tools/node_modules with npm)"

// DynamoServer is a DynamoDB-compatible server (dynalite) running as a
// child process on a fixed loopback port. Its tables live in a directory
// that survives Stop and Start.
type DynamoServer struct {
	bin  string
	dir  string // holds data/ and dynalite.log
	port int

	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{} // closed when cmd exits
	closed bool

	// Crashes counts the times the server died on its own and was
	// started again (see supervise); LastCrash is the end of its log then.
	Crashes   atomic.Int64
	lastCrash atomic.Value // string
}

// FindDynalite returns the dynalite executable: tools/node_modules/.bin
// under the module root (found by walking up from the working directory to
// go.mod), else dynalite in PATH.
func FindDynalite() (string, error) {
	if root, err := ModuleRoot(); err == nil {
		p := filepath.Join(root, "tools", "node_modules", ".bin", "dynalite")
		if fileExists(p) {
			return p, nil
		}
	}
	if p, err := exec.LookPath("dynalite"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("dynalite not found in tools/node_modules/.bin or PATH: %s", DynaliteHint)
}

// ModuleRoot returns the nearest directory at or above the working
// directory that holds go.mod.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if fileExists(filepath.Join(dir, "go.mod")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod at or above the working directory")
		}
		dir = parent
	}
}

// StartDynamo starts dynalite on a free 127.0.0.1 port with a fresh data
// directory and waits until it answers.
func StartDynamo() (*DynamoServer, error) {
	bin, err := FindDynalite()
	if err != nil {
		return nil, err
	}
	if _, err := exec.LookPath("node"); err != nil {
		return nil, fmt.Errorf("node not found in PATH (dynalite runs on it): %s", DynaliteHint)
	}
	port, err := FreePort()
	if err != nil {
		return nil, fmt.Errorf("start dynalite: %w", err)
	}
	dir, err := os.MkdirTemp("", "pg2s3-dynamo-")
	if err != nil {
		return nil, fmt.Errorf("start dynalite: %w", err)
	}
	d := &DynamoServer{bin: bin, dir: dir, port: port}
	if err := d.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return d, nil
}

// Endpoint is the server's URL.
func (d *DynamoServer) Endpoint() string { return "http://" + d.addr() }

func (d *DynamoServer) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(d.port)) }

// Start starts the server (again, after Stop) on the same port and data
// directory, and waits until it answers.
func (d *DynamoServer) Start() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cmd != nil || d.closed {
		return nil
	}
	logPath := filepath.Join(d.dir, "dynalite.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("start dynalite: %w", err)
	}
	defer logf.Close()
	cmd := exec.Command(d.bin, "--host", "127.0.0.1", "--port", strconv.Itoa(d.port),
		"--path", filepath.Join(d.dir, "data"), "--createTableMs", "50")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start dynalite (%s): %w", DynaliteHint, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	if err := waitHTTP(d.addr(), done, 20*time.Second); err != nil {
		cmd.Process.Kill()
		<-done
		log, _ := os.ReadFile(logPath)
		return fmt.Errorf("start dynalite on %s: %w\n%s", d.addr(), err, tail(string(log), 2000))
	}
	d.cmd, d.done = cmd, done
	go d.supervise(cmd, done, logPath)
	return nil
}

// supervise starts the server again when it dies on its own: dynalite, a
// Node.js process, can exit when a client resets its connection in the
// middle of a request (the soak's fault proxies do). To pg2s3 that is a
// DynamoDB outage, which its runs must ride out and the tests check they
// do; the tests' own reads of the bookmarks need the server back.
func (d *DynamoServer) supervise(cmd *exec.Cmd, done chan struct{}, logPath string) {
	<-done
	d.mu.Lock()
	if d.cmd != cmd { // stopped on purpose
		d.mu.Unlock()
		return
	}
	d.cmd, d.done = nil, nil
	d.mu.Unlock()
	d.Crashes.Add(1)
	if log, err := os.ReadFile(logPath); err == nil {
		d.lastCrash.Store(tail(string(log), 2000))
	}
	for range 5 {
		if d.Start() == nil {
			return
		}
		time.Sleep(time.Second)
	}
}

// LastCrash is the end of the server's log when it last died on its own.
func (d *DynamoServer) LastCrash() string {
	s, _ := d.lastCrash.Load().(string)
	return s
}

// Stop stops the server; its data directory is kept for Start.
func (d *DynamoServer) Stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cmd == nil {
		return
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(5 * time.Second):
		d.cmd.Process.Kill()
		<-d.done
	}
	d.cmd, d.done = nil, nil
}

// Close stops the server and removes its data directory.
func (d *DynamoServer) Close() {
	if d == nil {
		return
	}
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	d.Stop()
	os.RemoveAll(d.dir)
}

// waitHTTP waits until addr answers an HTTP request, the process exits
// (done closes) or the timeout passes.
func waitHTTP(addr string, done <-chan struct{}, timeout time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for {
		resp, err := client.Post("http://"+addr+"/", "application/x-amz-json-1.0", strings.NewReader("{}"))
		if err == nil {
			resp.Body.Close()
			return nil
		}
		select {
		case <-done:
			return errors.New("server exited before answering")
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer after %s: %w", timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
