package bench

import (
	"fmt"
	"io/fs"
	"math"
	"path/filepath"
	"strings"
	"time"
)

// Prices are AWS list prices in one region, the inputs of the cost case.
type Prices struct {
	Region string `json:"region"`
	AsOf   string `json:"as_of"`
	// LambdaGBSecond is the price of one GB-second of an arm64 function
	// (the stack's architecture); LambdaRequest of one invocation.
	LambdaGBSecond float64 `json:"lambda_arm64_gb_second"`
	LambdaRequest  float64 `json:"lambda_request"`
	// S3Put is the price of one PUT (or multipart part, initiation or
	// completion) to S3 Standard.
	S3Put float64 `json:"s3_put"`
	// DynamoWrite is the price of one on-demand write request unit (an
	// item under 1 KB: a bookmark or a lease).
	DynamoWrite float64 `json:"dynamodb_write"`
}

// ListPrices: us-east-1 list prices (Lambda arm64 $0.0000133334 per
// GB-second and $0.20 per million requests; S3 Standard $0.005 per 1,000
// PUTs; DynamoDB on-demand $0.625 per million write request units).
var ListPrices = Prices{Region: "us-east-1", AsOf: "2026-12", LambdaGBSecond: 0.0000133334, LambdaRequest: 0.20 / 1e6,
	S3Put: 0.005 / 1000, DynamoWrite: 0.625 / 1e6}

const (
	// LambdaMemoryMB is the memory the stack gives the sync and wal
	// functions by default (infra/config.go; TestCostAssumesTheStackDefaults).
	LambdaMemoryMB = 1024
	// LambdaRunSeconds is what one invocation works: the stack's default
	// timeout of 300 s less the 20 s safety margin.
	LambdaRunSeconds = 280
	// StitchPerMillion is Stitch's published Standard plan, $100 a month
	// for 5 million rows, per million rows.
	StitchPerMillion = 100.0 / 5
	// multipartPart is the S3 sink's part size (awsstore, 16 MiB): a larger
	// object is uploaded in parts, each a request, plus two.
	multipartPart = 16 << 20
)

// Usage is what a measured run asked of AWS's services, as the Lambda
// functions would: its wall time (Lambda bills duration, waiting
// included), the S3 requests of the objects it wrote, and its DynamoDB
// writes (a bookmark per committed batch, a lease taken and released per
// run).
type Usage struct {
	Rows      int64
	Dur       time.Duration
	Puts      int64 // S3 requests
	Commits   int64 // batches committed (manifests written)
	Leases    int64 // leases taken in the run (streams, or the slot)
	MemoryMB  int
	RunSecond int
}

// Costs is one method's cost per million rows, by service.
type Costs struct {
	LambdaGBSeconds, Invocations, Puts, Writes float64 // per million rows
	Lambda, Requests, S3, DynamoDB, Total      float64 // dollars per million rows
}

// Cost prices u per million rows at p.
func (u Usage) Cost(p Prices) Costs {
	if u.Rows <= 0 {
		return Costs{}
	}
	per := 1e6 / float64(u.Rows)
	secs := u.Dur.Seconds() * per
	c := Costs{
		LambdaGBSeconds: secs * float64(u.MemoryMB) / 1024,
		Invocations:     math.Max(1, math.Ceil(secs/float64(u.RunSecond))),
		Puts:            float64(u.Puts) * per,
		Writes:          float64(u.Commits+2*u.Leases) * per,
	}
	c.Lambda = c.LambdaGBSeconds * p.LambdaGBSecond
	c.Requests = c.Invocations * p.LambdaRequest
	c.S3 = c.Puts * p.S3Put
	c.DynamoDB = c.Writes * p.DynamoWrite
	c.Total = c.Lambda + c.Requests + c.S3 + c.DynamoDB
	return c
}

// CostResult is the cost case's line for method.
func CostResult(method string, u Usage, p Prices) Result {
	c := u.Cost(p)
	return Result{Case: "10 cost per 1M rows, " + method, Unit: "$", Ours: c.Total, Reference: StitchPerMillion, RefName: "Stitch Standard",
		Target: Target{MaxValue: 0.001},
		Note: fmt.Sprintf("Lambda $%.6f (%.2f GB-s at %d MB, %g invocations), S3 $%.6f (%.0f PUTs), DynamoDB $%.6f (%.0f writes); %s list prices %s, from %d rows in %.1fs",
			c.Lambda+c.Requests, c.LambdaGBSeconds, u.MemoryMB, c.Invocations, c.S3, c.Puts, c.DynamoDB, c.Writes, p.Region, p.AsOf, u.Rows, u.Dur.Seconds())}
}

// sinkFiles lists the objects under a directory sink (key → size),
// leaving out the catalog (written once, by discovery).
func sinkFiles(dir string) (map[string]int64, error) {
	out := map[string]int64{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if strings.HasPrefix(rel, "_catalog") || strings.HasSuffix(rel, ".tmp") {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		out[filepath.ToSlash(rel)] = info.Size()
		return nil
	})
	return out, err
}

// newObjects counts the S3 requests and the committed batches of the
// objects in after that are not in before.
func newObjects(before, after map[string]int64) (puts, commits int64) {
	for k, size := range after {
		if _, ok := before[k]; ok {
			continue
		}
		puts++
		if size > multipartPart {
			puts += 1 + (size+multipartPart-1)/multipartPart // initiate and complete, plus a request per part, instead of one PUT
		}
		if strings.HasSuffix(k, ".manifest.json") {
			commits++
		}
	}
	return puts, commits
}
