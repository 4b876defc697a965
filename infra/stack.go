package main

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsglue"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// Pg2s3StackProps configures the stack.
type Pg2s3StackProps struct {
	awscdk.StackProps
	// Config is the validated stack config (LoadStackConfig).
	Config *StackConfig
	// AssetDir holds one directory per function, <AssetDir>/<name>/bootstrap,
	// built by `make lambdas`. Default "bin/lambda".
	AssetDir string
	// Now anchors rate schedules (the first firing at or after Now that
	// keeps the anchor's phase). Default time.Now.
	Now func() time.Time
}

// shared holds the stack-wide resources every pipeline uses.
type shared struct {
	stack     awscdk.Stack
	cfg       *StackConfig
	bucket    awss3.Bucket
	table     awsdynamodb.Table
	topic     awssns.Topic
	dlq       awssqs.Queue
	retention awslogs.RetentionDays
	glueDB    awsglue.CfnDatabase
	assetDir  string
	now       time.Time
}

// NewPg2s3Stack creates the data bucket (with its access-log bucket), the
// bookmark table, the alarm topic, the dead-letter queue, a Glue database,
// and per database four functions (sync, wal, reset, discover) with their
// schedules, alarms, a dashboard and Glue tables (glue.go).
func NewPg2s3Stack(scope constructs.Construct, id string, props *Pg2s3StackProps) awscdk.Stack {
	if props == nil || props.Config == nil {
		panic("NewPg2s3Stack: props.Config is required")
	}
	stack := awscdk.NewStack(scope, &id, &props.StackProps)
	// Access logs are delivered under a bucket policy, not an ACL, so the
	// log bucket can enforce bucket-owner object ownership.
	stack.Node().SetContext(jsii.String("@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy"), true)
	cfg := props.Config
	s := &shared{stack: stack, cfg: cfg, assetDir: props.AssetDir, retention: retentionDays[cfg.LogRetentionDays]}
	if s.assetDir == "" {
		s.assetDir = filepath.Join("bin", "lambda")
	}
	s.now = time.Now()
	if props.Now != nil {
		s.now = props.Now()
	}
	keys := sortedKeys(cfg.Tags)
	for _, k := range keys {
		awscdk.Tags_Of(stack).Add(jsii.String(k), jsii.String(cfg.Tags[k]), nil)
	}

	s.bucket = newBuckets(stack, cfg)
	s.glueDB = newGlueDatabase(s)
	s.table = awsdynamodb.NewTable(stack, jsii.String("Bookmarks"), &awsdynamodb.TableProps{
		PartitionKey:                     &awsdynamodb.Attribute{Name: jsii.String("pipeline"), Type: awsdynamodb.AttributeType_STRING},
		SortKey:                          &awsdynamodb.Attribute{Name: jsii.String("stream"), Type: awsdynamodb.AttributeType_STRING},
		BillingMode:                      awsdynamodb.BillingMode_PAY_PER_REQUEST,
		PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{PointInTimeRecoveryEnabled: jsii.Bool(true)},
		DeletionProtection:               cfg.Table.DeletionProtection,
		Encryption:                       awsdynamodb.TableEncryption_AWS_MANAGED,
		RemovalPolicy:                    awscdk.RemovalPolicy_RETAIN,
	})
	s.topic = newAlarmTopic(stack, cfg)
	s.dlq = awssqs.NewQueue(stack, jsii.String("FailedInvocations"), &awssqs.QueueProps{
		EnforceSSL:      jsii.Bool(true),
		Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
		RetentionPeriod: awscdk.Duration_Days(jsii.Number(14)),
	})
	suppress(s.dlq, "AwsSolutions-SQS3", "This queue is itself the dead-letter queue of the functions' failed asynchronous invocations and of undeliverable schedules.")

	obs := newObservability(s)
	for _, db := range cfg.Databases {
		p := newPipeline(s, db)
		obs.addPipeline(p)
		obs.parallelCopyAlarm(p, p.parallelCopy(s))
	}
	obs.finish()

	output(stack, "BucketName", s.bucket.BucketName(), "Where batches, manifests, run reports and catalogs are written")
	output(stack, "TableName", s.table.TableName(), "Bookmarks and leases (partition key pipeline, sort key stream)")
	output(stack, "GlueDatabaseName", s.glueDB.Ref(), "Glue (Athena) database of the tables over the replicated objects")
	output(stack, "AlarmTopicArn", s.topic.TopicArn(), "Subscribe here to receive pg2s3 alarms")
	output(stack, "FailedInvocationsQueueUrl", s.dlq.QueueUrl(), "Failed asynchronous invocations and undeliverable schedules")
	return stack
}

func output(scope constructs.Construct, id string, value *string, desc string) {
	awscdk.NewCfnOutput(scope, jsii.String(id), &awscdk.CfnOutputProps{Value: value, Description: jsii.String(desc)})
}

