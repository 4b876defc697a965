#!/usr/bin/env bash
# Downloads the Go modules and installs the Go tools the tests use
# (aws-lambda-rie: the Lambda Runtime Interface Emulator). Idempotent, quiet when done.
set -euo pipefail
go=${GO:-go}
"$go" mod download
bin=$("$go" env GOBIN)
[ -n "$bin" ] || bin="$("$go" env GOPATH | cut -d: -f1)/bin"
if ! command -v aws-lambda-rie >/dev/null && [ ! -x "$bin/aws-lambda-rie" ]; then
  echo "setup: installing aws-lambda-rie into $bin (go install)"
  # The module has no semver tags: pin the pseudo-version the proxy serves as @latest.
  "$go" install github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@v0.0.0-20261030222936-bef5c4ba774d
fi
