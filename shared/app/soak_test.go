package app_test

import (
	"fmt"
	"math/rand"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pg2s3/pg2s3/shared/awsstore/awstest"
	"github.com/pg2s3/pg2s3/shared/testenv"
)

// netFaults are the soak's faults of the network and of the AWS services,
// beside the fault suite's commit-step faults: PostgreSQL (query and
// replication connections) behind a FaultProxy; S3 and DynamoDB each
// behind a FaultProxy in front of a Throttle (the SDK's own connections
// meet the network faults, its requests the service errors).
type netFaults struct {
	t              *testing.T
	pg             *testenv.FaultProxy
	s3, dynamo     *testenv.Throttle   // nil with local stores
	s3px, dynamopx *testenv.FaultProxy // in front of them
	silences       sync.WaitGroup
}

// Network fault kinds, each for one iteration.
const (
	faultPgLatency   = "pg-latency"   // 5–35 ms a chunk, with jitter
	faultPgBandwidth = "pg-bandwidth" // 256 KiB/s to 2 MiB/s
	faultPgReset     = "pg-reset"     // connections reset after 20–500 kB
	faultPgSilence   = "pg-silence"   // the server goes quiet for 1–2.5 s, mid-run
	faultPgGarble    = "pg-garble"    // random bytes from the server after 1–300 kB, then a cut
	faultS3Throttle  = "s3-throttle"  // 30% of S3 requests answered with SlowDown or 500
	faultDynThrottle = "dynamo-throttle"
	faultS3Reset     = "s3-reset"       // S3 connections reset after 20–500 kB
	faultS3Silence   = "s3-silence"     // S3 goes quiet for 1–2.5 s, mid-run
	faultDynReset    = "dynamo-reset"   // DynamoDB connections reset after 2–50 kB
	faultDynSilence  = "dynamo-silence" // DynamoDB goes quiet for 1–2.5 s, mid-run
)

func newNetFaults(t *testing.T, aws *awstest.Stores, seed int64) *netFaults {
	n := &netFaults{t: t}
	var err error
	if n.pg, err = testenv.StartFaultProxy(fmt.Sprintf("127.0.0.1:%d", testPG.Port), seed); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.pg.Close)
	if aws != nil {
		if n.s3, err = testenv.StartThrottle(aws.S3.Endpoint(), false, 0, seed+1); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(n.s3.Close)
		if n.dynamo, err = testenv.StartThrottle(aws.Dynamo.Endpoint(), true, 0, seed+2); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(n.dynamo.Close)
		for _, px := range []struct {
			to  string
			out **testenv.FaultProxy
		}{{n.s3.URL, &n.s3px}, {n.dynamo.URL, &n.dynamopx}} {
			if *px.out, err = testenv.StartFaultProxy(strings.TrimPrefix(px.to, "http://"), seed+3); err != nil {
				t.Fatal(err)
			}
			t.Cleanup((*px.out).Close)
		}
	}
	return n
}

// route points a pipeline's config at the proxy and the throttles.
func (n *netFaults) route(extra map[string]any) {
	extra["port"] = n.pg.Port()
	if n.s3 != nil {
		extra["sink"].(map[string]any)["endpoint"] = "http://" + n.s3px.Addr
		extra["bookmarks"].(map[string]any)["endpoint"] = "http://" + n.dynamopx.Addr
	}
}

func (n *netFaults) points() []string {
	p := []string{faultPgLatency, faultPgBandwidth, faultPgReset, faultPgSilence, faultPgGarble}
	if n.s3 != nil {
		p = append(p, faultS3Throttle, faultDynThrottle, faultS3Reset, faultS3Silence, faultDynReset, faultDynSilence)
	}
	return p
}

func (n *netFaults) owns(point string) bool {
	for _, p := range n.points() {
		if p == point {
			return true
		}
	}
	return false
}

// apply starts an iteration's fault and returns the runs' deadline (zero:
// none).
func (n *netFaults) apply(point string, r *rand.Rand) time.Time {
	switch point {
	case faultPgLatency:
		n.pg.Set(testenv.Faults{Latency: time.Duration(5+r.Intn(30)) * time.Millisecond, Jitter: 10 * time.Millisecond})
	case faultPgBandwidth:
		n.pg.Set(testenv.Faults{BytesPerSec: int64(256<<10 + r.Intn(2<<20))})
	case faultPgReset:
		n.pg.Set(testenv.Faults{ResetAfter: int64(20_000 + r.Intn(480_000))})
	case faultPgSilence:
		return n.silence(n.pg, r)
	case faultPgGarble:
		n.pg.Set(testenv.Faults{GarbleAfter: int64(1 + r.Intn(300_000)), GarbleBytes: int64(1 + r.Intn(500))})
	case faultS3Reset:
		n.s3px.Set(testenv.Faults{ResetAfter: int64(20_000 + r.Intn(480_000))})
	case faultS3Silence:
		return n.silence(n.s3px, r)
	case faultDynReset:
		n.dynamopx.Set(testenv.Faults{ResetAfter: int64(2_000 + r.Intn(48_000))})
	case faultDynSilence:
		return n.silence(n.dynamopx, r)
	case faultS3Throttle:
		n.s3.SetRate(0.3)
	case faultDynThrottle:
		n.dynamo.SetRate(0.3)
	}
	return time.Time{}
}