func newBuckets(stack awscdk.Stack, cfg *StackConfig) awss3.Bucket {
	logs := awss3.NewBucket(stack, jsii.String("AccessLogs"), &awss3.BucketProps{
		BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(),
		EnforceSSL:        jsii.Bool(true),
		Encryption:        awss3.BucketEncryption_S3_MANAGED, // the only encryption S3 log delivery supports
		ObjectOwnership:   awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
		LifecycleRules: &[]*awss3.LifecycleRule{{
			Id:         jsii.String("expire-access-logs"),
			Expiration: awscdk.Duration_Days(jsii.Number(float64(cfg.Bucket.AccessLogExpirationDays))),
		}},
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	suppress(logs, "AwsSolutions-S1", "This is the server access log bucket; logging its own access would write logs about logs without end.")

	props := &awss3.BucketProps{
		BlockPublicAccess:      awss3.BlockPublicAccess_BLOCK_ALL(),
		EnforceSSL:             jsii.Bool(true),
		Encryption:             awss3.BucketEncryption_S3_MANAGED,
		Versioned:              jsii.Bool(true),
		ObjectOwnership:        awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
		ServerAccessLogsBucket: logs,
		ServerAccessLogsPrefix: jsii.String("data/"),
		LifecycleRules: &[]*awss3.LifecycleRule{{
			Id:                                  jsii.String("expire-noncurrent-versions"),
			NoncurrentVersionExpiration:         awscdk.Duration_Days(jsii.Number(float64(cfg.Bucket.NoncurrentVersionExpirationDays))),
			AbortIncompleteMultipartUploadAfter: awscdk.Duration_Days(jsii.Number(7)),
		}},
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	}
	if cfg.Bucket.Encryption == "KMS" {
		props.Encryption = awss3.BucketEncryption_KMS
		props.EncryptionKey = awskms.NewKey(stack, jsii.String("DataKey"), &awskms.KeyProps{
			Description:       jsii.String("pg2s3 data bucket"),
			EnableKeyRotation: jsii.Bool(true),
		})
		props.BucketKeyEnabled = jsii.Bool(true)
	}
	return awss3.NewBucket(stack, jsii.String("Data"), props)
}

// newAlarmTopic creates the SNS topic alarms publish to. CloudWatch cannot
// publish to a topic encrypted with the AWS-managed SNS key, so the topic
// has its own key that lets CloudWatch encrypt.
func newAlarmTopic(stack awscdk.Stack, cfg *StackConfig) awssns.Topic {
	key := awskms.NewKey(stack, jsii.String("AlarmKey"), &awskms.KeyProps{
		Description:       jsii.String("pg2s3 alarm topic"),
		EnableKeyRotation: jsii.Bool(true),
	})
	// Key policies must name the key as "*": the policy is attached to it.
	key.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("CloudWatchAlarmsPublish"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("cloudwatch.amazonaws.com"), nil)},
		Actions:    jsii.Strings("kms:Decrypt", "kms:GenerateDataKey"),
		Resources:  jsii.Strings("*"),
		Conditions: &map[string]any{"StringEquals": map[string]any{"aws:SourceAccount": stack.Account()}},
	}), nil)
	topic := awssns.NewTopic(stack, jsii.String("Alarms"), &awssns.TopicProps{
		DisplayName: jsii.String("pg2s3 alarms"),
		MasterKey:   key,
		EnforceSSL:  jsii.Bool(true),
	})
	if cfg.AlarmEmail != "" {
		topic.AddSubscription(awssnssubscriptions.NewEmailSubscription(jsii.String(cfg.AlarmEmail), nil))
	}
	return topic
}

// retentionDays maps the CloudWatch Logs retention periods to CDK's enum.
var retentionDays = map[int]awslogs.RetentionDays{
	1: awslogs.RetentionDays_ONE_DAY, 3: awslogs.RetentionDays_THREE_DAYS, 5: awslogs.RetentionDays_FIVE_DAYS,
	7: awslogs.RetentionDays_ONE_WEEK, 14: awslogs.RetentionDays_TWO_WEEKS, 30: awslogs.RetentionDays_ONE_MONTH,
	60: awslogs.RetentionDays_TWO_MONTHS, 90: awslogs.RetentionDays_THREE_MONTHS, 120: awslogs.RetentionDays_FOUR_MONTHS,
	150: awslogs.RetentionDays_FIVE_MONTHS, 180: awslogs.RetentionDays_SIX_MONTHS, 365: awslogs.RetentionDays_ONE_YEAR,
	400: awslogs.RetentionDays_THIRTEEN_MONTHS, 545: awslogs.RetentionDays_EIGHTEEN_MONTHS, 731: awslogs.RetentionDays_TWO_YEARS,
	1096: awslogs.RetentionDays_THREE_YEARS, 1827: awslogs.RetentionDays_FIVE_YEARS, 2192: awslogs.RetentionDays_SIX_YEARS,
	2557: awslogs.RetentionDays_SEVEN_YEARS, 2922: awslogs.RetentionDays_EIGHT_YEARS, 3288: awslogs.RetentionDays_NINE_YEARS,
	3653: awslogs.RetentionDays_TEN_YEARS,
}

func retentionList() string {
	var days []int
	for d := range retentionDays {
		days = append(days, d)
	}
	sort.Ints(days)
	parts := make([]string, len(days))
	for i, d := range days {
		parts[i] = fmt.Sprint(d)
	}
	return strings.Join(parts, ", ")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
