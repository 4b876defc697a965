package main

import (
	"encoding/json"
	"maps"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdadestinations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsscheduler"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// pipeline is one database's functions and schedules.
type pipeline struct {
	db        *Database
	scope     constructs.Construct
	functions map[string]awslambda.Function
	schedules []awsscheduler.CfnSchedule
}

// completeSecretArn: a complete ARN ends in the six characters Secrets
// Manager appends to the name.
var completeSecretArn = regexp.MustCompile(`-[A-Za-z0-9]{6}$`)

func newPipeline(s *shared, db *Database) *pipeline {
	scope := constructs.NewConstruct(s.stack, jsii.String(db.Name))
	p := &pipeline{db: db, scope: scope, functions: map[string]awslambda.Function{}}
	secret := p.secret()
	vpc, subnets, groups := p.network()

	env := map[string]*string{
		"PG2S3_PIPELINE":    jsii.String(db.Name),
		"PG2S3_SECRET_ARN":  secret.SecretArn(),
		"PG2S3_BUCKET":      s.bucket.BucketName(),
		"PG2S3_PREFIX":      jsii.String(db.Prefix),
		"PG2S3_TABLE":       s.table.TableName(),
		"PG2S3_CATALOG_KEY": jsii.String(db.Catalog.S3Key),
		"PG2S3_SLOT":        jsii.String(db.SlotName),
		"PG2S3_PLUGIN":      jsii.String(db.LogicalPlugin),
		"PG2S3_SSLMODE":     jsii.String(db.SSLMode),
		"PG2S3_FORMAT":      jsii.String(string(db.Format)),
		"PG2S3_METRICS":     jsii.String(MetricsNamespace),
	}
	if len(db.Catalog.Streams) > 0 {
		b, _ := json.Marshal(db.Catalog.Streams)
		env["PG2S3_SELECTION"] = jsii.String(string(b))
	}

	for _, name := range db.functionNames() {
		fc := db.Functions[name]
		fnEnv := env
		if name == MaterializeFunction {
			fnEnv = maps.Clone(env)
			fnEnv["PG2S3_GLUE_DATABASE"] = jsii.String(icebergDatabase(s.cfg, db))
			if db.Materialize.copyOnWrite() {
				fnEnv["PG2S3_ICEBERG_COPY_ON_WRITE"] = jsii.String("true")
			}
		}
		role := awsiam.NewRole(scope, jsii.String(title(name)+"Role"), &awsiam.RoleProps{
			AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
			Description: jsii.String("pg2s3 " + db.Name + " " + name + " function"),
		})
		logs := awslogs.NewLogGroup(scope, jsii.String(title(name)+"Logs"), &awslogs.LogGroupProps{
			Retention:     s.retention,
			RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
		})
		// Explicit log permissions instead of AWSLambdaBasicExecutionRole:
		// this function's log group only, and no managed policy.
		logs.GrantWrite(role)
		props := &awslambda.FunctionProps{
			Description:   jsii.String("pg2s3 " + name + " for " + db.Name),
			Runtime:       awslambda.Runtime_PROVIDED_AL2023(),
			Architecture:  awslambda.Architecture_ARM_64(),
			Handler:       jsii.String("bootstrap"),
			Code:          awslambda.Code_FromAsset(jsii.String(filepath.Join(s.assetDir, name)), nil),
			Role:          role,
			LogGroup:      logs,
			MemorySize:    jsii.Number(float64(fc.MemoryMB)),
			Timeout:       awscdk.Duration_Seconds(jsii.Number(float64(fc.TimeoutSeconds))),
			Environment:   &fnEnv,
			OnFailure:     awslambdadestinations.NewSqsDestination(s.dlq),
			RetryAttempts: jsii.Number(0), // the next scheduled run is the retry; it resumes from the bookmark
			MaxEventAge:   awscdk.Duration_Seconds(jsii.Number(p.maxEventAge(name).Seconds())),
		}
		if name == "wal" {
			// One drain per slot: a second concurrent invoke is throttled
			// (and retried by Lambda); the function also takes a lease.
			props.ReservedConcurrentExecutions = jsii.Number(1)
		}
		if vpc != nil {
			props.Vpc = vpc
			props.VpcSubnets = &awsec2.SubnetSelection{Subnets: &subnets}
			props.SecurityGroups = &groups
			// Lambda creates the function's network interfaces with the
			// function's role; these EC2 actions support no resource-level
			// permissions, so AWS requires Resource "*".
			role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Sid: jsii.String("LambdaVpcNetworkInterfaces"),
				Actions: jsii.Strings("ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets",
					"ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"),
				Resources: jsii.Strings("*"),
			}))
			suppressVPC(role)
		}
		fn := awslambda.NewFunction(scope, jsii.String(title(name)), props)
		fn.Node().AddDependency(role)
		p.functions[name] = fn

		p.grantStores(s, secret, fn, role, name == "discover")
		if name == MaterializeFunction {
			p.icebergCatalog(s, role)
		}
		output(scope, title(name)+"FunctionName", fn.FunctionName(), "pg2s3 "+name+" function of "+db.Name)
	}

	p.task(s, env, vpc, subnets, groups, secret)
	for _, sc := range db.Schedules {
		p.schedule(s, "sync", sc, map[string]any{"streams": sc.Streams})
	}
	if db.WAL != nil {
		p.schedule(s, "wal", db.WAL, map[string]any{})
	}
	if db.Discover != nil {
		p.schedule(s, "discover", db.Discover, map[string]any{})
	}
	if db.Prune != nil {
		p.schedule(s, "reset", &db.Prune.Schedule, map[string]any{"prune": true, "keep": db.Prune.Keep})
	}
	if m := db.Materialize; m != nil {
		p.schedule(s, MaterializeFunction, &m.Schedule, map[string]any{})
		p.scheduleAs(s, MaterializeFunction, "MaintainSchedule", m.Maintain, map[string]any{"maintain": true})
	}
	p.glue(s, s.glueDB)
	return p
}

