package materialize

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/pg2s3/pg2s3/shared/replicate"
)

// decodeManifest reads a manifest, numbers kept exact.
func decodeManifest(key string, body []byte) (*replicate.Manifest, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var m replicate.Manifest
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("manifest %s: %w", key, err)
	}
	return &m, nil
}
