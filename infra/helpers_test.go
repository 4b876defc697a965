package main

import (
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
)

// try turns an assertion's panic (jsii raises them) into a test error.
func try(t *testing.T, fn func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Error(r)
		}
	}()
	fn()
}

func checkIAM(t *testing.T, f *fixture) {
	t.Helper()
	eni := map[string]bool{"ec2:CreateNetworkInterface": true, "ec2:DescribeNetworkInterfaces": true, "ec2:DescribeSubnets": true,
		"ec2:DeleteNetworkInterface": true, "ec2:AssignPrivateIpAddresses": true, "ec2:UnassignPrivateIpAddresses": true,
		// Step Functions' log delivery (the state machine's execution logs)
		"logs:CreateLogDelivery": true, "logs:GetLogDelivery": true, "logs:UpdateLogDelivery": true, "logs:DeleteLogDelivery": true,
		"logs:ListLogDeliveries": true, "logs:PutResourcePolicy": true, "logs:DescribeResourcePolicies": true, "logs:DescribeLogGroups": true,
		"ecr:GetAuthorizationToken": true} // the task's image pull
	var docs []map[string]any
	for _, p := range f.resources("AWS::IAM::Policy") {
		docs = append(docs, p)
	}
	for id, r := range f.resources("AWS::IAM::Role") {
		if _, ok := r["ManagedPolicyArns"]; ok {
			t.Errorf("%s uses managed policies", id)
		}
		for _, p := range anyList(r["Policies"]) {
			docs = append(docs, p.(map[string]any))
		}
	}
	if len(docs) == 0 {
		t.Fatal("no IAM policy found")
	}
	for _, p := range docs {
		for _, st := range statements(p) {
			actions := list(st["Action"])
			for _, a := range actions {
				if a == "*" || strings.HasSuffix(a, ":*") {
					t.Errorf("wildcard action %q in %v", a, st)
				}
			}
			if st["Resource"] == "*" {
				for _, a := range actions {
					if !eni[a] {
						t.Errorf("Resource * on %q, which supports resource-level permissions", a)
					}
				}
			}
		}
	}
}

func checkNag(t *testing.T, f *fixture) {
	t.Helper()
	ann := assertions.Annotations_FromStack(f.stack)
	for _, m := range *ann.FindError(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*"))) {
		t.Errorf("cdk-nag error at %s: %v", *m.Id, m.Entry.Data)
	}
	for _, m := range *ann.FindWarning(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*"))) {
		t.Errorf("cdk-nag warning at %s: %v", *m.Id, m.Entry.Data)
	}
}

func statements(policy map[string]any) []map[string]any {
	doc, _ := policy["PolicyDocument"].(map[string]any)
	var out []map[string]any
	for _, s := range anyList(doc["Statement"]) {
		out = append(out, s.(map[string]any))
	}
	return out
}

func anyList(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	if v == nil {
		return nil
	}
	return []any{v}
}

func list(v any) []string {
	var out []string
	for _, x := range anyList(v) {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}
