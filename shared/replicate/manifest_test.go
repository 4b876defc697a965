package replicate_test

import (
	"testing"

	"github.com/pg2s3/pg2s3/shared/replicate"
)

func TestActivationKeysRoundTrip(t *testing.T) {
	for _, stream := range []string{"db-public-orders", "db-public-a/b", "db-public-Order Items"} {
		key := replicate.ActivationKey(stream, 1795660766450)
		got, v, ok := replicate.ParseActivationKey(key)
		if !ok || got != stream || v != 1795660766450 {
			t.Errorf("%s: parsed %q %d %v", key, got, v, ok)
		}
	}
	for _, bad := range []string{"versions/v1.json", "versions/s/v1.txt", "versions/s/vx.json", "_wal/s/v1.json", "versions/s/1.json"} {
		if _, _, ok := replicate.ParseActivationKey(bad); ok {
			t.Errorf("%s parsed as a marker", bad)
		}
	}
}