// secret imports the database's RDS-shaped secret by ARN, or creates one
// with a generated password for the user to complete (host, port, dbname).
func (p *pipeline) secret() awssecretsmanager.ISecret {
	db := p.db
	if db.CreateSecret {
		sec := awssecretsmanager.NewSecret(p.scope, jsii.String("Secret"), &awssecretsmanager.SecretProps{
			Description: jsii.String("pg2s3 " + db.Name + ": PostgreSQL credentials (RDS shape: host, port, username, password, dbname); set host and dbname after deploy"),
			GenerateSecretString: &awssecretsmanager.SecretStringGenerator{
				SecretStringTemplate: jsii.String(`{"username":"pg2s3","host":"","port":5432,"dbname":""}`),
				GenerateStringKey:    jsii.String("password"),
				ExcludePunctuation:   jsii.Bool(true),
				PasswordLength:       jsii.Number(32),
			},
			RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
		})
		suppress(sec, "AwsSolutions-SMG4", "The password belongs to a database outside this stack; it is rotated with that database (the functions read the current value on every run).")
		return sec
	}
	attrs := &awssecretsmanager.SecretAttributes{}
	if completeSecretArn.MatchString(db.SecretArn) {
		attrs.SecretCompleteArn = jsii.String(db.SecretArn)
	} else {
		attrs.SecretPartialArn = jsii.String(db.SecretArn)
	}
	if db.SecretKMSKeyArn != "" {
		attrs.EncryptionKey = awskms.Key_FromKeyArn(p.scope, jsii.String("SecretKey"), jsii.String(db.SecretKMSKeyArn))
	}
	return awssecretsmanager.Secret_FromSecretAttributes(p.scope, jsii.String("Secret"), attrs)
}

// network imports the VPC by attributes (no lookup, so synth is offline)
// and returns the subnets and security groups for the functions. With no
// security group given it creates one, and lets it into the RDS group.
func (p *pipeline) network() (awsec2.IVpc, []awsec2.ISubnet, []awsec2.ISecurityGroup) {
	v := p.db.VPC
	if v == nil {
		return nil, nil, nil
	}
	// The functions name their subnets, so the VPC's zones are never used
	// to select subnets; CDK only wants at least one (a token is enough).
	vpc := awsec2.Vpc_FromVpcAttributes(p.scope, jsii.String("Vpc"), &awsec2.VpcAttributes{
		VpcId:             jsii.String(v.VpcID),
		AvailabilityZones: &[]*string{awscdk.Fn_Select(jsii.Number(0), awscdk.Fn_GetAzs(nil))},
	})
	var subnets []awsec2.ISubnet
	for i, id := range v.SubnetIDs {
		sn := awsec2.Subnet_FromSubnetId(p.scope, jsii.String("Subnet"+strconv.Itoa(i)), jsii.String(id))
		awscdk.Annotations_Of(sn).AcknowledgeWarning(jsii.String("@aws-cdk/aws-ec2:noSubnetRouteTableId"),
			jsii.String("the functions only place network interfaces in this subnet; its route table is never read"))
		subnets = append(subnets, sn)
	}
	var groups []awsec2.ISecurityGroup
	for i, id := range v.SecurityGroupIDs {
		groups = append(groups, awsec2.SecurityGroup_FromSecurityGroupId(p.scope, jsii.String("Group"+strconv.Itoa(i)), jsii.String(id),
			&awsec2.SecurityGroupImportOptions{Mutable: jsii.Bool(false)}))
	}
	if len(groups) == 0 {
		groups = append(groups, awsec2.NewSecurityGroup(p.scope, jsii.String("Functions"), &awsec2.SecurityGroupProps{
			Vpc:              vpc,
			Description:      jsii.String("pg2s3 " + p.db.Name + " functions"),
			AllowAllOutbound: jsii.Bool(true), // RDS plus S3, DynamoDB and Secrets Manager endpoints
		}))
	}
	if v.RDSSecurityGroupID != "" {
		rds := awsec2.SecurityGroup_FromSecurityGroupId(p.scope, jsii.String("Rds"), jsii.String(v.RDSSecurityGroupID), nil)
		for _, g := range groups {
			rds.AddIngressRule(g, awsec2.Port_Tcp(jsii.Number(float64(v.Port))), jsii.String("pg2s3 "+p.db.Name+" functions"), nil)
		}
	}
	return vpc, subnets, groups
}

