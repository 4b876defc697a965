package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// stateMachine returns the parsed definition of pipeline db's parallel
// copy state machine, its role's logical id and its logical id.
func stateMachine(t *testing.T, f *fixture, db string) (def map[string]any, role, id string) {
	t.Helper()
	for id, sm := range f.resources("AWS::StepFunctions::StateMachine") {
		if !strings.Contains(fmt.Sprint(sm["StateMachineName"]), "-"+db+"-parallel-copy") {
			continue
		}
		// DefinitionString is an Fn::Join of literal text and the sync
		// function's ARN: join it with the ARN as a placeholder.
		var b strings.Builder
		join := sm["DefinitionString"].(map[string]any)["Fn::Join"].([]any)
		for _, part := range join[1].([]any) {
			if s, ok := part.(string); ok {
				b.WriteString(s)
			} else {
				b.WriteString("FUNCTION_ARN")
			}
		}
		if err := json.Unmarshal([]byte(b.String()), &def); err != nil {
			t.Fatalf("definition of %s: %v\n%s", id, err, b.String())
		}
		role = sm["RoleArn"].(map[string]any)["Fn::GetAtt"].([]any)[0].(string)
		return def, role, id
	}
	t.Fatalf("no parallel copy state machine for %s", db)
	return nil, "", ""
}

