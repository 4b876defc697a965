package testenv

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestS3ServerSurvivesStopStart(t *testing.T) {
	s, err := StartS3()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !strings.HasPrefix(s.Endpoint(), "http://127.0.0.1:") {
		t.Errorf("Endpoint = %s, want a loopback URL", s.Endpoint())
	}
	if err := s.CreateBucket("b"); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateBucket("b"); err != nil {
		t.Errorf("CreateBucket of an existing bucket: %v", err)
	}
	req, _ := http.NewRequest(http.MethodPut, s.Endpoint()+"/b/k", strings.NewReader("kept"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT: %v %v", resp, err)
	}
	resp.Body.Close()

	s.Stop()
	if resp, err := http.Get(s.Endpoint() + "/b/k"); err == nil {
		resp.Body.Close()
		t.Fatal("the server answered while stopped")
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	resp, err = http.Get(s.Endpoint() + "/b/k")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if string(body) != "kept" {
		t.Errorf("after restart GET = %d %q, want the object kept", resp.StatusCode, body)
	}
	if st := s.Stats(); st.Requests != 2 || st.PartUploads != 0 {
		t.Errorf("Stats = %+v, want 2 requests (PUT, GET) and no parts", st)
	}
}
