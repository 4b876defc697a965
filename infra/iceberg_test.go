package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// icebergConfig: shop materializes (a cron, maintenance on its default
// daily schedule, copy-on-write by default), crm does not.
const icebergConfig = `{
  "stack_name": "Pg2s3Ice",
  "account": "123456789012",
  "region": "eu-west-1",
  "databases": [
    {
      "name": "shop",
      "secret_arn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:pg2s3/shop-AbCdEf",
      "vpc": {"vpc_id": "vpc-0a1b2c3d", "subnet_ids": ["subnet-0a1b2c3d"], "rds_security_group_id": "sg-0a1b2c3d"},
      "wal": {"rate_minutes": 15},
      "materialize": {"cron": "5/15 * * * ? *"}
    },
    {
      "name": "crm",
      "secret_arn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:pg2s3/crm-AbCdEf",
      "wal": {"rate_minutes": 15}
    }
  ]
}`

func TestMaterializeInStack(t *testing.T) {
	f := synth(t, "iceberg", icebergConfig)
	checkNag(t, f)
	checkIAM(t, f)
	const database = "pg2s3ice_shop_iceberg"

	var matFn string
	fns := f.resources("AWS::Lambda::Function")
	if len(fns) != 9 {
		t.Errorf("%d functions, want 4 per pipeline and shop's materialize", len(fns))
	}
	for id, props := range fns {
		env := props["Environment"].(map[string]any)["Variables"].(map[string]any)
		if _, ok := env["PG2S3_GLUE_DATABASE"]; ok {
			if matFn != "" {
				t.Errorf("a second function with PG2S3_GLUE_DATABASE: %s", id)
			}
			matFn = id
			if env["PG2S3_GLUE_DATABASE"] != database || props["Timeout"] != 900.0 || props["MemorySize"] != 2048.0 || env["PG2S3_PIPELINE"] != "shop" ||
				env["PG2S3_ICEBERG_COPY_ON_WRITE"] != "true" {
				t.Errorf("materialize function: %v", props)
			}
		} else if _, ok := env["PG2S3_ICEBERG_COPY_ON_WRITE"]; ok {
			t.Errorf("%s: PG2S3_ICEBERG_COPY_ON_WRITE on a function that does not materialize", id)
		}
	}
	if matFn == "" {
		t.Fatal("no materialize function")
	}

	// Its two schedules: the cron with {} and the daily maintenance.
	inputs := map[string]string{}
	for _, props := range f.resources("AWS::Scheduler::Schedule") {
		target := props["Target"].(map[string]any)
		if arn, _ := json.Marshal(target["Arn"]); strings.Contains(string(arn), matFn) {
			inputs[props["ScheduleExpression"].(string)] = target["Input"].(string)
		}
	}
	if len(inputs) != 2 || inputs["cron(5/15 * * * ? *)"] != "{}" || inputs["rate(1440 minutes)"] != `{"maintain":true}` {
		t.Errorf("materialize schedules: %v", inputs)
	}

	dbs := f.resources("AWS::Glue::Database")
	found := false
	for _, props := range dbs {
		if props["DatabaseInput"].(map[string]any)["Name"] == database {
			found = true
		}
		if strings.Contains(props["DatabaseInput"].(map[string]any)["Name"].(string), "crm_iceberg") {
			t.Error("crm has no materialize setting but got an Iceberg database")
		}
	}
	if !found {
		t.Errorf("no Glue database %s: %v", database, dbs)
	}

	// Glue rights: only the materialize role's, only on its database.
	glueRoles := 0
	for id, p := range f.resources("AWS::IAM::Policy") {
		hasGlue := false
		for _, st := range statements(p) {
			for _, a := range list(st["Action"]) {
				if !strings.HasPrefix(a, "glue:") {
					continue
				}
				hasGlue = true
				switch a {
				case "glue:GetDatabase", "glue:GetTable", "glue:CreateTable", "glue:UpdateTable":
				default:
					t.Errorf("%s: unexpected Glue action %s", id, a)
				}
				res, _ := json.Marshal(st["Resource"])
				for _, r := range anyList(st["Resource"]) {
					b, _ := json.Marshal(r)
					s := string(b)
					if !strings.HasSuffix(s, `:catalog"}`) && !strings.Contains(s, ":database/"+database+`"`) && !strings.Contains(s, ":table/"+database+`/*"`) {
						t.Errorf("%s: %s on %s, outside the Iceberg database", id, a, s)
					}
				}
				if !strings.Contains(string(res), database) {
					t.Errorf("%s: %s not scoped to %s: %s", id, a, database, res)
				}
			}
		}
		if hasGlue {
			glueRoles++
			roles, _ := json.Marshal(p["Roles"])
			if !strings.Contains(string(roles), "MaterializeRole") {
				t.Errorf("Glue rights on a role that is not materialize's: %s", roles)
			}
		}
	}
	if glueRoles != 1 {
		t.Errorf("%d policies grant Glue actions, want the materialize role's", glueRoles)
	}

	alarms := 0
	for _, props := range f.resources("AWS::CloudWatch::Alarm") {
		if d, _ := props["AlarmDescription"].(string); d == "pg2s3 shop: the materialize function failed" {
			alarms++
		}
	}
	if alarms != 1 {
		t.Errorf("%d error alarms for the materialize function", alarms)
	}
}

func TestMaterializeConfigErrors(t *testing.T) {
	for cfg, want := range map[string]string{
		`"materialize": {}`:                                     "materialize",
		`"materialize": {"cron": "nope"}`:                       "materialize",
		`"materialize": {"rate_minutes": 30, "streams": ["a"]}`: "remove its streams",
		`"materialize": {"rate_minutes": 30, "maintain": {"cron": "0 4 * * ? *", "rate_minutes": 5}}`: "materialize.maintain",
		`"functions": {"materialize": {"timeout_seconds": 901}}`:                                      "outside 1..900",
	} {
		_, err := ParseStackConfig([]byte(`{"account": "123456789012", "region": "eu-west-1", "databases": [{"name": "shop",
			"secret_arn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:pg2s3/shop-AbCdEf", "wal": {"rate_minutes": 15}, ` + cfg + `}]}`))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", cfg, err, want)
		}
	}
}

// "copy_on_write": false makes the function write merge-on-read.
func TestMaterializeMergeOnRead(t *testing.T) {
	cfg := strings.Replace(icebergConfig, `"materialize": {"cron": "5/15 * * * ? *"}`, `"materialize": {"cron": "5/15 * * * ? *", "copy_on_write": false}`, 1)
	if cfg == icebergConfig {
		t.Fatal("the test config changed: no materialize setting to edit")
	}
	f := synth(t, "iceberg-mor", cfg)
	found := false
	for id, props := range f.resources("AWS::Lambda::Function") {
		env := props["Environment"].(map[string]any)["Variables"].(map[string]any)
		if _, ok := env["PG2S3_GLUE_DATABASE"]; ok {
			found = true
			if _, ok := env["PG2S3_ICEBERG_COPY_ON_WRITE"]; ok {
				t.Errorf("%s: copy_on_write false still sets PG2S3_ICEBERG_COPY_ON_WRITE", id)
			}
		}
	}
	if !found {
		t.Fatal("no materialize function")
	}
}
