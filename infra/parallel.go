package main

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	sfn "github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctionstasks"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// ParallelCopyConfig sizes a pipeline's parallel copy state machine
// (README: Parallel copies of large tables).
type ParallelCopyConfig struct {
	// MaxConcurrency is how many ranges are copied at once: sync
	// invocations, each with a database connection of its own.
	MaxConcurrency int `json:"max_concurrency"`
	// MinRows is the row estimate (pg_class.reltuples) above which a
	// scheduled sync run hands a keyed FULL_TABLE stream's copy to the
	// state machine instead of copying it (PG2S3_PARALLEL_MIN_ROWS).
	MinRows int64 `json:"min_rows"`
}

// DefaultParallelConcurrency is parallel_copy.max_concurrency's default.
const DefaultParallelConcurrency = 8

// DefaultParallelMinRows is parallel_copy.min_rows's default: tables one
// sync invocation would need many runs to copy.
const DefaultParallelMinRows = 50_000_000

// maxParallelConcurrency bounds parallel_copy.max_concurrency: each range
// in flight is a database connection.
const maxParallelConcurrency = 100

// lambdaServiceErrors are the errors of the Lambda service itself (not of
// the function), retried with backoff and jitter.
var lambdaServiceErrors = []string{
	"Lambda.TooManyRequestsException", "Lambda.ServiceException", "Lambda.SdkClientException",
	"Lambda.AWSLambdaException", "Lambda.ClientExecutionTimeoutException",
}

func (d *Database) parallelDefaults() {
	if d.ParallelCopy == nil {
		d.ParallelCopy = &ParallelCopyConfig{}
	}
	if d.ParallelCopy.MaxConcurrency == 0 {
		d.ParallelCopy.MaxConcurrency = DefaultParallelConcurrency
	}
	if d.ParallelCopy.MinRows == 0 {
		d.ParallelCopy.MinRows = DefaultParallelMinRows
	}
}

func (d *Database) validateParallel(entry, stack string, e *errs) {
	if n := len(parallelCopyName(stack, d.Name)); n > 80 {
		e.add(entry, "the parallel copy state machine's name %q is %d characters, Step Functions allows 80: shorten stack_name or the database name", parallelCopyName(stack, d.Name), n)
	}
	if c := d.ParallelCopy.MaxConcurrency; c < 1 || c > maxParallelConcurrency {
		e.add(entry+": parallel_copy.max_concurrency", "%d is outside 1..%d (each range in flight holds a database connection)", c, maxParallelConcurrency)
	}
	if n := d.ParallelCopy.MinRows; n < 1 {
		e.add(entry+": parallel_copy.min_rows", "%d is not a positive number of rows (the row estimate above which scheduled runs hand a table to the state machine; default %d)", n, DefaultParallelMinRows)
	}
}

