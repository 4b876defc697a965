package testenv

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// StepFunctions answers Step Functions' StartExecution (the awsJson1_0
// protocol, X-Amz-Target AWSStepFunctions.StartExecution) on a loopback
// port, recording each call: the sync function's tests see the executions
// a scheduled run starts through the real SDK call. It runs nothing. A
// name it has seen is answered ExecutionAlreadyExists, as Step Functions
// answers a name used by a closed execution (or by a running one with
// another input).
type StepFunctions struct {
	awsJSON
	mu    sync.Mutex
	calls []StartExecution
	names map[string]bool
}

// StartExecution is one StartExecution call the server received.
type StartExecution struct {
	StateMachineArn string `json:"stateMachineArn"`
	Name            string `json:"name"`
	Input           string `json:"input"`
	// Started says the server started it (false: the name existed).
	Started bool `json:"-"`
}

// StartStepFunctions starts the server.
func StartStepFunctions() (*StepFunctions, error) {
	s := &StepFunctions{names: map[string]bool{}}
	if err := s.start(s.serve); err != nil {
		return nil, err
	}
	return s, nil
}

// Calls are the StartExecution calls received, in order.
func (s *StepFunctions) Calls() []StartExecution {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]StartExecution(nil), s.calls...)
}

func (s *StepFunctions) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	fail := func(code int, typ, msg string) { awsJSONError(w, code, typ, msg) }
	if r.Header.Get("X-Amz-Target") != "AWSStepFunctions.StartExecution" {
		fail(400, "InvalidRequestException", "only StartExecution is served")
		return
	}
	var in StartExecution
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		fail(400, "SerializationException", err.Error())
		return
	}
	if in.StateMachineArn == "" || in.Name == "" {
		fail(400, "MissingRequiredParameter", "stateMachineArn and name are required here")
		return
	}
	s.mu.Lock()
	in.Started = !s.names[in.Name]
	s.names[in.Name] = true
	s.calls = append(s.calls, in)
	s.mu.Unlock()
	if !in.Started {
		fail(400, "ExecutionAlreadyExists", fmt.Sprintf("Execution Already Exists: '%s:%s'", in.StateMachineArn, in.Name))
		return
	}
	json.NewEncoder(w).Encode(map[string]any{
		"executionArn": in.StateMachineArn + ":" + in.Name, "startDate": float64(time.Now().UnixMilli()) / 1000,
	})
}
