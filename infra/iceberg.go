package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsglue"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/pg2s3/pg2s3/shared/warehouse"
)

// A pipeline with a materialize setting gets its own Glue database for
// the Iceberg tables the materialize function keeps
// (<glue_database>_<pipeline>_iceberg): the function creates one table
// per selected stream there and commits to it through Glue's optimistic
// lock; the tables' files are in the bucket below <prefix>/_iceberg/,
// which the function's store grant (<prefix>/*) already covers.

// icebergDatabase is the Glue database of a pipeline's Iceberg tables.
func icebergDatabase(c *StackConfig, d *Database) string {
	return c.GlueDatabase + "_" + warehouse.AthenaName(d.Name) + "_iceberg"
}

// icebergCatalog creates the pipeline's Iceberg database and lets role
// read it and create and update the tables in it: nothing in other
// databases, no deletes.
func (p *pipeline) icebergCatalog(s *shared, role awsiam.Role) {
	name := icebergDatabase(s.cfg, p.db)
	db := awsglue.NewCfnDatabase(p.scope, jsii.String("IcebergDatabase"), &awsglue.CfnDatabaseProps{
		CatalogId: s.stack.Account(),
		DatabaseInput: &awsglue.CfnDatabase_DatabaseInputProperty{
			Name:        jsii.String(name),
			Description: jsii.String("pg2s3 " + p.db.Name + ": Apache Iceberg tables kept by the materialize function (query them with Athena)"),
		},
	})
	arn := func(resource string) *string {
		return awscdk.Fn_Sub(jsii.String("arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:"+resource), nil)
	}
	role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("IcebergDatabase"),
		Actions:   jsii.Strings("glue:GetDatabase"),
		Resources: &[]*string{arn("catalog"), arn("database/" + name)},
	}))
	role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("IcebergTables"),
		Actions:   jsii.Strings("glue:GetTable", "glue:CreateTable", "glue:UpdateTable"),
		Resources: &[]*string{arn("catalog"), arn("database/" + name), arn("table/" + name + "/*")},
	}))
	suppress(role, "AwsSolutions-IAM5",
		"The materialize function creates one Iceberg table per selected stream, named at run time, in this pipeline's own Glue database; the table wildcard stays inside that database.",
		cdknag.RegexAppliesTo{Regex: jsii.String(`/^Resource::arn:<AWS::Partition>:glue:<AWS::Region>:<AWS::AccountId>:table\/.+_iceberg\/\*$/g`)})
	output(p.scope, "IcebergDatabaseName", db.Ref(), "pg2s3 Glue database of "+p.db.Name+"'s Iceberg tables")
}