// silence makes px's server go quiet for 1–2.5 s, 50–600 ms from now, and
// returns the runs' deadline: a run caught by it ends at the hard stop.
func (n *netFaults) silence(px *testenv.FaultProxy, r *rand.Rand) time.Time {
	after := time.Duration(50+r.Intn(550)) * time.Millisecond
	quiet := time.Duration(1000+r.Intn(1500)) * time.Millisecond
	n.silences.Add(1)
	go func() {
		defer n.silences.Done()
		time.Sleep(after)
		px.Silence(true)
		time.Sleep(quiet)
		px.Silence(false)
	}()
	return time.Now().Add(2 * time.Second)
}

// clear ends the iteration's fault.
func (n *netFaults) clear() {
	n.silences.Wait()
	n.pg.Set(testenv.Faults{})
	if n.s3 != nil {
		n.s3.SetRate(0)
		n.dynamo.SetRate(0)
		n.s3px.Set(testenv.Faults{})
		n.dynamopx.Set(testenv.Faults{})
	}
}

// TestSoak runs the fault suite with the network and service faults too:
// commit steps failed, the walsender killed, PostgreSQL restarted, the S3
// and DynamoDB servers stopped, PostgreSQL's connections slowed, throttled,
// reset, silenced and fed random bytes, S3's and DynamoDB's connections
// reset and silenced, S3 and DynamoDB throttling, over both plugins and
// both kinds of stores, with a concurrent workload; after every run the
// slot has not passed the bookmark, and at the end the log merged by key
// equals the table, every full copy holds each row once, every manifest
// matches its objects. SOAK_ITERATIONS (make soak: 1000) sets the total;
// make test runs a few.
func TestSoak(t *testing.T) {
	total := 6
	if n, err := strconv.Atoi(os.Getenv("SOAK_ITERATIONS")); err == nil && n > 0 {
		total = n
	}
	type variant struct {
		plugin string
		aws    bool
	}
	variants := []variant{{"pgoutput", false}, {"wal2json", true}}
	if total >= 40 {
		variants = append(variants, variant{"wal2json", false}, variant{"pgoutput", true})
	}
	start := time.Now()
	sum := faultFigures{faults: map[string]int{}}
	done := 0
	for vi, v := range variants {
		name := v.plugin + "/local"
		if v.aws {
			name = v.plugin + "/s3-dynamodb"
		}
		iterations := total / len(variants)
		if vi < total%len(variants) {
			iterations++
		}
		t.Run(name, func(t *testing.T) {
			var aws *awstest.Stores
			var stores map[string]any
			if v.aws {
				aws = awstest.Start(t, "soak", "soak")
				stores = aws.ConfigKeys(fmt.Sprintf("s%d", vi))
			}
			net := newNetFaults(t, aws, int64(100+vi))
			fig := faultSuite(t, faultOptions{iterations: iterations, stores: stores, net: net, plugin: v.plugin, seed: int64(7 + vi),
				progress: func(i int, point string) {
					if (done+i)%50 == 0 && done+i > 0 {
						fmt.Fprintf(os.Stderr, "soak: %d of %d iterations, %s\n", done+i, total, time.Since(start).Round(time.Second))
					}
				}})
			for k, c := range fig.faults {
				sum.faults[k] += c
			}
			sum.failures += fig.failures
			sum.runs += fig.runs
			sum.checked += fig.checked
			sum.loaderChecked += fig.loaderChecked
			if aws != nil {
				if n := aws.Dynamo.Crashes.Load(); n > 0 {
					sum.dynaliteCrashes += n
					t.Logf("dynalite died %d times and was started again; its log then ended:\n%s", n, aws.Dynamo.LastCrash())
				}
			}
		})
		done += iterations
	}
	var kinds []string
	for k, c := range sum.faults {
		kinds = append(kinds, fmt.Sprintf("%s %d", k, c))
	}
	sort.Strings(kinds)
	t.Logf("soak: %d iterations in %s over %d variants; faults by kind: %s; %d runs, %d failed and were recovered; %d rows checked (%d of them also through docs/loader/load-dir.sh); 0 lost, 0 doubled (the suite fails otherwise); the DynamoDB test server died on its own %d times (an outage to pg2s3) and was restarted",
		done, time.Since(start).Round(time.Second), len(variants), strings.Join(kinds, ", "), sum.runs, sum.failures, sum.checked, sum.loaderChecked, sum.dynaliteCrashes)
}
