package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// RIEModule is where the AWS Lambda Runtime Interface Emulator is built
// from (the Go module proxy serves it as a pseudo-version; there are no
// semver tags).
const RIEModule = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie"

// RIEInstallHint is the command that installs the emulator.
const RIEInstallHint = "go install " + RIEModule + "@latest (or run `make setup`)"

// ErrTimeout is returned by Invoke when the function ran past its timeout.
var ErrTimeout = errors.New("function timed out")

// FunctionError is a handler's error, as Lambda reports it.
type FunctionError struct {
	Type    string `json:"errorType"`
	Message string `json:"errorMessage"`
}

func (e *FunctionError) Error() string { return e.Type + ": " + e.Message }

// RIE runs one function's bootstrap under the Runtime Interface Emulator,
// the way Lambda runs it: the Runtime API, the deadline, one invoke at a
// time. Both the invoke endpoint and the Runtime API listen on loopback.
type RIE struct {
	addr    string
	timeout time.Duration // whole seconds, as the emulator takes it
	cmd     *exec.Cmd
	done    chan struct{}
	logs    *lockedBuffer
	client  *http.Client
	once    sync.Once
}

// FindRIE returns the path of aws-lambda-rie, from PATH or the Go bin
// directory.
func FindRIE() (string, error) {
	if p, err := exec.LookPath("aws-lambda-rie"); err == nil {
		return p, nil
	}
	var dirs []string
	if gobin := os.Getenv("GOBIN"); gobin != "" {
		dirs = append(dirs, gobin)
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		for _, p := range filepath.SplitList(strings.TrimSpace(string(out))) {
			dirs = append(dirs, filepath.Join(p, "bin"))
		}
	}
	for _, d := range dirs {
		p := filepath.Join(d, "aws-lambda-rie")
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p, nil
		}
	}
	return "", fmt.Errorf("aws-lambda-rie not found in PATH or $(go env GOPATH)/bin: %s", RIEInstallHint)
}

// BuildFunction builds the Go main package in dir into the executable out,
// as the Lambda build does (-tags lambda.norpc, CGO_ENABLED=0) but for the
// host's architecture, so it runs here under the emulator.
func BuildFunction(dir, out string) error {
	absOut, err := filepath.Abs(out)
	if err != nil {
		return fmt.Errorf("build %s: %w", dir, err)
	}
	if err := os.MkdirAll(filepath.Dir(absOut), 0o755); err != nil {
		return fmt.Errorf("build %s: %w", dir, err)
	}
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-o", absOut, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+runtime.GOOS, "GOARCH="+runtime.GOARCH)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build %s: %w\n%s", dir, err, b)
	}
	return nil
}

// StartRIE starts the emulator with bootstrap as the function. env holds
// the function's environment (KEY=value); nothing of the caller's
// environment leaks in besides PATH, HOME and TMPDIR, and AWS_REGION
// defaults to us-east-1. timeout is the function timeout (whole seconds,
// at least one), after which an invoke fails with ErrTimeout.
func StartRIE(bootstrap string, env []string, timeout time.Duration) (*RIE, error) {
	rie, err := FindRIE()
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(bootstrap)
	if err != nil {
		return nil, err
	}
	if st, err := os.Stat(abs); err != nil || st.Mode()&0o111 == 0 {
		return nil, fmt.Errorf("bootstrap %s is not an executable (build it with BuildFunction)", abs)
	}
	invokePort, err := FreePort()
	if err != nil {
		return nil, err
	}
	apiPort, err := FreePort()
	if err != nil {
		return nil, err
	}
	secs := int((timeout + time.Second - 1) / time.Second)
	if secs < 1 {
		secs = 1
	}
	r := &RIE{
		addr:    net.JoinHostPort("127.0.0.1", strconv.Itoa(invokePort)),
		timeout: time.Duration(secs) * time.Second,
		done:    make(chan struct{}),
		logs:    &lockedBuffer{},
	}
	// The emulator answers at the latest when the function times out.
	r.client = &http.Client{Timeout: r.timeout + 30*time.Second}
	r.cmd = exec.Command(rie,
		"--runtime-interface-emulator-address", r.addr,
		"--runtime-api-address", net.JoinHostPort("127.0.0.1", strconv.Itoa(apiPort)),
		abs)
	r.cmd.Dir = filepath.Dir(abs)
	r.cmd.Env = functionEnv(env, secs)
	r.cmd.Stdout, r.cmd.Stderr = r.logs, r.logs
	attr := childAttr()
	attr.Setpgid = true // Close ends the emulator and the runtime it started
	r.cmd.SysProcAttr = attr
	if err := r.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start aws-lambda-rie: %w", err)
	}
	go func() { r.cmd.Wait(); close(r.done) }()
	if err := r.waitListening(10 * time.Second); err != nil {
		r.Close()
		return nil, fmt.Errorf("aws-lambda-rie on %s: %w\n%s", r.addr, err, r.Logs())
	}
	return r, nil
}

