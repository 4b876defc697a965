package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// assetDir holds an empty bootstrap per function: assertion tests stage the
// directories as they are (no bundling, no build, no docker).
var assetDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pg2s3-infra-assets-")
	if err != nil {
		panic(err)
	}
	assetDir = dir
	for _, name := range append(FunctionNames, MaterializeFunction) {
		must(os.MkdirAll(filepath.Join(dir, name), 0o755))
		must(os.WriteFile(filepath.Join(dir, name, "bootstrap"), nil, 0o755))
	}
	must(os.MkdirAll(filepath.Join(dir, TaskAssetName), 0o755))
	must(os.WriteFile(filepath.Join(dir, TaskAssetName, "bootstrap"), nil, 0o755))
	must(os.WriteFile(filepath.Join(dir, TaskAssetName, "Dockerfile"), []byte("FROM scratch\n"), 0o644))
	code := m.Run()
	jsii.Close()
	os.RemoveAll(dir)
	os.Exit(code)
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

// testNow fixes the clock that anchors rate schedules.
var testNow = time.Date(2025, 3, 1, 10, 7, 0, 0, time.UTC)

// twoDatabases is the shared fixture: two pipelines, a KMS bucket, one in a
// VPC with a complete secret ARN, one with a created secret, an inline
// selection and a cron drain.
const twoDatabases = `{
  "stack_name": "Pg2s3Test",
  "account": "123456789012",
  "region": "eu-west-1",
  "bucket": {"encryption": "KMS"},
  "log_retention_days": 14,
  "alarm_email": "ops@example.com",
  "databases": [
    {
      "name": "shop",
      "secret_arn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:pg2s3/shop-AbCdEf",
      "vpc": {"vpc_id": "vpc-0a1b2c3d", "subnet_ids": ["subnet-0a1b2c3d", "subnet-0d3c2b1a"], "rds_security_group_id": "sg-0a1b2c3d"},
      "functions": {"sync": {"timeout_seconds": 600, "memory_mb": 2048}, "wal": {"timeout_seconds": 300, "memory_mb": 1024}},
      "schedules": [
        {"name": "hourly", "streams": ["shop-public-customers", "shop-public-orders"], "rate_minutes": 60, "anchor_time": "2024-01-01T00:05:00Z"},
        {"name": "nightly", "streams": ["shop-public-products"], "cron": "30 2 * * ? *", "timezone": "Europe/Berlin"}
      ],
      "wal": {"rate_minutes": 15, "anchor_time": "2024-01-01T00:00:00Z"},
      "alarms": {"slot_retained_wal_bytes": 1073741824}
    },
    {
      "name": "crm",
      "create_secret": true,
      "sslmode": "require",
      "logical_plugin": "wal2json",
      "catalog": {"streams": {
        "crm-public-accounts": {"replication_method": "INCREMENTAL", "replication_key": "updated_at"},
        "crm-public-events": {"replication_method": "LOG_BASED"}
      }},
      "schedules": [{"name": "daily", "streams": ["crm-public-accounts", "crm-public-events"], "cron": "0 6 * * ? *"}],
      "wal": {"cron": "0/10 * * * ? *"},
      "discover": {"cron": "0 4 ? * MON *"},
      "prune": {"cron": "0 5 * * ? *", "keep": 2},
      "parallel_copy": {"max_concurrency": 3, "min_rows": 1000000}
    }
  ]
}`

type fixture struct {
	stack    awscdk.Stack
	template assertions.Template
	raw      map[string]any
}

var (
	fixtures   = map[string]*fixture{}
	fixturesMu sync.Mutex
)

// synth builds (once per config) an app with cdk-nag applied and one stack.
func synth(t *testing.T, name, config string) *fixture {
	t.Helper()
	fixturesMu.Lock()
	defer fixturesMu.Unlock()
	if f := fixtures[name]; f != nil {
		return f
	}
	cfg, err := ParseStackConfig([]byte(config))
	if err != nil {
		t.Fatalf("config %s: %v", name, err)
	}
	// Out of any one test's temporary directory: the fixture outlives the
	// test that built it (cdk-nag writes its report there on later reads).
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(filepath.Join(assetDir, "out-"+name))})
	stack := NewPg2s3Stack(app, cfg.StackName, &Pg2s3StackProps{
		StackProps: awscdk.StackProps{Env: environment(cfg)},
		Config:     cfg,
		AssetDir:   assetDir,
		Now:        func() time.Time { return testNow },
	})
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(nil), nil)
	tpl := assertions.Template_FromStack(stack, nil)
	b, _ := json.Marshal(tpl.ToJSON())
	f := &fixture{stack: stack, template: tpl}
	must(json.Unmarshal(b, &f.raw))
	fixtures[name] = f
	return f
}

