package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// TestTaskDefinition: the pipeline in a VPC gets a Fargate task whose
// image is the staged asset (synth runs no docker), sized and logged as
// documented, its environment without secrets; the wal and sync functions
// may run only that task definition on its cluster and pass only its two
// roles. The pipeline without a VPC has no task.
func TestTaskDefinition(t *testing.T) {
	f := synth(t, "two", twoDatabases)
	defs := f.resources("AWS::ECS::TaskDefinition")
	if len(defs) != 1 {
		t.Fatalf("task definitions: %d", len(defs))
	}
	var defID string
	var props map[string]any
	for id, r := range defs {
		defID, props = id, r
	}
	if !strings.HasPrefix(defID, "shop") {
		t.Errorf("task definition %s is not shop's", defID)
	}
	if props["Cpu"] != "1024" || props["Memory"] != "2048" || props["NetworkMode"] != "awsvpc" || !slices.Contains(list(props["RequiresCompatibilities"]), "FARGATE") {
		t.Errorf("size and mode: %v %v %v %v", props["Cpu"], props["Memory"], props["NetworkMode"], props["RequiresCompatibilities"])
	}
	if rp, _ := props["RuntimePlatform"].(map[string]any); rp["CpuArchitecture"] != "ARM64" || rp["OperatingSystemFamily"] != "LINUX" {
		t.Errorf("runtime platform: %v", props["RuntimePlatform"])
	}
	cds := anyList(props["ContainerDefinitions"])
	if len(cds) != 1 {
		t.Fatalf("containers: %v", cds)
	}
	c := cds[0].(map[string]any)
	img, _ := json.Marshal(c["Image"])
	if c["Name"] != TaskContainer || !strings.Contains(string(img), "container-assets") {
		t.Errorf("container %v, image %s (want the staged image asset)", c["Name"], img)
	}
	if lc, _ := c["LogConfiguration"].(map[string]any); lc["LogDriver"] != "awslogs" {
		t.Errorf("logs: %v", c["LogConfiguration"])
	}
	if _, ok := c["Secrets"]; ok {
		t.Errorf("the container takes secrets from the task definition: %v", c["Secrets"])
	}
	env := map[string]string{}
	for _, kv := range anyList(c["Environment"]) {
		m := kv.(map[string]any)
		b, _ := json.Marshal(m["Value"])
		env[m["Name"].(string)] = string(b)
	}
	for _, k := range []string{"PG2S3_SECRET_ARN", "PG2S3_BUCKET", "PG2S3_TABLE", "PG2S3_SLOT", "GOMEMLIMIT"} {
		if env[k] == "" {
			t.Errorf("container environment lacks %s: %v", k, env)
		}
	}
	for k, v := range env {
		if l := strings.ToLower(k + v); strings.Contains(l, "password") || strings.Contains(l, "private_key") || strings.HasPrefix(k, "PG2S3_TASK_") {
			t.Errorf("container environment %s=%s", k, v)
		}
	}

	// The functions' permission to start it.
	roles := map[string]bool{}
	for id := range f.resources("AWS::IAM::Role") {
		if strings.HasPrefix(id, "shopTaskRole") || strings.HasPrefix(id, "shopTaskExecutionRole") {
			roles[id] = true
		}
	}
	if len(roles) != 2 {
		t.Fatalf("task roles: %v", roles)
	}
	found := map[string]int{}
	for id, p := range f.resources("AWS::IAM::Policy") {
		for _, st := range statements(p) {
			actions := list(st["Action"])
			b, _ := json.Marshal(st["Resource"])
			res := string(b)
			if slices.Contains(actions, "ecs:RunTask") {
				found[id]++
				if len(actions) != 1 || res != `{"Ref":"`+defID+`"}` || !strings.Contains(toJSON(st["Condition"]), "ecs:cluster") {
					t.Errorf("%s: RunTask statement %v", id, st)
				}
			}
			if slices.Contains(actions, "iam:PassRole") {
				found[id]++
				var arns []map[string]any
				json.Unmarshal(b, &arns)
				if len(actions) != 1 || len(arns) != 2 || !strings.Contains(toJSON(st["Condition"]), "ecs-tasks.amazonaws.com") {
					t.Errorf("%s: PassRole statement %v", id, st)
				}
				for _, a := range arns {
					ga, _ := a["Fn::GetAtt"].([]any)
					if len(ga) != 2 || !roles[ga[0].(string)] {
						t.Errorf("%s: PassRole on %v, not one of the task's roles", id, a)
					}
				}
			}
		}
	}
	var who []string
	for id, n := range found {
		if n != 2 {
			t.Errorf("%s: %d task statements", id, n)
		}
		who = append(who, id)
	}
	slices.Sort(who)
	if len(who) != 2 || !strings.HasPrefix(who[0], "shopSyncRole") || !strings.HasPrefix(who[1], "shopWalRole") {
		t.Errorf("roles allowed to start the task: %v (want shop's sync and wal)", who)
	}
	// The functions learn where the task is.
	for id, r := range f.resources("AWS::Lambda::Function") {
		vars := toJSON(r["Environment"])
		want := strings.HasPrefix(id, "shopWal") || strings.HasPrefix(id, "shopSync")
		if got := strings.Contains(vars, "PG2S3_TASK_DEFINITION"); got != want {
			t.Errorf("%s: PG2S3_TASK_DEFINITION set %v, want %v", id, got, want)
		}
	}
	// cdk-nag over this stack, with the task: TestTwoDatabases.
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
