package main

import (
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
)

// readmeBlock returns the first fenced block of language lang under the
// README heading (the whole heading line, e.g. "### The stack"), before
// the next heading of any level.
func readmeBlock(t *testing.T, heading, lang string) string {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, found := strings.Cut(string(b), "\n"+heading+"\n")
	if !found {
		t.Fatalf("README.md has no heading %q", heading)
	}
	var block []string
	inBlock := false
	for _, line := range strings.Split(section, "\n") {
		switch {
		case !inBlock && strings.HasPrefix(line, "#"):
			t.Fatalf("README.md %q has no ```%s block", heading, lang)
		case !inBlock && strings.TrimSpace(line) == "```"+lang:
			inBlock = true
		case inBlock && strings.TrimSpace(line) == "```":
			return strings.Join(block, "\n")
		case inBlock:
			block = append(block, line)
		}
	}
	t.Fatalf("README.md %q: no closed ```%s block", heading, lang)
	return ""
}

// TestReadmeStackExample keeps the README's schedules example true: its
// JSON block, as the keys of one database, validates and synthesizes, and
// its unanchored wal rate becomes a rate schedule that starts at deploy.
func TestReadmeStackExample(t *testing.T) {
	example := readmeBlock(t, "### The stack", "json")
	config := `{"stack_name": "Pg2s3Readme", "account": "123456789012", "region": "eu-west-1",
  "databases": [{"name": "shop", "create_secret": true,
` + example + `}]}`
	c, err := ParseStackConfig([]byte(config))
	if err != nil {
		t.Fatalf("the README's stack example does not validate:\n%s\n%v", example, err)
	}
	if c.Databases[0].WAL == nil || len(c.Databases[0].Schedules) == 0 {
		t.Fatalf("the README's stack example lost its schedules: %s", example)
	}
	f := synth(t, "readme", config)
	try(t, func() {
		f.template.HasResourceProperties(jsii.String("AWS::Scheduler::Schedule"), map[string]any{
			"ScheduleExpression": "rate(15 minutes)",
			"StartDate":          assertions.Match_Absent(),
			"Target":             assertions.Match_ObjectLike(&map[string]any{"Input": "{}"}),
		})
	})
	checkNag(t, f)
}
