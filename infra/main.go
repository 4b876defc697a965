// Command infra is the pg2s3 CDK app: `cdk synth` / `cdk deploy` run it
// (cdk.json: "app": "go run ./infra"). It reads the stack config named by the
// context key pg2s3:config, validates it, and synthesizes one stack with
// cdk-nag's AwsSolutions checks applied.
//
// The functions' code comes from bin/lambda/<name>/bootstrap, built by
// `make lambdas`; deploy refuses to run without them. `make synth` checks the
// template only and passes -c pg2s3:allowMissingAssets=true.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	_ "time/tzdata" // validate schedule time zones wherever synth runs

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// Context keys.
const (
	ContextConfig        = "pg2s3:config"
	ContextAssetDir      = "pg2s3:assetDir"
	ContextAllowMissing  = "pg2s3:allowMissingAssets"
	DefaultConfigPath    = "infra/pg2s3.example.json"
	DefaultAssetDir      = "bin/lambda"
	missingAssetsWarning = "pg2s3-missing-assets"
)

func main() {
	err := run()
	jsii.Close()
	if err != nil {
		fmt.Fprintln(os.Stderr, "pg2s3 infra:", err)
		os.Exit(1)
	}
}

func run() error {
	app := awscdk.NewApp(nil)
	cfg, err := LoadStackConfig(contextString(app, ContextConfig, DefaultConfigPath))
	if err != nil {
		return err
	}
	assetDir := contextString(app, ContextAssetDir, DefaultAssetDir)
	missing, err := checkAssets(assetDir, contextString(app, ContextAllowMissing, "false") == "true")
	if err != nil {
		return err
	}
	stack := NewPg2s3Stack(app, cfg.StackName, &Pg2s3StackProps{
		StackProps: awscdk.StackProps{
			Env:         environment(cfg),
			Description: jsii.String("pg2s3: PostgreSQL replicated into S3 by scheduled Lambda functions"),
		},
		Config:   cfg,
		AssetDir: assetDir,
	})
	if len(missing) > 0 {
		awscdk.Annotations_Of(stack).AddWarningV2(jsii.String(missingAssetsWarning), jsii.String(
			"no bootstrap in "+strings.Join(missing, ", ")+": this template is for checking only; run `make lambdas` before `cdk deploy`"))
	}
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
	app.Synth(nil)
	return nil
}

// checkAssets makes sure every function directory holds a bootstrap. When
// allowed (template checks), a missing directory is created empty so the
// asset can be staged, and the missing names are returned for a warning.
func checkAssets(dir string, allowMissing bool) ([]string, error) {
	var missing []string
	for _, name := range append(append([]string{}, FunctionNames...), MaterializeFunction) {
		d := filepath.Join(dir, name)
		if st, err := os.Stat(filepath.Join(d, "bootstrap")); err == nil && st.Mode().IsRegular() {
			continue
		}
		if !allowMissing {
			return nil, fmt.Errorf("%s is missing: run `make lambdas` first (or check the template only with -c %s=true)",
				filepath.Join(d, "bootstrap"), ContextAllowMissing)
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("create asset directory: %w", err)
		}
		missing = append(missing, d)
	}
	// The task's image directory: its bootstrap and Dockerfile (make task).
	// Synth only stages it; a placeholder Dockerfile lets a template check
	// stage it without them.
	d := filepath.Join(dir, TaskAssetName)
	if _, err := os.Stat(filepath.Join(d, "Dockerfile")); err == nil {
		if _, err := os.Stat(filepath.Join(d, "bootstrap")); err == nil {
			return missing, nil
		}
	}
	if !allowMissing {
		return nil, fmt.Errorf("%s is missing its bootstrap or Dockerfile: run `make task` first (or check the template only with -c %s=true)", d, ContextAllowMissing)
	}
	if err := os.MkdirAll(d, 0o755); err != nil {
		return nil, fmt.Errorf("create asset directory: %w", err)
	}
	if _, err := os.Stat(filepath.Join(d, "Dockerfile")); err != nil {
		if err := os.WriteFile(filepath.Join(d, "Dockerfile"), []byte("# placeholder for a template check: run `make task`\nFROM scratch\n"), 0o644); err != nil {
			return nil, fmt.Errorf("create asset directory: %w", err)
		}
	}
	return append(missing, d), nil
}

// environment pins the stack's account and region when known, from the
// stack config first, then the CDK CLI's defaults. Neither is required:
// without them the stack is environment-agnostic and synth needs no AWS
// credentials.
func environment(cfg *StackConfig) *awscdk.Environment {
	env := &awscdk.Environment{}
	if a := first(cfg.Account, os.Getenv("CDK_DEFAULT_ACCOUNT")); a != "" {
		env.Account = jsii.String(a)
	}
	if r := first(cfg.Region, os.Getenv("CDK_DEFAULT_REGION")); r != "" {
		env.Region = jsii.String(r)
	}
	return env
}

func contextString(app awscdk.App, key, def string) string {
	v := app.Node().TryGetContext(jsii.String(key))
	if v == nil {
		return def
	}
	if s := fmt.Sprint(v); s != "" {
		return s
	}
	return def
}

func first(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