// schedule fires a function with a fixed JSON input through EventBridge
// Scheduler, with a role that may invoke only that function.
func (p *pipeline) schedule(s *shared, fnName string, sc *Schedule, input map[string]any) {
	id := title(fnName) + "Schedule" + title(sc.Name)
	if fnName != "sync" {
		id = title(fnName) + "Schedule"
	}
	p.scheduleAs(s, fnName, id, sc, input)
}

// scheduleAs is schedule with the construct id given (a function's
// second schedule).
func (p *pipeline) scheduleAs(s *shared, fnName, id string, sc *Schedule, input map[string]any) {
	fn := p.functions[fnName]
	role := awsiam.NewRole(p.scope, jsii.String(id+"Role"), &awsiam.RoleProps{
		AssumedBy: awsiam.NewPrincipalWithConditions(awsiam.NewServicePrincipal(jsii.String("scheduler.amazonaws.com"), nil),
			&map[string]any{"StringEquals": map[string]any{"aws:SourceAccount": s.stack.Account()}}),
		Description: jsii.String("pg2s3 " + p.db.Name + " schedule " + sc.Name),
	})
	role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("lambda:InvokeFunction"),
		Resources: &[]*string{fn.FunctionArn()},
	}))
	s.dlq.GrantSendMessages(role)
	b, _ := json.Marshal(input)
	every, _ := sc.MinInterval()
	props := &awsscheduler.CfnScheduleProps{
		Description:        jsii.String("pg2s3 " + p.db.Name + " " + fnName + " " + sc.Name),
		ScheduleExpression: jsii.String(sc.Expression()),
		FlexibleTimeWindow: &awsscheduler.CfnSchedule_FlexibleTimeWindowProperty{Mode: jsii.String("OFF")},
		State:              jsii.String(map[bool]string{false: "ENABLED", true: "DISABLED"}[sc.Disabled]),
		Target: &awsscheduler.CfnSchedule_TargetProperty{
			Arn:              fn.FunctionArn(),
			RoleArn:          role.RoleArn(),
			Input:            jsii.String(string(b)),
			DeadLetterConfig: &awsscheduler.CfnSchedule_DeadLetterConfigProperty{Arn: s.dlq.QueueArn()},
			RetryPolicy: &awsscheduler.CfnSchedule_RetryPolicyProperty{
				MaximumRetryAttempts:     jsii.Number(0),
				MaximumEventAgeInSeconds: jsii.Number(clamp(every, time.Minute, 24*time.Hour).Seconds()),
			},
		},
	}
	if start := sc.StartDate(s.now); start != "" {
		props.StartDate = jsii.String(start)
	}
	if sc.Timezone != "" {
		props.ScheduleExpressionTimezone = jsii.String(sc.Timezone)
	}
	cs := awsscheduler.NewCfnSchedule(p.scope, jsii.String(id), props)
	cs.Node().AddDependency(role)
	p.schedules = append(p.schedules, cs)
}

// maxEventAge drops a queued asynchronous event once the next scheduled
// one is due (Lambda's range is one minute to six hours).
func (p *pipeline) maxEventAge(name string) time.Duration {
	every := 6 * time.Hour
	var list []*Schedule
	switch name {
	case "sync":
		list = p.db.Schedules
	case "wal":
		list = []*Schedule{p.db.WAL}
	case "discover":
		list = []*Schedule{p.db.Discover}
	case "reset":
		if p.db.Prune != nil {
			list = []*Schedule{&p.db.Prune.Schedule}
		}
	case MaterializeFunction:
		list = []*Schedule{&p.db.Materialize.Schedule, p.db.Materialize.Maintain}
	}
	for _, sc := range list {
		if sc == nil {
			continue
		}
		if d, ok := sc.MinInterval(); ok && d < every {
			every = d
		}
	}
	return clamp(every, time.Minute, 6*time.Hour)
}

func clamp(d, lo, hi time.Duration) time.Duration {
	return min(max(d, lo), hi)
}

func title(s string) string {
	var b strings.Builder
	up := true
	for _, r := range s {
		if r == '-' || r == '_' {
			up = true
			continue
		}
		if up && r >= 'a' && r <= 'z' {
			r -= 'a' - 'A'
		}
		up = false
		b.WriteRune(r)
	}
	return b.String()
}
