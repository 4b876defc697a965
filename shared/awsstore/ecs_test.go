package awsstore

import (
	"context"
	"strings"
	"testing"

	"github.com/pg2s3/pg2s3/shared/testenv"
)

// TestTaskLauncherRunTask: the request reaches ECS with the cluster, the
// task definition, Fargate in the given network and the work as the
// container's environment; a missing setting is named before any call.
func TestTaskLauncherRunTask(t *testing.T) {
	srv, err := testenv.StartECS()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ctx := context.Background()
	if _, err := NewTaskLauncher(ctx, TaskSpec{Cluster: "c"}); err == nil || !strings.Contains(err.Error(), "PG2S3_TASK_") {
		t.Fatalf("incomplete spec: %v", err)
	}
	l, err := NewTaskLauncher(ctx, TaskSpec{Cluster: "pg2s3-shop", TaskDefinition: "arn:aws:ecs:us-east-1:1:task-definition/shop:3", Container: "pg2s3",
		Subnets: []string{"subnet-1", "subnet-2"}, SecurityGroups: []string{"sg-1"}, Region: testenv.DummyRegion, Endpoint: srv.Endpoint()},
		WithStaticCredentials(testenv.DummyAccessKeyID, testenv.DummySecretAccessKey))
	if err != nil {
		t.Fatal(err)
	}
	arn, err := l.Run(ctx, map[string]string{"PG2S3_TASK_SLOT": "pg2s3_shop", "PG2S3_TASK_OWNER": "run1"}, "pg2s3-run1")
	if err != nil || !strings.Contains(arn, ":task/pg2s3-shop/") {
		t.Fatalf("run: %q %v", arn, err)
	}
	calls := srv.Calls()
	if len(calls) != 1 {
		t.Fatalf("calls: %+v", calls)
	}
	c := calls[0]
	net := c.NetworkConfiguration.AwsvpcConfiguration
	if c.Cluster != "pg2s3-shop" || c.TaskDefinition != "arn:aws:ecs:us-east-1:1:task-definition/shop:3" || c.LaunchType != "FARGATE" || c.Count != 1 ||
		c.StartedBy != "pg2s3-run1" || strings.Join(net.Subnets, ",") != "subnet-1,subnet-2" || strings.Join(net.SecurityGroups, ",") != "sg-1" || net.AssignPublicIP != "DISABLED" {
		t.Errorf("request: %+v", c)
	}
	if env := c.Env("pg2s3"); env["PG2S3_TASK_SLOT"] != "pg2s3_shop" || env["PG2S3_TASK_OWNER"] != "run1" || len(env) != 2 {
		t.Errorf("overrides: %v", env)
	}
}
