package testenv

import (
	"net/http"
	"os"
	"strings"
	"testing"
)

func TestDynamoServerStopStartSamePort(t *testing.T) {
	d, err := StartDynamo()
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		d.Close()
		if _, err := os.Stat(d.dir); !os.IsNotExist(err) {
			t.Errorf("Close left %s behind", d.dir)
		}
	}()
	endpoint := d.Endpoint()
	if !strings.HasPrefix(endpoint, "http://127.0.0.1:") {
		t.Errorf("Endpoint = %s, want a loopback URL", endpoint)
	}
	answers := func() bool {
		resp, err := http.Post(endpoint, "application/x-amz-json-1.0", strings.NewReader("{}"))
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	}
	if !answers() {
		t.Fatal("dynalite does not answer after StartDynamo")
	}
	d.Stop()
	if answers() {
		t.Fatal("dynalite answers after Stop")
	}
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	if d.Endpoint() != endpoint || !answers() {
		t.Errorf("after Start: endpoint %s (was %s), answering %v", d.Endpoint(), endpoint, answers())
	}
}

func TestFindDynaliteMissing(t *testing.T) {
	t.Chdir(t.TempDir())
	t.Setenv("PATH", t.TempDir())
	_, err := FindDynalite()
	if err == nil || !strings.Contains(err.Error(), "make setup") {
		t.Errorf("FindDynalite without dynalite: %v, want an error naming `make setup`", err)
	}
}
