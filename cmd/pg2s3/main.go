// Command pg2s3 is the local CLI: the same engine the Lambda functions run,
// with embedded defaults (a directory sink and a bookmark file).
package main

import "github.com/pg2s3/pg2s3/cmd/internal/cli"

// prog holds the commands; each lives in a file named after it and
// registers itself in init.
var prog = cli.New("pg2s3")

func main() { prog.Main() }
