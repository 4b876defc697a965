package main

import (
	"fmt"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/interfaces/interfacesawscloudwatch"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// Metrics the functions publish. They are written as CloudWatch Embedded
// Metric Format (EMF) lines on stdout, so the functions need no
// cloudwatch:PutMetricData permission. For the function authors:
//
//	Namespace: "pg2s3" (also in the environment as PG2S3_METRICS)
//	RowsReplicated         Count    dimensions [Pipeline, Stream]  rows written to the sink by one run
//	SlotRetainedWALBytes   Bytes    dimensions [Pipeline]          pg_current_wal_lsn() - restart_lsn of the slot, measured by each wal run
//	ReplicationLagSeconds  Seconds  dimensions [Pipeline]          now - commit time of the last change the wal run committed
//
// Pipeline is PG2S3_PIPELINE; Stream is the tap_stream_id. An EMF line:
//
//	{"_aws":{"Timestamp":1700000000000,"CloudWatchMetrics":[{"Namespace":"pg2s3",
//	  "Dimensions":[["Pipeline","Stream"]],"Metrics":[{"Name":"RowsReplicated","Unit":"Count"}]}]},
//	 "Pipeline":"shop","Stream":"shop-public-customers","RowsReplicated":1200}
//
// The alarms and the dashboard read exactly these names.
const (
	MetricsNamespace       = "pg2s3"
	MetricRowsReplicated   = "RowsReplicated"
	MetricSlotRetainedWAL  = "SlotRetainedWALBytes"
	MetricReplicationLag   = "ReplicationLagSeconds"
	MetricDrainSucceeded   = "DrainSucceeded"
	DimensionPipeline      = "Pipeline"
	DimensionStream        = "Stream"
	dashboardPeriodSeconds = 300
)

type observability struct {
	s      *shared
	alarms []interfacesawscloudwatch.IAlarmRef
	rows   [][]awscloudwatch.IWidget
}

func newObservability(s *shared) *observability { return &observability{s: s} }

func (o *observability) alarm(scope constructs.Construct, id string, props *awscloudwatch.AlarmProps) awscloudwatch.Alarm {
	if props.TreatMissingData == "" {
		props.TreatMissingData = awscloudwatch.TreatMissingData_NOT_BREACHING
	}
	a := awscloudwatch.NewAlarm(scope, jsii.String(id), props)
	a.AddAlarmAction(awscloudwatchactions.NewSnsAction(o.s.topic))
	o.alarms = append(o.alarms, a)
	return a
}

// addPipeline adds a pipeline's alarms and its dashboard rows.
func (o *observability) addPipeline(p *pipeline) {
	db := p.db
	five := awscdk.Duration_Minutes(jsii.Number(5))
	for _, name := range db.functionNames() {
		fn := p.functions[name]
		id := title(name)
		o.alarm(p.scope, id+"ErrorsAlarm", &awscloudwatch.AlarmProps{
			AlarmDescription:   jsii.String(fmt.Sprintf("pg2s3 %s: the %s function failed", db.Name, name)),
			Metric:             fn.MetricErrors(&awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String("Sum")}),
			Threshold:          jsii.Number(0),
			ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
			EvaluationPeriods:  jsii.Number(1),
		})
		limit := float64(db.Functions[name].TimeoutSeconds) * 1000 * db.Alarms.DurationRatio
		o.alarm(p.scope, id+"DurationAlarm", &awscloudwatch.AlarmProps{
			AlarmDescription: jsii.String(fmt.Sprintf("pg2s3 %s: %s runs take more than %.0f%% of the %ds timeout",
				db.Name, name, db.Alarms.DurationRatio*100, db.Functions[name].TimeoutSeconds)),
			Metric:             fn.MetricDuration(&awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String("p99")}),
			Threshold:          jsii.Number(limit),
			ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
			EvaluationPeriods:  jsii.Number(1),
		})
	}
	every := 15 * time.Minute
	if db.WAL != nil {
		if d, ok := db.WAL.MinInterval(); ok {
			every = d
		}
	}
	period := clamp(every.Round(time.Minute), 5*time.Minute, time.Hour)
	o.alarm(p.scope, "SlotRetainedWALAlarm", &awscloudwatch.AlarmProps{
		AlarmDescription: jsii.String(fmt.Sprintf("pg2s3 %s: slot %s retains more than %d bytes of WAL; the drain is falling behind or stopped",
			db.Name, db.SlotName, db.Alarms.SlotRetainedWALBytes)),
		Metric:             pipelineMetric(db.Name, MetricSlotRetainedWAL, "Maximum", period),
		Threshold:          jsii.Number(float64(db.Alarms.SlotRetainedWALBytes)),
		ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
		EvaluationPeriods:  jsii.Number(1),
	})
	if db.WAL != nil {
		// A drain that fails still reports the slot's retained WAL (above),
		// but not its lag; one that stops running reports nothing. So the
		// lag is watched while drains succeed, and a period without a
		// successful drain, however it came about, is an alarm of its own.
		o.alarm(p.scope, "SlotLagAlarm", &awscloudwatch.AlarmProps{
			AlarmDescription: jsii.String(fmt.Sprintf("pg2s3 %s: the drains of slot %s lag more than %ds behind the database",
				db.Name, db.SlotName, db.Alarms.SlotLagSeconds)),
			Metric:             pipelineMetric(db.Name, MetricReplicationLag, "Maximum", period),
			Threshold:          jsii.Number(float64(db.Alarms.SlotLagSeconds)),
			ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
			EvaluationPeriods:  jsii.Number(1),
		})
		o.alarm(p.scope, "NoSuccessfulDrainAlarm", &awscloudwatch.AlarmProps{
			AlarmDescription: jsii.String(fmt.Sprintf("pg2s3 %s: no drain of slot %s succeeded for %d minutes (failing, or not running); the slot retains WAL meanwhile",
				db.Name, db.SlotName, db.Alarms.NoDrainMinutes)),
			Metric:             pipelineMetric(db.Name, MetricDrainSucceeded, "Sum", time.Duration(db.Alarms.NoDrainMinutes)*time.Minute),
			Threshold:          jsii.Number(1),
			ComparisonOperator: awscloudwatch.ComparisonOperator_LESS_THAN_THRESHOLD,
			EvaluationPeriods:  jsii.Number(1),
			TreatMissingData:   awscloudwatch.TreatMissingData_BREACHING,
		})
	}

	var durations, errors []awscloudwatch.IMetric
	for _, name := range db.functionNames() {
		fn := p.functions[name]
		durations = append(durations, fn.MetricDuration(&awscloudwatch.MetricOptions{Label: jsii.String(name + " p99"), Statistic: jsii.String("p99")}))
		errors = append(errors, fn.MetricErrors(&awscloudwatch.MetricOptions{Label: jsii.String(name), Statistic: jsii.String("Sum")}))
	}
	rows := awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
		Expression: jsii.String(fmt.Sprintf(`SEARCH('{%s,%s,%s} MetricName="%s" %s="%s"', 'Sum', %d)`,
			MetricsNamespace, DimensionPipeline, DimensionStream, MetricRowsReplicated, DimensionPipeline, db.Name, dashboardPeriodSeconds)),
		Label:  jsii.String(""),
		Period: awscdk.Duration_Seconds(jsii.Number(dashboardPeriodSeconds)),
	})
	graph := func(title string, left []awscloudwatch.IMetric, unit string) awscloudwatch.IWidget {
		return awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{
			Title:     jsii.String(title),
			Left:      &left,
			Width:     jsii.Number(8),
			Height:    jsii.Number(6),
			LeftYAxis: &awscloudwatch.YAxisProps{Label: jsii.String(unit), ShowUnits: jsii.Bool(false)},
		})
	}
	fiveMin := 5 * time.Minute
	o.rows = append(o.rows,
		[]awscloudwatch.IWidget{awscloudwatch.NewTextWidget(&awscloudwatch.TextWidgetProps{
			Markdown: jsii.String(fmt.Sprintf("## %s\nslot `%s`, prefix `s3://…/%s/`", db.Name, db.SlotName, db.Prefix)),
			Width:    jsii.Number(24), Height: jsii.Number(1),
		})},
		[]awscloudwatch.IWidget{
			graph("Rows replicated per stream ("+db.Name+")", []awscloudwatch.IMetric{rows}, "rows / 5 min"),
			graph("Slot retained WAL ("+db.Name+")", []awscloudwatch.IMetric{pipelineMetric(db.Name, MetricSlotRetainedWAL, "Maximum", fiveMin)}, "bytes"),
			graph("Replication lag ("+db.Name+")", []awscloudwatch.IMetric{pipelineMetric(db.Name, MetricReplicationLag, "Maximum", fiveMin)}, "seconds"),
		},
		[]awscloudwatch.IWidget{
			graph("Run duration p99 ("+db.Name+")", durations, "ms"),
			graph("Errors ("+db.Name+")", errors, "count"),
		},
	)
}

