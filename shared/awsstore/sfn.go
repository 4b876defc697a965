package awsstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"
)

// ParallelCopies starts executions of a pipeline's parallel copy state
// machine (the stack's `<stack>-<db>-parallel-copy`), whose input is
// {"stream": "<tap_stream_id>"}.
type ParallelCopies struct {
	client *sfn.Client
	arn    string
	where  where
}

// NewParallelCopies is a client of the state machine arn. region and
// endpoint follow the other stores: empty for AWS defaults (endpoint:
// a Step Functions-compatible server, for tests).
func NewParallelCopies(ctx context.Context, arn, region, endpoint string, opts ...Option) (*ParallelCopies, error) {
	if arn == "" {
		return nil, errors.New("parallel copy: no state machine ARN given")
	}
	cfg, err := loadConfig(ctx, "parallel_copy", region, endpoint, opts)
	if err != nil {
		return nil, err
	}
	client := sfn.NewFromConfig(cfg, func(o *sfn.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	})
	return &ParallelCopies{client: client, arn: arn, where: where{region: cfg.Region, endpoint: endpoint}}, nil
}

// StartCopy starts the execution name copying stream. started is false,
// with no error, when an execution of that name exists already (running,
// with another input, or closed within the last 90 days): Step Functions
// names are unique per state machine, so a deterministic name starts one
// execution however many runs ask. A running standard execution of the
// same name and input answers as started (StartExecution is idempotent
// for it), so a retried request whose first attempt started it succeeds.
func (p *ParallelCopies) StartCopy(ctx context.Context, name, stream string) (started bool, err error) {
	input, _ := json.Marshal(map[string]string{"stream": stream})
	_, err = p.client.StartExecution(ctx, &sfn.StartExecutionInput{
		StateMachineArn: aws.String(p.arn), Name: aws.String(name), Input: aws.String(string(input)),
	})
	if err == nil {
		return true, nil
	}
	if errors.As(err, new(*types.ExecutionAlreadyExists)) {
		return false, nil
	}
	return false, explain("start parallel copy execution "+name, err, func(kind failure, code string) string {
		switch {
		case errors.As(err, new(*types.StateMachineDoesNotExist)), kind == failMissing:
			return fmt.Sprintf("state machine %s does not exist %s (%s): deploy the stack, or check PG2S3_PARALLEL_COPY_ARN", p.arn, p.where, code)
		case errors.As(err, new(*types.ExecutionLimitExceeded)):
			return fmt.Sprintf("state machine %s has too many executions running (%s): the next scheduled run tries again", p.arn, code)
		case kind == failDenied:
			return fmt.Sprintf("access denied to state machine %s %s (%s): grant the function's role states:StartExecution on it", p.arn, p.where, code)
		case kind == failCredentials:
			return fmt.Sprintf("Step Functions %s rejected the AWS credentials (%s): check the default credential chain (the Lambda role)", p.where, code)
		case kind == failUnreachable:
			return fmt.Sprintf("cannot reach Step Functions %s: check PG2S3_SFN_ENDPOINT and AWS_REGION", p.where)
		}
		return ""
	})
}
