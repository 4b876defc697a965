package main

import (
	"strings"
	"testing"
	"time"

	"github.com/pg2s3/pg2s3/bench"
)

func TestCron(t *testing.T) {
	for _, tc := range []struct {
		expr  string
		every time.Duration // 0: invalid
		err   string
	}{
		{"0 12 * * ? *", 24 * time.Hour, ""},
		{"cron(0/10 * * * ? *)", 10 * time.Minute, ""},
		{"0,30 8-17 ? * MON-FRI *", 30 * time.Minute, ""},
		{"15 10 L * ? 2030", 24 * time.Hour, ""},
		{"0 9 ? * 6#3 *", 24 * time.Hour, ""},
		{"0 9 15W * ? *", 24 * time.Hour, ""},
		{"5,55 * * * ? *", 10 * time.Minute, ""},
		{"0 12 * * *", 0, "has 5 fields"},
		{"0 12 * * * *", 0, "one of them must be '?'"},
		{"0 12 ? * ? *", 0, "both '?'"},
		{"60 12 * * ? *", 0, `minutes "60"`},
		{"0 24 * * ? *", 0, `hours "24"`},
		{"0 12 32 * ? *", 0, `day-of-month "32"`},
		{"0 12 ? FOO * *", 0, `month "FOO"`},
		{"0 12 ? * 8 *", 0, `day-of-week "8"`},
		{"0 12 * * ? 1969", 0, `year "1969"`},
		{"0/0 * * * ? *", 0, "step"},
		{"? 12 * * ? *", 0, "'?' is allowed only"},
		{"50-10 * * * ? *", 0, "backwards"},
	} {
		c, err := ParseCron(tc.expr)
		if tc.every == 0 {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v; want one containing %q", tc.expr, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.expr, err)
			continue
		}
		if got := c.MinInterval(); got != tc.every {
			t.Errorf("%q: MinInterval %s; want %s", tc.expr, got, tc.every)
		}
	}
}

func TestStartDateKeepsAnchorPhase(t *testing.T) {
	s := &Schedule{RateMinutes: 60, anchor: time.Date(2024, 1, 1, 0, 5, 0, 0, time.UTC)}
	for now, want := range map[time.Time]string{
		time.Date(2023, 6, 1, 0, 0, 0, 0, time.UTC):  "2024-01-01T00:05:00Z", // anchor still ahead
		time.Date(2025, 3, 1, 10, 7, 0, 0, time.UTC): "2025-03-01T11:05:00Z",
		time.Date(2025, 3, 1, 10, 5, 0, 0, time.UTC): "2025-03-01T10:05:00Z",
	} {
		if got := s.StartDate(now); got != want {
			t.Errorf("now %s: StartDate %s; want %s", now, got, want)
		}
	}
	if (&Schedule{RateMinutes: 1}).Expression() != "rate(1 minute)" {
		t.Error("a one-minute rate must be singular for EventBridge")
	}
}

func TestRateWithoutAnchorStartsAtDeploy(t *testing.T) {
	c, err := ParseStackConfig([]byte(`{"databases":[` + validDB + `,"wal":{"rate_minutes":15}}]}`))
	if err != nil {
		t.Fatalf("a rate without anchor_time must be valid: %v", err)
	}
	wal := c.Databases[0].WAL
	if got := wal.Expression(); got != "rate(15 minutes)" {
		t.Errorf("Expression %q; want rate(15 minutes)", got)
	}
	if got := wal.StartDate(time.Date(2025, 3, 1, 10, 7, 0, 0, time.UTC)); got != "" {
		t.Errorf("StartDate %q; want none, so EventBridge starts the rate when the schedule is created", got)
	}
	if every, ok := wal.MinInterval(); !ok || every != 15*time.Minute {
		t.Errorf("MinInterval %s %v; want 15m0s", every, ok)
	}
}

const validDB = `{"name":"shop","secret_arn":"arn:aws:secretsmanager:eu-west-1:123456789012:secret:shop-AbCdEf",
 "schedules":[{"name":"hourly","streams":["shop-public-a"],"rate_minutes":60,"anchor_time":"2024-01-01T00:00:00Z"}]`

