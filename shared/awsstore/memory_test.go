package awsstore

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pg2s3/pg2s3/shared/testenv"
)

// The large write: 64 MiB in 5 MiB parts, two in flight.
const (
	largeBytes       = 64 << 20
	largePartMB      = 5
	largeConcurrency = 2
	// A streaming upload holds a part buffer per part in flight plus the
	// one being filled; allow a part and 8 MiB more for the HTTP stack, the
	// SDK and garbage not yet collected. Measured: +15.9 MiB for 64 MiB
	// (+20.7 MiB with the SDK's upload manager before).
	largeHeapBound = (largeConcurrency+2)*largePartMB<<20 + 8<<20 + raceHeapAllowance
)

// memReport is what the child process measured.
type memReport struct {
	BaselineHeap uint64 `json:"baseline_heap"`
	PeakHeap     uint64 `json:"peak_heap"`
	TotalAlloc   uint64 `json:"total_alloc"`
	Bytes        int64  `json:"bytes"`
	SHA256       string `json:"sha256"`
}

// TestWriteLargeFlatMemory streams 64 MiB through Write and checks it went
// up in parts while the writer's live heap stayed near
// (concurrency+1) x part size. The S3 server runs in this process and keeps
// objects in memory, so the writer runs in a child process (this test
// binary again) whose heap holds only the client.
func TestWriteLargeFlatMemory(t *testing.T) {
	if os.Getenv(memChildEnv) != "" {
		writeLargeChild(t)
		return
	}
	key := unique("large") + ".bin"
	before := s3srv.Stats()
	cmd := exec.Command(os.Args[0], "-test.run=^TestWriteLargeFlatMemory$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), memChildEnv+"="+s3srv.Endpoint(), "PG2S3_MEM_CHILD_KEY="+key)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	var rep memReport
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if js, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "MEMREPORT "); ok {
			if err := json.Unmarshal([]byte(js), &rep); err != nil {
				t.Fatal(err)
			}
		}
	}
	if rep.Bytes != largeBytes {
		t.Fatalf("child wrote %d bytes, want %d\n%s", rep.Bytes, largeBytes, out)
	}
	parts := s3srv.Stats().PartUploads - before.PartUploads
	growth := int64(rep.PeakHeap) - int64(rep.BaselineHeap)
	var maxRSS int64
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		maxRSS = int64(ru.Maxrss) // KiB on Linux
	}
	t.Logf("wrote %d MiB in %d parts of %d MiB (concurrency %d): peak live heap +%.1f MiB over a %.1f MiB baseline (bound %d MiB); %.1f MiB allocated in all; child max RSS %.1f MiB",
		largeBytes>>20, parts, largePartMB, largeConcurrency, mib(growth), mib(int64(rep.BaselineHeap)), largeHeapBound>>20, mib(int64(rep.TotalAlloc)), float64(maxRSS)/1024)
	if want := int64(largeBytes / (largePartMB << 20)); parts < want {
		t.Errorf("%d part uploads, want at least %d", parts, want)
	}
	if growth > largeHeapBound {
		t.Errorf("peak live heap grew by %.1f MiB, want at most %d MiB: the upload is not streaming", mib(growth), largeHeapBound>>20)
	}
	s := newSinkWith(t, sinkConfig(s3srv.Endpoint(), testBucket, ""))
	got, err := s.Get(context.Background(), key)
	if err != nil || int64(len(got)) != largeBytes || sum(got) != rep.SHA256 {
		t.Errorf("stored object: %d bytes (%v), checksum match %v", len(got), err, err == nil && sum(got) == rep.SHA256)
	}
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// writeLargeChild is the child half: it writes a generated object and
// prints what its heap did.
func writeLargeChild(t *testing.T) {
	cfg := sinkConfig(os.Getenv(memChildEnv), testBucket, "")
	cfg.PartSizeMB, cfg.Concurrency = largePartMB, largeConcurrency
	s := newSinkWith(t, cfg)

	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(sample)
	rep := memReport{BaselineHeap: sample[0].Value.Uint64()}
	rep.PeakHeap = rep.BaselineHeap
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	allocBefore := ms.TotalAlloc

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				metrics.Read(s)
				rep.PeakHeap = max(rep.PeakHeap, s[0].Value.Uint64())
			}
		}
	})
	info, err := testenv.WriteObject(context.Background(), s, os.Getenv("PG2S3_MEM_CHILD_KEY"), "application/octet-stream", generate(largeBytes))
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	runtime.ReadMemStats(&ms)
	rep.TotalAlloc = ms.TotalAlloc - allocBefore
	rep.Bytes, rep.SHA256 = info.Bytes, info.SHA256
	js, _ := json.Marshal(rep)
	fmt.Printf("MEMREPORT %s\n", js)
}

// generate writes n pseudo-random bytes in 64 KiB chunks, as an encoder
// streaming rows would.
func generate(n int) func(io.Writer) error {
	return func(w io.Writer) error {
		src := rand.NewChaCha8([32]byte{1})
		buf := make([]byte, 64<<10)
		for left := n; left > 0; left -= len(buf) {
			chunk := buf[:min(len(buf), left)]
			src.Read(chunk)
			if _, err := w.Write(chunk); err != nil {
				return err
			}
		}
		return nil
	}
}