// resources returns the template's resources of one type by logical id.
func (f *fixture) resources(typ string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for id, r := range f.raw["Resources"].(map[string]any) {
		res := r.(map[string]any)
		if res["Type"] == typ {
			props, _ := res["Properties"].(map[string]any)
			out[id] = props
		}
	}
	return out
}

func TestTwoDatabases(t *testing.T) {
	f := synth(t, "two", twoDatabases)
	tpl := f.template

	t.Run("counts", func(t *testing.T) {
		for typ, n := range map[string]int{
			"AWS::Lambda::Function":          8,
			"AWS::Logs::LogGroup":            2*5 + 1, // 4 functions and the parallel copy state machine per database, and shop's task
			"AWS::ECS::Cluster":              1,       // shop only: the task needs the vpc
			"AWS::ECS::TaskDefinition":       1,
			"AWS::Scheduler::Schedule":       7, // shop: hourly, nightly, wal; crm: daily, wal, discover, prune
			"AWS::S3::Bucket":                2,
			"AWS::DynamoDB::Table":           1,
			"AWS::SNS::Topic":                1,
			"AWS::SQS::Queue":                1,
			"AWS::CloudWatch::Alarm":         2*12 + 1, // per database: 4 errors, 4 durations, retained WAL, lag, no successful drain, the parallel copy
			"AWS::CloudWatch::Dashboard":     1,
			"AWS::SecretsManager::Secret":    1,
			"AWS::EC2::SecurityGroup":        1,
			"AWS::EC2::SecurityGroupIngress": 1,
			"AWS::KMS::Key":                  2,
		} {
			try(t, func() { tpl.ResourceCountIs(jsii.String(typ), jsii.Number(float64(n))) })
		}
	})

	t.Run("functions", func(t *testing.T) {
		try(t, func() {
			tpl.AllResourcesProperties(jsii.String("AWS::Lambda::Function"), map[string]any{
				"Runtime":       "provided.al2023",
				"Architectures": []any{"arm64"},
				"Handler":       "bootstrap",
			})
		})
		try(t, func() {
			tpl.HasResourceProperties(jsii.String("AWS::Lambda::Function"), map[string]any{
				"MemorySize": 2048, "Timeout": 600,
				"Environment": map[string]any{"Variables": assertions.Match_ObjectLike(&map[string]any{
					"PG2S3_PIPELINE": "shop", "PG2S3_PREFIX": "shop", "PG2S3_CATALOG_KEY": "_catalog/catalog.json",
					"PG2S3_SLOT": "pg2s3_shop", "PG2S3_PLUGIN": "pgoutput", "PG2S3_SSLMODE": "verify-full",
					"PG2S3_SECRET_ARN": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:pg2s3/shop-AbCdEf",
				})},
				"VpcConfig": assertions.Match_ObjectLike(&map[string]any{"SubnetIds": []any{"subnet-0a1b2c3d", "subnet-0d3c2b1a"}}),
			})
		})
		try(t, func() {
			tpl.HasResourceProperties(jsii.String("AWS::Lambda::Function"), map[string]any{
				"Environment": map[string]any{"Variables": assertions.Match_ObjectLike(&map[string]any{
					"PG2S3_PIPELINE": "crm", "PG2S3_PLUGIN": "wal2json", "PG2S3_SSLMODE": "require",
					"PG2S3_SELECTION": assertions.Match_StringLikeRegexp(jsii.String(`"crm-public-events":\{"replication_method":"LOG_BASED"\}`)),
				})},
			})
		})
		// Only the wal functions reserve concurrency, exactly one each.
		reserved := 0
		for id, p := range f.resources("AWS::Lambda::Function") {
			rc, ok := p["ReservedConcurrentExecutions"]
			if !ok {
				continue
			}
			reserved++
			if rc != 1.0 || !strings.Contains(id, "Wal") {
				t.Errorf("%s: ReservedConcurrentExecutions %v; want 1 on wal functions only", id, rc)
			}
		}
		if reserved != 2 {
			t.Errorf("%d functions reserve concurrency; want the 2 wal functions", reserved)
		}
		try(t, func() {
			tpl.AllResourcesProperties(jsii.String("AWS::Lambda::EventInvokeConfig"), map[string]any{
				"MaximumRetryAttempts": 0,
				"DestinationConfig":    map[string]any{"OnFailure": map[string]any{"Destination": assertions.Match_AnyValue()}},
			})
		})
		try(t, func() {
			tpl.AllResourcesProperties(jsii.String("AWS::Logs::LogGroup"), map[string]any{"RetentionInDays": 14})
		})
	})

	t.Run("schedules", func(t *testing.T) {
		try(t, func() {
			tpl.AllResourcesProperties(jsii.String("AWS::Scheduler::Schedule"), map[string]any{
				"FlexibleTimeWindow": map[string]any{"Mode": "OFF"},
				"State":              "ENABLED",
			})
		})
		// testNow is 10:07; the hourly anchor is hh:05, so the next is 11:05.
		try(t, func() {
			tpl.HasResourceProperties(jsii.String("AWS::Scheduler::Schedule"), map[string]any{
				"ScheduleExpression": "rate(60 minutes)",
				"StartDate":          "2025-03-01T11:05:00Z",
				"Target": assertions.Match_ObjectLike(&map[string]any{
					"Input": `{"streams":["shop-public-customers","shop-public-orders"]}`,
				}),
			})
		})
		try(t, func() { // prune through the reset function
			tpl.HasResourceProperties(jsii.String("AWS::Scheduler::Schedule"), map[string]any{
				"ScheduleExpression": "cron(0 5 * * ? *)",
				"Target":             assertions.Match_ObjectLike(&map[string]any{"Input": `{"keep":2,"prune":true}`}),
			})
		})
		try(t, func() {
			tpl.HasResourceProperties(jsii.String("AWS::Scheduler::Schedule"), map[string]any{
				"ScheduleExpression": "rate(15 minutes)", "StartDate": "2025-03-01T10:15:00Z",
				"Target": assertions.Match_ObjectLike(&map[string]any{"Input": "{}"}),
			})
		})
		try(t, func() {
			tpl.HasResourceProperties(jsii.String("AWS::Scheduler::Schedule"), map[string]any{
				"ScheduleExpression":         "cron(30 2 * * ? *)",
				"ScheduleExpressionTimezone": "Europe/Berlin",
				"StartDate":                  assertions.Match_Absent(),
			})
		})
		try(t, func() {
			tpl.HasResourceProperties(jsii.String("AWS::Scheduler::Schedule"), map[string]any{
				"ScheduleExpression": "cron(0/10 * * * ? *)",
			})
		})
		// Each schedule's role may invoke its one function, nothing else
		// (the parallel copy state machine's: parallel_test.go).
		for id, p := range f.resources("AWS::IAM::Policy") {
			if strings.Contains(id, "ParallelCopyRole") {
				continue
			}
			for _, st := range statements(p) {
				for _, a := range list(st["Action"]) {
					if a == "lambda:InvokeFunction" && (len(list(st["Action"])) != 1 || len(anyList(st["Resource"])) != 1) {
						t.Errorf("%s: lambda:InvokeFunction must be alone on one function: %v", id, st)
					}
				}
			}
		}
	})

	t.Run("alarms", func(t *testing.T) {
		try(t, func() {
			tpl.HasResourceProperties(jsii.String("AWS::CloudWatch::Alarm"), map[string]any{
				"Namespace": "pg2s3", "MetricName": "SlotRetainedWALBytes",
				"Dimensions": []any{map[string]any{"Name": "Pipeline", "Value": "shop"}},
				"Threshold":  1073741824, "ComparisonOperator": "GreaterThanThreshold",
			})
		})
		try(t, func() {
			tpl.HasResourceProperties(jsii.String("AWS::CloudWatch::Alarm"), map[string]any{
				"MetricName": "Duration", "ExtendedStatistic": "p99", "Threshold": 480000, // 80% of 600s
			})
		})
		// A failing or stopped pipeline is seen: the lag while drains
		// succeed, and a period without a successful drain, where no data
		// (drains not running) is breaching.
		try(t, func() {
			tpl.HasResourceProperties(jsii.String("AWS::CloudWatch::Alarm"), map[string]any{
				"Namespace": "pg2s3", "MetricName": "ReplicationLagSeconds", "Statistic": "Maximum",
				"Dimensions": []any{map[string]any{"Name": "Pipeline", "Value": "shop"}},
				"Threshold":  3600, "ComparisonOperator": "GreaterThanThreshold", "TreatMissingData": "notBreaching",
			})
		})
		try(t, func() {
			tpl.HasResourceProperties(jsii.String("AWS::CloudWatch::Alarm"), map[string]any{
				"Namespace": "pg2s3", "MetricName": "DrainSucceeded", "Statistic": "Sum",
				"Dimensions": []any{map[string]any{"Name": "Pipeline", "Value": "shop"}},
				"Threshold":  1, "ComparisonOperator": "LessThanThreshold", "TreatMissingData": "breaching", "EvaluationPeriods": 1,
			})
		})
		try(t, func() {
			tpl.HasResourceProperties(jsii.String("AWS::CloudWatch::Alarm"), map[string]any{
				"MetricName": "Errors", "Threshold": 0, "ComparisonOperator": "GreaterThanThreshold",
			})
		})
		try(t, func() {
			tpl.AllResourcesProperties(jsii.String("AWS::CloudWatch::Alarm"), map[string]any{
				"AlarmActions": []any{map[string]any{"Ref": assertions.Match_StringLikeRegexp(jsii.String("^Alarms"))}},
			})
		})
		try(t, func() {
			tpl.HasResourceProperties(jsii.String("AWS::SNS::Topic"), map[string]any{
				"KmsMasterKeyId": assertions.Match_AnyValue(),
			})
		})
		body := fmt.Sprint(f.resources("AWS::CloudWatch::Dashboard"))
		for _, want := range []string{"RowsReplicated", "SlotRetainedWALBytes", "ReplicationLagSeconds", "Duration"} {
			if !strings.Contains(body, want) {
				t.Errorf("dashboard lacks %s", want)
			}
		}
	})

	t.Run("storage", func(t *testing.T) {
		try(t, func() {
			tpl.HasResourceProperties(jsii.String("AWS::DynamoDB::Table"), map[string]any{
				"KeySchema": []any{
					map[string]any{"AttributeName": "pipeline", "KeyType": "HASH"},
					map[string]any{"AttributeName": "stream", "KeyType": "RANGE"},
				},
				"BillingMode":                      "PAY_PER_REQUEST",
				"PointInTimeRecoverySpecification": map[string]any{"PointInTimeRecoveryEnabled": true},
				"DeletionProtectionEnabled":        true,
			})
		})
		try(t, func() {
			tpl.HasResourceProperties(jsii.String("AWS::S3::Bucket"), map[string]any{
				"VersioningConfiguration": map[string]any{"Status": "Enabled"},
				"BucketEncryption": map[string]any{"ServerSideEncryptionConfiguration": []any{assertions.Match_ObjectLike(&map[string]any{
					"ServerSideEncryptionByDefault": assertions.Match_ObjectLike(&map[string]any{"SSEAlgorithm": "aws:kms"}),
				})}},
				"LoggingConfiguration": assertions.Match_ObjectLike(&map[string]any{"LogFilePrefix": "data/"}),
			})
		})
		try(t, func() {
			tpl.AllResourcesProperties(jsii.String("AWS::S3::Bucket"), map[string]any{
				"PublicAccessBlockConfiguration": map[string]any{
					"BlockPublicAcls": true, "BlockPublicPolicy": true, "IgnorePublicAcls": true, "RestrictPublicBuckets": true,
				},
			})
		})
		// Every bucket policy denies requests without TLS.
		for id, p := range f.resources("AWS::S3::BucketPolicy") {
			ok := false
			for _, st := range statements(p) {
				cond, _ := st["Condition"].(map[string]any)
				b, _ := cond["Bool"].(map[string]any)
				if st["Effect"] == "Deny" && b["aws:SecureTransport"] == "false" {
					ok = true
				}
			}
			if !ok {
				t.Errorf("%s does not deny aws:SecureTransport false", id)
			}
		}
	})

	t.Run("iam", func(t *testing.T) { checkIAM(t, f) })
	t.Run("cdk-nag", func(t *testing.T) { checkNag(t, f) })
}

