package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// suppress records that a cdk-nag rule does not apply to a construct (and
// its children), with the reason in one sentence.
func suppress(c constructs.IConstruct, rule, reason string, appliesTo ...any) {
	s := &cdknag.NagPackSuppression{Id: jsii.String(rule), Reason: jsii.String(reason)}
	if len(appliesTo) > 0 {
		s.AppliesTo = &appliesTo
	}
	cdknag.NagSuppressions_AddResourceSuppressions(c, &[]*cdknag.NagPackSuppression{s}, jsii.Bool(true))
}

// suppressGrants explains the wildcards that CDK's least-privilege grants
// put in a function role's policy; each is named exactly, so any other
// wildcard still fails the check.
func suppressGrants(s *shared, role awsiam.Role) {
	suppress(role, "AwsSolutions-IAM5",
		"bucket.GrantReadWrite scopes objects to this pipeline's prefix (<prefix>/*) and uses S3 action families (GetObject*, List*, DeleteObject*, Abort*, GetBucket*) that read and overwrite batch objects and their versions; no action is '*'.",
		"Action::s3:GetObject*", "Action::s3:GetBucket*", "Action::s3:List*", "Action::s3:DeleteObject*", "Action::s3:Abort*",
		cdknag.RegexAppliesTo{Regex: jsii.String(`/^Resource::<Data[0-9A-F]{8}\.Arn>\/.+$/g`)})
	if s.cfg.Bucket.Encryption == "KMS" {
		suppress(role, "AwsSolutions-IAM5",
			"bucket.GrantReadWrite on a KMS-encrypted bucket allows GenerateDataKey* and ReEncrypt* on the bucket's own key only.",
			"Action::kms:GenerateDataKey*", "Action::kms:ReEncrypt*")
	}
}

// suppressVPC explains Resource "*" on the network-interface actions Lambda
// needs for VPC placement.
func suppressVPC(role awsiam.Role) {
	suppress(role, "AwsSolutions-IAM5",
		"Lambda creates and deletes the function's VPC network interfaces with its role; these EC2 actions do not support resource-level permissions, so AWS requires Resource '*'.",
		"Resource::*")
}

// suppressPartialSecret explains the suffix wildcard a partial secret ARN
// needs.
func suppressPartialSecret(role awsiam.Role) {
	suppress(role, "AwsSolutions-IAM5",
		"The secret was given by partial ARN; Secrets Manager appends six random characters, so the grant must end in '-??????' to match that one secret.",
		cdknag.RegexAppliesTo{Regex: jsii.String(`/^Resource::arn:.*:secretsmanager:.*-\?\?\?\?\?\?$/g`)})
}
