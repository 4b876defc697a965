package testenv

import (
	"encoding/json"
	"net/http"
	"sync"
)

// SecretsServer answers Secrets Manager's GetSecretValue for the secrets
// it holds, on a loopback port: the Lambda functions' tests read their
// database credentials through the real SDK call from it. No Secrets
// Manager emulator installs from the registries reachable here, and this
// one call is all the functions make.
type SecretsServer struct {
	awsJSON
	mu      sync.Mutex
	secrets map[string]string
}

// StartSecrets starts a server holding secrets (id or ARN -> string).
func StartSecrets(secrets map[string]string) (*SecretsServer, error) {
	s := &SecretsServer{secrets: secrets}
	if err := s.start(s.serve); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *SecretsServer) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	fail := func(code int, typ, msg string) { awsJSONError(w, code, typ, msg) }
	if r.Header.Get("X-Amz-Target") != "secretsmanager.GetSecretValue" {
		fail(400, "InvalidRequestException", "only GetSecretValue is served")
		return
	}
	var in struct{ SecretId string }
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		fail(400, "InvalidRequestException", err.Error())
		return
	}
	s.mu.Lock()
	v, ok := s.secrets[in.SecretId]
	s.mu.Unlock()
	if !ok {
		fail(400, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
		return
	}
	json.NewEncoder(w).Encode(map[string]any{"ARN": in.SecretId, "Name": in.SecretId, "SecretString": v, "VersionId": "v1"})
}
