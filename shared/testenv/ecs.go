package testenv

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
)

// ECSServer answers ECS's RunTask on a loopback port and records each
// request: the functions' tests check what the escalation asks ECS for
// (cluster, task definition, network, the container's environment
// overrides) through the real SDK call. It starts nothing.
type ECSServer struct {
	awsJSON
	mu    sync.Mutex
	calls []RunTaskCall
}

// RunTaskCall is one recorded RunTask request (the fields pg2s3 sends).
type RunTaskCall struct {
	Cluster              string `json:"cluster"`
	TaskDefinition       string `json:"taskDefinition"`
	LaunchType           string `json:"launchType"`
	Count                int    `json:"count"`
	StartedBy            string `json:"startedBy"`
	NetworkConfiguration struct {
		AwsvpcConfiguration struct {
			Subnets        []string `json:"subnets"`
			SecurityGroups []string `json:"securityGroups"`
			AssignPublicIP string   `json:"assignPublicIp"`
		} `json:"awsvpcConfiguration"`
	} `json:"networkConfiguration"`
	Overrides struct {
		ContainerOverrides []struct {
			Name        string `json:"name"`
			Environment []struct {
				Name  string `json:"name"`
				Value string `json:"value"`
			} `json:"environment"`
		} `json:"containerOverrides"`
	} `json:"overrides"`
}

// Env is the environment the call overrides for container name.
func (c RunTaskCall) Env(name string) map[string]string {
	out := map[string]string{}
	for _, o := range c.Overrides.ContainerOverrides {
		if o.Name == name {
			for _, kv := range o.Environment {
				out[kv.Name] = kv.Value
			}
		}
	}
	return out
}

// StartECS starts the RunTask server.
func StartECS() (*ECSServer, error) {
	s := &ECSServer{}
	if err := s.start(s.serve); err != nil {
		return nil, err
	}
	return s, nil
}

// Calls returns the RunTask requests received so far.
func (s *ECSServer) Calls() []RunTaskCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]RunTaskCall(nil), s.calls...)
}

func (s *ECSServer) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	fail := func(code int, typ, msg string) { awsJSONError(w, code, typ, msg) }
	if r.Header.Get("X-Amz-Target") != "AmazonEC2ContainerServiceV20141113.RunTask" {
		fail(400, "InvalidParameterException", "only RunTask is served")
		return
	}
	var in RunTaskCall
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		fail(400, "InvalidParameterException", err.Error())
		return
	}
	s.mu.Lock()
	s.calls = append(s.calls, in)
	n := len(s.calls)
	s.mu.Unlock()
	arn := fmt.Sprintf("arn:aws:ecs:%s:123456789012:task/%s/%032x", DummyRegion, in.Cluster, n)
	json.NewEncoder(w).Encode(map[string]any{"tasks": []any{map[string]any{"taskArn": arn, "lastStatus": "PROVISIONING"}}, "failures": []any{}})
}
