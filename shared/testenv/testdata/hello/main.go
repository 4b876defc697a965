// Command hello is a tiny Lambda function for the emulator tests: it greets,
// fails on request, or sleeps past its deadline.
package main

import (
	"context"
	"errors"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

type event struct {
	Name    string `json:"name"`
	Fail    bool   `json:"fail"`
	SleepMS int    `json:"sleep_ms"`
}

type result struct {
	Greeting    string `json:"greeting"`
	RequestID   string `json:"request_id"`
	DeadlineSet bool   `json:"deadline_set"`
	Env         string `json:"env"`
}

func handle(ctx context.Context, ev event) (result, error) {
	if ev.Fail {
		return result{}, errors.New("asked to fail")
	}
	if ev.SleepMS > 0 {
		select {
		case <-time.After(time.Duration(ev.SleepMS) * time.Millisecond):
		case <-ctx.Done():
			return result{}, ctx.Err()
		}
	}
	lc, _ := lambdacontext.FromContext(ctx)
	_, hasDeadline := ctx.Deadline()
	r := result{Greeting: "hello " + ev.Name, DeadlineSet: hasDeadline, Env: os.Getenv("HELLO_ENV")}
	if lc != nil {
		r.RequestID = lc.AwsRequestID
	}
	return r, nil
}

func main() { lambda.Start(handle) }
