# pg2s3 — the two commands a new user needs are `make demo` and `make test`.
SHELL := /bin/bash
GO ?= go
TOOLS := $(CURDIR)/tools
export PATH := $(TOOLS)/node_modules/.bin:$(HOME)/go/bin:$(PATH)
export CDK_DISABLE_VERSION_CHECK := 1
export CDK_DISABLE_CLI_TELEMETRY := true

.PHONY: setup setup-pg setup-node setup-go demo demo-aws test soak bench synth build lambdas task clean

## setup: install what a fresh Debian machine lacks (idempotent, quiet when done)
setup: setup-pg setup-node setup-go

setup-pg:
	@./scripts/setup-pg.sh

setup-node:
	@./scripts/setup-node.sh "$(TOOLS)"

setup-go:
	@GO=$(GO) ./scripts/setup-go.sh

## build: bin/pg2s3, the CLI, and beside it bin/pg2s3-iceberg, the commands that link Apache Iceberg (pg2s3 materialize runs it)
build:
	@mkdir -p bin && $(GO) build -o bin/ ./cmd/pg2s3 ./cmd/pg2s3-iceberg

## lambdas: each function as an arm64 `bootstrap` for provided.al2023 under bin/lambda/<name>/ (what cdk deploy uploads)
FUNCTIONS := sync wal reset discover materialize
lambdas:
	@for f in $(FUNCTIONS); do \
	  mkdir -p bin/lambda/$$f && \
	  CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -tags lambda.norpc -trimpath -ldflags='-s -w' -o bin/lambda/$$f/bootstrap ./functions/$$f || exit 1; \
	  echo "bin/lambda/$$f/bootstrap $$(du -h bin/lambda/$$f/bootstrap | cut -f1)"; \
	done

## task: the long-running task (functions/task) as a static arm64 bootstrap beside its Dockerfile under bin/lambda/task/ (the image cdk deploy builds there)
task:
	@mkdir -p bin/lambda/task && \
	  CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -trimpath -ldflags='-s -w' -o bin/lambda/task/bootstrap ./functions/task && \
	  cp functions/task/Dockerfile bin/lambda/task/Dockerfile && \
	  echo "bin/lambda/task/bootstrap $$(du -h bin/lambda/task/bootstrap | cut -f1)"

## demo: a private PostgreSQL with sample data, replicated by every method into ./demo-out
demo: setup build
	@./bin/pg2s3 demo --dir ./demo-out

## demo-aws: the same into a local S3-compatible server with bookmarks in a local DynamoDB-compatible server
demo-aws: setup build
	@./bin/pg2s3 demo --dir ./demo-out-aws --aws

## test: vet and the whole test suite against real servers
test: setup
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 25m ./...

## soak: the fault suite with network faults and throttling, SOAK_ITERATIONS (default 1000) iterations over both plugins and both kinds of stores (not part of make test, which runs a few)
SOAK_ITERATIONS ?= 1000
soak: setup
	SOAK_ITERATIONS=$(SOAK_ITERATIONS) $(GO) test -count=1 -timeout 90m -run '^TestSoak$$' -v ./shared/app/ > soak.log 2>&1; \
	status=$$?; grep -E '^(soak:|ok|FAIL|---)|soak_test|fault_test|panic' soak.log; echo "full log: soak.log"; exit $$status

## bench: throughput and memory as ratios against references measured in the same run
bench: setup build
	$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 60m ./bench/...

## synth: cdk synth offline into cdk.out (no AWS account or credentials; cdk-nag runs as part of it)
synth: setup lambdas task
	AWS_EC2_METADATA_DISABLED=true cdk synth --quiet -c pg2s3:allowMissingAssets=true

clean:
	rm -rf bin demo-out demo-out-aws cdk.out
