package testenv

import (
	"encoding/json"
	"net"
	"net/http"
)

// awsJSON is the HTTP server of a stand-in for one call of an AWS JSON
// protocol service (Secrets Manager, Step Functions, ECS) on a loopback
// port; the stand-in embeds it and gives it its handler.
type awsJSON struct {
	srv  *http.Server
	addr string
}

// start serves h on a free loopback port.
func (s *awsJSON) start(h http.HandlerFunc) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	s.addr = ln.Addr().String()
	s.srv = &http.Server{Handler: h}
	go s.srv.Serve(ln)
	return nil
}

// Endpoint is the server's URL, for the SDK's BaseEndpoint.
func (s *awsJSON) Endpoint() string { return "http://" + s.addr }

// Close stops the server.
func (s *awsJSON) Close() { s.srv.Close() }

// awsJSONError answers an AWS JSON protocol request with error typ.
func awsJSONError(w http.ResponseWriter, code int, typ, msg string) {
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"__type": typ, "message": msg})
}
