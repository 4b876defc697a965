package main

import (
	"path/filepath"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/jsii-runtime-go"
)

// The long-running task (functions/task): an ECS cluster and a Fargate
// task definition per pipeline in a VPC, whose image is the task's static
// bootstrap (bin/lambda/task, built by `make task` beside its Dockerfile;
// synth only stages the directory, `cdk deploy` builds and pushes the
// image). The wal and sync functions start it with RunTask when a bounded
// run cannot finish the work (see README: The task).
const (
	TaskAssetName  = "task"  // the image's directory under the asset directory
	TaskContainer  = "pg2s3" // the container the functions' overrides name
	TaskCPU        = 1024    // 1 vCPU
	TaskMemoryMiB  = 2048
	taskGoMemLimit = "1536MiB" // three quarters of the memory: the heap's bound
)

// task defines the pipeline's task and lets the wal and sync functions
// start it. Fargate needs subnets: a pipeline without a vpc has no task
// (its functions then log what to run instead).
func (p *pipeline) task(s *shared, env map[string]*string, vpc awsec2.IVpc, subnets []awsec2.ISubnet, groups []awsec2.ISecurityGroup, secret awssecretsmanager.ISecret) {
	if vpc == nil {
		return
	}
	db := p.db
	cluster := awsecs.NewCluster(p.scope, jsii.String("TaskCluster"), &awsecs.ClusterProps{Vpc: vpc})
	suppress(cluster, "AwsSolutions-ECS4", "The cluster runs one short task at a time, only when a bounded run cannot finish; its logs and run reports in S3 describe it, so Container Insights would add cost and nothing to read.")

	taskRole := awsiam.NewRole(p.scope, jsii.String("TaskRole"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("ecs-tasks.amazonaws.com"), nil),
		Description: jsii.String("pg2s3 " + db.Name + " task"),
	})
	execRole := awsiam.NewRole(p.scope, jsii.String("TaskExecutionRole"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("ecs-tasks.amazonaws.com"), nil),
		Description: jsii.String("pg2s3 " + db.Name + " task execution (image pull, logs)"),
	})
	logs := awslogs.NewLogGroup(p.scope, jsii.String("TaskLogs"), &awslogs.LogGroupProps{
		Retention:     s.retention,
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	def := awsecs.NewFargateTaskDefinition(p.scope, jsii.String("Task"), &awsecs.FargateTaskDefinitionProps{
		Cpu:            jsii.Number(TaskCPU),
		MemoryLimitMiB: jsii.Number(TaskMemoryMiB),
		TaskRole:       taskRole,
		ExecutionRole:  execRole,
		RuntimePlatform: &awsecs.RuntimePlatform{
			CpuArchitecture:       awsecs.CpuArchitecture_ARM64(),
			OperatingSystemFamily: awsecs.OperatingSystemFamily_LINUX(),
		},
	})
	// The functions' environment (names, ARNs, settings: no secret; the
	// credentials are read from Secrets Manager at run time) and the
	// heap's bound.
	cenv := map[string]*string{"GOMEMLIMIT": jsii.String(taskGoMemLimit)}
	for k, v := range env {
		cenv[k] = v
	}
	def.AddContainer(jsii.String("Container"), &awsecs.ContainerDefinitionOptions{
		ContainerName:          jsii.String(TaskContainer),
		Image:                  awsecs.ContainerImage_FromAsset(jsii.String(filepath.Join(s.assetDir, TaskAssetName)), nil),
		Environment:            &cenv,
		Logging:                awsecs.LogDrivers_AwsLogs(&awsecs.AwsLogDriverProps{StreamPrefix: jsii.String("task"), LogGroup: logs}),
		ReadonlyRootFilesystem: jsii.Bool(true),
		StopTimeout:            awscdk.Duration_Seconds(jsii.Number(120)),
	})
	suppress(def, "AwsSolutions-ECS2", "The environment holds names, ARNs and settings only (bucket, table, secret ARN, slot); the database credentials are read from Secrets Manager at run time and never appear in the task definition.")

	// The task's own permissions: those of the wal and sync functions.
	p.grantStores(s, secret, taskRole, taskRole, false)
	suppress(execRole, "AwsSolutions-IAM5",
		"ECS pulls the task's image with this role: ecr:GetAuthorizationToken supports no resource-level permissions, so AWS requires Resource '*' (the pulls themselves are granted on the asset repository only).",
		"Resource::*")

	var groupIDs []*string
	for _, g := range groups {
		groupIDs = append(groupIDs, g.SecurityGroupId())
	}
	for _, name := range []string{"wal", "sync"} {
		fn := p.functions[name]
		fn.AddEnvironment(jsii.String("PG2S3_TASK_CLUSTER"), cluster.ClusterName(), nil)
		fn.AddEnvironment(jsii.String("PG2S3_TASK_DEFINITION"), def.TaskDefinitionArn(), nil)
		fn.AddEnvironment(jsii.String("PG2S3_TASK_CONTAINER"), jsii.String(TaskContainer), nil)
		fn.AddEnvironment(jsii.String("PG2S3_TASK_SUBNETS"), jsii.String(strings.Join(db.VPC.SubnetIDs, ",")), nil)
		fn.AddEnvironment(jsii.String("PG2S3_TASK_SECURITY_GROUPS"), awscdk.Fn_Join(jsii.String(","), &groupIDs), nil)
		// RunTask of this task definition only, on this cluster only, and
		// passing only its two roles to ECS.
		fn.Role().AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:        jsii.String("RunTask"),
			Actions:    jsii.Strings("ecs:RunTask"),
			Resources:  &[]*string{def.TaskDefinitionArn()},
			Conditions: &map[string]any{"ArnEquals": map[string]any{"ecs:cluster": cluster.ClusterArn()}},
		}))
		fn.Role().AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:        jsii.String("PassTaskRoles"),
			Actions:    jsii.Strings("iam:PassRole"),
			Resources:  &[]*string{taskRole.RoleArn(), execRole.RoleArn()},
			Conditions: &map[string]any{"StringEquals": map[string]any{"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
		}))
	}
	output(p.scope, "TaskDefinition", def.TaskDefinitionArn(), "pg2s3 task definition of "+db.Name+" (started by the wal and sync functions)")
}
