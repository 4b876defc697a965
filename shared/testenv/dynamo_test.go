package testenv

import (
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
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

// TestDynamoComesBackAfterACrash: dynalite killed from outside (as when
// it dies on a connection reset) is started again on the same port with
// its data, and the crash is counted; a Stop is not a crash.
func TestDynamoComesBackAfterACrash(t *testing.T) {
	d, err := StartDynamo()
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	d.mu.Lock()
	pid := d.cmd.Process.Pid
	d.mu.Unlock()
	syscall.Kill(pid, syscall.SIGKILL)
	deadline := time.Now().Add(20 * time.Second)
	for d.Crashes.Load() == 0 || waitHTTP(d.addr(), nil, time.Second) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("dynalite not back 20 s after a crash (crashes %d)", d.Crashes.Load())
		}
		time.Sleep(50 * time.Millisecond)
	}
	d.Stop()
	time.Sleep(200 * time.Millisecond)
	if n := d.Crashes.Load(); n != 1 {
		t.Errorf("%d crashes counted, want 1 (a Stop is none)", n)
	}
}
