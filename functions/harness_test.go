package functions_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pg2s3/pg2s3/shared/testenv"
)

// harness builds each entry point once and runs it with env.
type harness struct {
	t   *testing.T
	ctx context.Context
	env []string
	dir string
}

func newHarness(t *testing.T, ctx context.Context, env []string) *harness {
	return &harness{t: t, ctx: ctx, env: env, dir: t.TempDir()}
}

// build returns the bootstrap of ./name, built on first use.
func (h *harness) build(name string) string {
	h.t.Helper()
	bin := filepath.Join(h.dir, name, "bootstrap")
	if _, err := os.Stat(bin); err != nil {
		if err := testenv.BuildFunction("./"+name, bin); err != nil {
			h.t.Fatal(err)
		}
	}
	return bin
}

// invoke runs function name once under the Lambda emulator with a
// timeout, decoding its result into res; a function error is returned,
// anything else fails the test.
func (h *harness) invoke(name string, timeout time.Duration, payload string, res any) error {
	h.t.Helper()
	r, err := testenv.StartRIE(h.build(name), h.env, timeout)
	if err != nil {
		h.t.Fatal(err)
	}
	defer r.Close()
	out, err := r.Invoke(h.ctx, []byte(payload))
	if err == nil {
		if jerr := json.Unmarshal(out, res); jerr != nil {
			h.t.Fatalf("%s returned %s", name, out)
		}
	}
	if err != nil && !errors.As(err, new(*testenv.FunctionError)) {
		h.t.Fatalf("%s: %v\n%s", name, err, r.Logs())
	}
	return err
}
