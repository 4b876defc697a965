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
	if run.Kind != "wal" {
		return
	}
	// A drain says whether it succeeded, so an alarm can see drains that
	// keep failing, or stopped running (no data counts as breaching). The
	// slot's retained WAL is measured even when the drain failed; its lag
	// only when the drain read the log (a failed drain's would read 0).
	values := map[string]float64{"DrainSucceeded": 1}
	if run.Failed() {
		values["DrainSucceeded"] = 0
	}
	if sl := run.Slot; sl != nil {
		values["SlotRetainedWALBytes"] = float64(sl.RetainedBytes)
		if !run.Failed() {
			values["ReplicationLagSeconds"] = sl.LagSeconds
		}
	}
	emit(w, ts, []string{"Pipeline"}, map[string]any{"Pipeline": pipeline}, values)
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
		case "DrainSucceeded":
			unit = "Count"
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
