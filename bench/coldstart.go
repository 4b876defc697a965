package bench

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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

// RIEAvailable says whether testenv can run the Runtime Interface
// Emulator (shared/testenv/rie.go); until it can, only sizes are reported.
func RIEAvailable() bool {
	_, err := os.Stat(filepath.Join(ModuleRoot(), "shared", "testenv", "rie.go"))
	return err == nil
}