func TestParallelCopyStateMachine(t *testing.T) {
	f := synth(t, "two", twoDatabases)
	def, role, smID := stateMachine(t, f, "shop")
	states := def["States"].(map[string]any)
	if def["StartAt"] != "Plan" {
		t.Fatalf("StartAt %v", def["StartAt"])
	}
	plan := states["Plan"].(map[string]any)
	if plan["Next"] != "Ranges" || fmt.Sprint(plan["Parameters"].(map[string]any)["Payload"]) != "map[plan.$:$.stream]" {
		t.Errorf("Plan: %v", plan)
	}
	m := states["Ranges"].(map[string]any)
	if m["Type"] != "Map" || m["MaxConcurrency"] != float64(DefaultParallelConcurrency) || m["ItemsPath"] != "$.ranges" || m["Next"] != "Activate" {
		t.Errorf("Map: %v", m)
	}
	proc := m["ItemProcessor"].(map[string]any)
	inner := proc["States"].(map[string]any)
	copyRange := inner["CopyRange"].(map[string]any)
	payload := copyRange["Parameters"].(map[string]any)["Payload"].(map[string]any)
	if proc["StartAt"] != "CopyRange" || payload["stream.$"] != "$.stream" || payload["range.$"] != "$.range" || payload["owner.$"] != "$$.Execution.Name" {
		t.Errorf("the iteration's CopyRange: %v", copyRange)
	}
	choice := inner["MoreInRange"].(map[string]any)
	rule := choice["Choices"].([]any)[0].(map[string]any)
	if copyRange["Next"] != "MoreInRange" || rule["Variable"] != "$.piece.more" || rule["BooleanEquals"] != true || rule["Next"] != "CopyRange" || choice["Default"] != "RangeDone" {
		t.Errorf("the loop: %v", choice)
	}
	for name, st := range map[string]map[string]any{"Plan": plan, "CopyRange": copyRange, "Activate": states["Activate"].(map[string]any)} {
		retry := st["Retry"].([]any)
		first := retry[0].(map[string]any)
		errs := fmt.Sprint(first["ErrorEquals"])
		for _, e := range []string{"Lambda.TooManyRequestsException", "Lambda.ServiceException", "Lambda.SdkClientException"} {
			if !strings.Contains(errs, e) {
				t.Errorf("%s: the first retrier does not retry %s: %v", name, e, first)
			}
		}
		if first["BackoffRate"] != float64(2) || first["JitterStrategy"] != "FULL" || first["MaxAttempts"] != float64(6) {
			t.Errorf("%s: retry without backoff and jitter: %v", name, first)
		}
		if len(retry) != 2 || fmt.Sprint(retry[1].(map[string]any)["ErrorEquals"]) != "[States.TaskFailed]" {
			t.Errorf("%s: retriers %v", name, retry)
		}
	}
	for _, name := range []string{"Plan", "Ranges", "Activate"} {
		c := states[name].(map[string]any)["Catch"].([]any)[0].(map[string]any)
		if c["Next"] != "CopyFailed" || fmt.Sprint(c["ErrorEquals"]) != "[States.ALL]" {
			t.Errorf("%s catches %v", name, c)
		}
	}
	if states["CopyFailed"].(map[string]any)["Type"] != "Fail" || states["Activate"].(map[string]any)["End"] != true {
		t.Errorf("Fail and the end: %v", states)
	}
	crm, _, _ := stateMachine(t, f, "crm")
	if crm["States"].(map[string]any)["Ranges"].(map[string]any)["MaxConcurrency"] != float64(3) {
		t.Errorf("crm's parallel_copy.max_concurrency is not the Map's")
	}

	// The state machine may invoke only the shop sync function; logs go
	// to its own group at level ALL.
	sm := f.resources("AWS::StepFunctions::StateMachine")[smID]
	lc := sm["LoggingConfiguration"].(map[string]any)
	if lc["Level"] != "ALL" || len(anyList(lc["Destinations"])) != 1 {
		t.Errorf("logging: %v", lc)
	}
	invokes := 0
	starts := map[string][]string{} // the roles given states: actions -> what
	for id, p := range f.resources("AWS::IAM::Policy") {
		attached := fmt.Sprint(p["Roles"])
		for _, st := range statements(p) {
			acts := list(st["Action"])
			res := fmt.Sprint(st["Resource"])
			for _, a := range acts {
				if strings.HasPrefix(a, "states:") {
					starts[attached] = append(starts[attached], a+" on "+res)
					if a != "states:StartExecution" || st["Effect"] != "Allow" {
						t.Errorf("%s allows %s", id, a)
					}
				}
				if a != "lambda:InvokeFunction" || !strings.Contains(attached, role) {
					continue
				}
				invokes++
				if !strings.Contains(res, "shopSync") || strings.Contains(res, "crm") || strings.Contains(res, "Wal") {
					t.Errorf("the shop state machine may invoke %s", res)
				}
			}
			if strings.Contains(attached, role) && !strings.HasPrefix(strings.Join(acts, ","), "lambda:") && !strings.HasPrefix(strings.Join(acts, ","), "logs:") {
				t.Errorf("the state machine's role allows %v", acts)
			}
		}
	}
	if invokes != 1 {
		t.Errorf("%d statements let the state machine invoke a function, want 1", invokes)
	}

	// Each sync function, and nothing else, may start executions of its
	// own pipeline's state machine (the hand-off of large tables), named
	// by its fixed name; its environment carries that ARN and min_rows.
	stack := f.stack.StackName()
	if len(starts) != 2 {
		t.Errorf("roles that may act on state machines: %v, want the two sync functions'", starts)
	}
	for roles, what := range starts {
		db := "shop"
		if strings.Contains(roles, "crm") {
			db = "crm"
		}
		arn := ":stateMachine:" + parallelCopyName(*stack, db)
		if !strings.Contains(roles, db+"SyncRole") || len(what) != 1 || !strings.Contains(what[0], arn+"]") || strings.Contains(what[0], "*") {
			t.Errorf("%s may %v, want states:StartExecution on ...%s alone", roles, what, arn)
		}
	}
	handoffs := 0
	for id, fn := range f.resources("AWS::Lambda::Function") {
		vars := fn["Environment"].(map[string]any)["Variables"].(map[string]any)
		desc := fmt.Sprint(fn["Description"])
		arn, ok := vars["PG2S3_PARALLEL_COPY_ARN"]
		if !ok {
			continue
		}
		handoffs++
		db, rows := "shop", fmt.Sprint(DefaultParallelMinRows)
		if strings.Contains(desc, "crm") {
			db, rows = "crm", "1000000"
		}
		if desc != "pg2s3 sync for "+db || !strings.Contains(fmt.Sprint(arn), ":stateMachine:"+parallelCopyName(*stack, db)+"]") || vars["PG2S3_PARALLEL_MIN_ROWS"] != rows {
			t.Errorf("%s (%s): PG2S3_PARALLEL_COPY_ARN %v, PG2S3_PARALLEL_MIN_ROWS %v", id, desc, arn, vars["PG2S3_PARALLEL_MIN_ROWS"])
		}
	}
	if handoffs != 2 {
		t.Errorf("%d functions have PG2S3_PARALLEL_COPY_ARN, want the two sync functions", handoffs)
	}

	// An alarm on failed executions, to the alarm topic, quiet without data.
	found := false
	for _, a := range f.resources("AWS::CloudWatch::Alarm") {
		if a["MetricName"] != "ExecutionsFailed" || !strings.Contains(fmt.Sprint(a["AlarmDescription"]), "shop") {
			continue
		}
		found = true
		if a["Threshold"] != float64(0) || a["ComparisonOperator"] != "GreaterThanThreshold" || a["TreatMissingData"] != "notBreaching" ||
			a["Namespace"] != "AWS/States" || !strings.Contains(fmt.Sprint(a["AlarmActions"]), "Alarms") || !strings.Contains(fmt.Sprint(a["Dimensions"]), smID) {
			t.Errorf("failed executions alarm: %v", a)
		}
	}
	if !found {
		t.Error("no alarm on the shop state machine's failed executions")
	}
	checkNag(t, f)
}

func TestParallelCopyConfig(t *testing.T) {
	base := `{"stack_name": "%s", "databases": [{"name": "shop", "create_secret": true, "wal": {"rate_minutes": 15}, "parallel_copy": %s}]}`
	for _, c := range []struct{ stack, pc, want string }{
		{"Pg2s3", `{"max_concurrency": 0}`, ""},
		{"Pg2s3", `{"max_concurrency": 101}`, "parallel_copy.max_concurrency: 101 is outside 1..100"},
		{"Pg2s3", `{"max_concurency": 4}`, "max_concurency"},
		{"Pg2s3", `{"min_rows": -5}`, "parallel_copy.min_rows: -5 is not a positive number of rows"},
		{strings.Repeat("S", 70), `{}`, "Step Functions allows 80"},
	} {
		cfg, err := ParseStackConfig([]byte(fmt.Sprintf(base, c.stack, c.pc)))
		switch {
		case c.want == "" && (err != nil || cfg.Databases[0].ParallelCopy.MaxConcurrency != DefaultParallelConcurrency || cfg.Databases[0].ParallelCopy.MinRows != DefaultParallelMinRows):
			t.Errorf("%s: %v", c.pc, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: %v, want %q", c.pc, err, c.want)
		}
	}
}