// finish adds the dead-letter alarm and the dashboard.
func (o *observability) finish() {
	o.alarm(o.s.stack, "FailedInvocationsAlarm", &awscloudwatch.AlarmProps{
		AlarmDescription: jsii.String("pg2s3: an asynchronous invocation failed or a schedule could not deliver; see the FailedInvocations queue"),
		Metric: o.s.dlq.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{
			Period: awscdk.Duration_Minutes(jsii.Number(5)), Statistic: jsii.String("Maximum"),
		}),
		Threshold:          jsii.Number(0),
		ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
		EvaluationPeriods:  jsii.Number(1),
	})
	status := []awscloudwatch.IWidget{awscloudwatch.NewAlarmStatusWidget(&awscloudwatch.AlarmStatusWidgetProps{
		Title:  jsii.String("pg2s3 alarms"),
		Alarms: &o.alarms,
		Width:  jsii.Number(24),
		Height: jsii.Number(4),
	})}
	widgets := []*[]awscloudwatch.IWidget{&status}
	for i := range o.rows {
		widgets = append(widgets, &o.rows[i])
	}
	awscloudwatch.NewDashboard(o.s.stack, jsii.String("Dashboard"), &awscloudwatch.DashboardProps{
		DefaultInterval: awscdk.Duration_Days(jsii.Number(1)),
		Widgets:         &widgets,
	})
}

func pipelineMetric(pipeline, name, stat string, period time.Duration) awscloudwatch.Metric {
	return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
		Namespace:     jsii.String(MetricsNamespace),
		MetricName:    jsii.String(name),
		DimensionsMap: &map[string]*string{DimensionPipeline: jsii.String(pipeline)},
		Statistic:     jsii.String(stat),
		Period:        awscdk.Duration_Seconds(jsii.Number(period.Seconds())),
	})
}
