package fn

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/pg2s3/pg2s3/shared/report"
)

// Metrics go to CloudWatch in the Embedded Metric Format: one JSON log
// line per stream, no PutMetricData permission needed. Namespace pg2s3;
// RowsReplicated and RunDurationMs by Pipeline and Stream;
// SlotRetainedWALBytes and ReplicationLagSeconds by Pipeline.
const namespace = "pg2s3"

// EmitMetrics writes the run's metrics to w (stdout in Lambda).
func EmitMetrics(w io.Writer, pipeline string, run *report.Run) {
	ts := time.Now().UnixMilli()
	for _, s := range run.Streams {
		emit(w, ts, []string{"Pipeline", "Stream"}, map[string]any{"Pipeline": pipeline, "Stream": s.Stream},
			map[string]float64{"RowsReplicated": float64(s.Rows), "RunDurationMs": float64(s.DurationMS)})
	}
	if sl := run.Slot; sl != nil {
		emit(w, ts, []string{"Pipeline"}, map[string]any{"Pipeline": pipeline},
			map[string]float64{"SlotRetainedWALBytes": float64(sl.RetainedBytes), "ReplicationLagSeconds": sl.LagSeconds})
	}
}

func emit(w io.Writer, ts int64, dims []string, props map[string]any, values map[string]float64) {
	var defs []map[string]string
	for name := range values {
		unit := "Count"
		switch name {
		case "RunDurationMs":
			unit = "Milliseconds"
		case "SlotRetainedWALBytes":
			unit = "Bytes"
		case "ReplicationLagSeconds":
			unit = "Seconds"
		}
		defs = append(defs, map[string]string{"Name": name, "Unit": unit})
		props[name] = values[name]
	}
	props["_aws"] = map[string]any{
		"Timestamp":         ts,
		"CloudWatchMetrics": []any{map[string]any{"Namespace": namespace, "Dimensions": [][]string{dims}, "Metrics": defs}},
	}
	b, err := json.Marshal(props)
	if err == nil {
		fmt.Fprintln(w, string(b))
	}
}
