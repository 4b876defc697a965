package awsstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// TaskSpec is where and how the long-running task runs: the ECS cluster,
// the Fargate task definition and its container, and the network the
// functions use (the stack sets them as PG2S3_TASK_* variables).
type TaskSpec struct {
	Cluster        string
	TaskDefinition string
	Container      string
	Subnets        []string
	SecurityGroups []string
	Region         string
	Endpoint       string // a compatible server's URL; empty for AWS
}

// TaskLauncher starts the task with ECS RunTask.
type TaskLauncher struct {
	client *ecs.Client
	spec   TaskSpec
}

// NewTaskLauncher builds the ECS client for spec.
func NewTaskLauncher(ctx context.Context, spec TaskSpec, opts ...Option) (*TaskLauncher, error) {
	if spec.Cluster == "" || spec.TaskDefinition == "" || spec.Container == "" || len(spec.Subnets) == 0 {
		return nil, fmt.Errorf("task: a cluster, a task definition, its container and at least one subnet are required (the stack sets PG2S3_TASK_*)")
	}
	cfg, err := loadConfig(ctx, "task", spec.Region, spec.Endpoint, opts)
	if err != nil {
		return nil, err
	}
	client := ecs.NewFromConfig(cfg, func(o *ecs.Options) {
		if spec.Endpoint != "" {
			o.BaseEndpoint = aws.String(spec.Endpoint)
		}
	})
	return &TaskLauncher{client: client, spec: spec}, nil
}

// Run starts one task on Fargate in the functions' subnets and security
// groups, its container's environment extended by env (what the task
// works on: never a secret, RunTask overrides are visible in ECS), and
// returns the task's ARN. startedBy names the run that started it.
func (l *TaskLauncher) Run(ctx context.Context, env map[string]string, startedBy string) (string, error) {
	var kv []types.KeyValuePair
	for k, v := range env {
		kv = append(kv, types.KeyValuePair{Name: aws.String(k), Value: aws.String(v)})
	}
	in := &ecs.RunTaskInput{
		Cluster:        aws.String(l.spec.Cluster),
		TaskDefinition: aws.String(l.spec.TaskDefinition),
		LaunchType:     types.LaunchTypeFargate,
		Count:          aws.Int32(1),
		NetworkConfiguration: &types.NetworkConfiguration{AwsvpcConfiguration: &types.AwsVpcConfiguration{
			Subnets: l.spec.Subnets, SecurityGroups: l.spec.SecurityGroups, AssignPublicIp: types.AssignPublicIpDisabled,
		}},
		Overrides: &types.TaskOverride{ContainerOverrides: []types.ContainerOverride{{Name: aws.String(l.spec.Container), Environment: kv}}},
	}
	if startedBy != "" {
		in.StartedBy = aws.String(truncate(startedBy, 128)) // ECS allows 128 characters
	}
	out, err := l.client.RunTask(ctx, in)
	if err != nil {
		return "", fmt.Errorf("ecs RunTask of %s on cluster %s: %s: check that the function's role may call ecs:RunTask on it and iam:PassRole on its roles", l.spec.TaskDefinition, l.spec.Cluster, secretErrorCode(err))
	}
	if len(out.Failures) > 0 {
		var why []string
		for _, f := range out.Failures {
			why = append(why, strings.TrimSpace(aws.ToString(f.Reason)+" "+aws.ToString(f.Detail)))
		}
		return "", fmt.Errorf("ecs RunTask of %s on cluster %s failed: %s", l.spec.TaskDefinition, l.spec.Cluster, strings.Join(why, "; "))
	}
	if len(out.Tasks) == 0 {
		return "", fmt.Errorf("ecs RunTask of %s on cluster %s started no task", l.spec.TaskDefinition, l.spec.Cluster)
	}
	return aws.ToString(out.Tasks[0].TaskArn), nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