// parallelCopy is a pipeline's parallel copy state machine: Plan (the sync
// function's {"plan": stream}) → a Map over the plan's ranges, each
// iteration invoking {"stream", "range", "owner": execution name} again
// while the function says more → Activate. Lambda service errors are
// retried with backoff and jitter; a failed piece is retried twice (a
// range resumes from its bookmark); anything else ends in the Fail state,
// which the ExecutionsFailed alarm reports.
func (p *pipeline) parallelCopy(s *shared) sfn.StateMachine {
	scope := p.scope
	fn := p.functions["sync"]
	fail := sfn.NewFail(scope, jsii.String("CopyFailed"), &sfn.FailProps{
		Comment:   jsii.String("a step failed after its retries: see the error, fix it, start the execution again (ranges resume)"),
		ErrorPath: jsii.String("$.error.Error"),
		CausePath: jsii.String("$.error.Cause"),
	})
	invoke := func(id string, payload map[string]any, selector map[string]any, resultPath *string) awsstepfunctionstasks.LambdaInvoke {
		t := awsstepfunctionstasks.NewLambdaInvoke(scope, jsii.String(id), &awsstepfunctionstasks.LambdaInvokeProps{
			LambdaFunction:           fn,
			Payload:                  sfn.TaskInput_FromObject(&payload),
			ResultSelector:           &selector,
			ResultPath:               resultPath,
			RetryOnServiceExceptions: jsii.Bool(false), // the retry below, with jitter
		})
		t.AddRetry(&sfn.RetryProps{
			Errors:         jsii.Strings(lambdaServiceErrors...),
			Interval:       awscdk.Duration_Seconds(jsii.Number(2)),
			BackoffRate:    jsii.Number(2),
			MaxAttempts:    jsii.Number(6),
			MaxDelay:       awscdk.Duration_Seconds(jsii.Number(60)),
			JitterStrategy: sfn.JitterType_FULL,
		})
		t.AddRetry(&sfn.RetryProps{
			Errors:         jsii.Strings("States.TaskFailed"),
			Interval:       awscdk.Duration_Seconds(jsii.Number(30)),
			BackoffRate:    jsii.Number(2),
			MaxAttempts:    jsii.Number(2),
			JitterStrategy: sfn.JitterType_FULL,
		})
		return t
	}
	plan := invoke("Plan", map[string]any{"plan": sfn.JsonPath_StringAt(jsii.String("$.stream"))},
		map[string]any{"stream": sfn.JsonPath_StringAt(jsii.String("$.Payload.stream")),
			"table_version": sfn.JsonPath_NumberAt(jsii.String("$.Payload.table_version")),
			"ranges":        sfn.JsonPath_ListAt(jsii.String("$.Payload.ranges"))}, nil)
	piece := invoke("CopyRange", map[string]any{"stream": sfn.JsonPath_StringAt(jsii.String("$.stream")),
		"range": sfn.JsonPath_NumberAt(jsii.String("$.range")), "owner": sfn.JsonPath_ExecutionName()},
		map[string]any{"more": sfn.JsonPath_StringAt(jsii.String("$.Payload.more")), "rows": sfn.JsonPath_NumberAt(jsii.String("$.Payload.rows"))},
		jsii.String("$.piece"))
	again := sfn.NewChoice(scope, jsii.String("MoreInRange"), &sfn.ChoiceProps{Comment: jsii.String("the range has more to copy: invoke it again")})
	again.When(sfn.Condition_BooleanEquals(jsii.String("$.piece.more"), jsii.Bool(true)), piece, nil)
	again.Otherwise(sfn.NewSucceed(scope, jsii.String("RangeDone"), nil))
	ranges := sfn.NewMap(scope, jsii.String("Ranges"), &sfn.MapProps{
		ItemsPath:      jsii.String("$.ranges"),
		MaxConcurrency: jsii.Number(float64(p.db.ParallelCopy.MaxConcurrency)),
		ItemSelector: &map[string]any{"stream": sfn.JsonPath_StringAt(jsii.String("$.stream")),
			"range": sfn.JsonPath_NumberAt(jsii.String("$$.Map.Item.Value"))},
		ResultPath: sfn.JsonPath_DISCARD(),
	})
	ranges.ItemProcessor(piece.Next(again), nil)
	activate := invoke("Activate", map[string]any{"activate": sfn.JsonPath_StringAt(jsii.String("$.stream"))},
		map[string]any{"copy_done": sfn.JsonPath_StringAt(jsii.String("$.Payload.copy_done")), "message": sfn.JsonPath_StringAt(jsii.String("$.Payload.message"))},
		jsii.String("$.activation"))
	catch := &sfn.CatchProps{ResultPath: jsii.String("$.error")}
	plan.AddCatch(fail, catch)
	ranges.AddCatch(fail, catch)
	activate.AddCatch(fail, catch)

	logs := awslogs.NewLogGroup(scope, jsii.String("ParallelCopyLogs"), &awslogs.LogGroupProps{
		Retention:     s.retention,
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	sm := sfn.NewStateMachine(scope, jsii.String("ParallelCopy"), &sfn.StateMachineProps{
		StateMachineName: jsii.String(parallelCopyName(s.cfg.StackName, p.db.Name)),
		Comment:          jsii.String("pg2s3 " + p.db.Name + ": copy one large keyed table in key ranges, at most " + fmt.Sprint(p.db.ParallelCopy.MaxConcurrency) + " at once"),
		StateMachineType: sfn.StateMachineType_STANDARD,
		DefinitionBody:   sfn.DefinitionBody_FromChainable(plan.Next(ranges).Next(activate)),
		Logs:             &sfn.LogOptions{Destination: logs, Level: sfn.LogLevel_ALL, IncludeExecutionData: jsii.Bool(true)},
		TracingEnabled:   jsii.Bool(false),
	})
	suppress(sm, "AwsSolutions-SF2",
		"Each step is one invocation of the sync function, whose JSON logs carry the request ID and whose run reports record the work; X-Ray would add a trace of a single hop and a wildcard xray permission.")
	suppress(sm.Role(), "AwsSolutions-IAM5",
		"Step Functions delivers execution logs through CloudWatch Logs log delivery, whose actions (logs:CreateLogDelivery, ...) support no resource-level permissions, so AWS requires Resource '*'.",
		"Resource::*")
	suppress(sm.Role(), "AwsSolutions-IAM5",
		"The LambdaInvoke task's grant covers the sync function and its versions (<arn>:*); no other function.",
		cdknag.RegexAppliesTo{Regex: jsii.String(`/^Resource::<.*Sync[0-9A-F]{8}\.Arn>:\*$/g`)})
	p.handoff(s, fn)
	output(scope, "ParallelCopyStateMachineArn", sm.StateMachineArn(), "pg2s3 parallel copy state machine of "+p.db.Name+" (input {\"stream\": \"<tap_stream_id>\"})")
	return sm
}

// handoff lets the sync function's scheduled runs start executions of the
// state machine for large tables: its ARN (built from the fixed name: a
// reference to the state machine would make a cycle, the state machine
// invoking the function) and parallel_copy.min_rows in the environment,
// and states:StartExecution on that state machine alone.
func (p *pipeline) handoff(s *shared, fn awslambda.Function) {
	arn := awscdk.Stack_Of(p.scope).FormatArn(&awscdk.ArnComponents{
		Service: jsii.String("states"), Resource: jsii.String("stateMachine"),
		ResourceName: jsii.String(parallelCopyName(s.cfg.StackName, p.db.Name)), ArnFormat: awscdk.ArnFormat_COLON_RESOURCE_NAME,
	})
	fn.AddEnvironment(jsii.String("PG2S3_PARALLEL_COPY_ARN"), arn, nil)
	fn.AddEnvironment(jsii.String("PG2S3_PARALLEL_MIN_ROWS"), jsii.String(fmt.Sprint(p.db.ParallelCopy.MinRows)), nil)
	fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("StartParallelCopy"),
		Actions:   jsii.Strings("states:StartExecution"),
		Resources: &[]*string{arn},
	}))
}

// parallelCopyName is the state machine's fixed name, so the functions can
// be given its ARN without a dependency on it.
func parallelCopyName(stack, db string) string {
	return stack + "-" + db + "-parallel-copy"
}

// parallelCopyAlarm reports failed parallel copy executions.
func (o *observability) parallelCopyAlarm(p *pipeline, sm sfn.StateMachine) {
	o.alarm(p.scope, "ParallelCopyFailedAlarm", &awscloudwatch.AlarmProps{
		AlarmDescription:   jsii.String(fmt.Sprintf("pg2s3 %s: a parallel copy execution failed; its ranges keep their progress: fix the error in the execution's history and start it again", p.db.Name)),
		Metric:             sm.MetricFailed(&awscloudwatch.MetricOptions{Period: awscdk.Duration_Minutes(jsii.Number(5)), Statistic: jsii.String("Sum")}),
		Threshold:          jsii.Number(0),
		ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
		EvaluationPeriods:  jsii.Number(1),
		TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
	})
}