// checkIAM: no action is "*" or "service:*"; Resource "*" appears only on
// the EC2 network-interface actions Lambda needs in a VPC, which support
// no resource-level permissions. (Key policies are not IAM policies: their
// Resource "*" means the key itself.)
// TestExampleConfig synthesizes the config `make synth` uses.
func TestExampleConfig(t *testing.T) {
	b, err := os.ReadFile("pg2s3.example.json")
	if err != nil {
		t.Fatal(err)
	}
	f := synth(t, "example", string(b))
	try(t, func() { f.template.ResourceCountIs(jsii.String("AWS::Lambda::Function"), jsii.Number(4)) })
	try(t, func() {
		f.template.HasResourceProperties(jsii.String("AWS::S3::Bucket"), map[string]any{
			"BucketEncryption": map[string]any{"ServerSideEncryptionConfiguration": []any{assertions.Match_ObjectLike(&map[string]any{
				"ServerSideEncryptionByDefault": map[string]any{"SSEAlgorithm": "AES256"},
			})}},
			"LifecycleConfiguration": map[string]any{"Rules": assertions.Match_ArrayWith(&[]any{assertions.Match_ObjectLike(&map[string]any{
				"NoncurrentVersionExpiration": map[string]any{"NoncurrentDays": 30},
			})})},
		})
	})
	checkIAM(t, f)
	checkNag(t, f)
}
