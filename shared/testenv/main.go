package testenv

import (
	"fmt"
	"os"
	"testing"
)

// RunWithPostgres is a test package's TestMain body: it starts a private
// cluster with opt, stores it in *pg, runs the tests, stops the cluster
// and returns the exit code.
func RunWithPostgres(m *testing.M, pg **Postgres, opt PostgresOptions) int {
	p, err := StartPostgres(opt)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	*pg = p
	defer p.Stop()
	return m.Run()
}