func functionEnv(env []string, timeoutSecs int) []string {
	out := []string{}
	for _, k := range []string{"PATH", "HOME", "TMPDIR"} {
		if v, ok := os.LookupEnv(k); ok {
			out = append(out, k+"="+v)
		}
	}
	set := map[string]bool{}
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		set[k] = true
	}
	if !set["AWS_REGION"] {
		out = append(out, "AWS_REGION=us-east-1")
	}
	if !set["AWS_DEFAULT_REGION"] {
		out = append(out, "AWS_DEFAULT_REGION=us-east-1")
	}
	out = append(out, "AWS_LAMBDA_FUNCTION_TIMEOUT="+strconv.Itoa(timeoutSecs), "LOG_LEVEL=warn")
	return append(out, env...)
}

func (r *RIE) waitListening(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		c, err := net.DialTimeout("tcp", r.addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-r.done:
			return errors.New("exited before listening")
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not listening after %s: %w", limit, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Invoke sends one synchronous invocation and returns the function's
// response. A handler error is a *FunctionError; running past the
// timeout is ErrTimeout.
func (r *RIE) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	for attempt := 0; ; attempt++ {
		body, err := r.invoke(ctx, payload)
		// After a timeout the emulator resets its sandbox; an invocation
		// that arrives meanwhile is refused before the function sees it
		// (Sandbox.Failure, ErrGateCanceled): send it again.
		var fe *FunctionError
		if attempt < 20 && errors.As(err, &fe) && fe.Type == "Sandbox.Failure" && strings.Contains(fe.Message, "ErrGateCanceled") {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		return body, err
	}
}

// invoke sends one invocation.
func (r *RIE) invoke(ctx context.Context, payload []byte) ([]byte, error) {
	url := "http://" + r.addr + "/2015-03-31/functions/function/invocations"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(payload))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("invoke: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("invoke: read response: %w", err)
	}
	if bytes.HasPrefix(body, []byte("Task timed out")) {
		return nil, fmt.Errorf("%w: %s", ErrTimeout, body)
	}
	var fe FunctionError
	if json.Unmarshal(body, &fe) == nil && fe.Type != "" && fe.Message != "" {
		return nil, &fe
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("invoke: HTTP %d: %s", resp.StatusCode, body)
	}
	return body, nil
}

// Logs returns what the emulator and the function wrote so far.
func (r *RIE) Logs() string { return r.logs.String() }

// Close stops the emulator and its runtime.
func (r *RIE) Close() error {
	if r == nil || r.cmd == nil || r.cmd.Process == nil {
		return nil
	}
	r.once.Do(func() {
		pgid := -r.cmd.Process.Pid
		syscall.Kill(pgid, syscall.SIGTERM)
		select {
		case <-r.done:
		case <-time.After(3 * time.Second):
		}
		syscall.Kill(pgid, syscall.SIGKILL) // the runtime, if it outlived the emulator
		<-r.done
	})
	return nil
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// runtimePID is the process the emulator started for the function (its
// bootstrap), found among the emulator's children.
func (r *RIE) runtimePID() (int, error) {
	if r == nil || r.cmd == nil || r.cmd.Process == nil {
		return 0, errors.New("emulator not started")
	}
	parent := r.cmd.Process.Pid
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so read after the last ')'.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(parent) {
			return pid, nil
		}
	}
	return 0, fmt.Errorf("no function process under the emulator (pid %d): it is started on the first invocation", parent)
}

// Freeze stops the function's process as Lambda freezes a warm
// function between invocations (the emulator itself keeps running);
// Thaw lets it go on.
func (r *RIE) Freeze() error { return r.signalRuntime(syscall.SIGSTOP) }

// Thaw resumes a frozen function.
func (r *RIE) Thaw() error { return r.signalRuntime(syscall.SIGCONT) }

func (r *RIE) signalRuntime(sig syscall.Signal) error {
	pid, err := r.runtimePID()
	if err != nil {
		return err
	}
	return syscall.Kill(pid, sig)
}

// OpenSockets counts the sockets the function's process holds open.
func (r *RIE) OpenSockets() (int, error) {
	pid, err := r.runtimePID()
	if err != nil {
		return 0, err
	}
	dir := filepath.Join("/proc", strconv.Itoa(pid), "fd")
	fds, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, fd := range fds {
		if l, err := os.Readlink(filepath.Join(dir, fd.Name())); err == nil && strings.HasPrefix(l, "socket:") {
			n++
		}
	}
	return n, nil
}
