package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"time"

	"github.com/pg2s3/pg2s3/shared/testenv"
)

// Functions are the Lambda functions shipped, by package path.
var Functions = []string{"./functions/sync", "./functions/wal", "./functions/reset", "./functions/discover"}

// HelloFunction is the aws-lambda-go hello world built the same way.
const HelloFunction = "./bench/testdata/hello"

// ModuleRoot is the module's root, from this package's directory.
func ModuleRoot() string {
	wd, _ := os.Getwd()
	return filepath.Dir(wd)
}

// BuildBootstrap builds pkg as a Lambda bootstrap for goos/goarch the way
// the stack does (static, stripped, no RPC) and returns its path.
func BuildBootstrap(pkg, outDir, goos, goarch string) (string, error) {
	out := filepath.Join(outDir, goos+"_"+goarch, filepath.Base(pkg), "bootstrap")
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-ldflags=-s -w", "-trimpath", "-o", out, pkg)
	cmd.Dir = ModuleRoot()
	cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH="+goarch, "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build %s for %s/%s: %v: %s", pkg, goos, goarch, err, b)
	}
	return out, nil
}

// BootstrapSizes builds every function and the hello world for Lambda
// (linux/arm64) and returns their sizes in bytes, hello world under "hello".
func BootstrapSizes(outDir string) (map[string]int64, error) {
	sizes := map[string]int64{}
	for _, pkg := range append([]string{HelloFunction}, Functions...) {
		p, err := BuildBootstrap(pkg, outDir, "linux", "arm64")
		if err != nil {
			return nil, err
		}
		fi, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		sizes[filepath.Base(pkg)] = fi.Size()
	}
	return sizes, nil
}

// ColdStart runs bootstrap under the Runtime Interface Emulator n times
// and returns the median time from starting it to the first answer of its
// handler (the runtime's init plus one invoke; the functions answer an
// empty environment with an error at once, so no database is involved).
func ColdStart(bootstrap string, n int) (time.Duration, error) {
	var times []time.Duration
	for i := 0; i < n; i++ {
		t0 := time.Now()
		r, err := testenv.StartRIE(bootstrap, nil, 10*time.Second)
		if err != nil {
			return 0, err
		}
		_, err = r.Invoke(context.Background(), []byte("{}"))
		times = append(times, time.Since(t0))
		r.Close()
		var fe *testenv.FunctionError
		if err != nil && !errors.As(err, &fe) {
			return 0, fmt.Errorf("invoke %s: %w", bootstrap, err)
		}
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	return times[len(times)/2], nil
}