func TestConfigErrorsNameTheEntry(t *testing.T) {
	for name, tc := range map[string]struct{ config, want string }{
		"no stream": {`{"databases":[{"name":"shop","create_secret":true,
			"schedules":[{"name":"hourly","rate_minutes":60,"anchor_time":"2024-01-01T00:00:00Z"}]}]}`,
			`databases[0] "shop": schedules[0] "hourly": names no stream`},
		"bad cron": {`{"databases":[` + validDB + `,"wal":{"cron":"0/5 * * * * *"}}]}`,
			`databases[0] "shop": wal: cron "0/5 * * * * *": day-of-month and day-of-week both name days`},
		"wal shorter than timeout": {`{"databases":[` + validDB + `,"functions":{"wal":{"timeout_seconds":600}},
			"wal":{"rate_minutes":5,"anchor_time":"2024-01-01T00:00:00Z"}}]}`,
			`databases[0] "shop": wal: fires every 5m0s, shorter than the wal function timeout 10m0s`},
		"wal cron shorter than timeout": {`{"databases":[` + validDB + `,"wal":{"cron":"0,2 * * * ? *"}}]}`,
			`databases[0] "shop": wal: fires every 2m0s`},
		"no databases":     {`{"databases":[]}`, "databases: lists no database"},
		"unknown key":      {`{"databases":[],"bukket":{}}`, `unknown field "bukket"`},
		"no secret":        {`{"databases":[{"name":"shop","schedules":[]}]}`, `databases[0] "shop": set secret_arn`},
		"bad secret arn":   {`{"databases":[{"name":"shop","secret_arn":"shop-secret","wal":{"rate_minutes":10,"anchor_time":"2024-01-01T00:00:00Z"}}]}`, `secret_arn "shop-secret" is not`},
		"anchor no rate":   {`{"databases":[` + validDB + `,"wal":{"anchor_time":"2024-01-01T00:00:00Z"}}]}`, `wal: anchor_time needs a rate_minutes`},
		"bad anchor":       {`{"databases":[` + validDB + `,"wal":{"rate_minutes":10,"anchor_time":"yesterday"}}]}`, `anchor_time "yesterday" is not RFC3339`},
		"both kinds":       {`{"databases":[` + validDB + `,"wal":{"cron":"0 * * * ? *","rate_minutes":10}}]}`, `wal: set cron, or rate_minutes`},
		"stream twice":     {`{"databases":[{"name":"shop","create_secret":true,"schedules":[{"name":"a","streams":["s"],"cron":"0 1 * * ? *"},{"name":"b","streams":["s"],"cron":"0 2 * * ? *"}]}]}`, `schedules[1] "b": stream "s" is also in schedule "a"`},
		"duplicate names":  {`{"databases":[` + validDB + `},` + validDB + `}]}`, `databases[1] "shop": name repeats databases[0]`},
		"bad timezone":     {`{"databases":[` + validDB + `,"wal":{"cron":"0 * * * ? *","timezone":"Mars/Olympus"}}]}`, `wal: timezone "Mars/Olympus"`},
		"bad sslmode":      {`{"databases":[` + validDB + `,"sslmode":"sometimes"}]}`, `sslmode "sometimes"`},
		"bad timeout":      {`{"databases":[` + validDB + `,"functions":{"sync":{"timeout_seconds":901}}}]}`, `functions.sync: timeout_seconds 901`},
		"bad retention":    {`{"log_retention_days":10,"databases":[` + validDB + `}]}`, `log_retention_days: 10 is not`},
		"log based no wal": {`{"databases":[` + validDB + `,"catalog":{"streams":{"shop-public-a":{"replication_method":"LOG_BASED"}}}}]}`, `catalog.streams "shop-public-a": LOG_BASED needs a wal schedule`},
		"not selected":     {`{"databases":[` + validDB + `,"catalog":{"streams":{"shop-public-b":{"replication_method":"FULL_TABLE"}}}}]}`, `stream "shop-public-a" is not in catalog.streams`},
		"bad vpc":          {`{"databases":[` + validDB + `,"vpc":{"vpc_id":"vpc-1","subnet_ids":[]}}]}`, `vpc: subnet_ids lists no subnet`},
	} {
		_, err := ParseStackConfig([]byte(tc.config))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v\nwant one containing %q", name, err, tc.want)
		}
	}
}

func TestConfigDefaults(t *testing.T) {
	c, err := ParseStackConfig([]byte(`{"databases":[` + validDB + `}]}`))
	if err != nil {
		t.Fatal(err)
	}
	d := c.Databases[0]
	if d.SSLMode != "verify-full" || d.SlotName != "pg2s3_shop" || d.LogicalPlugin != "pgoutput" ||
		d.Prefix != "shop" || d.Catalog.S3Key != "_catalog/catalog.json" || d.Functions["wal"].TimeoutSeconds != 300 ||
		!*c.Table.DeletionProtection || c.Bucket.Encryption != "S3_MANAGED" {
		t.Errorf("defaults: %+v", d)
	}
}

func TestCheckAssets(t *testing.T) {
	dir := t.TempDir()
	if _, err := checkAssets(dir, false); err == nil || !strings.Contains(err.Error(), "make lambdas") {
		t.Errorf("missing bootstrap without allowMissing: %v", err)
	}
	missing, err := checkAssets(dir, true)
	if err != nil || len(missing) != len(FunctionNames)+2 || !strings.HasSuffix(missing[len(FunctionNames)], "/"+MaterializeFunction) { // materialize and the task
		t.Errorf("allowMissing: %v %v", missing, err)
	}
}

// The bench's cost case prices runs on the stack's default function size
// (bench.LambdaMemoryMB, and bench.LambdaRunSeconds: the timeout less the
// functions' default 20 s safety margin).
func TestCostAssumesTheStackDefaults(t *testing.T) {
	for _, name := range []string{"sync", "wal"} {
		f := defaultFunctions[name]
		if f.MemoryMB != bench.LambdaMemoryMB || f.TimeoutSeconds-20 != bench.LambdaRunSeconds {
			t.Errorf("%s: the stack's default is %d MB and %d s; the bench prices %d MB and %d s of work", name, f.MemoryMB, f.TimeoutSeconds, bench.LambdaMemoryMB, bench.LambdaRunSeconds)
		}
	}
}
