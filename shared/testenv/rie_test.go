package testenv

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRIEHello(t *testing.T) {
	if _, err := FindRIE(); err != nil {
		t.Skip(err)
	}
	bin := filepath.Join(t.TempDir(), "bootstrap")
	if err := BuildFunction("testdata/hello", bin); err != nil {
		t.Fatal(err)
	}
	rie, err := StartRIE(bin, []string{"HELLO_ENV=from-test"}, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer rie.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	out, err := rie.Invoke(ctx, []byte(`{"name":"pg2s3"}`))
	if err != nil {
		t.Fatalf("invoke: %v\n%s", err, rie.Logs())
	}
	var res struct {
		Greeting    string `json:"greeting"`
		RequestID   string `json:"request_id"`
		DeadlineSet bool   `json:"deadline_set"`
		Env         string `json:"env"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("response %s: %v", out, err)
	}
	if res.Greeting != "hello pg2s3" || res.RequestID == "" || !res.DeadlineSet || res.Env != "from-test" {
		t.Errorf("response %+v", res)
	}

	_, err = rie.Invoke(ctx, []byte(`{"fail":true}`))
	var fe *FunctionError
	if !errors.As(err, &fe) || fe.Message != "asked to fail" {
		t.Errorf("failing handler: got %v, want a FunctionError", err)
	}

	start := time.Now()
	_, err = rie.Invoke(ctx, []byte(`{"sleep_ms":10000}`))
	if !errors.Is(err, ErrTimeout) && !errors.As(err, &fe) {
		t.Errorf("sleeping past the deadline: got %v, want a timeout", err)
	}
	if d := time.Since(start); d > 8*time.Second {
		t.Errorf("timed-out invoke took %s; the 2s timeout was not applied", d)
	}

	// The function is usable again after a timeout.
	if _, err := rie.Invoke(ctx, []byte(`{"name":"again"}`)); err != nil {
		t.Errorf("invoke after timeout: %v\n%s", err, rie.Logs())
	}
}

func TestFindRIEMissing(t *testing.T) {
	t.Setenv("PATH", t.TempDir()) // no aws-lambda-rie, and no go to ask for GOPATH
	t.Setenv("GOBIN", "")
	_, err := FindRIE()
	if err == nil || !strings.Contains(err.Error(), "go install "+RIEModule+"@latest") {
		t.Errorf("FindRIE with nothing installed: %v; want the go install hint", err)
	}
}
