package testenv

import (
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
)

// Throttle is an HTTP proxy in front of the S3 or DynamoDB test server
// that answers a seeded fraction of requests with the errors AWS sends
// under load, without forwarding them: S3's 503 SlowDown and 500
// InternalError; DynamoDB's ProvisionedThroughputExceededException,
// ThrottlingException, RequestLimitExceeded and a 500. The rest pass
// through unchanged.
type Throttle struct {
	URL    string // the endpoint to give the client instead of the server's
	srv    *http.Server
	ln     net.Listener
	dynamo bool

	mu       sync.Mutex
	rnd      *rand.Rand
	rate     float64
	injected map[string]int
	passed   int
}

// The errors a Throttle answers with, by name.
var (
	s3Errors = []struct {
		name   string
		status int
	}{{"SlowDown", 503}, {"InternalError", 500}}
	dynamoErrors = []struct {
		name   string
		status int
	}{{"ProvisionedThroughputExceededException", 400}, {"ThrottlingException", 400}, {"RequestLimitExceeded", 400}, {"InternalServerError", 500}}
)

// StartThrottle proxies to endpoint (http://host:port of the S3 server,
// or of the DynamoDB server with dynamo), failing a rate fraction of the
// requests (0 to 1; change it with SetRate).
func StartThrottle(endpoint string, dynamo bool, rate float64, seed int64) (*Throttle, error) {
	target, err := url.Parse(endpoint)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	t := &Throttle{URL: "http://" + ln.Addr().String(), ln: ln, dynamo: dynamo, rnd: rand.New(rand.NewSource(seed)), rate: rate, injected: map[string]int{}}
	proxy := httputil.NewSingleHostReverseProxy(target)
	t.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if name, status, ok := t.pick(); ok {
			io.Copy(io.Discard, r.Body) // let the client finish sending
			t.fail(w, name, status)
			return
		}
		proxy.ServeHTTP(w, r)
	})}
	go t.srv.Serve(ln)
	return t, nil
}

// SetRate changes the fraction of requests failed from now on.
func (t *Throttle) SetRate(rate float64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.rate = rate
}

// Injected returns the errors answered so far by name, and the requests
// passed through.
func (t *Throttle) Injected() (map[string]int, int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[string]int, len(t.injected))
	for k, v := range t.injected {
		out[k] = v
	}
	return out, t.passed
}

// Close stops the proxy.
func (t *Throttle) Close() { t.srv.Close() }

// pick decides, seeded, whether the next request fails and how.
func (t *Throttle) pick() (string, int, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.rnd.Float64() >= t.rate {
		t.passed++
		return "", 0, false
	}
	var name string
	var status int
	if t.dynamo {
		e := dynamoErrors[t.rnd.Intn(len(dynamoErrors))]
		name, status = e.name, e.status
	} else {
		e := s3Errors[t.rnd.Intn(len(s3Errors))]
		name, status = e.name, e.status
	}
	t.injected[name]++
	return name, status, true
}

// fail writes the error as the service would: S3's XML, DynamoDB's JSON.
func (t *Throttle) fail(w http.ResponseWriter, name string, status int) {
	if t.dynamo {
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.Header().Set("x-amzn-ErrorType", name)
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"__type":"com.amazonaws.dynamodb.v20120810#%s","message":"injected by the test throttle"}`, name)
		return
	}
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>%s</Message><RequestId>test</RequestId></Error>`,
		name, strings.ReplaceAll("injected by the test throttle", "<", ""))
}
