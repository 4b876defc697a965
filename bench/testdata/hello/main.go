// Command hello is the smallest aws-lambda-go function: the baseline the
// benchmark compares pg2s3's bootstraps with.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(ctx context.Context, in map[string]any) (string, error) { return "hello", nil })
}
