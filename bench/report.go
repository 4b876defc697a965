package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
)

// Target is what a figure must reach: Ratio ≥ Min, or Value ≤ Max.
type Target struct {
	MinRatio float64 `json:"min_ratio,omitempty"`
	MaxRatio float64 `json:"max_ratio,omitempty"`
	MaxValue float64 `json:"max_value,omitempty"`
}

func (t Target) String() string {
	switch {
	case t.MinRatio > 0:
		return fmt.Sprintf("ratio >= %.2f", t.MinRatio)
	case t.MaxRatio > 0:
		return fmt.Sprintf("ratio <= %.2f", t.MaxRatio)
	case t.MaxValue > 0:
		return fmt.Sprintf("<= %g", t.MaxValue)
	}
	return "-"
}

// Result is one line of the table: pg2s3's figure, the reference measured
// in the same run on the same data, their ratio and the target.
type Result struct {
	Case      string  `json:"case"`
	Unit      string  `json:"unit"`
	Ours      float64 `json:"pg2s3"`
	Reference float64 `json:"reference,omitempty"`
	RefName   string  `json:"reference_name,omitempty"`
	Ratio     float64 `json:"ratio,omitempty"`
	Target    Target  `json:"target"`
	Met       string  `json:"met"` // PASS, BELOW or - (no target)
	Note      string  `json:"note,omitempty"`
}

// Report collects the results of one run.
type Report struct {
	mu        sync.Mutex
	StartedAt time.Time      `json:"started_at"`
	Seconds   float64        `json:"duration_seconds"`
	Machine   map[string]any `json:"machine"`
	Params    map[string]any `json:"params"`
	Results   []Result       `json:"results"`
}

// Results is this process's report.
var Results = &Report{StartedAt: time.Now().UTC(), Params: map[string]any{}}

// Add judges r against its target and records it.
func (rep *Report) Add(r Result) Result {
	if r.Ratio == 0 && r.Reference != 0 {
		r.Ratio = r.Ours / r.Reference
	}
	r.Met = "-"
	t := r.Target
	switch {
	case t.MinRatio > 0:
		r.Met = mark(r.Ratio >= t.MinRatio)
	case t.MaxRatio > 0:
		r.Met = mark(r.Ratio <= t.MaxRatio)
	case t.MaxValue > 0:
		r.Met = mark(r.Ours <= t.MaxValue)
	}
	rep.mu.Lock()
	rep.Results = append(rep.Results, r)
	rep.mu.Unlock()
	return r
}

// Param records a run parameter.
func (rep *Report) Param(k string, v any) {
	rep.mu.Lock()
	rep.Params[k] = v
	rep.mu.Unlock()
}

func mark(ok bool) string {
	if ok {
		return "PASS"
	}
	return "BELOW"
}

// Throughputs is a result comparing two throughputs in rows per second.
func Throughputs(name string, ours, ref Throughput, refName string, t Target) Result {
	note := fmt.Sprintf("%d rows: %.1fs vs %.1fs", ours.Rows, ours.Dur.Seconds(), ref.Dur.Seconds())
	if ours.CPU > 0 && ours.Rows > 0 {
		note += fmt.Sprintf("; pg2s3 CPU %.2f µs/row", float64(ours.CPU.Nanoseconds())/1000/float64(ours.Rows))
		if ref.CPU > 0 && ref.Rows > 0 { // a reference that is pg2s3 too (case 8's gzip JSONL)
			note += fmt.Sprintf(" vs %.2f", float64(ref.CPU.Nanoseconds())/1000/float64(ref.Rows))
		}
	}
	return Result{Case: name, Unit: "rows/s", Ours: ours.PerSec(), Reference: ref.PerSec(), RefName: refName, Target: t, Note: note}
}

// Print writes the table.
func (rep *Report) Print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CASE\tPG2S3\tREFERENCE\tRATIO\tTARGET\tMET\tNOTE")
	for _, r := range rep.Results {
		ref, ratio := "-", "-"
		if r.Reference != 0 {
			ref = figure(r.Reference, r.Unit) + " (" + r.RefName + ")"
		}
		if r.Ratio != 0 {
			ratio = fmt.Sprintf("%.2f", r.Ratio)
			if r.Ratio < 0.01 {
				ratio = fmt.Sprintf("%.1g", r.Ratio)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Case, figure(r.Ours, r.Unit), ref, ratio, r.Target, r.Met, r.Note)
	}
	tw.Flush()
}

func figure(v float64, unit string) string {
	switch {
	case unit == "$":
		return fmt.Sprintf("$%.6f", v)
	case v >= 100:
		return fmt.Sprintf("%.0f %s", v, unit)
	default:
		return fmt.Sprintf("%.2f %s", v, unit)
	}
}

// Save writes the report as results/<timestamp>.json and results/latest.json.
func (rep *Report) Save(dir string) (string, error) {
	rep.Seconds = time.Since(rep.StartedAt).Seconds()
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(dir, rep.StartedAt.Format("20060102T150405Z")+".json")
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return "", err
	}
	return path, os.WriteFile(filepath.Join(dir, "latest.json"), append(b, '\n'), 0o644)
}

// MachineFacts describes where the figures were measured.
func MachineFacts(ctx context.Context, dsn string) map[string]any {
	m := map[string]any{"nproc": runtime.NumCPU(), "gomaxprocs": runtime.GOMAXPROCS(0), "go_version": runtime.Version(),
		"goos": runtime.GOOS, "goarch": runtime.GOARCH}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m["cpu_model"] = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		if l, _, ok := strings.Cut(string(b), "\n"); ok {
			m["mem_total"] = strings.Join(strings.Fields(l)[1:], " ")
		}
	}
	if conn, err := pgx.Connect(ctx, dsn); err == nil {
		var v string
		if conn.QueryRow(ctx, "SHOW server_version").Scan(&v) == nil {
			m["postgres_version"] = v
		}
		conn.Close(ctx)
	}
	return m
}
