package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/pg2s3/pg2s3/shared/report"
)

// ChildRun is one `pg2s3 sync` in a fresh process.
type ChildRun struct {
	Throughput
	PeakRSS int64 // bytes: the child's VmHWM
}

// MB returns PeakRSS in MiB.
func (c ChildRun) MB() float64 { return float64(c.PeakRSS) / (1 << 20) }

// RunCLI runs `pg2s3 sync --only kind` over p's config and catalog in a
// child process, so its peak RSS is the pg2s3 work alone.
func (e *Env) RunCLI(ctx context.Context, p *Pipeline, kind string) (ChildRun, error) {
	cmd := exec.CommandContext(ctx, e.CLI, "sync", "--config", p.CfgPath, "--catalog", p.CatPath, "--only", kind, "--json")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return ChildRun{}, err
	}
	done := make(chan struct{})
	peak := make(chan int64)
	go watchHWM(cmd.Process.Pid, done, peak)
	err := cmd.Wait()
	d := time.Since(t0)
	close(done)
	hwm := <-peak
	if err != nil {
		return ChildRun{}, fmt.Errorf("pg2s3 sync --only %s: %v: %s", kind, err, tail(stderr.String(), 2000))
	}
	var rows int64
	dec := json.NewDecoder(&stdout)
	for dec.More() { // one report per run kind
		var run report.Run
		if err := dec.Decode(&run); err != nil {
			return ChildRun{}, fmt.Errorf("pg2s3 sync: report: %w", err)
		}
		rows += run.Rows()
	}
	return ChildRun{Throughput: Throughput{Rows: rows, Dur: d}, PeakRSS: hwm}, nil
}

// watchHWM samples /proc/<pid>/status VmHWM (the peak resident set of the
// process's own address space) until done, and sends the last value. The
// child's getrusage ru_maxrss is no use here: Linux carries the parent's
// (the benchmark process's) high-water mark across fork and exec into it.
func watchHWM(pid int, done <-chan struct{}, peak chan<- int64) {
	var last int64
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		if v := readHWM(pid); v > last {
			last = v
		}
		select {
		case <-done:
			peak <- last
			return
		case <-t.C:
		}
	}
}

func readHWM(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
